"""The documentation builds with Sphinx, warnings as errors, and its generated pages are real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ce2nce_pipeline.cli.parser import build_parser

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """``sphinx-build -W`` of docs/ into a temporary folder (fails on any warning)."""
    out = tmp_path_factory.mktemp("docs")
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    argv += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    }
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    return out / "html"


def _text(page: Path) -> str:
    return re.sub(r"<[^>]+>", "", page.read_text())


def test_every_markdown_page_is_built(html):
    pages = sorted(path.stem for path in DOCS.glob("*.md"))
    assert len(pages) >= 17
    assert [page for page in pages if not (html / f"{page}.html").is_file()] == []


def test_command_line_reference_is_generated_from_the_parser(html):
    text = _text(html / "cli.html")
    options = [option for action in build_parser()._actions for option in action.option_strings]
    assert "--participant-label" in options and "--quiet" in options
    assert [option for option in options if option not in text] == []
    assert "root of the input BIDS dataset" in text  # a positional argument's help


def test_participant_graph_is_drawn_from_the_workflow(html):
    (graph,) = re.findall(
        r'<object data="(_images/graphviz-[0-9a-f]+\.svg)"', (html / "workflow.html").read_text()
    )
    svg = (html / graph).read_text()
    # Nodes of the ce image's own branch: t1-linear, translation, the synthetic image's mask.
    for name in (
        "n4_correction",
        "translate_ses_M000_ce_gadolinium_wf",
        "brain_mask_synthetic_ses_M000_ce_gadolinium_wf",
        "union_mask_ses_M000_ce_gadolinium_wf",
    ):
        assert name in svg, name


def test_model_card_and_citation_pages(html):
    metadata = json.loads((REPO / "ce2nce_pipeline/data/default_model/metadata.json").read_text())
    assert metadata["weights"]["sha256"] in _text(html / "model_card.html")
    cite = _text(html / "cite.html")
    assert "doi:10.1186/s12880-024-01242-3" in cite
    # The methods text of the graph: t1-linear's paragraph, the shipped translation model's.
    assert "Each T1w image was processed as Clinica's `t1-linear`" in cite.replace("&#39;", "'")
    assert f"weights sha256 {metadata['weights']['sha256'][:12]}" in cite
