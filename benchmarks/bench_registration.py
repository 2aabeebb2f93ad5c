"""Cost and agreement of cheaper affine registrations against t1-linear's (Clinica's) one.

For each head (Colin27 by default, or N4-corrected images given as arguments), optionally
tilted by ``--tilt`` degrees (pitch, as oblique clinical series are), registers it to the
template with:

- ``clinica``: ``antsRegistrationSyNQuick[a]``, Clinica's t1-linear (rigid then affine, shrink
  8x4x2x1, 1000x500x250x0 iterations), ce2nce's ``clinica`` schedule;
- ``affine-8x4``: one affine stage (ANTsPy ``Affine``), shrink 8x4, 1000x500 iterations;
- ``fast``: t1-linear's default schedule (``science.t1_linear.FAST_LEVELS``): the same two
  stages, the rigid one stopped after shrink 4, the affine one given 20 iterations at shrink 2
  and none at full resolution.

Prints the core-seconds (one ITK thread) and the RMS distance (mm) between where each
registration and the ``clinica`` one send the points of the template's brain mask.

    .venv/bin/python benchmarks/bench_registration.py [--tilt 25] [N4_IMAGE ...]

Three more modes score t1-linear's own registration (``science.t1_linear``), as the participant
graph runs it, on real heads, and print its quality measure ``qc_registration`` next to each
error, so that the flag threshold can be chosen on them:

- ``--poses``: each head (``--heads``, raw images) re-oriented by known header rotations
  (pitch, roll, yaw up to 30 degrees, translations up to 40 mm), voxels untouched; the result,
  with the known motion undone, is compared with the unmoved head's (RMS mm over the brain);
- ``--clinical N``: N clinical-like stacks (``simulation.clinical_stack``) made from the heads:
  axial, coronal or sagittal, 4-7 mm slices, 0.8-1 mm in-plane, the head pitched and rolled up
  to 30 degrees (yaw 15) and moved up to 40 mm in world space, coverage cut to 110-140 mm; the
  stack's transform is compared with the known one (the unmoved 1 mm head's composed with the
  motion);
- ``--pairs``: each BraTS ce/nce pair (already co-registered) acquired as the same clinical
  stack; the T1w-nce registered to the template, the T1w-ce aligned to it
  (``align_to_pair_reference``) and, for comparison, registered on its own.

    .venv/bin/python benchmarks/bench_registration.py --poses --heads HEAD.nii.gz ...
    .venv/bin/python benchmarks/bench_registration.py --clinical 50 --heads HEAD.nii.gz ...
    .venv/bin/python benchmarks/bench_registration.py --pairs --heads NCE.nii.gz:CE.nii.gz ...

A head written ``PATH+BRAIN_MASK`` is also used skull-stripped (``--clinical``).

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")

import ants  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from ce2nce_pipeline.science import t1_linear  # noqa: E402
from ce2nce_pipeline.science.templates import registration_template  # noqa: E402

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
KINDS = ("clinica", "affine-8x4", "fast")


def _core_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def register(kind: str, fixed, moving, mask, folder: Path) -> Path:
    prefix = str(folder / f"{kind}_")
    ants.config._random_seed = t1_linear.REGISTRATION_SEED
    if kind == "fast":
        seed = t1_linear.REGISTRATION_SEED
        return Path(t1_linear._fast_stages(moving, fixed, mask, prefix, seed))
    settings = (
        {"type_of_transform": t1_linear.REGISTRATION_TRANSFORM}
        if kind == "clinica"
        else {
            "type_of_transform": "Affine",
            "aff_iterations": (1000, 500),
            "aff_shrink_factors": (8, 4),
            "aff_smoothing_sigmas": (3, 2),
            "aff_random_sampling_rate": 0.25,
        }
    )
    result = ants.registration(fixed=fixed, moving=moving, mask=mask, outprefix=prefix, **settings)
    return Path(result["fwdtransforms"][0])


def tilted(image, degrees: float):
    if not degrees:
        return image
    data = ndimage.rotate(image.numpy(), degrees, axes=(1, 2), reshape=False, order=1)
    return ants.from_numpy(
        data.astype("float32"),
        origin=image.origin,
        spacing=image.spacing,
        direction=image.direction,
    )


POSES: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = (
    ((10, 0, 0), (0, 0, 0)),
    ((20, 0, 0), (0, 0, 0)),
    ((-30, 0, 0), (0, 0, 0)),
    ((30, 0, 0), (10, -20, 30)),
    ((0, 20, 0), (0, 0, 0)),
    ((0, 0, 20), (0, 0, 0)),
    ((15, -15, 10), (-40, 20, 0)),
)


def _read(path: str) -> nib.Nifti1Image:
    image = nib.load(path)
    return nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine)


def _run_t1_linear(image: nib.Nifti1Image, folder: Path, pair_reference: Path | None = None):
    """t1-linear's N4 and registration as the participant graph runs them; returns
    (transform, qc_registration, core-seconds, consistency or nan)."""
    from ce2nce_pipeline.science.registration_quality import registration_quality

    folder.mkdir(parents=True, exist_ok=True)
    nib.save(image, folder / "raw.nii")
    start = _core_seconds()
    ants.image_write(
        t1_linear.n4_bias_correction(ants.image_read(str(folder / "raw.nii"))),
        str(folder / "t1w_n4.nii.gz"),
    )
    consistency = float("nan")
    if pair_reference is None:
        registered, transform = t1_linear.register_to_template(folder / "t1w_n4.nii.gz", folder)
    else:
        registered, transform, consistency = t1_linear.align_to_pair_reference(
            folder / "t1w_n4.nii.gz",
            pair_reference / "t1w_n4.nii.gz",
            pair_reference / "affine.mat",
            folder,
        )
    seconds = _core_seconds() - start
    score = registration_quality(folder / "t1w_n4.nii.gz", transform)
    return transform, score, seconds, consistency


#: Deliberate misplacements of a registration (pitch deg, shift mm along y) whose score the
#: ``--clinical`` mode also prints: what ``qc_registration`` says of a wrong transform.
MISPLACEMENTS: tuple[tuple[float, float], ...] = ((3, 3), (6, 6), (10, 10), (20, 20))


def _misplaced_scores(
    folder: Path, transform: Path, truth: np.ndarray, points: np.ndarray
) -> list[tuple]:
    """(error mm from ``truth``, qc_registration) of the registration in ``folder``
    deliberately misplaced."""
    from ce2nce_pipeline.science.registration_quality import (
        affine_matrix,
        registration_quality,
        transform_rms_mm,
        write_affine,
    )
    from ce2nce_pipeline.simulation.clinical_stack import head_pose

    moving = ants.image_read(str(folder / "t1w_n4.nii.gz"))
    found = affine_matrix(transform)
    centre = nib.affines.apply_affine(found, points).mean(axis=0)
    scores = []
    for degrees, shift in MISPLACEMENTS:
        wrong = head_pose((degrees, 0, 0), (0, shift, 0), centre) @ found
        wrong_file = write_affine(wrong, folder / "misplaced.mat")
        score = registration_quality(moving, wrong_file)
        scores.append((transform_rms_mm(wrong, truth, points), score))
    return scores


def _head_list(specs: list[str]) -> list[tuple[str, nib.Nifti1Image]]:
    """(name, image) of each ``PATH`` or ``PATH+BRAIN_MASK`` (then also skull-stripped)."""
    heads = []
    for spec in specs:
        path, _, mask = spec.partition("+")
        image = _read(path)
        name = Path(path).name.split(".")[0][:24]
        heads.append((name, image))
        if mask:
            brain = np.asarray(nib.load(mask).dataobj) > 0
            stripped = np.where(brain, np.asarray(image.dataobj), 0).astype(np.float32)
            heads.append((f"{name}-noskull", nib.Nifti1Image(stripped, image.affine)))
    return heads


def _summary(rows: list[tuple[float, float]], threshold: float) -> str:
    errors = np.array([e for e, _ in rows])
    scores = np.array([q for _, q in rows])
    failed = errors > 2.0
    flagged = scores < threshold
    return (
        f"{len(rows)} cases: {int((~failed).sum())} within 2 mm "
        f"({100 * (~failed).mean():.0f} %), {int(failed.sum())} failed, "
        f"{int((failed & flagged).sum())} of them flagged (qc_registration < {threshold}), "
        f"{int((~failed & flagged).sum())} good ones flagged; lowest score of a good case "
        f"{scores[~failed].min() if (~failed).any() else float('nan'):.3f}, highest of a "
        f"failed one {scores[failed].max() if failed.any() else float('nan'):.3f}"
    )


def run_poses(heads: list[tuple[str, nib.Nifti1Image]], work: Path, threshold: float) -> None:
    from ce2nce_pipeline.science.registration_quality import template_brain_points
    from ce2nce_pipeline.simulation.clinical_stack import head_pose, moved_header

    points = template_brain_points()
    rows = []
    print(f"{'head':26s} {'pitch,roll,yaw':>14s} {'shift mm':>13s} {'core-s':>7s} "
          f"{'qc_registration':>15s} {'error mm':>9s}")  # fmt: skip
    for name, image in heads:
        reference, score, seconds, _ = _run_t1_linear(image, work / name / "unmoved")
        print(f"{name:26s} {'0,0,0':>14s} {'0,0,0':>13s} {seconds:7.1f} {score:15.3f} {0:9.2f}")
        reference_points = t1_linear.ras_points_through_transform(reference, points)
        centre = reference_points.mean(axis=0)
        for index, (angles, shift) in enumerate(POSES):
            motion = head_pose(angles, shift, centre)
            transform, score, seconds, _ = _run_t1_linear(
                moved_header(image, motion), work / name / f"pose{index}"
            )
            moved = t1_linear.ras_points_through_transform(transform, points)
            undone = nib.affines.apply_affine(np.linalg.inv(motion), moved)
            error = float(np.sqrt(((undone - reference_points) ** 2).sum(axis=1).mean()))
            rows.append((error, score))
            print(
                f"{name:26s} {','.join(f'{a:g}' for a in angles):>14s} "
                f"{','.join(f'{t:g}' for t in shift):>13s} {seconds:7.1f} {score:15.3f} "
                f"{error:9.2f}",
                flush=True,
            )
    print(_summary(rows, threshold))


def _random_case(rng: np.random.Generator) -> dict:
    return {
        "orientation": str(rng.choice(["axial", "coronal", "sagittal"])),
        "slice_mm": float(rng.uniform(4.0, 7.0)),
        "in_plane_mm": float(rng.uniform(0.8, 1.0)),
        "coverage_mm": float(rng.uniform(110.0, 140.0)),
        "offset_mm": float(rng.uniform(-10.0, 10.0)),
        "angles": (
            float(rng.uniform(-30, 30)),
            float(rng.uniform(-30, 30)),
            float(rng.uniform(-15, 15)),
        ),  # fmt: skip
        "shift": tuple(float(t) for t in rng.uniform(-40, 40, size=3)),
    }


def run_clinical(
    heads: list[tuple[str, nib.Nifti1Image]],
    n_cases: int,
    work: Path,
    threshold: float,
    seed: int,
    misplaced: bool = False,
) -> None:
    from ce2nce_pipeline.science.registration_quality import (
        affine_matrix,
        template_brain_points,
        transform_rms_mm,
    )
    from ce2nce_pipeline.simulation.clinical_stack import clinical_stack, head_pose

    points = template_brain_points()
    rng = np.random.default_rng(seed)
    references = {}
    for name, image in heads:
        references[name] = _run_t1_linear(image, work / name / "reference")[0]
    print(
        f"{'case':>4s} {'head':26s} {'stack':9s} {'slice':>5s} {'cover':>5s} "
        f"{'pitch,roll,yaw':>16s} {'core-s':>7s} {'qc_registration':>15s} {'error mm':>9s}"
        + ("  misplaced by (mm): qc_registration" if misplaced else "")
    )
    rows = []
    for case in range(n_cases):
        name, image = heads[case % len(heads)]
        settings = _random_case(rng)
        reference = affine_matrix(references[name])
        centre = nib.affines.apply_affine(reference, points).mean(axis=0)
        motion = head_pose(settings["angles"], settings["shift"], centre)
        stack = clinical_stack(
            image, motion, orientation=settings["orientation"], slice_mm=settings["slice_mm"],
            in_plane_mm=settings["in_plane_mm"], coverage_mm=settings["coverage_mm"],
            centre=centre, offset_mm=settings["offset_mm"],
        )  # fmt: skip
        transform, score, seconds, _ = _run_t1_linear(stack, work / f"case{case}")
        error = transform_rms_mm(transform, motion @ reference, points)
        rows.append((error, score))
        angles = ",".join(f"{a:.0f}" for a in settings["angles"])
        extra = ""
        if misplaced:
            wrong = _misplaced_scores(work / f"case{case}", transform, motion @ reference, points)
            extra = "  " + " ".join(f"{e:4.1f}:{q:.3f}" for e, q in wrong)
            rows += wrong
        print(
            f"{case:4d} {name:26s} {settings['orientation']:9s} {settings['slice_mm']:5.1f} "
            f"{settings['coverage_mm']:5.0f} {angles:>16s} {seconds:7.1f} {score:15.3f} "
            f"{error:9.2f}{extra}",
            flush=True,
        )
    print(_summary(rows, threshold))


def run_pairs(pairs: list[str], work: Path, seed: int) -> None:
    from ce2nce_pipeline.science.registration_quality import (
        affine_matrix,
        template_brain_points,
        transform_rms_mm,
    )
    from ce2nce_pipeline.simulation.clinical_stack import clinical_stack, head_pose

    points = template_brain_points()
    rng = np.random.default_rng(seed)
    print(f"{'pair':26s} {'stack':9s} {'slice':>5s} {'pitch,roll,yaw':>16s} "
          f"{'nce err':>8s} {'ce err':>7s} {'pair RMS':>8s} {'ce alone err':>12s} "
          f"{'alone vs nce':>12s} {'align core-s':>12s}")  # fmt: skip
    for spec in pairs:
        nce_path, _, ce_path = spec.partition(":")
        nce, ce = _read(nce_path), _read(ce_path)
        name = Path(nce_path).name.split("_")[0]
        reference = affine_matrix(_run_t1_linear(nce, work / name / "reference")[0])
        centre = nib.affines.apply_affine(reference, points).mean(axis=0)
        settings = _random_case(rng)
        motion = head_pose(settings["angles"], settings["shift"], centre)
        truth = motion @ reference
        stacks = {
            kind: clinical_stack(
                image,
                motion,
                orientation=settings["orientation"],
                slice_mm=settings["slice_mm"],
                in_plane_mm=settings["in_plane_mm"],
                coverage_mm=settings["coverage_mm"],
                centre=centre,
                offset_mm=settings["offset_mm"],
            )  # fmt: skip
            for kind, image in (("nce", nce), ("ce", ce))
        }
        nce_transform = _run_t1_linear(stacks["nce"], work / name / "nce")[0]
        ce_transform, _, seconds, consistency = _run_t1_linear(
            stacks["ce"], work / name / "ce", pair_reference=work / name / "nce"
        )
        alone = _run_t1_linear(stacks["ce"], work / name / "ce_alone")[0]
        angles = ",".join(f"{a:.0f}" for a in settings["angles"])
        print(
            f"{name:26s} {settings['orientation']:9s} {settings['slice_mm']:5.1f} "
            f"{angles:>16s} {transform_rms_mm(nce_transform, truth, points):8.2f} "
            f"{transform_rms_mm(ce_transform, truth, points):7.2f} {consistency:8.2f} "
            f"{transform_rms_mm(alone, truth, points):12.2f} "
            f"{transform_rms_mm(alone, nce_transform, points):12.2f} {seconds:12.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "images", nargs="*", type=Path, help="N4-corrected heads (default: Colin27)"
    )
    parser.add_argument("--tilt", type=float, default=0.0, help="pitch added to each head (deg)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=list(KINDS),
        choices=KINDS,
        help="registrations to run (clinica, the reference, always runs first)",
    )
    parser.add_argument("--poses", action="store_true", help="pose consistency of --heads")
    parser.add_argument("--clinical", type=int, default=0, help="clinical-like stacks to score")
    parser.add_argument("--pairs", action="store_true", help="--heads are NCE:CE pairs")
    parser.add_argument("--heads", nargs="+", default=[], help="raw heads (PATH[+BRAIN_MASK])")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated cases")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument(
        "--misplaced",
        action="store_true",
        help="--clinical: also score each registration deliberately misplaced (MISPLACEMENTS)",
    )
    args = parser.parse_args()
    if args.poses or args.clinical or args.pairs:
        from ce2nce_pipeline.science.registration_quality import REGISTRATION_QUALITY_THRESHOLD

        with tempfile.TemporaryDirectory(prefix="bench_registration_") as temporary:
            work = args.work or Path(temporary)
            if args.pairs:
                run_pairs(args.heads, work, args.seed)
            elif args.poses:
                run_poses(_head_list(args.heads), work, REGISTRATION_QUALITY_THRESHOLD)
            else:
                run_clinical(
                    _head_list(args.heads), args.clinical, work,
                    REGISTRATION_QUALITY_THRESHOLD, args.seed, args.misplaced,
                )  # fmt: skip
        return
    template, mask = registration_template()
    points = nib.affines.apply_affine(
        template.affine, np.argwhere(np.asarray(mask.dataobj) > 0)[::50]
    )
    print(f"{'head':28s} {'registration':18s} {'core-s':>7s} {'RMS vs clinica mm':>18s}")
    for path in args.images or [None]:
        with tempfile.TemporaryDirectory() as folder_name:
            folder = Path(folder_name)
            nib.save(template, folder / "t.nii.gz")
            nib.save(mask, folder / "m.nii.gz")
            fixed = ants.image_read(str(folder / "t.nii.gz"))
            fixed_mask = ants.image_read(str(folder / "m.nii.gz"))
            if path is None:
                moving = t1_linear.n4_bias_correction(ants.image_read(str(COLIN27)))
                name = "Colin27"
            else:
                moving = ants.image_read(str(path))
                name = "/".join(
                    part for part in (path.parent.parent.name, path.parent.name) if part
                )
            moving = tilted(moving, args.tilt)
            reference = None
            for kind in ["clinica", *(kind for kind in args.kinds if kind != "clinica")]:
                start = _core_seconds()
                transform = register(kind, fixed, moving, fixed_mask, folder)
                seconds = _core_seconds() - start
                moved = t1_linear.ras_points_through_transform(transform, points)
                reference = moved if reference is None else reference
                rms = float(np.sqrt(((moved - reference) ** 2).sum(axis=1).mean()))
                print(f"{name[:28]:28s} {kind:18s} {seconds:7.1f} {rms:18.2f}")


if __name__ == "__main__":
    main()
