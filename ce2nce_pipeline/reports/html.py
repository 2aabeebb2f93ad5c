"""Small HTML fragments of the reports: tables, QC flags, problems, crash files, versions."""

from __future__ import annotations

import html
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..group.qc import FLAG_RULES, SyntheticQC


class Raw(str):
    """Markup that a table cell shows as it is (e.g. a link built here)."""


def link(target: str, text: str) -> Raw:
    """A relative link."""
    return Raw(f'<a href="./{html.escape(target)}">{html.escape(text)}</a>')


def escape(value: object) -> str:
    """Text made safe for HTML."""
    return html.escape(str(value))


def _cell(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(value)


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of dictionaries (``n/a`` for missing or non-finite values)."""
    if not rows:
        return '<p class="missing">No rows.</p>'
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def missing(lines: Iterable[str]) -> str:
    """What could not be shown, one item per line (empty string when nothing is missing)."""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<div class="missing"><p>Not shown:</p><ul>{items}</ul></div>' if items else ""


def qc_flags(qc: SyntheticQC) -> str:
    """One row per flag: value, threshold, raised or not, and what it means."""
    rows = []
    for name, (column, threshold, meaning) in FLAG_RULES.items():
        value = qc.values.get(column, math.nan)
        known = math.isfinite(value)
        raised = known and value > threshold
        state = "raised" if raised else ("ok" if known else "not computed")
        css = "flag-raised" if raised else ("flag-ok" if known else "")
        rows.append(
            f'<tr class="{css}"><td>{escape(name)}</td><td>{_cell(value)}</td>'
            f"<td>&gt; {threshold:g}</td><td>{state}</td><td>{escape(meaning)}</td></tr>"
        )
    head = "<tr><th>flag</th><th>value</th><th>threshold</th><th>state</th><th>meaning</th></tr>"
    notes = missing(qc.notes)
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{notes}"


def registration_qc(record: dict) -> str:
    """t1-linear's registration quality (and a T1w-ce's pair consistency): red when flagged."""
    if "RegistrationQuality" not in record:
        return missing(["no registration quality in the sidecar (made by an older ce2nce)"])
    from ..science.registration_quality import (
        PAIR_CONSISTENCY_THRESHOLD_MM,
        REGISTRATION_QUALITY_THRESHOLD,
    )

    rows = []
    score = record["RegistrationQuality"]
    low = score < REGISTRATION_QUALITY_THRESHOLD
    rows.append(
        f'<tr class="{"flag-raised" if low else "flag-ok"}"><td>qc_registration</td>'
        f"<td>{_cell(score)}</td><td>&lt; {REGISTRATION_QUALITY_THRESHOLD:g}</td>"
        f"<td>{'raised' if low else 'ok'}</td><td>normalised mutual information of the registered "
        "image and the template around its brain: low when the head was placed elsewhere</td></tr>"
    )
    if "PairConsistencyMM" in record:
        rms = record["PairConsistencyMM"]
        apart = rms > PAIR_CONSISTENCY_THRESHOLD_MM
        rows.append(
            f'<tr class="{"flag-raised" if apart else "flag-ok"}"><td>pair_consistency_mm</td>'
            f"<td>{_cell(rms)}</td><td>&gt; {PAIR_CONSISTENCY_THRESHOLD_MM:g}</td>"
            f"<td>{'raised' if apart else 'ok'}</td><td>RMS distance over the brain between "
            "this T1w-ce's and its T1w-nce's transforms (the head's motion between them)</td></tr>"
        )
    head = (
        "<tr><th>measure</th><th>value</th><th>flag when</th><th>state</th><th>meaning</th></tr>"
    )
    verdict = (
        '<p class="error">Registration flagged: this image is written but most likely misplaced; '
        "it is kept out of the group statistics (--include-flagged keeps it).</p>"
        if record.get("RegistrationFlagged")
        else ""
    )
    return f"{verdict}<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def crash_files(paths: Sequence[Path], root: Path) -> str:
    """The crash files, each with its last error line and a link to the file."""
    if not paths:
        return '<p class="flag-ok">No crash file names this participant.</p>'
    parts = [f'<p class="error">{len(paths)} step(s) failed; the crash files:</p>']
    for path in paths:
        text = path.read_text(errors="replace")
        errors = [line for line in text.splitlines() if re.search(r"\w+Error\b", line)]
        reason = errors[-1].strip() if errors else "(no error line found)"
        relative = path.relative_to(root) if path.is_relative_to(root) else path
        parts.append(
            f"<details><summary><code>{escape(relative)}</code>: {escape(reason)}</summary>"
            f'<p><a href="{escape(relative)}">open the crash file</a></p>'
            f"<pre>{escape(text[-6000:])}</pre></details>"
        )
    return "".join(parts)


def run_settings(logs: Path) -> list[dict[str, object]]:
    """One row per run recorded in ``logs/`` (its settings TOML): the runs into this folder."""
    rows: list[dict[str, object]] = []
    for path in sorted(logs.glob("ce2nce_*_config.toml"), key=lambda p: p.stat().st_mtime):
        try:
            settings = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            rows.append({"run": path.name, "settings": f"unreadable: {error}"})
            continue
        flat = _flatten(settings)
        rows.append(
            {
                "run": path.name.removeprefix("ce2nce_").removesuffix("_config.toml"),
                "settings": "; ".join(f"{k} = {v}" for k, v in flat.items()),
            }
        )
    return rows


def _flatten(settings: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def versions(versions_by_source: Mapping[str, Mapping[str, str]]) -> str:
    """A table of software versions, one column per source (e.g. per image or run)."""
    names = sorted({name for item in versions_by_source.values() for name in item})
    rows = [
        {"software": name, **{src: item.get(name) for src, item in versions_by_source.items()}}
        for name in names
    ]
    return table(rows, ["software", *versions_by_source]) if rows else ""


def citation(logs: Path) -> str:
    """The methods text (``logs/CITATION.md``) as preformatted text."""
    path = logs / "CITATION.md"
    if not path.is_file():
        return missing([f"{path}: no methods text (the participant level writes it)"])
    return f'<pre class="boiler-md">{escape(path.read_text(encoding="utf-8"))}</pre>'


#: The ratings a reader can give an image in a participant report (``group.ratings.RATINGS``
#: adds ``n/a``, written for an image left unrated).
RATING_CHOICES: tuple[str, ...] = ("good", "uncertain", "bad")


def rating_form(participant_id: str, image_name: str, index: int) -> str:
    """The rating buttons and comment box of one image (read by the report's script)."""
    name = f"qc-rating-{index}"
    buttons = "".join(
        f'<label class="qc-choice"><input type="radio" name="{name}" value="{choice}" />'
        f" {choice}</label>"
        for choice in RATING_CHOICES
    )
    return (
        f'<fieldset class="qc-rating" data-participant="{escape(participant_id)}" '
        f'data-image="{escape(image_name)}"><legend>{escape(image_name)}</legend>{buttons}'
        '<label class="qc-comment-label">comment <input type="text" class="qc-comment" '
        'size="60" /></label></fieldset>'
    )


def ratings_download(participant_id: str) -> str:
    """The button that saves the page's ratings as ``<participant>_qc-ratings.tsv``."""
    filename = f"{participant_id}_qc-ratings.tsv"
    return (
        '<div class="qc-download"><p>Rate each image below (good, uncertain, bad, with a '
        "comment), then save the ratings: the browser downloads them as "
        f"<code>{escape(filename)}</code>, nothing is sent anywhere. "
        "<code>ce2nce BIDS_DIR OUTPUT_DIR group --qc-ratings FILE...</code> leaves the images "
        f'rated bad out of the statistics.</p><button type="button" id="qc-ratings-download" '
        f'data-filename="{escape(filename)}">Download ratings</button> '
        '<span id="qc-ratings-status"></span></div>'
    )
