"""``ce2nce real-pairs``: preprocess the real ce/nce pairs of a BIDS dataset for training.

Each image goes through the participant level's own t1-linear (N4, affine registration, crop);
``pairs.tsv`` gets a split column from ``--validation`` / ``--test`` subject lists (every other
subject trains). See ``docs/default_model.md``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..bids import validate_label
from ..errors import Ce2nceError
from ._logging import configure_logging
from .arguments import OneLineParser


def _participant(label: str) -> str:
    try:
        return "sub-" + validate_label(label)
    except Exception as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``ce2nce real-pairs`` argument parser."""
    parser = OneLineParser(
        prog="ce2nce real-pairs",
        description="Run t1-linear on every ce/nce pair of a BIDS dataset and write pairs.tsv "
        "(train / validation / test by subject) for ce2nce-train and ce2nce-evaluate.",
    )
    parser.add_argument("bids_dir", type=Path, help="BIDS dataset of real ce/nce pairs")
    parser.add_argument("output_dir", type=Path, help="work folder (created; resumable)")
    parser.add_argument("--validation", nargs="*", type=_participant, default=[])
    parser.add_argument("--test", nargs="*", type=_participant, default=[])
    parser.add_argument(
        "--participant-label",
        nargs="*",
        type=_participant,
        help="only these subjects (default: every subject with a ce/nce session)",
    )
    parser.add_argument("--processes", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ce2nce real-pairs``."""
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO, fmt="%(asctime)s %(message)s")
    from ..training.real_pairs import prepare_real_pairs

    try:
        tsv = prepare_real_pairs(
            args.bids_dir.resolve(),
            args.output_dir,
            {"validation": args.validation, "test": args.test},
            processes=args.processes,
            participant_labels=[label[4:] for label in args.participant_label or []] or None,
        )
    except Ce2nceError as error:
        print(f"ce2nce real-pairs: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {tsv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
