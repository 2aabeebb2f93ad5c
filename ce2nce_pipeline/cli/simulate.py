"""``ce2nce simulate``: write a BIDS dataset of simulated T1w-ce / T1w-nce pairs.

Each subject is a real base image (Colin27 by default) augmented with its own seed; its session
holds the augmented T1w (nce) and a simulated gadolinium-enhanced T1w (ce), or the ce only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import Ce2nceError, InvalidInputError
from .parser import OneLineParser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``ce2nce simulate`` argument parser."""
    from ..simulation.simulator import COMPONENTS

    parser = OneLineParser(
        prog="ce2nce simulate",
        description="Write a BIDS dataset of real non-contrast T1w images (augmented) paired "
        "with simulated gadolinium-enhanced T1w images.",
    )
    parser.add_argument("output_dir", type=Path, help="folder of the BIDS dataset to write")
    parser.add_argument("--n-subjects", type=_positive_int, default=4, help="default: 4")
    parser.add_argument("--seed", type=_seed, default=0, help="master seed (default: 0)")
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
        type=_fraction,
        default=0.25,
        help="fraction of ce images simulated with the low-quality preset (default: 0.25; "
        "at least one when > 0)",
    )
    parser.add_argument(
        "--ce-only-fraction",
        type=_fraction,
        default=0.0,
        help="fraction of sessions with a ce image and no nce image (default: 0)",
    )
    parser.add_argument(
        "--lesion-probability",
        type=_fraction,
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


def _pick(rng: np.random.Generator, n: int, fraction: float) -> set[int]:
    count = 0 if fraction <= 0 else max(1, int(round(fraction * n)))
    return set(rng.permutation(n)[: min(count, n)].tolist())


def _run(args: argparse.Namespace) -> int:
    import nibabel as nib
    from nibabel.processing import resample_to_output

    from ..simulation.anatomy import build_anatomy
    from ..simulation.augmentation import augment, sample_augmentation
    from ..simulation.base_images import base_subject, load_base_image
    from ..simulation.bids_writer import SimulatedSession, write_bids_dataset
    from ..simulation.simulator import sample_parameters, simulate_ce

    out = args.output_dir
    if out.exists() and not out.is_dir():
        raise Ce2nceError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise Ce2nceError(f"{out} is not empty: choose an empty folder or pass --overwrite")
    session = None if args.no_session else args.session_label
    if session is not None and not session.isalnum():
        raise Ce2nceError(f"session label {session!r} must be alphanumeric")

    bases, unusable = {}, []
    for name in dict.fromkeys(args.base):
        try:
            image = load_base_image(name)
        except InvalidInputError as error:  # one unusable head: say so, go on with the others
            unusable.append(f"{name}: {error}")
            continue
        if args.size == "small":
            image = resample_to_output(image, voxel_sizes=2.0, order=1)
            image = nib.Nifti1Image(np.asarray(image.dataobj, np.float32), image.affine)
            image.header.set_xyzt_units("mm")
        bases[name] = image
    if not bases:
        raise Ce2nceError("no usable base image: " + "; ".join(unusable))
    for reason in unusable:
        print(f"ce2nce simulate: skipped base {reason}", file=sys.stderr)
    usable = [name for name in args.base if name in bases]
    master = np.random.default_rng(args.seed)
    low = _pick(master, args.n_subjects, args.low_quality_fraction)
    ce_only = _pick(master, args.n_subjects, args.ce_only_fraction)
    sessions = []
    width = max(2, len(str(args.n_subjects)))
    for i in range(args.n_subjects):
        start = time.perf_counter()
        name = usable[i % len(usable)]
        subject = f"{i + 1:0{width}d}"
        aug_seed, sim_seed, param_seed = (
            int(v) for v in np.random.SeedSequence([args.seed, i]).generate_state(3)
        )
        base = bases[name]
        if args.no_augmentation:
            nce, aug_params = base, None
        else:
            aug_params = sample_augmentation(np.random.default_rng(aug_seed))
            nce = augment(base, aug_params, seed=aug_seed)
        quality = "low" if i in low else "good"
        params = sample_parameters(
            np.random.default_rng(param_seed),
            quality,
            lesion_probability=args.lesion_probability,
            space=args.space,
        )
        if args.components:
            params = params.with_components(args.components)
        anatomy = build_anatomy(nce, params.space)
        ce, info = simulate_ce(nce, params, seed=sim_seed, anatomy=anatomy)
        nce_image = info.nce_image
        provenance = {
            "SimulationBaseImage": str(name),
            "AugmentationSeed": aug_seed if aug_params else None,
            "AugmentationParameters": aug_params.to_dict() if aug_params else None,
        }
        nce_extra, ce_extra = {}, {}
        if args.separate_series:
            from ..simulation.series import acquire_nce_series, move_rigidly

            nce_image, nce_extra["SimulationAcquisition"] = acquire_nce_series(
                nce_image, anatomy, sim_seed
            )
            ce, ce_extra["SimulationMotion"] = move_rigidly(ce, sim_seed)
        lesions = [c for c in ("ring_lesion", "nodular_lesions") if getattr(params, c)]
        sessions.append(
            SimulatedSession(
                subject=subject,
                session=session,
                nce=None if i in ce_only else nce_image,
                ce=ce,
                nce_sidecar={**provenance, **nce_extra},
                ce_sidecar={**provenance, **info.sidecar(), **ce_extra},
                participant={
                    "base_image": name,
                    "base_subject": base_subject(name),
                    "ce_quality": quality,
                    "has_nce": i not in ce_only,
                    "lesions": "+".join(lesions) if lesions else "none",
                },
            )
        )
        logging.getLogger(__name__).info(
            "sub-%s from %s (%s quality) in %.1f s",
            subject,
            name,
            quality,
            time.perf_counter() - start,
        )
    written = write_bids_dataset(
        out,
        sessions,
        overwrite=args.overwrite,
        column_descriptions={
            "base_image": "real T1w image the subject was made from",
            "base_subject": "person scanned for the base image (same value: same anatomy)",
            "ce_quality": "preset of the simulated ce image: good or low",
            "has_nce": "whether the session holds a non-contrast T1w image",
            "lesions": "simulated enhancing lesions",
        },
    )
    print(f"wrote {len(written)} images for {args.n_subjects} subjects to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ce2nce simulate``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        return _run(args)
    except (Ce2nceError, ValueError, FileExistsError, OSError) as error:
        print(f"ce2nce simulate: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
