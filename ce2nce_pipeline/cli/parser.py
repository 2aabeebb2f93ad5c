"""Command-line parsing of ``ce2nce``: BIDS-Apps positional arguments, one-line errors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn, get_args

from .. import __version__
from ..bids import validate_label
from ..config import DEVICE_PATTERN, PLUGINS, AnalysisLevel, OutputResampling, RunConfig
from ..errors import InvalidInputError
from ..science.brain_mask import DEFAULT_MASK_BACKEND, MASK_BACKENDS
from ..science.segmentation import DEFAULT_SEG_BACKEND, SEG_BACKENDS


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def _integer(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text} must be >= {minimum}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0 (a seed, a count)."""
    return _integer(text, 0)


def build_parser() -> OneLineParser:
    """The ``ce2nce`` argument parser."""
    parser = OneLineParser(
        prog="ce2nce",
        description="Clinica t1-linear and T1w-ce to T1w-nce translation of a BIDS dataset "
        "(Bottani et al., BMC Medical Imaging 2024).",
    )
    parser.add_argument("bids_dir", type=Path, help="root of the input BIDS dataset")
    parser.add_argument("output_dir", type=Path, help="root of the derivatives to write")
    parser.add_argument(
        "analysis_level", choices=get_args(AnalysisLevel), help="BIDS-Apps analysis level"
    )
    parser.add_argument(
        "--participant-label",
        "--participant_label",
        dest="participant_label",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="participants to process (with or without 'sub-'); default: all",
    )
    parser.add_argument(
        "--session-label",
        "--session_label",
        dest="session_label",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="sessions to process (with or without 'ses-'); default: all",
    )
    _add_run_arguments(parser)
    _add_processing_arguments(parser)
    parser.add_argument(
        "--group-by",
        metavar="COLUMN",
        help="group level: split the validation statistics by this column of participants.tsv, "
        "sessions.tsv or the T1w sidecars (e.g. a quality rating)",
    )
    parser.add_argument(
        "--skip-bids-validation", action="store_true", help="do not validate the input dataset"
    )
    parser.add_argument(
        "--stop-on-first-crash", action="store_true", help="stop at the first failing node"
    )
    parser.add_argument(
        "--reports-only",
        action="store_true",
        help="rebuild the visual reports (sub-X.html at participant level, group.html at group "
        "level) from the outputs already in OUTPUT_DIR; compute nothing",
    )
    parser.add_argument("--version", action="version", version=f"ce2nce {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v adds nipype's line per node, -vv every library's debug lines",
    )
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines: only failed and rejected images and errors",
    )
    return parser


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how the graph runs: work folder, processes, threads, nipype plugin."""
    parser.add_argument("-w", "--work-dir", type=Path, help="nipype work dir (re-runs resume)")
    parser.add_argument("--nprocs", "--n-cpus", type=int, default=1, help="parallel processes")
    parser.add_argument(
        "--omp-nthreads", type=int, default=1, help="threads per process (ITK, torch)"
    )
    parser.add_argument("--plugin", choices=PLUGINS, default="MultiProc", help="nipype plugin")
    parser.add_argument(
        "--plugin-args", default="{}", metavar="JSON", help="plugin arguments as a JSON object"
    )


def _add_processing_arguments(parser: argparse.ArgumentParser) -> None:
    """The translation model, its device and resampling; the mask and tissue backends."""
    parser.add_argument(
        "--model",
        type=Path,
        metavar="CHECKPOINT",
        help="translation checkpoint directory (T1w-ce -> T1w-nce); default: the shipped "
        "model, trained on simulated enhancement only (docs/default_model.md)",
    )
    parser.add_argument(
        "--no-translation",
        action="store_true",
        help="do not translate T1w-ce images (they are still preprocessed and segmented)",
    )
    parser.add_argument(
        "--output-resampling",
        choices=sorted(get_args(OutputResampling)),
        help="how a network on a coarser grid than the t1-linear one returns its output: "
        "keep-detail (its change applied to the full-resolution T1w-ce) or round-trip (the "
        "paper: the output resampled, finer detail lost); default: what the checkpoint records",
    )
    parser.add_argument(
        "--device", default="auto", help="where the translation runs: auto (default), cpu, cuda"
    )
    parser.add_argument(
        "--mask-backend",
        choices=MASK_BACKENDS,
        default=DEFAULT_MASK_BACKEND,
        help=f"brain masking (default {DEFAULT_MASK_BACKEND}; see docs/segmentation.md)",
    )
    parser.add_argument(
        "--seg-backend",
        choices=SEG_BACKENDS,
        default=DEFAULT_SEG_BACKEND,
        help=f"tissue segmentation (default {DEFAULT_SEG_BACKEND}; spm needs SPM12 + MCR)",
    )


def _is_relative_to(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def _folders(parser: OneLineParser, args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """The resolved BIDS, output and work folders; the output and work folders outside BIDS."""
    bids_dir = args.bids_dir.expanduser().resolve()
    output_dir = args.output_dir.expanduser().resolve()
    if not bids_dir.is_dir():
        parser.error(f"BIDS_DIR {args.bids_dir} does not exist: give the root of a BIDS dataset")
    if not (bids_dir / "dataset_description.json").is_file():
        parser.error(
            f"BIDS_DIR {args.bids_dir} is not a BIDS dataset (no dataset_description.json): "
            "give the dataset's root folder"
        )
    if _is_relative_to(output_dir, bids_dir):
        parser.error(
            f"OUTPUT_DIR {args.output_dir} is inside BIDS_DIR: choose a folder outside the input "
            "dataset (ce2nce never writes into it)"
        )
    work_dir = args.work_dir.expanduser().resolve() if args.work_dir else None
    if work_dir is not None and _is_relative_to(work_dir, bids_dir):
        parser.error(f"--work-dir {args.work_dir} is inside BIDS_DIR: choose a folder outside it")
    return bids_dir, output_dir, work_dir


def _plugin_args(parser: OneLineParser, text: str) -> dict:
    """``--plugin-args``: a JSON object."""
    try:
        plugin_args = json.loads(text)
    except ValueError:
        plugin_args = None
    if not isinstance(plugin_args, dict):
        parser.error(f"--plugin-args {text!r} is not a JSON object, e.g. '{{}}'")
    return plugin_args


def _model(parser: OneLineParser, args: argparse.Namespace) -> Path | None:
    """The translation checkpoint: ``--model``, none (``--no-translation``) or the shipped one."""
    if args.model and args.no_translation:
        parser.error("--model and --no-translation exclude each other")
    if args.no_translation:
        return None
    if args.model:
        model = args.model.expanduser().resolve()
        if not model.is_dir():
            parser.error(f"--model {args.model}: no such checkpoint directory")
        return model
    from ..models.default import default_model_path

    return default_model_path()


def parse_args(argv: list[str] | None = None) -> RunConfig:
    """Parse and check the command line; exit with a one-line message on bad input."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    bids_dir, output_dir, work_dir = _folders(parser, args)
    try:
        participants = [validate_label(label, "participant") for label in args.participant_label]
        sessions = [validate_label(label, "session") for label in args.session_label]
    except InvalidInputError as error:
        parser.error(str(error))
    plugin_args = _plugin_args(parser, args.plugin_args)
    model = _model(parser, args)
    if not DEVICE_PATTERN.fullmatch(args.device):
        parser.error(f"--device {args.device!r}: use auto, cpu, cuda or cuda:N")
    if args.nprocs < 1 or args.omp_nthreads < 1:
        parser.error("--nprocs and --omp-nthreads must be at least 1")
    return RunConfig(
        bids_dir=bids_dir,
        output_dir=output_dir,
        analysis_level=args.analysis_level,
        participant_labels=participants,
        session_labels=sessions,
        work_dir=work_dir,
        nprocs=args.nprocs,
        omp_nthreads=args.omp_nthreads,
        plugin=args.plugin,
        plugin_args=plugin_args,
        model=model,
        device=args.device,
        output_resampling=args.output_resampling,
        mask_backend=args.mask_backend,
        seg_backend=args.seg_backend,
        group_by=args.group_by,
        skip_bids_validation=args.skip_bids_validation,
        stop_on_first_crash=args.stop_on_first_crash,
        verbosity=-1 if args.quiet else args.verbose,
        reports_only=args.reports_only,
    )
