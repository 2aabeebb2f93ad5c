"""The group report ``OUTPUT_DIR/group.html``: sessions, flags, failures, features, validation.

It reads what is there (participant outputs, ``group/`` tables and figures, ``logs/``) and says
what is missing instead of failing. The page uses the per-participant reports' offline template.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from ..group.collect import SessionOutputs
from ..group.qc import QC_COLUMNS, SyntheticQC
from ..io import atomic_write_text
from . import html
from .subject import TEMPLATE

#: Validation tables shown, in order, when the group level wrote them.
VALIDATION_TABLES = ("table1_similarity", "table2_rAD", "table3_dice", "pairs")
#: Group figures shown (PNG), when the group level wrote them.
GROUP_FIGURES = ("relative_differences_rD", "volume_scatter", "example_slices")


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def _item(title: str, content: str, caption: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        name=title.lower().replace(" ", "-"), title=title, subtitle=None, description=None,
        components=[(content, caption)],
    )  # fmt: skip


def _failures(output_dir: Path) -> str:
    logs = output_dir / "logs"
    crashes = sorted(logs.glob("crash-*"))
    rejected = [
        line
        for path in sorted(logs.glob("ce2nce_*_rejected.txt"))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    content = html.crash_files(crashes, output_dir).replace(
        "No crash file names this participant.", "No crash file."
    )
    if rejected:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in rejected)
        content += f'<p class="error">Rejected input images:</p><ul>{items}</ul>'
    return content


def _sessions_table(
    sessions: Sequence[SessionOutputs], qcs: Sequence[SyntheticQC], output_dir: Path
) -> str:
    flags = {(qc.participant_id, qc.session_id): [] for qc in qcs}
    for qc in qcs:
        flags[(qc.participant_id, qc.session_id)] += [f"{qc.source}: {f}" for f in qc.raised]
    rows = []
    for session in sessions:
        images = [i for i in (session.nce, *session.ce, *session.synthetic.values()) if i]
        report = f"{session.participant_id}.html"
        rows.append({
            "participant": session.participant_id,
            "session": session.session_id,
            "images": ", ".join(f"{i.source} ({i.kind})" for i in images),
            "missing outputs": "; ".join(
                f"{i.source} ({i.kind}): {', '.join(m)}" for i in images if (m := i.missing())
            ) or "none",
            "QC flags raised": "; ".join(flags.get(session.key, [])) or "none",
            "report": html.link(report, report) if (output_dir / report).is_file()
            else "not written",
        })  # fmt: skip
    return html.table(rows)


def _qc_table(qcs: Sequence[SyntheticQC], output_dir: Path) -> str:
    return html.table([qc.row(output_dir) for qc in qcs], list(QC_COLUMNS)) + html.missing(
        f"{qc.source}: {note}" for qc in qcs for note in qc.notes
    )


def _tsv_item(path: Path, title: str) -> SimpleNamespace:
    if not path.is_file():
        return _item(title, html.missing([f"{path.name}: not written (run the group level)"]))
    try:
        return _item(title, html.table(_read_tsv(path)), caption=str(path.name))
    except (OSError, csv.Error) as error:
        return _item(title, html.missing([f"{path}: unreadable ({error})"]))


def _validation_items(output_dir: Path) -> list[SimpleNamespace]:
    folder = output_dir / "group" / "validation"
    if not (folder / "pairs.tsv").is_file():
        return [_item("Validation", html.missing(["no validation tables: no ce/nce pair, or the "
                                                  "group level has not run"]))]  # fmt: skip
    items = [_tsv_item(folder / f"{name}.tsv", name) for name in VALIDATION_TABLES]
    for name in GROUP_FIGURES:
        figure = output_dir / "group" / "figures" / f"{name}.png"
        if figure.is_file():
            link = figure.relative_to(output_dir)
            items.append(_item(name, f'<div class="reportlet"><img src="./{link}" '
                                     f'alt="{name}" style="width: 100%" /></div>'))  # fmt: skip
    return items


def build_group_report(
    output_dir: Path,
    sessions: Sequence[SessionOutputs],
    qcs: Sequence[SyntheticQC],
    *,
    problems: Sequence[str] = (),
) -> Path:
    """Write ``OUTPUT_DIR/group.html``; return its path."""
    import jinja2

    output_dir = Path(output_dir)
    logs = output_dir / "logs"
    summary = _sessions_table(sessions, qcs, output_dir) + html.missing(problems)
    about = (html.citation(logs) + "<h3>Runs into this output folder</h3>"
             + html.table(html.run_settings(logs)))  # fmt: skip
    sections = [
        SimpleNamespace(name="Sessions", reportlets=[_item("Every session", summary)]),
        SimpleNamespace(name="Failures", reportlets=[_item("Failed steps and rejected images",
                                                           _failures(output_dir))]),
        SimpleNamespace(name="QC flags", reportlets=[_item("Flags of every synthetic image",
                                                           _qc_table(qcs, output_dir))]),
        SimpleNamespace(name="Features", reportlets=[
            _tsv_item(output_dir / "group" / "features.tsv", "features.tsv")]),
        SimpleNamespace(name="Validation", reportlets=_validation_items(output_dir)),
        SimpleNamespace(name="About", reportlets=[_item("Methods, versions and options", about)]),
    ]  # fmt: skip
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), autoescape=False
    )
    page = environment.get_template(TEMPLATE.name).render(
        title="ce2nce: group report", sections=sections, header=[], navbar=[], footer=[]
    )
    destination = output_dir / "group.html"
    atomic_write_text(page, destination)
    return destination
