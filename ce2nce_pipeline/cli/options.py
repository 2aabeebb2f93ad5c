"""The options of ``ce2nce`` (BIDS-Apps positional arguments first), declared, not checked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from .. import __version__
from ..config import PLUGINS, AnalysisLevel, OutputLevel, RunConfig
from ..science.brain_mask import MASK_BACKENDS
from ..science.gadolinium import CONTRAST_SOURCES
from ..science.grids import OUTPUT_RESAMPLINGS
from ..science.segmentation import SEG_BACKENDS
from ..science.t1_linear import REGISTRATION_SCHEDULES
from .arguments import OneLineParser


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
    parser.add_argument(
        "--bids-filter-file",
        "--bids_filter_file",
        dest="bids_filter_file",
        type=Path,
        metavar="FILE",
        help="JSON file choosing the T1w images, as fMRIPrep's: query t1w (non-contrast) or "
        "t1w_ce (contrast-enhanced) -> pybids entities, e.g. "
        '{"t1w": {"acquisition": "mprage", "reconstruction": null}} (docs/cli.md)',
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
        "--include-flagged",
        action="store_true",
        help="group level: keep images whose t1-linear registration is flagged (quality below "
        "its threshold, or a ce/nce pair out of register) in the validation statistics",
    )
    parser.add_argument(
        "--qc-ratings",
        type=Path,
        nargs="+",
        default=[],
        metavar="FILE",
        help="group level: ratings files downloaded from the participant reports "
        "(sub-X_qc-ratings.tsv); images rated bad are left out of the statistics "
        "(docs/group.md)",
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
    parser.add_argument(
        "--nprocs", "--n-cpus", type=int, default=RunConfig.nprocs, help="parallel processes"
    )
    parser.add_argument(
        "--omp-nthreads",
        type=int,
        default=RunConfig.omp_nthreads,
        help="threads per process (ITK, torch)",
    )
    parser.add_argument(
        "--plugin", choices=PLUGINS, default=RunConfig.plugin, help="nipype plugin"
    )
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
        choices=sorted(OUTPUT_RESAMPLINGS),
        help="how a network on a coarser grid than the t1-linear one returns its output: "
        "keep-detail (its change applied to the full-resolution T1w-ce) or round-trip (the "
        "paper: the output resampled, finer detail lost); default: what the checkpoint records",
    )
    parser.add_argument(
        "--enhancement-opening",
        action=argparse.BooleanOptionalAction,
        default=RunConfig.enhancement_opening,
        help="after the network, subtract the enhancement a grey-level opening finds in its "
        "output: thin structures brighter than white matter (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        default=RunConfig.device,
        help=f"where the translation runs: auto, cpu, cuda (default {RunConfig.device})",
    )
    parser.add_argument(
        "--mask-backend",
        choices=MASK_BACKENDS,
        default=RunConfig.mask_backend,
        help=f"brain masking (default {RunConfig.mask_backend}; see docs/segmentation.md)",
    )
    parser.add_argument(
        "--seg-backend",
        choices=SEG_BACKENDS,
        default=RunConfig.seg_backend,
        help=f"tissue segmentation (default {RunConfig.seg_backend}; spm needs SPM12 + MCR)",
    )
    parser.add_argument(
        "--registration",
        choices=REGISTRATION_SCHEDULES,
        default=RunConfig.registration,
        help=f"t1-linear's affine registration schedule (default {RunConfig.registration}: "
        "Clinica's stages on fewer levels, about half the CPU time; clinica: "
        "antsRegistrationSyNQuick[a] exactly; see docs/t1_linear.md)",
    )
    parser.add_argument(
        "--contrast-from",
        choices=CONTRAST_SOURCES,
        default=RunConfig.contrast_from,
        help=f"which T1w images are contrast-enhanced and translated (default "
        f"{RunConfig.contrast_from}; labels: the ce- "
        "entity or ContrastBolusIngredient; both: also an unlabelled image whose gadolinium "
        "probability is at least 0.9, said in one line per image and recorded in its sidecar, "
        "at the cost of running t1-linear on unlabelled images once more before the graph; "
        "see docs/gadolinium_detector.md)",
    )
    parser.add_argument(
        "--output-level",
        choices=get_args(OutputLevel),
        default=RunConfig.output_level,
        help=f"what is written of each image (default {RunConfig.output_level}): minimal (what "
        "the group level and the reports read; intensities as 16-bit integers with a scale "
        "factor), standard (also the tissue probability maps, as 8-bit integers), full (every "
        "image as computed, float32, and the uncropped t1-linear image); see docs/outputs.md",
    )
