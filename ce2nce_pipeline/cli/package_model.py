"""``ce2nce package-default-model``: turn a training run into the shipped default model.

The last step of ``make default-model`` (``workflows/default_model/build.sh``): the run's
``best/`` checkpoint is re-saved with a description of its simulated data into
``ce2nce_pipeline/data/default_model/`` with a model card holding the held-out evaluation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import Ce2nceError
from ..science.change_region import CHANGE_REGIONS
from .arguments import OneLineParser


def _evaluation(text: str) -> tuple[str, Path]:
    label, sep, folder = text.partition("=")
    if not sep or not label or not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: use LABEL=FOLDER, e.g. Test_good=eval/good")
    path = Path(folder)
    if not (path / "per_pair.tsv").is_file():
        raise argparse.ArgumentTypeError(f"{folder}: no per_pair.tsv (a ce2nce-evaluate output)")
    return label, path


def build_parser() -> argparse.ArgumentParser:
    """The ``ce2nce package-default-model`` argument parser."""
    parser = OneLineParser(
        prog="ce2nce package-default-model",
        description="Package a trained checkpoint and its held-out evaluation as the default "
        "model shipped in ce2nce_pipeline/data/default_model.",
    )
    parser.add_argument("checkpoint", type=Path, help="the training run's best/ folder")
    parser.add_argument(
        "--evaluation",
        type=_evaluation,
        action="append",
        default=[],
        metavar="LABEL=FOLDER",
        help="a ce2nce-evaluate output folder (repeatable)",
    )
    parser.add_argument(
        "--real-pairs",
        type=Path,
        metavar="TSV",
        help="held-out real-pair scores through the participant level "
        "(workflows/default_model/score_derivatives.py --out)",
    )
    parser.add_argument(
        "--output-resampling",
        choices=("keep-detail", "round-trip"),
        help="how the Predictor brings this model's outputs back to the t1-linear grid by "
        "default, as chosen on the validation pairs (default: what the checkpoint records)",
    )
    parser.add_argument(
        "--change-region",
        choices=CHANGE_REGIONS,
        help="where the Predictor keeps this model's change, as chosen on the validation pairs "
        "(default: what the checkpoint records)",
    )
    parser.add_argument(
        "--warning",
        help="what the model card says first: what the model was trained on and how far to "
        "trust it (default: the shipped model's)",
    )
    parser.add_argument("--data", required=True, help="one line describing the training data")
    parser.add_argument("--notes", default="", help="training facts (time, hardware)")
    parser.add_argument("--target", type=Path, help="destination (default: the package's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from ..models import CheckpointError
    from ..models.default import package_default_model

    args = build_parser().parse_args(argv)
    try:
        target = package_default_model(
            args.checkpoint,
            dict(args.evaluation),
            data_description=args.data,
            notes=args.notes,
            target=args.target,
            real_pairs=args.real_pairs,
            output_resampling=args.output_resampling,
            change_region=args.change_region,
            **({"warning": args.warning} if args.warning else {}),
        )
    except (Ce2nceError, CheckpointError, ValueError, OSError) as error:
        print(f"ce2nce package-default-model: error: {error}", file=sys.stderr)
        return 1
    print(f"default model written to {target} (model card: {target / 'MODEL_CARD.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
