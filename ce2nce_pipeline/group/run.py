"""The group level: the feature table, the validation tables and the figures.

:func:`run_group_level` writes into ``OUTPUT_DIR/group/`` (docs/group.md):

- ``features.tsv`` and ``features.json``;
- ``validation/*.tsv`` on sessions with a real ce/nce pair;
- ``figures/*.png`` and ``figures/*.svg``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..console import say
from ..errors import Ce2nceError
from ..io import atomic_write_json, atomic_write_text
from .collect import SessionOutputs, collect_sessions, session_covariate
from .features import FEATURE_SIDECAR, feature_table
from .figures import (
    plot_example_slices,
    plot_relative_differences,
    plot_volume_scatter,
    save_figure,
)
from .qc import QC_SIDECAR, add_qc_columns, all_synthetic_qc
from .ratings import exclude_rated_bad, exclusion_line, read_ratings
from .validation import ValidationOptions, ValidationResult, validate

logger = logging.getLogger(__name__)

GROUP_DIR = "group"


def _say(message: str) -> None:
    """A user-facing line on stderr."""
    say(f"ce2nce group: {message}")


def write_tsv(table: pd.DataFrame, destination: Path) -> Path:
    """Write a table as a BIDS TSV (tab-separated, ``n/a`` for missing values), atomically."""
    atomic_write_text(table.to_csv(sep="\t", index=False, na_rep="n/a"), destination)
    return destination


def _write_validation(result: ValidationResult, folder: Path) -> list[Path]:
    written = [
        write_tsv(result.pairs, folder / "pairs.tsv"),
        write_tsv(result.similarity, folder / "similarity.tsv"),
        write_tsv(result.volumes, folder / "volumes.tsv"),
        write_tsv(result.dice, folder / "dice.tsv"),
    ]
    if not result.relative.empty:
        written.append(write_tsv(result.relative, folder / "relative_differences.tsv"))
    for name, tests in result.ttests.items():
        written.append(write_tsv(tests, folder / f"ttests_{name}.tsv"))
    for name, table in result.tables.items():
        written.append(write_tsv(table, folder / f"{name}.tsv"))
    return written


def _write_figures(result: ValidationResult, folder: Path, group_by: str | None) -> list[Path]:
    written: list[Path] = []
    if not result.relative.empty:
        figure = plot_relative_differences(result.relative, value="rD", group_col=group_by)
        written += save_figure(figure, folder, "relative_differences_rD")
    if result.examples:
        written += save_figure(plot_example_slices(result.examples), folder, "example_slices")
    if (result.volumes["image"] == "nce").any() and (result.volumes["image"] != "nce").any():
        written += save_figure(plot_volume_scatter(result.volumes), folder, "volume_scatter")
    return written


def _sessions_to_compare(
    output_dir: Path,
    bids_dir: Path,
    participant_labels: Sequence[str],
    session_labels: Sequence[str],
) -> tuple[list[SessionOutputs], list[str]]:
    """The participant-level outputs of each session, and one line per thing missing."""
    sessions, problems = collect_sessions(
        output_dir,
        participant_labels=list(participant_labels),
        session_labels=list(session_labels),
    )
    if not sessions:
        raise Ce2nceError(
            f"no participant-level outputs in {output_dir}: run "
            f"'ce2nce {bids_dir} {output_dir} participant' first"
        )
    for session in sessions:
        if session.nce is None and not session.synthetic:
            problems.append(
                f"{session.participant_id} {session.session_id}: no real T1w-nce and no "
                "synthetic T1w-nce (run the participant level with --model)"
            )
    return sessions, problems


def _session_groups(
    bids_dir: Path, sessions: list[SessionOutputs], group_by: str | None, problems: list[str]
) -> dict | None:
    """The ``group_by`` value of each session, or ``None`` without grouping."""
    if not group_by:
        return None
    groups, where = session_covariate(bids_dir, sessions, group_by)
    if where is None:
        problems.append(
            f"column {group_by!r} is in no sessions.tsv, participants.tsv or T1w sidecar "
            f"of {bids_dir}; every session is in group 'n/a'"
        )
    return groups


def run_group_level(
    output_dir: Path,
    bids_dir: Path,
    *,
    participant_labels: Sequence[str] = (),
    session_labels: Sequence[str] = (),
    group_by: str | None = None,
    options: ValidationOptions | None = None,
    qc_ratings: Sequence[Path] = (),
) -> int:
    """Run the group level on a derivatives dataset made by the participant level.

    Parameters
    ----------
    output_dir : Path
        The derivatives dataset; the group level writes under ``output_dir/group``.
    bids_dir : Path
        The input dataset (its ``participants.tsv``/``sessions.tsv`` and sidecars).
    participant_labels, session_labels : sequence of str
        Only these participants and sessions (default: all).
    group_by : str, optional
        Column of ``participants.tsv``/``sessions.tsv`` or key of the input T1w sidecars that
        groups the validation (e.g. a quality rating → Test_good / Test_low).
    options : ValidationOptions, optional
        Statistical conventions (sd ddof, alpha, correction, family, similarity definitions).
    qc_ratings : sequence of Path
        Ratings files downloaded from the participant reports; the images rated bad are left
        out of every table and figure (:mod:`.ratings`), and one line says how many.

    Returns
    -------
    int
        0 when everything was computed; 1 when something was skipped (each problem is printed
        as one line on stderr, and everything that could be computed is written).

    Raises
    ------
    Ce2nceError
        When ``output_dir`` holds no participant-level output.
    InvalidInputError
        On a malformed ratings file (one line naming it).
    """
    output_dir, bids_dir = Path(output_dir), Path(bids_dir)
    ratings = read_ratings(qc_ratings) if qc_ratings else None
    sessions, problems = _sessions_to_compare(
        output_dir, bids_dir, participant_labels, session_labels
    )
    if ratings is not None:
        sessions, excluded = exclude_rated_bad(sessions, ratings)
        _say(exclusion_line(ratings, excluded))
    root = output_dir / GROUP_DIR
    features, feature_problems = feature_table(sessions, output_dir)
    problems += feature_problems
    qcs = all_synthetic_qc(sessions)
    features = add_qc_columns(features, qcs, output_dir)
    written = [write_tsv(features, root / "features.tsv")]
    atomic_write_json({**FEATURE_SIDECAR, **QC_SIDECAR}, root / "features.json")

    groups = _session_groups(bids_dir, sessions, group_by, problems)
    result = validate(sessions, group_by=group_by, groups=groups, options=options)
    problems += result.problems
    written += _write_validation(result, root / "validation")
    try:
        written += _write_figures(result, root / "figures", group_by)
    except (OSError, ValueError) as error:
        problems.append(f"figures not all written: {error}")

    for problem in problems:
        logger.info(problem)  # shown once, by the line below
        _say(f"warning: {problem}")
    _say(
        f"{len(features)} session(s) in features.tsv, {len(result.pairs)} ce/nce pair(s) "
        f"validated, {len(written)} file(s) written under {root}"
    )
    if problems:
        _say(f"{len(problems)} problem(s): the outputs are partial, see the lines above")
        return 1
    return 0
