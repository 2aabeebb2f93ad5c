"""``ce2nce BIDS_DIR OUTPUT_DIR participant|group``: the BIDS-app entry point."""

from __future__ import annotations

import logging
import os
import sys

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
    """``-v``: INFO, ``-vv``: DEBUG and nipype's INFO; ce2nce's progress lines always."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    configure_logging(
        level,
        fmt="%(asctime)s %(name)s %(levelname)s: %(message)s",
        libraries=level,
        loggers={"ce2nce": min(level, logging.INFO)},
    )
    configure_nipype_logging(verbosity)


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
        if config.analysis_level == "group":
            from .group import run_group

            return run_group(config, group_by=config.group_by)
        from .participant import run_participant

        return run_participant(config)
    except Ce2nceError as error:
        print(f"ce2nce: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
