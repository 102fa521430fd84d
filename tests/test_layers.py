"""The policy layer never imports the execution layer (see design notes), and
importing skhpo (in a dask worker too) loads only the modules it uses."""

import ast
import pathlib
import subprocess
import sys

import pytest

import skhpo
import skhpo._execution

ROOT = pathlib.Path(__file__).resolve().parents[1]
POLICY = ["space", "samplers", "schedules"]
FORBIDDEN = ("joblib", "dask", "distributed", "skhpo._execution", "skhpo.metrics")


def _imports(path, source=None):
    """Absolute names of every module that ``path`` imports (relative ones too)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    source = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("package", POLICY)
def test_policy_layer_does_not_import_execution(package):
    files = sorted((ROOT / "skhpo" / package).rglob("*.py"))
    if package == "space":
        assert files, "the space package must exist"
    for path in files:
        for name in _imports(path):
            assert not name.startswith(FORBIDDEN), f"{path} imports {name}"


def test_the_import_walker_sees_relative_imports():
    fake = ROOT / "skhpo" / "space" / "_probe.py"
    assert "skhpo._execution.engine" in set(
        _imports(fake, "from .._execution import engine")
    )
    assert "skhpo.space._dimensions" in set(_imports(fake, "from . import _dimensions"))


# -- import cost: the packages resolve their public names on first use ----------

#: What a dask worker running a dask_backend batch need not load.
HEAVY = ["dask.array", "numba", "skhpo._execution._data", "skhpo._smbo"]


def _loaded(code):
    """The HEAVY modules a fresh interpreter has loaded after ``code``."""
    probe = f"{code}\nimport sys\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    "code", ["import skhpo", "from skhpo.parallel import dask_backend"]
)
def test_importing_the_package_loads_no_search(code):
    assert _loaded(code) == "[]"


def test_a_search_loads_its_modules_on_first_use():
    assert _loaded("import skhpo; skhpo.SMBOSearchCV") == "['skhpo._smbo']"


@pytest.mark.parametrize(
    ("package", "name"),
    [(skhpo, name) for name in skhpo.__all__]
    + [(skhpo._execution, name) for name in skhpo._execution.__all__],
)
def test_every_public_name_resolves_and_is_listed(package, name):
    value = getattr(package, name)
    assert value is getattr(package, name)
    assert name in dir(package)
    if callable(value):
        assert value.__module__.startswith(package.__name__)


def test_subpackages_resolve_as_attributes():
    assert skhpo.metrics.get_scorer("accuracy") is not None
    assert "metrics" in dir(skhpo)


@pytest.mark.parametrize("package", [skhpo, skhpo._execution])
def test_an_unknown_name_is_an_attribute_error(package):
    with pytest.raises(AttributeError, match=f"'{package.__name__}' has no attribute"):
        package.no_such_search  # noqa: B018


def test_a_worker_running_dask_backend_fits_loads_no_search(process_cluster):
    from distributed import Client
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from skhpo.parallel import dask_backend

    X, y = make_classification(n_samples=60, random_state=0)
    with Client(process_cluster, set_as_default=False) as client:
        with dask_backend(client):
            GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)

        def heavy_loaded():
            import sys

            return [m for m in HEAVY if m in sys.modules]

        loaded = client.run(heavy_loaded)
    assert len(loaded) == 2
    assert all(modules == [] for modules in loaded.values()), loaded
