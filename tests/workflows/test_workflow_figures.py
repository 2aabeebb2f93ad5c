"""Every graph factory's docstring carries a ``.. workflow::`` figure whose code builds it."""

from __future__ import annotations

import ast
import inspect
import textwrap
from importlib import import_module
from pathlib import Path

import pytest
from nipype.pipeline import engine as pe

PACKAGE = Path(__file__).resolve().parents[2] / "ce2nce_pipeline"
FACTORIES = sorted(
    (f"ce2nce_pipeline.{path.parent.name}.{path.stem}", node.name)
    for folder in ("workflows", "clinica")
    for path in (PACKAGE / folder).glob("*.py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body
    if isinstance(node, ast.FunctionDef) and node.name.startswith("init_")
)


def figure_code(docstring: str) -> str | None:
    """The code of a docstring's ``.. workflow::`` directive (its options left out)."""
    lines = docstring.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == ".. workflow::"]
    if not starts:
        return None
    indent = len(lines[starts[0]]) - len(lines[starts[0]].lstrip())
    body = []
    for line in lines[starts[0] + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        if not line.strip().startswith(":"):
            body.append(line)
    return textwrap.dedent("\n".join(body))


def test_every_factory_is_found():
    names = {name for _, name in FACTORIES}
    assert {"init_single_subject_wf", "init_ce2nce_wf", "init_caps_subject_wf"} <= names


@pytest.mark.parametrize("module, name", FACTORIES, ids=lambda item: str(item))
def test_factory_figure_builds_its_graph(module, name):
    factory = getattr(import_module(module), name)
    code = figure_code(inspect.getdoc(factory) or "")
    assert code, f"{name}: no .. workflow:: figure in its docstring"
    namespace: dict = {}
    exec(compile(code, f"<{name} figure>", "exec"), namespace)  # noqa: S102
    assert isinstance(namespace.get("wf"), pe.Workflow)
