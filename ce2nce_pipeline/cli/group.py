"""``ce2nce BIDS_DIR OUTPUT_DIR group [--group-by COLUMN]``: the group level's face.

The work is :func:`ce2nce_pipeline.group.run.run_group_level` (docs/group.md); the group report,
which reads the tables it writes, is asked for here, after it.
"""

from __future__ import annotations

from ..config import RunConfig
from ..group.run import run_group_level
from ..group.validation import ValidationOptions
from ..reports.build import reports_after_run


def run_group(
    config: RunConfig,
    group_by: str | None = None,
    *,
    options: ValidationOptions | None = None,
) -> int:
    """Run the group level with a run's settings; return the exit code.

    Parameters
    ----------
    config : RunConfig
        Reads ``bids_dir``, ``output_dir``, ``participant_labels``, ``session_labels`` and
        ``qc_ratings``.
    group_by : str, optional
        See :func:`~ce2nce_pipeline.group.run.run_group_level`.
    options : ValidationOptions, optional
        Statistical conventions.
    """
    code = run_group_level(
        config.output_dir,
        config.bids_dir,
        participant_labels=config.participant_labels,
        session_labels=config.session_labels,
        group_by=group_by,
        options=options,
        qc_ratings=config.qc_ratings,
    )
    reports_after_run(
        config.output_dir,
        prefix="ce2nce group",
        participant_labels=config.participant_labels,
        session_labels=config.session_labels,
        subjects=False,
    )
    return code
