"""The package's layers (docs/architecture.md), checked on every import statement of its source.

Each package may import its own layer and the layers below it, never one above; only the
nipype adapters (``interfaces``), the graphs (``workflows``) and the command line import nipype.
Nothing but the command line imports the command line; no package imports another's private
(``_name``) names; no two packages import each other, directly or round a loop; no module is
longer than :data:`MAX_MODULE_LINES`. The checks read the source with ``ast`` (imports inside
functions included), so each fails naming the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ce2nce_pipeline"

#: Layer of each package or top-level module, lowest first (docs/architecture.md).
LAYERS: dict[str, int] = {
    # foundations: errors, atomic writing, BIDS naming and discovery, input checks, settings
    "__init__": 0,
    "errors": 0,
    "console": 0,
    "workers": 0,
    "io": 0,
    "bids": 0,
    "bids_validation": 0,
    "image_checks": 0,
    "work_lock": 0,
    "scratch": 0,
    "derivatives": 0,
    "_forkserver_guard": 0,
    "data": 0,
    # the science: pure functions of arrays and images
    "science": 1,
    # networks, checkpoints, the Predictor; the run's settings (their choices are the science's)
    "models": 2,
    "config": 2,
    # what uses the models and the science without a graph
    "training": 3,
    "simulation": 3,
    "group": 3,
    "reports": 3,
    "evaluation": 3,
    # nipype adapters, graphs, and the faces users see
    "interfaces": 4,
    "workflows": 5,
    "cli": 6,
    "clinica": 6,
}
#: Lowest layer allowed to import nipype.
NIPYPE_FROM = LAYERS["interfaces"]
#: The faces users see: nothing else imports them.
FACES = ("cli",)
#: Longest module, in lines: a longer one has more than one job.
MAX_MODULE_LINES = 600


def _unit(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_units(path: Path) -> list[tuple[int, str]]:
    """(line, unit) for every ce2nce or nipype import in a file; units as in LAYERS."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
                names = (
                    [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
                )
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "nipype":
                found.append((node.lineno, "nipype"))
            elif parts[0] == "ce2nce_pipeline" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer():
    units = {_unit(path) for path in SOURCES}
    assert units <= set(LAYERS), f"give these a layer: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    unit = _unit(path)
    layer = LAYERS[unit]
    crossings = []
    for line, imported in _imported_units(path):
        if imported == "nipype":
            if layer < NIPYPE_FROM:
                crossings.append(f"line {line}: nipype")
        elif imported != unit and LAYERS.get(imported, 0) > layer:
            crossings.append(f"line {line}: {imported} (layer {LAYERS[imported]} > {layer})")
    assert not crossings, f"{path.relative_to(PACKAGE)} ({unit}, layer {layer}): {crossings}"


def test_the_check_sees_a_crossing(tmp_path, monkeypatch):
    # A science module importing a workflow, and one importing nipype inside a function.
    fake = tmp_path / "ce2nce_pipeline"
    (fake / "science").mkdir(parents=True)
    bad = fake / "science" / "bad.py"
    bad.write_text(
        "from ..workflows.base import init_ce2nce_wf\n\n"
        "def f():\n    from nipype import Node\n    return Node\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert _imported_units(bad) == [(1, "workflows"), (4, "nipype")]
    with pytest.raises(AssertionError, match=r"line 1: workflows .*line 4: nipype"):
        test_imports_go_down_the_layers(bad)


def _from_imports(path: Path) -> list[tuple[int, list[str], list[str]]]:
    """(line, module parts under ce2nce_pipeline, imported names) of every ``from`` import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = list(package_parts[: len(package_parts) - node.level + 1])
            parts = base + (node.module.split(".") if node.module else [])
        else:
            parts = (node.module or "").split(".")
        if parts[0] == "ce2nce_pipeline" and len(parts) > 1:
            found.append((node.lineno, parts[1:], [alias.name for alias in node.names]))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_command_line_imports_the_command_line(path):
    unit = _unit(path)
    if unit in FACES:
        return
    imports = [f"line {line}: {name}" for line, name in _imported_units(path) if name in FACES]
    assert not imports, f"{path.relative_to(PACKAGE)} imports the command line: {imports}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_a_package(path):
    unit = _unit(path)
    crossings = [
        f"line {line}: {'.'.join(parts)} {names}"
        for line, parts, names in _from_imports(path)
        if parts[0].removesuffix(".py") != unit
        and (any(map(_private, parts[1:])) or any(map(_private, names)))
    ]
    assert not crossings, f"{path.relative_to(PACKAGE)} imports private names: {crossings}"


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        unit = _unit(path)
        for _, imported in _imported_units(path):
            if imported not in ("nipype", unit):
                graph.setdefault(unit, set()).add(imported)
    return graph


def _loop(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop between packages (``[a, b, a]``), or ``None``."""
    done: set[str] = set()

    def visit(unit: str, trail: list[str]) -> list[str] | None:
        if unit in trail:
            return trail[trail.index(unit) :] + [unit]
        if unit in done:
            return None
        for imported in sorted(graph.get(unit, ())):
            if (found := visit(imported, [*trail, unit])) is not None:
                return found
        done.add(unit)
        return None

    for unit in sorted(graph):
        if (found := visit(unit, [])) is not None:
            return found
    return None


def test_no_import_loop_between_packages():
    loop = _loop(_package_graph())
    assert loop is None, f"packages import each other: {' -> '.join(loop)}"


def test_the_loop_check_sees_a_loop():
    assert _loop({"group": {"reports"}, "reports": {"io", "group"}}) == [
        "group", "reports", "group"
    ]  # fmt: skip
    assert _loop({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_has_one_job(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(PACKAGE)}: {lines} lines (at most {MAX_MODULE_LINES}): split it by job"
    )
