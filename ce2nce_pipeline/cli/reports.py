"""``ce2nce BIDS_DIR OUTPUT_DIR participant|group --reports-only``: rebuild the reports.

Nothing is recomputed: the reports are drawn from the files already in OUTPUT_DIR
(:func:`ce2nce_pipeline.reports.build.write_reports`).
"""

from __future__ import annotations

import sys

from ..config import RunConfig
from ..errors import Ce2nceError


def run_reports(config: RunConfig) -> int:
    """Write the participant reports (participant level) or ``group.html`` (group level).

    Returns
    -------
    int
        0 when every report was written with nothing missing, 1 otherwise (one line per
        problem on stderr; the reports list the same).
    """
    from ..reports.build import write_reports

    output_dir = config.output_dir
    if not output_dir.is_dir():
        raise Ce2nceError(
            f"--reports-only: OUTPUT_DIR {output_dir} does not exist: give the folder of an "
            "earlier run"
        )
    group = config.analysis_level == "group"
    written, problems = write_reports(
        output_dir,
        participant_labels=config.participant_labels,
        session_labels=config.session_labels,
        subjects=not group,
        group=group,
    )
    for problem in problems:
        print(f"ce2nce: warning: {problem}", file=sys.stderr)
    print(
        f"ce2nce: {len(written)} report(s) rebuilt in {output_dir}, nothing recomputed"
        + (f"; {len(problems)} thing(s) missing, listed in the reports" if problems else ""),
        file=sys.stderr,
    )
    return 0 if written and not problems else 1
