"""``ce2nce training-set``: simulate the ce/nce pairs of the default model on the t1-linear grid.

Writes ``pairs.tsv`` (training + validation, with a split column) and the held-out
``test_good.tsv`` / ``test_low.tsv`` read by ``ce2nce-train`` and ``ce2nce-evaluate``; see
``docs/default_model.md``. Pairs already written are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ..errors import Ce2nceError
from ._logging import configure_logging
from .arguments import OneLineParser, fraction, non_negative_int


def build_parser() -> argparse.ArgumentParser:
    """The ``ce2nce training-set`` argument parser."""
    from ..simulation.training_set import TrainingSetPlan

    defaults = TrainingSetPlan()
    parser = OneLineParser(
        prog="ce2nce training-set",
        description="Simulate training, validation and held-out test pairs (T1w-ce / T1w-nce) "
        "on the t1-linear grid from the real base images.",
    )
    parser.add_argument("output_dir", type=Path, help="work folder (created; resumable)")
    parser.add_argument("--n-train", type=non_negative_int, default=defaults.n_train)
    parser.add_argument("--n-validation", type=non_negative_int, default=defaults.n_validation)
    parser.add_argument("--n-test-good", type=non_negative_int, default=defaults.n_test_good)
    parser.add_argument("--n-test-low", type=non_negative_int, default=defaults.n_test_low)
    parser.add_argument(
        "--low-quality-fraction",
        type=fraction,
        default=defaults.low_quality_fraction,
        help=f"of the training/validation pairs (default: {defaults.low_quality_fraction})",
    )
    parser.add_argument(
        "--lesion-probability",
        type=fraction,
        default=defaults.lesion_probability,
        help=f"per pair (default: {defaults.lesion_probability})",
    )
    parser.add_argument("--processes", type=non_negative_int, default=1, help="worker processes")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every pair")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ce2nce training-set``; returns the exit code."""
    from ..simulation.training_set import TrainingSetPlan, build_training_set

    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING, fmt="%(message)s")
    start = time.perf_counter()
    try:
        plan = TrainingSetPlan(
            n_train=args.n_train,
            n_validation=args.n_validation,
            n_test_good=args.n_test_good,
            n_test_low=args.n_test_low,
            low_quality_fraction=args.low_quality_fraction,
            lesion_probability=args.lesion_probability,
        )
        tables = build_training_set(args.output_dir, plan, processes=max(1, args.processes))
    except (Ce2nceError, ValueError, OSError) as error:
        print(f"ce2nce training-set: error: {error}", file=sys.stderr)
        return 1
    print(
        f"{len(plan.pairs())} pairs in {time.perf_counter() - start:.0f} s: "
        + ", ".join(str(path) for path in tables.values())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
