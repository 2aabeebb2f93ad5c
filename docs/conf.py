"""Sphinx configuration: the Markdown pages of docs/ (MyST) and the pages generated from code.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``make docs``); warnings are errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

from ce2nce_pipeline import __version__  # noqa: E402

project = "ce2nce"
author = "the ce2nce developers"
copyright = "ce2nce developers, MIT licence"  # noqa: A001 - Sphinx's name
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.graphviz", "ce2nce_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]
# Links such as [models.md](models.md#predictor) name a heading: give headings their anchors.
myst_heading_anchors = 3
graphviz_output_format = "svg"
# Option names and quotes as typed ('sub-', --nprocs), not typographic ones.
smartquotes = False
html_theme = "alabaster"
html_title = f"ce2nce {version}"
