"""Clinica's t1-linear steps as plain functions on ANTs / nibabel images.

Clinica 0.12 ``t1-linear`` (ANTs path) runs:

1. ``N4BiasFieldCorrection`` with a B-spline fitting distance of 200 mm
   (``bspline_fitting_distance = 200`` in its pipeline), shrink factor 4 and convergence
   ``[50x50x50x50, 0.0]`` (the N4 defaults). ce2nce uses a shrink factor of 8: on Colin27
   (one thread) it takes 6.9 core-seconds instead of 44 and the corrected image differs from
   Clinica's by 2.0 % (sd of the voxel ratio in the brain, median-normalised; p99 5.9 %), where
   a 600 mm distance (ce2nce before) differed by 3.4 % and needed 5.6 GB against 0.9 GB;
2. ``antsRegistrationSyNQuick.sh -t a``: centre-of-mass initialisation, a rigid then an affine
   stage, Mattes mutual information (32 bins, regular sampling of 25 %), 1000x500x250x0
   iterations over shrink factors 8x4x2x1 and smoothing 3x2x1x0 voxels;
3. a crop of the registered image to the box [12:181, 13:221, 0:179] of the 2009c grid.

antspyx recreates step 2 exactly as ``type_of_transform="antsRegistrationSyNQuick[a]"``
(schedule ``clinica``). ce2nce's default schedule ``fast`` runs the same two stages (centre-of-mass
start, rigid then affine, the same metric, mask and seed) on fewer levels (:data:`FAST_LEVELS`;
smoothing in mm, so that a thick-slice stack is not blurred over several slices, the same as
Clinica's voxels at 1 mm):
about half the core-seconds, landing 0.06-0.16 mm RMS from ``clinica`` over the template's brain
on Colin27 and six BraTS heads, tilted by 25 degrees or not (``benchmarks/bench_registration.py``,
``docs/t1_linear.md``).
antspyx drops keyword arguments it does not know without a word (Clinica's ``--use-antspy``
path passes ``type_of_transformation=`` and so runs SyN), so every call below goes through
:func:`call_with_known_kwargs`, which refuses unknown names.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import nibabel as nib
import numpy as np

from .templates import CROP_AFFINE, CROP_SLICES, MNI2009C_AFFINE, MNI2009C_SHAPE

#: N4 settings of Clinica 0.12's t1-linear (200 mm fitting distance, nipype
#: ``N4BiasFieldCorrection`` defaults otherwise), except the shrink factor (8, not 4): see the
#: module docstring.
N4_PARAMETERS: dict[str, Any] = {
    "shrink_factor": 8,
    "convergence": {"iters": [50, 50, 50, 50], "tol": 0.0},
    "spline_param": 200,
}
#: Registration of Clinica's t1-linear: antsRegistrationSyNQuick.sh with transform "a".
REGISTRATION_TRANSFORM = "antsRegistrationSyNQuick[a]"
#: Registration schedules: Clinica's exactly, or its two stages with fewer levels.
Registration = Literal["fast", "clinica"]
REGISTRATION_SCHEDULES: tuple[str, ...] = get_args(Registration)
#: Iterations, shrink factors and smoothing of the rigid and affine stages of ``fast``.
FAST_LEVELS: tuple[tuple[str, str, str], tuple[str, str, str]] = (
    ("1000x500", "8x4", "3x2mm"),
    ("1000x500x20", "8x4x2", "3x2x1mm"),
)
#: Pitches (degrees) of the starts ``fast`` tries, in order, when its centre-of-mass start
#: scores below the quality threshold (heads are mostly pitched in the coil).
SEARCH_PITCHES: tuple[float, ...] = (30.0, -30.0, 15.0, -15.0)
#: Iterations, shrink factors and smoothing (mm) of the rigid alignment of a T1w-ce to the
#: T1w-nce of its session (:func:`align_to_pair_reference`).
PAIR_LEVELS: tuple[str, str, str] = ("100x50x20", "4x2x1", "2x1x0mm")
#: The default schedule (within 1 mm RMS of ``clinica`` on every head measured); also the run's
#: default (``RunConfig.registration``).
DEFAULT_REGISTRATION: Registration = "fast"
#: Seed of ANTs' random sampling, so that a re-run gives the same transform.
REGISTRATION_SEED = 20240315


def call_with_known_kwargs(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call ``function``, refusing keyword arguments absent from its signature.

    antspyx functions accept ``**kwargs`` and ignore what they do not know; a misspelt
    parameter would silently change the method.

    Raises
    ------
    TypeError
        If a keyword is not a named parameter of ``function``.
    """
    parameters = inspect.signature(function).parameters
    unknown = sorted(
        name
        for name in kwargs
        if name not in parameters or parameters[name].kind is inspect.Parameter.VAR_KEYWORD
    )
    if unknown:
        raise TypeError(f"{function.__qualname__} has no parameter(s) {', '.join(unknown)}")
    return function(*args, **kwargs)


def n4_bias_correction(image: Any) -> Any:
    """N4 bias field correction with Clinica's t1-linear settings.

    Parameters
    ----------
    image
        ``ants.ANTsImage`` (3D, any orientation).

    Returns
    -------
    ants.ANTsImage
        The corrected image, float32, same grid.
    """
    import ants

    return call_with_known_kwargs(
        ants.n4_bias_field_correction, image.clone("float"), **N4_PARAMETERS
    )


def _run_ants_registration(arguments: list[str], what: str) -> None:
    from ants.internal import get_lib_fn, process_arguments

    if get_lib_fn("antsRegistration")(process_arguments(arguments)) != 0:
        raise RuntimeError(f"antsRegistration failed ({what})")


def _fast_stages(
    moving: Any, fixed: Any, fixed_mask: Any, prefix: str, seed: int, initial: str | None = None
) -> str:
    """antsRegistrationSyNQuick.sh -t a's rigid and affine stages with :data:`FAST_LEVELS`,
    from the centres of mass or from the ``initial`` affine (``.mat``)."""
    from ants.internal import get_pointer_string

    binary = fixed_mask != 0  # kept alive while ANTs reads it through its pointer
    f, m, x = (get_pointer_string(image) for image in (fixed, moving, binary))
    metric = ["-m", f"MI[{f},{m},1,32,Regular,0.25]"]
    rigid, affine = FAST_LEVELS
    arguments = [
        "-d", "3", "-r", initial or f"[{f},{m},1]", "-o", prefix,
        "-t", "Rigid[0.25]", *metric,
        "-c", f"[{rigid[0]},1e-6,10]", "-f", rigid[1], "-s", rigid[2],
        "-t", "Affine[0.25]", *metric,
        "-c", f"[{affine[0]},1e-6,10]", "-f", affine[1], "-s", affine[2],
        "-x", f"[{x},NA]", "-z", "1", "--random-seed", str(seed), "--float", "1",
    ]  # fmt: skip
    _run_ants_registration(arguments, "schedule 'fast'")
    return prefix + "0GenericAffine.mat"


def rigid_to_reference(moving: Any, reference: Any, prefix: str, seed: int) -> str:
    """Rigid alignment of an image to another of the same head and session, in native space.

    Both images are in the scanner's world frame of one session, so the alignment starts from
    the identity (no centre-of-mass jump) and only corrects the head's motion between them.

    Returns
    -------
    str
        The ITK rigid transform (``.mat``): ``reference`` points to ``moving`` points.
    """
    from ants.internal import get_pointer_string

    f, m = (get_pointer_string(image) for image in (reference, moving))
    iterations, shrink, smoothing = PAIR_LEVELS
    arguments = [
        "-d", "3", "-o", prefix,
        "-t", "Rigid[0.1]", "-m", f"MI[{f},{m},1,32,Regular,0.25]",
        "-c", f"[{iterations},1e-6,10]", "-f", shrink, "-s", smoothing,
        "-z", "1", "--random-seed", str(seed), "--float", "1",
    ]  # fmt: skip
    _run_ants_registration(arguments, "rigid alignment to the pair's T1w-nce")
    return prefix + "0GenericAffine.mat"


def _pitched_start(moving: Any, fixed: Any, pitch_degrees: float, path: Path) -> str:
    """A rigid start: the centres of mass matched, the head pitched by ``pitch_degrees``."""
    import ants

    from .registration_quality import write_affine

    flip = np.array([-1.0, -1.0, 1.0])  # ANTs' centres of mass are LPS
    fixed_centre = np.asarray(ants.get_center_of_mass(fixed)) * flip
    moving_centre = np.asarray(ants.get_center_of_mass(moving)) * flip
    angle = np.deg2rad(pitch_degrees)
    start = np.eye(4)
    start[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    start[:3, 3] = moving_centre - start[:3, :3] @ fixed_centre
    return str(write_affine(start, path))


def _fast_with_search(
    moving: Any, fixed: Any, fixed_mask: Any, transform_file: Path, seed: int
) -> Any:
    """``fast`` from the centres of mass; if it scores below the quality threshold, again from
    starts pitched by :data:`SEARCH_PITCHES`, keeping the best-scoring result.

    A head pitched in the coil (thick-slice clinical stacks) can trap the centre-of-mass start
    in a wrong optimum tens of millimetres away; the score (``qc_registration``, the
    mutual information with the template around its brain) says so, and a start pitched towards the
    head's pose finds it (docs/t1_linear.md). Images that score well cost one registration.
    """
    import ants

    from .registration_quality import REGISTRATION_QUALITY_THRESHOLD, quality_on_template

    mask = fixed_mask.numpy()
    with tempfile.TemporaryDirectory(prefix="ce2nce_registration_") as folder:
        best = _fast_stages(moving, fixed, fixed_mask, f"{folder}/", seed)
        best_score = quality_on_template(moving, fixed, mask, best)
        for index, pitch in enumerate(SEARCH_PITCHES):
            if best_score >= REGISTRATION_QUALITY_THRESHOLD:
                break
            start = _pitched_start(moving, fixed, pitch, Path(folder) / f"start{index}.mat")
            prefix = f"{folder}/search{index}_"
            candidate = _fast_stages(moving, fixed, fixed_mask, prefix, seed, initial=start)
            score = quality_on_template(moving, fixed, mask, candidate)
            if score > best_score:
                best, best_score = candidate, score
        shutil.copyfile(best, transform_file)
    return call_with_known_kwargs(
        ants.apply_transforms,
        fixed=fixed,
        moving=moving,
        transformlist=[str(transform_file)],
        interpolator="linear",
    )


def register_affine(
    moving: Any,
    fixed: Any,
    fixed_mask: Any,
    transform_file: Path,
    seed: int = REGISTRATION_SEED,
    schedule: str = DEFAULT_REGISTRATION,
) -> Any:
    """Affine registration of ``moving`` to ``fixed``: antsRegistrationSyNQuick.sh -t a's stages.

    Parameters
    ----------
    moving, fixed, fixed_mask
        ``ants.ANTsImage``; the mask restricts the metric to the template's (dilated) brain.
    transform_file
        Where the ITK affine (``.mat``, fixed -> moving points, as ANTs writes it) is copied.
    seed
        Seed of the metric's random sampling.
    schedule
        ``fast`` (default: fewer levels, :data:`FAST_LEVELS`) or ``clinica``
        (``antsRegistrationSyNQuick[a]`` exactly); see the module docstring.

    Returns
    -------
    ants.ANTsImage
        ``moving`` resampled (linear) onto the grid of ``fixed``.
    """
    import ants

    if schedule not in REGISTRATION_SCHEDULES:
        raise ValueError(f"unknown registration schedule {schedule!r}: {REGISTRATION_SCHEDULES}")
    if schedule == "fast":
        return _fast_with_search(moving, fixed, fixed_mask, Path(transform_file), seed)
    previous_seed = ants.config._random_seed
    ants.config._random_seed = seed
    try:
        result = call_with_known_kwargs(
            ants.registration,
            fixed=fixed,
            moving=moving,
            type_of_transform=REGISTRATION_TRANSFORM,
            mask=fixed_mask,
        )
    finally:
        ants.config._random_seed = previous_seed
    transforms = result["fwdtransforms"]
    if len(transforms) != 1 or not str(transforms[0]).endswith(".mat"):
        raise RuntimeError(f"expected one affine transform from ANTs, got {transforms}")
    shutil.copyfile(transforms[0], transform_file)
    return result["warpedmovout"]


def register_to_template(
    n4_file: Path,
    work_dir: Path,
    seed: int = REGISTRATION_SEED,
    schedule: str = DEFAULT_REGISTRATION,
) -> tuple[nib.Nifti1Image, Path]:
    """Register a bias-corrected T1w to MNI152NLin2009cSym (t1-linear's step 2).

    Parameters
    ----------
    n4_file
        The N4-corrected image (any grid).
    work_dir
        Existing folder for the template, its mask and the transform.
    seed
        Seed of the metric's random sampling.
    schedule
        ``fast`` or ``clinica`` (:func:`register_affine`).

    Returns
    -------
    registered, transform_file
        The image on the exact 193x229x193 2009c grid (MNI codes, float32) and the ANTs affine.
    """
    import ants

    from .templates import registration_template

    work_dir = Path(work_dir)
    template, mask = registration_template()
    transform_file = work_dir / "affine.mat"
    # Uncompressed and in a temporary folder: gzip would cost a core-second per image.
    with tempfile.TemporaryDirectory(prefix="ce2nce_template_") as folder:
        nib.save(template, Path(folder) / "template.nii")
        nib.save(mask, Path(folder) / "template_mask.nii")
        warped = register_affine(
            moving=ants.image_read(str(n4_file)),
            fixed=ants.image_read(str(Path(folder) / "template.nii")),
            fixed_mask=ants.image_read(str(Path(folder) / "template_mask.nii")),
            transform_file=transform_file,
            seed=seed,
            schedule=schedule,
        )
    # The warped image is on the template's voxel grid, indexed as the template file: keep the
    # exact 2009c affine (ITK would write its own rounding of it), MNI codes.
    data = np.asarray(warped.numpy(), dtype=np.float32)
    if data.shape != MNI2009C_SHAPE:
        raise RuntimeError(f"ANTs resampled onto a {data.shape} grid, not {MNI2009C_SHAPE}")
    return template_image(data, MNI2009C_AFFINE), transform_file


def align_to_pair_reference(
    n4_file: Path,
    reference_n4_file: Path,
    reference_transform: Path,
    work_dir: Path,
    seed: int = REGISTRATION_SEED,
) -> tuple[nib.Nifti1Image, Path, float]:
    """Register a T1w-ce to the template through the T1w-nce of its session (t1-linear's step 2).

    The T1w-ce is aligned rigidly to the T1w-nce in native space (same head, same session), and
    that alignment is composed with the T1w-nce's template transform: the two series land on
    the template grid in register, voxel to voxel, whatever the head's pose. Registering each
    series to the template on its own can put them tens of millimetres apart on thick-slice
    clinical stacks (docs/t1_linear.md).

    Parameters
    ----------
    n4_file
        The bias-corrected T1w-ce (any grid).
    reference_n4_file, reference_transform
        The bias-corrected T1w-nce of the same session and its template transform
        (:func:`register_to_template`).
    work_dir
        Existing folder for the rigid alignment and the composed transform.
    seed
        Seed of the metric's random sampling.

    Returns
    -------
    registered, transform_file, consistency_mm
        The T1w-ce on the 193x229x193 2009c grid, its composed affine (template points to
        T1w-ce points) and the RMS distance (mm) over the template's brain between the two
        series' transforms: the head's motion between the two series.
    """
    import ants

    from .registration_quality import (
        affine_matrix,
        template_brain_points,
        transform_rms_mm,
        write_affine,
    )
    from .templates import registration_template

    work_dir = Path(work_dir)
    moving = ants.image_read(str(n4_file))
    with tempfile.TemporaryDirectory(prefix="ce2nce_pair_") as folder:
        rigid = rigid_to_reference(
            moving, ants.image_read(str(reference_n4_file)), f"{folder}/", seed
        )
        composed = affine_matrix(Path(rigid)) @ affine_matrix(Path(reference_transform))
        shutil.copyfile(rigid, work_dir / "rigid_to_pair.mat")
    transform_file = write_affine(composed, work_dir / "affine.mat")
    template, _ = registration_template()
    with tempfile.TemporaryDirectory(prefix="ce2nce_template_") as folder:
        nib.save(template, Path(folder) / "template.nii")
        warped = call_with_known_kwargs(
            ants.apply_transforms,
            fixed=ants.image_read(str(Path(folder) / "template.nii")),
            moving=moving,
            transformlist=[str(transform_file)],
            interpolator="linear",
        )
    data = np.asarray(warped.numpy(), dtype=np.float32)
    consistency = transform_rms_mm(transform_file, reference_transform, template_brain_points())
    return template_image(data, MNI2009C_AFFINE), transform_file, consistency


def t1_linear(
    raw_file: Path, work_dir: Path, pair_reference_dir: Path | None = None
) -> tuple[nib.Nifti1Image, Path]:
    """The whole t1-linear chain on one raw T1w file: N4, affine registration, crop.

    The participant graph runs the same functions as separate nodes (so that each is cached);
    the real-pair training set calls this one, so that a network is trained on exactly what it
    sees at inference.

    Parameters
    ----------
    raw_file
        The raw T1w.
    work_dir
        Work folder (created): ``t1w_n4.nii.gz`` and ``affine.mat`` are kept there.
    pair_reference_dir
        For a T1w-ce, the work folder of its session's T1w-nce once this function ran on it:
        the T1w-ce is then aligned to it (:func:`align_to_pair_reference`) instead of being
        registered on its own.

    Returns
    -------
    cropped, transform_file
        The 169x208x179 image (:func:`crop_to_clinica_box`) and the ANTs affine.
    """
    import ants

    from ..image_checks import load_t1w

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    from ..image_checks import check_stack_extent

    image = load_t1w(raw_file)  # one-line InvalidInputError for unusable files
    check_stack_extent(image, raw_file)
    source = work_dir / "t1w_3d.nii.gz"
    nib.save(image, source)
    n4_file = work_dir / "t1w_n4.nii.gz"
    ants.image_write(n4_bias_correction(ants.image_read(str(source))), str(n4_file))
    if pair_reference_dir is None:
        registered, transform_file = register_to_template(n4_file, work_dir)
    else:
        reference = Path(pair_reference_dir)
        registered, transform_file, _ = align_to_pair_reference(
            n4_file, reference / "t1w_n4.nii.gz", reference / "affine.mat", work_dir
        )
    return crop_to_clinica_box(registered), transform_file


def check_on_template_grid(image: nib.Nifti1Image) -> None:
    """Raise ``ValueError`` unless ``image`` lies on the MNI152NLin2009cSym 1 mm grid."""
    if image.shape[:3] != MNI2009C_SHAPE or not np.allclose(image.affine, MNI2009C_AFFINE):
        raise ValueError(
            f"image of shape {image.shape} is not on the {MNI2009C_SHAPE} MNI152NLin2009cSym grid"
        )


def crop_to_clinica_box(image: nib.Nifti1Image) -> nib.Nifti1Image:
    """Crop a registered image to Clinica's 169x208x179 box (an exact slice, no resampling).

    Parameters
    ----------
    image
        Image on the 193x229x193 MNI152NLin2009cSym grid.

    Returns
    -------
    nibabel.Nifti1Image
        float32 image with affine :data:`~.templates.CROP_AFFINE` (origin (-84, -119, -78)).
    """
    check_on_template_grid(image)
    data = np.asarray(image.dataobj, dtype=np.float32)[CROP_SLICES]
    return template_image(data, CROP_AFFINE)


def template_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A float32 NIfTI image in MNI space (qform/sform code 4), units mm."""
    image = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    image.header.set_xyzt_units("mm")
    image.header.set_qform(affine, code=4)
    image.header.set_sform(affine, code=4)
    return image


def ras_points_through_transform(transform_file: Path, points_ras: np.ndarray) -> np.ndarray:
    """Map RAS points (mm, N x 3) of the fixed space through an ANTs affine ``.mat``.

    ANTs works in LPS; the result is returned in RAS, in the moving image's world space.
    """
    import ants

    transform = ants.read_transform(str(transform_file))
    flip = np.array([-1.0, -1.0, 1.0])
    moved = [transform.apply_to_point(tuple(p * flip)) for p in np.asarray(points_ras, float)]
    return np.asarray(moved) * flip


def ants_version() -> str:
    """Version of the ANTsPy package running ANTs in-process."""
    from importlib.metadata import version

    return f"(ANTsPy {version('antspyx')})"
