"""Command-line checking of ``ce2nce``: the parsed options become a :class:`RunConfig`.

The options are declared in :mod:`.options`; here they are checked (folders, labels, the model,
the device) with one-line errors, before anything runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..bids import load_bids_filters, validate_label
from ..config import DEVICE_PATTERN, RunConfig
from ..errors import InvalidInputError
from .arguments import OneLineParser
from .options import build_parser

__all__ = ["build_parser", "parse_args"]


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
    bids_filters = {}
    if args.bids_filter_file is not None:
        try:
            bids_filters = load_bids_filters(args.bids_filter_file)
        except InvalidInputError as error:
            parser.error(str(error))
    qc_ratings = [path.expanduser().resolve() for path in args.qc_ratings]
    if qc_ratings and args.analysis_level != "group":
        parser.error("--qc-ratings is read by the group level: run 'ce2nce BIDS_DIR OUTPUT_DIR "
                     "group --qc-ratings FILE...' after the participant level")  # fmt: skip
    if qc_ratings:
        from ..group.ratings import read_ratings  # pandas only when the option is given

        try:
            read_ratings(qc_ratings)
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
        bids_filters=bids_filters,
        bids_filter_file=(
            args.bids_filter_file.expanduser().resolve() if args.bids_filter_file else None
        ),
        work_dir=work_dir,
        nprocs=args.nprocs,
        omp_nthreads=args.omp_nthreads,
        plugin=args.plugin,
        plugin_args=plugin_args,
        model=model,
        device=args.device,
        output_resampling=args.output_resampling,
        enhancement_opening=args.enhancement_opening,
        mask_backend=args.mask_backend,
        seg_backend=args.seg_backend,
        registration=args.registration,
        contrast_from=args.contrast_from,
        output_level=args.output_level,
        group_by=args.group_by,
        include_flagged=args.include_flagged,
        qc_ratings=qc_ratings,
        skip_bids_validation=args.skip_bids_validation,
        stop_on_first_crash=args.stop_on_first_crash,
        verbosity=-1 if args.quiet else args.verbose,
        reports_only=args.reports_only,
    )
