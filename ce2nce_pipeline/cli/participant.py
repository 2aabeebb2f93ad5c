"""The participant level of ``ce2nce``: find the images, prepare the run once, run."""

from __future__ import annotations

from ..config import RunConfig
from ..console import progress


def run_participant(config: RunConfig) -> int:
    """Run the participant level; return the exit code (0 when every image succeeded).

    The work folder is locked for the run (a second run on it is refused), and SIGTERM, SIGINT
    or SIGHUP stop every worker before the run exits.
    """
    from ..workflows.prepare import prepare_run
    from ..workflows.run import (
        contrast_from_detector,
        participant_run_guard,
        run_participant_level,
        usable_images,
    )

    with participant_run_guard(config):
        images, rejections = usable_images(config)
        images = contrast_from_detector(config, images)
        n_ce = sum(image.is_contrast_enhanced for image in images)
        prepared = prepare_run(config, n_ce)
        progress(f"ce2nce: {len(images)} T1w images to process ({n_ce} contrast-enhanced)")
        return run_participant_level(config, images, rejections, prepared)
