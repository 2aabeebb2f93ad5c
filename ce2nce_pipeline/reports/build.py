"""Write the reports of a derivatives dataset: what the participant and group levels call last.

:func:`write_reports` reads only what is on disk, so ``ce2nce … --reports-only`` rebuilds the
reports of an earlier run without recomputing anything. :func:`reports_after_run` is the call
at the end of a run: a report that fails is one line, never a failed run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..console import progress, say
from ..group.collect import collect_sessions
from ..group.qc import all_synthetic_qc
from .group import build_group_report
from .subject import build_subject_report, version_problem

logger = logging.getLogger(__name__)


def write_reports(
    output_dir: Path,
    *,
    participant_labels: Sequence[str] = (),
    session_labels: Sequence[str] = (),
    subjects: bool = True,
    group: bool = True,
) -> tuple[list[Path], list[str]]:
    """Write ``sub-X.html`` for each participant found and ``group.html``.

    Parameters
    ----------
    output_dir : pathlib.Path
        The derivatives dataset.
    participant_labels, session_labels : sequence of str
        Only these (labels without ``sub-``/``ses-``); all when empty.
    subjects, group : bool
        Which reports to write.

    Returns
    -------
    written : list of pathlib.Path
        The reports written.
    problems : list of str
        One line per thing missing or failed (each also shown in the reports).
    """
    output_dir = Path(output_dir)
    problems: list[str] = []
    if (line := version_problem(output_dir)) is not None:
        problems.append(line)
    sessions, collect_problems = collect_sessions(
        output_dir, participant_labels=participant_labels, session_labels=session_labels
    )
    problems += collect_problems
    if not sessions:
        problems.append(f"no participant-level outputs in {output_dir}")
    everyone = sessions
    if participant_labels or session_labels:  # volume z-scores against the whole dataset
        everyone, _ = collect_sessions(output_dir)
    qcs = all_synthetic_qc(sessions, everyone)
    written: list[Path] = []
    participants = sorted({session.participant_id for session in sessions})
    for participant in participants if subjects else ():
        own = [session for session in sessions if session.participant_id == participant]
        try:
            written.append(build_subject_report(output_dir, participant, own, qcs,
                                                problems=problems))  # fmt: skip
        except Exception as error:  # one participant's report never stops the others
            logger.debug("report of %s failed", participant, exc_info=True)
            problems.append(f"{participant}.html not written: {type(error).__name__}: {error}")
    if group or not sessions:  # with no outputs at all, group.html says what is missing
        written.append(build_group_report(output_dir, sessions, qcs, problems=problems))
    return written, problems


def reports_after_run(output_dir: Path, *, prefix: str, **kwargs) -> None:
    """:func:`write_reports` at the end of a run: one line, whatever happens."""
    try:
        written, problems = write_reports(output_dir, **kwargs)
    except Exception as error:  # a report must never fail the run it describes
        logger.debug("reports failed", exc_info=True)
        say(f"{prefix}: warning: reports not written: {type(error).__name__}: {error}")
        return
    missing = f" ({len(problems)} thing(s) missing, listed in them)" if problems else ""
    progress(f"{prefix}: {len(written)} report(s) written in {output_dir}{missing}")
