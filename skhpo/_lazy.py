"""Lazy attributes of a package (PEP 562), so that importing it is cheap.

A dask worker that runs one of skhpo's tasks imports the task's module and so
every parent package's ``__init__``; when those import every search, a worker
also loads ``dask.array`` (with ``sparse`` and ``numba``) and the samplers
before its first fit. Resolving the public names on first use keeps that to
the modules a task needs.
"""

import importlib


def lazy_attributes(package, where, submodules=()):
    """``__getattr__`` and ``__dir__`` for the package named ``package``.

    ``where`` maps each public name to the submodule (relative, like
    ``"._smbo"``) that defines it; the names in ``submodules`` resolve to those
    submodules (``skhpo.metrics`` after a bare ``import skhpo``).
    """

    def __getattr__(name):
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted({*vars(importlib.import_module(package)), *where, *submodules})

    return __getattr__, __dir__
