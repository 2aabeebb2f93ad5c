"""Pages of the documentation that are generated from the code when it is built.

Three directives, each reading the real objects rather than a copy of them:

- ``ce2nce-argparse``: the command-line reference, from ``cli/options.py``'s ``build_parser()``;
- ``ce2nce-graph``: the participant graph of one session with a T1w-ce and a T1w-nce, drawn by
  Graphviz from nipype's own graph of ``init_single_subject_wf`` (``dot`` must be installed);
- ``ce2nce-citation``: the methods text and references a default run writes to
  ``logs/CITATION.md``, built from the same graph.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.ext.graphviz import graphviz
from sphinx.util.docutils import SphinxDirective

#: The example session of the graph and the methods text: a T1w-nce and a T1w-ce.
EXAMPLE_IMAGES = (
    "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz",
    "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz",
)


def _option_text(action: argparse.Action) -> str:
    """``--nprocs N, --n-cpus N`` or ``bids_dir``: how an argument is written."""
    if not action.option_strings:
        return action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper()
    )
    suffix = f" {metavar} ..." if action.nargs in ("+", "*") else f" {metavar}"
    return ", ".join(option + suffix for option in action.option_strings)


def _help_text(action: argparse.Action) -> str:
    """The help of an argument, with its choices and its default where it has one."""
    text = action.help or ""
    extras = []
    if action.choices and "{" not in _option_text(action):
        extras.append("one of " + ", ".join(map(str, action.choices)))
    shown_default = action.default not in (None, False, [], 0, argparse.SUPPRESS, "{}")
    if action.option_strings and shown_default and "default" not in text:
        extras.append(f"default {action.default}")
    return text + (f" ({'; '.join(extras)})" if extras else "")


def parser_nodes(parser: argparse.ArgumentParser) -> list[nodes.Node]:
    """A parser as docutils nodes: its usage, its description, one definition per argument."""
    usage = parser.format_usage().removeprefix("usage: ").strip()
    block = nodes.literal_block(usage, usage)
    block["language"] = "text"
    result: list[nodes.Node] = [block, nodes.paragraph(text=parser.description or "")]
    for title, positional in (("Positional arguments", True), ("Options", False)):
        definitions = nodes.definition_list()
        for action in parser._actions:  # argparse exposes its arguments only here
            if bool(action.option_strings) == positional or action.help == argparse.SUPPRESS:
                continue
            term = nodes.term("", "", nodes.literal(text=_option_text(action)))
            definition = nodes.definition("", nodes.paragraph(text=_help_text(action)))
            definitions += nodes.definition_list_item("", term, definition)
        result += [nodes.rubric(text=title), definitions]
    return result


class ArgparseDirective(SphinxDirective):
    """``ce2nce-argparse``: the reference of the ``ce2nce`` command line."""

    def run(self) -> list[nodes.Node]:
        from ce2nce_pipeline.cli.parser import build_parser

        return parser_nodes(build_parser())


def example_graph():
    """The participant graph of the example session: the shipped model, the default backends."""
    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.config import RunConfig
    from ce2nce_pipeline.derivatives import software_versions
    from ce2nce_pipeline.models.default import default_model_path
    from ce2nce_pipeline.workflows.base import SubjectSettings, init_single_subject_wf
    from ce2nce_pipeline.workflows.outputs import OutputLayout
    from ce2nce_pipeline.workflows.prepare import (
        PreparedRun,
        RunEnvironment,
        check_translation_model,
    )

    bids = Path("BIDS_DIR")  # building a graph reads no image: names are enough
    images = [
        T1wImage(bids / relative, relative, {"subject": "01", "session": "M000"} | ce, agent)
        for relative, ce, agent in (
            (EXAMPLE_IMAGES[0], {}, None),
            (EXAMPLE_IMAGES[1], {"ceagent": "gadolinium"}, "gadolinium"),
        )
    ]
    config = RunConfig(bids, Path("OUTPUT_DIR"), "participant", model=default_model_path())
    settings = SubjectSettings.from_config(
        config,
        layout=OutputLayout(output_dir="OUTPUT_DIR"),
        software_versions=software_versions(),
        prepared=PreparedRun(check_translation_model(config, n_ce=1), RunEnvironment()),
    )
    return init_single_subject_wf(subject="01", images=images, settings=settings)


class GraphDirective(SphinxDirective):
    """``ce2nce-graph``: nipype's graph of the example session, drawn by Graphviz."""

    def run(self) -> list[nodes.Node]:
        import logging

        workflow = example_graph()
        logging.getLogger("nipype.workflow").setLevel(logging.WARNING)  # its line per graph
        with tempfile.TemporaryDirectory(prefix="ce2nce_graph_") as folder:
            dot_file = Path(folder) / "graph.dot"
            workflow.write_graph(dotfilename=str(dot_file), graph2use="colored", format="svg")
            code = dot_file.read_text()
        node = graphviz()
        node["code"] = code
        node["options"] = {"docname": self.env.docname}
        node["alt"] = "The participant graph of a session with a T1w-nce and a T1w-ce"
        node["align"] = "center"
        return [node]


class CitationDirective(SphinxDirective):
    """``ce2nce-citation``: the ``logs/CITATION.md`` a default run of the example writes."""

    def run(self) -> list[nodes.Node]:
        from ce2nce_pipeline.derivatives import citation_text
        from ce2nce_pipeline.workflows.base import collect_descriptions

        text = citation_text(collect_descriptions(example_graph()))
        block = nodes.literal_block(text, text)
        block["language"] = "markdown"
        return [block]


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("ce2nce-argparse", ArgparseDirective)
    app.add_directive("ce2nce-graph", GraphDirective)
    app.add_directive("ce2nce-citation", CitationDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
