"""``ce2nce simulate``: write a BIDS dataset of simulated T1w-ce / T1w-nce pairs.

The work is :func:`ce2nce_pipeline.simulation.dataset.simulate_dataset`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Ce2nceError
from ._logging import configure_logging
from .arguments import OneLineParser, fraction, non_negative_int, positive_int

if TYPE_CHECKING:
    from ..simulation.dataset import DatasetSettings


def build_parser() -> argparse.ArgumentParser:
    """The ``ce2nce simulate`` argument parser."""
    from ..simulation.simulator import COMPONENTS

    parser = OneLineParser(
        prog="ce2nce simulate",
        description="Write a BIDS dataset of real non-contrast T1w images (augmented) paired "
        "with simulated gadolinium-enhanced T1w images.",
    )
    parser.add_argument("output_dir", type=Path, help="folder of the BIDS dataset to write")
    parser.add_argument("--n-subjects", type=positive_int, default=4, help="default: 4")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="master seed (default: 0)"
    )
    parser.add_argument(
        "--base",
        nargs="+",
        default=["colin27"],
        metavar="NAME|PATH",
        help="base image(s), used in turn: colin27, colin27-brain, mni152 (held out for "
        "testing) or a NIfTI path (default: colin27)",
    )
    parser.add_argument(
        "--low-quality-fraction",
        type=fraction,
        default=0.25,
        help="fraction of ce images simulated with the low-quality preset (default: 0.25; "
        "at least one when > 0)",
    )
    parser.add_argument(
        "--ce-only-fraction",
        type=fraction,
        default=0.0,
        help="fraction of sessions with a ce image and no nce image (default: 0)",
    )
    parser.add_argument(
        "--lesion-probability",
        type=fraction,
        default=0.2,
        help="probability of a ring-enhancing mass, and of nodules (default: 0.2)",
    )
    parser.add_argument(
        "--components",
        nargs="+",
        choices=COMPONENTS,
        metavar="COMPONENT",
        help=f"switch on only these components (others off): {', '.join(COMPONENTS)}",
    )
    parser.add_argument(
        "--size",
        choices=["full", "small"],
        default="full",
        help="full: the base's 1 mm grid; small: resampled to 2 mm (fast, for tests and demos)",
    )
    parser.add_argument(
        "--space",
        choices=["auto", "mni", "native"],
        default="auto",
        help="how the simulator maps the image to MNI (default: auto; see docs/simulation.md)",
    )
    parser.add_argument("--session-label", default="M000", help="session label (default: M000)")
    parser.add_argument("--no-session", action="store_true", help="no ses- level")
    parser.add_argument(
        "--no-augmentation", action="store_true", help="use the base images as they are"
    )
    parser.add_argument(
        "--separate-series",
        action="store_true",
        help="make each pair two series: the nce gets its own acquisition effects (noise, "
        "bias, blur, slices) and the ce a rigid motion of up to 3 mm / 3 degrees",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="write into a non-empty output folder"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def _settings(args: argparse.Namespace) -> DatasetSettings:
    """The dataset the command line asks for."""
    from ..simulation.dataset import DatasetSettings

    return DatasetSettings(
        n_subjects=args.n_subjects,
        seed=args.seed,
        bases=tuple(args.base),
        low_quality_fraction=args.low_quality_fraction,
        ce_only_fraction=args.ce_only_fraction,
        lesion_probability=args.lesion_probability,
        components=tuple(args.components) if args.components else None,
        size=args.size,
        space=args.space,
        session=None if args.no_session else args.session_label,
        augmentation=not args.no_augmentation,
        separate_series=args.separate_series,
        overwrite=args.overwrite,
    )


def _say_skipped(reason: str) -> None:
    print(f"ce2nce simulate: skipped base {reason}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ce2nce simulate``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..simulation.dataset import simulate_dataset

    configure_logging(logging.INFO if args.verbose else logging.WARNING, fmt="%(message)s")
    try:
        written = simulate_dataset(args.output_dir, _settings(args), on_skipped=_say_skipped)
    except (Ce2nceError, ValueError, FileExistsError, OSError) as error:
        print(f"ce2nce simulate: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} images for {args.n_subjects} subjects to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
