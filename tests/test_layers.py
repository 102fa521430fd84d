"""The policy layer never imports the execution layer (see design notes)."""

import ast
import pathlib

import pytest

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
