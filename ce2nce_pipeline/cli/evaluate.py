"""``ce2nce-evaluate``: image similarity of models against the T1w-ce baseline."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import __version__
from ..errors import Ce2nceError
from ._logging import configure_training_logging
from .arguments import OneLineParser

PROG = "ce2nce-evaluate"


def build_parser() -> OneLineParser:
    """The ``ce2nce-evaluate`` argument parser (options override the recipe's settings)."""
    parser = OneLineParser(
        prog=PROG,
        description="Translate the T1w-ce of each pair with each model and compare the "
        "synthetic and the real T1w-ce (baseline) with the real T1w-nce within the brain "
        "mask: MAE (%%), PSNR (dB), SSIM per pair, mean ± sd, and paired t-tests against the "
        "baseline with Bonferroni correction (Bottani et al. 2024, §2.4.1).",
    )
    parser.add_argument(
        "config",
        type=Path,
        nargs="?",
        help="evaluation recipe (TOML), e.g. workflows/evaluate.toml",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--pairs", type=Path, help="TSV of pairs: ce, nce[, mask | ce_mask, nce_mask, split]"
    )
    source.add_argument("--dataset-dir", type=Path, help="a ce2nce output dataset")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="a model to evaluate (repeatable); NAME labels its rows",
    )
    parser.add_argument("--output-dir", type=Path, help="folder of the result tables")
    parser.add_argument("--split", help="evaluate only the TSV rows of this split (e.g. test)")
    parser.add_argument(
        "--paper-compatible",
        action="store_true",
        default=None,
        help="the original code's metric definitions (global SSIM, whole-volume averages)",
    )
    parser.add_argument("--device", help="'auto' (CUDA if available), 'cpu' or 'cuda[:i]'")
    parser.add_argument("--num-threads", type=int, help="CPU threads used by torch")
    parser.add_argument("--alpha", type=float, help="threshold on corrected p-values (0.01)")
    parser.add_argument(
        "--save-synthetic", action="store_true", default=None, help="write the synthetic images"
    )
    parser.add_argument("--version", action="version", version=f"ce2nce {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    return parser


def _models(parser: OneLineParser, specs: list[str]) -> dict[str, Path] | None:
    models: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error(f"--model {spec!r}: expected NAME=CHECKPOINT, e.g. att_unet=runs/a/best")
        if name in models:
            parser.error(f"--model {name!r} given twice")
        models[name] = Path(path).expanduser().resolve()
    return models or None


def main(argv: list[str] | None = None) -> int:
    """Run ``ce2nce-evaluate``; return the exit code (0 done, 1 error).

    Usage errors exit with code 2 (``ce2nce-evaluate: error: ...``).
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    models = _models(parser, args.model)
    if args.config is None and (models is None or args.output_dir is None):
        parser.error("give a recipe, or --model NAME=CHECKPOINT and --output-dir")
    if args.config is None and args.pairs is None and args.dataset_dir is None:
        parser.error("give --pairs TSV or --dataset-dir DIR (or a recipe)")
    if args.num_threads is not None and args.num_threads < 1:
        parser.error(f"--num-threads must be at least 1, got {args.num_threads}")
    configure_training_logging(args.verbose, args.quiet)

    from ..evaluation import load_evaluation_config, run_evaluation

    def resolved(path: Path | None) -> Path | None:
        return path.expanduser().resolve() if path is not None else None

    overrides = {
        "output_dir": resolved(args.output_dir),
        "models": models,
        "split": args.split,
        "paper_compatible": args.paper_compatible,
        "device": args.device,
        "num_threads": args.num_threads,
        "alpha": args.alpha,
        "save_synthetic": args.save_synthetic,
        "pairs_tsv": resolved(args.pairs),
        "dataset_dir": resolved(args.dataset_dir),
    }
    try:
        config = load_evaluation_config(args.config, **overrides)
        result = run_evaluation(config)
    except Ce2nceError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    if not result.table.empty:
        print(result.table.to_string(index=False))
    if result.skipped:
        print(f"{len(result.skipped)} pair(s) skipped: see the log", file=sys.stderr)
    print(f"Tables in {config.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
