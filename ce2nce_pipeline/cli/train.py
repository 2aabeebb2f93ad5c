"""``ce2nce-train RECIPE.toml``: train a generator or a cGAN (see ``docs/training.md``)."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import __version__
from ..errors import Ce2nceError
from ._logging import configure_training_logging
from .arguments import OneLineParser

PROG = "ce2nce-train"


def build_parser() -> OneLineParser:
    """The ``ce2nce-train`` argument parser (options override the recipe's settings)."""
    parser = OneLineParser(
        prog=PROG,
        description="Train a T1w-ce to T1w-nce translation network (generator protocol) or a "
        "cGAN from a trained generator, as in Bottani et al., BMC Medical Imaging 2024. "
        "Settings come from a TOML recipe (examples in workflows/); a run stopped early "
        "resumes when started again.",
    )
    parser.add_argument("config", type=Path, help="training recipe (TOML)")
    parser.add_argument("--output-dir", type=Path, help="run folder (replaces run.output_dir)")
    parser.add_argument("--device", help="'auto' (CUDA if available), 'cpu' or 'cuda[:i]'")
    parser.add_argument("--epochs", type=int, help="epochs of the main phase")
    parser.add_argument(
        "--max-steps", type=int, help="stop this invocation after N optimisation steps"
    )
    parser.add_argument(
        "--max-minutes", type=float, help="stop this invocation after M minutes (resumable)"
    )
    parser.add_argument("--num-threads", type=int, help="CPU threads used by torch")
    parser.add_argument("--seed", type=int, help="random seed (a new run only)")
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        default=None,
        help="refuse to continue a run found in the output folder",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bar / progress lines",
    )
    parser.add_argument("--version", action="version", version=f"ce2nce {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``ce2nce-train``; return the exit code (0 done or stopped by a limit, 1 error).

    Usage errors exit with code 2 (``ce2nce-train: error: ...``).
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for name in ("epochs", "max_steps", "num_threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        parser.error(f"--max-minutes must be positive, got {args.max_minutes}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    configure_training_logging(args.verbose, args.quiet)

    from ..training import load_training_config, train

    try:
        config = load_training_config(
            args.config,
            output_dir=args.output_dir.resolve() if args.output_dir else None,
            device=args.device,
            epochs=args.epochs,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            num_threads=args.num_threads,
            seed=args.seed,
            resume=args.resume,
            progress=args.progress,
        )
        result = train(config)
    except Ce2nceError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    print(result.summary())
    print(f"Log: {result.log_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
