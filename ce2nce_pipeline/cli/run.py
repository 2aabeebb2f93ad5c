"""``ce2nce BIDS_DIR OUTPUT_DIR participant|group``: the BIDS-app entry point."""

from __future__ import annotations

import logging
import os
import sys

from ..config import RunConfig
from ..console import PROGRESS
from ..errors import Ce2nceError
from ._logging import configure_logging, configure_nipype_logging
from .parser import parse_args

#: Subcommands of ``ce2nce`` besides the BIDS-app levels (a dataset folder literally named so
#: must be given as ``./simulate``).
SUBCOMMANDS = {
    "simulate": "ce2nce_pipeline.cli.simulate",
    "training-set": "ce2nce_pipeline.cli.training_set",
    "real-pairs": "ce2nce_pipeline.cli.real_pairs",
    "package-default-model": "ce2nce_pipeline.cli.package_model",
}


def _configure_logging(verbosity: int) -> None:
    """ce2nce's progress lines, and no other library's below WARNING; ``-q``: no progress lines.

    ``-v``: every library's INFO and nipype's line per node; ``-vv``: DEBUG.
    """
    level = {-1: logging.WARNING, 0: logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG
    )
    progress_level = logging.WARNING if verbosity < 0 else logging.INFO
    configure_logging(
        level,
        fmt="%(asctime)s %(name)s %(levelname)s: %(message)s",
        libraries=level,
        loggers={"ce2nce": min(level, progress_level), PROGRESS.name: progress_level},
    )
    configure_nipype_logging(verbosity)


def _require_writable_folders(config: RunConfig) -> None:
    """Refuse, before any work, an output or work folder that cannot be written."""
    from ..io import require_writable_folder

    require_writable_folder(config.output_dir, "OUTPUT_DIR")
    if config.work_dir is not None and config.analysis_level == "participant":
        require_writable_folder(config.work_dir, "--work-dir")


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``ce2nce``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    config = parse_args(argv)
    # ITK reads its thread count when first used: set it before ANTs is imported anywhere.
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(config.omp_nthreads)
    _configure_logging(config.verbosity)
    try:
        if config.reports_only:
            from .reports import run_reports

            return run_reports(config)
        _require_writable_folders(config)
        if config.analysis_level == "group":
            from ..group.validation import ValidationOptions
            from .group import run_group

            return run_group(
                config,
                group_by=config.group_by,
                options=ValidationOptions(include_flagged=config.include_flagged),
            )
        from .participant import run_participant

        return run_participant(config)
    except Ce2nceError as error:
        print(f"ce2nce: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
