"""How well t1-linear placed an image, and whether the two series of a ce/nce pair agree.

Three measures, all pure functions on arrays and ANTs affine files:

- :func:`template_correlation`: the Pearson correlation of the registered image with the
  registration template inside the template's brain. A head placed elsewhere (tilted, shifted,
  scaled) compares other tissue with the template's brain and scores low. The flag threshold
  (:data:`REGISTRATION_QUALITY_THRESHOLD`) was chosen on ``benchmarks/bench_registration.py``
  (docs/t1_linear.md).
- :func:`transform_rms_mm`: the RMS distance (mm) between where two template-to-image affines
  send the template's brain: the consistency of a ce/nce pair
  (:data:`PAIR_CONSISTENCY_THRESHOLD_MM`), or the error of a registration against a known
  transform.
- :func:`check_stack_extent`: refuses a stack too thin to register (fewer than
  :data:`MIN_SLICES` slices or less than :data:`MIN_EXTENT_MM` of coverage along an axis).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from ..errors import InvalidInputError

#: ``qc_registration`` below this is flagged: the registration most likely failed.
REGISTRATION_QUALITY_THRESHOLD = 0.2
#: A T1w-ce registered through its T1w-nce lands where the rigid alignment of the two says: the
#: RMS distance between their transforms is the head's motion between the two series (0 when
#: it did not move). Beyond this (mm over the brain), the motion is implausible within one
#: session and the alignment most likely failed: the T1w-ce is flagged.
PAIR_CONSISTENCY_THRESHOLD_MM = 10.0
#: A stack with fewer slices than this along an axis is too thin to register.
MIN_SLICES = 10
#: A stack covering less than this (mm) along an axis is too thin to register.
MIN_EXTENT_MM = 60.0


def template_correlation(
    registered: np.ndarray, template: np.ndarray, smoothing_voxels: float = 2.0
) -> float:
    """Pearson correlation of a registered image with the template inside its brain.

    Both images are first smoothed (Gaussian, ``smoothing_voxels`` sd) so that a thick-slice
    stack, blurred across its slices, is not scored on detail it never had.

    Parameters
    ----------
    registered
        The image resampled onto the template's grid (same shape as ``template``).
    template
        The skull-stripped registration template: its brain is where it is above zero.

    Returns
    -------
    float
        In [-1, 1]; 0 when the registered image is constant inside the brain (a head entirely
        outside the template's brain, or an empty image).

    Raises
    ------
    ValueError
        If the shapes differ or the template has no brain.
    """
    from scipy import ndimage

    registered = np.asarray(registered, dtype=np.float32)
    template = np.asarray(template, dtype=np.float32)
    if registered.shape != template.shape:
        raise ValueError(f"registered image {registered.shape} and template {template.shape}")
    brain = template > 0
    if not brain.any():
        raise ValueError("the template has no voxel above zero")
    if smoothing_voxels > 0:
        registered = ndimage.gaussian_filter(registered, smoothing_voxels)
        template = ndimage.gaussian_filter(template, smoothing_voxels)
    registered, template = registered.astype(np.float64), template.astype(np.float64)
    a = registered[brain] - registered[brain].mean()
    b = template[brain] - template[brain].mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def registration_quality(registered: nib.Nifti1Image) -> float:
    """:func:`template_correlation` of an image on t1-linear's 193x229x193 template grid."""
    from .templates import registration_template

    template, _ = registration_template()
    return template_correlation(np.asarray(registered.dataobj), np.asarray(template.dataobj))


def template_brain_points(step: int = 50) -> np.ndarray:
    """RAS coordinates (mm, N x 3) of every ``step``-th voxel of the template's brain."""
    from .templates import registration_template

    template, _ = registration_template()
    voxels = np.argwhere(np.asarray(template.dataobj) > 0)[::step]
    return nib.affines.apply_affine(template.affine, voxels)


def affine_matrix(transform_file: Path) -> np.ndarray:
    """The 4x4 RAS matrix of an ANTs affine ``.mat``: template points (mm) to image points."""
    import ants

    transform = ants.read_transform(str(transform_file))
    parameters = np.asarray(transform.parameters, dtype=np.float64)
    centre = np.asarray(transform.fixed_parameters, dtype=np.float64)
    linear = parameters[:9].reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = linear
    lps[:3, 3] = parameters[9:12] + centre - linear @ centre
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])  # ANTs works in LPS
    return flip @ lps @ flip


def write_affine(matrix: np.ndarray, transform_file: Path) -> Path:
    """Write a 4x4 RAS matrix (template points to image points) as an ANTs affine ``.mat``."""
    import ants

    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    lps = flip @ np.asarray(matrix, dtype=np.float64) @ flip
    transform = ants.create_ants_transform(
        transform_type="AffineTransform", precision="float", dimension=3
    )
    transform.set_parameters(np.concatenate([lps[:3, :3].ravel(), lps[:3, 3]]))
    transform.set_fixed_parameters(np.zeros(3))
    ants.write_transform(transform, str(transform_file))
    return Path(transform_file)


def transform_rms_mm(
    transform_a: Path | np.ndarray, transform_b: Path | np.ndarray, points: np.ndarray
) -> float:
    """RMS distance (mm) between where two template-to-image affines send ``points``.

    Each transform is an ANTs ``.mat`` or a 4x4 RAS matrix (:func:`affine_matrix`); ``points``
    are RAS template coordinates (N x 3), e.g. :func:`template_brain_points`.
    """
    a, b = (
        affine_matrix(t) if isinstance(t, (str, Path)) else np.asarray(t, dtype=np.float64)
        for t in (transform_a, transform_b)
    )
    difference = nib.affines.apply_affine(a, points) - nib.affines.apply_affine(b, points)
    return float(np.sqrt(np.mean(np.sum(difference**2, axis=1))))


def check_stack_extent(image: nib.Nifti1Image, path: str | Path) -> None:
    """Refuse an image too thin to register, naming it.

    Raises
    ------
    InvalidInputError
        Fewer than :data:`MIN_SLICES` voxels or less than :data:`MIN_EXTENT_MM` of coverage
        along one of the three axes.
    """
    shape = np.asarray(image.shape[:3])
    extent = shape * np.asarray(image.header.get_zooms()[:3], dtype=float)
    for axis in range(3):
        if shape[axis] < MIN_SLICES or extent[axis] < MIN_EXTENT_MM:
            raise InvalidInputError(
                f"{path}: too thin to register ({shape[axis]} slices covering "
                f"{extent[axis]:.0f} mm along axis {axis}; at least {MIN_SLICES} slices and "
                f"{MIN_EXTENT_MM:.0f} mm are needed); acquire or export a stack covering the "
                "whole brain, or remove it from the dataset"
            )
