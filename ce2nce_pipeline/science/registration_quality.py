"""How well t1-linear placed an image, and whether the two series of a ce/nce pair agree.

Three measures, all pure functions on arrays and ANTs affine files:

- :func:`template_agreement` (``qc_registration``): the normalised mutual information of the
  registered image and the registration template inside the template's dilated brain mask and
  the image's field of view. A head placed elsewhere (tilted, shifted, scaled) puts other
  tissue against the template's brain and scores low. The flag threshold
  (:data:`REGISTRATION_QUALITY_THRESHOLD`) was chosen on ``benchmarks/bench_registration.py``
  (docs/t1_linear.md).
- :func:`transform_rms_mm`: the RMS distance (mm) between where two template-to-image affines
  send the template's brain: the consistency of a ce/nce pair
  (:data:`PAIR_CONSISTENCY_THRESHOLD_MM`), or the error of a registration against a known
  transform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

#: ``qc_registration`` below this is flagged: the registration most likely failed.
REGISTRATION_QUALITY_THRESHOLD = 1.057
#: A T1w-ce registered through its T1w-nce lands where the rigid alignment of the two says: the
#: RMS distance between their transforms is the head's motion between the two series (0 when
#: it did not move). Beyond this (mm over the brain), the motion is implausible within one
#: session and the alignment most likely failed: the T1w-ce is flagged.
PAIR_CONSISTENCY_THRESHOLD_MM = 10.0


def normalized_mutual_information(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """Studholme's normalised mutual information (H(A) + H(B)) / H(A, B), from 1 (independent)
    to 2 (one determines the other); each sample is clipped to its 1st-99th percentiles."""
    a = np.clip(a, *np.percentile(a, [1, 99]))
    b = np.clip(b, *np.percentile(b, [1, 99]))
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    p = joint / joint.sum()

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    together = entropy(p)
    return (entropy(p.sum(axis=1)) + entropy(p.sum(axis=0))) / together if together > 0 else 1.0


def template_agreement(
    registered: np.ndarray,
    coverage: np.ndarray,
    template: np.ndarray,
    template_mask: np.ndarray,
    smoothing_voxels: float = 2.0,
) -> float:
    """``qc_registration``: how much the registered image tells of the template, where it can.

    The normalised mutual information (:func:`normalized_mutual_information`) of the registered
    image and the template, both smoothed (Gaussian, ``smoothing_voxels`` sd), inside the
    template's dilated brain mask (the brain and its border, where a misplaced head puts skull
    or scalp) and inside the image's field of view moved onto the template (``coverage``,
    eroded by 3 voxels): a stack that covers part of the head is scored on what it covers.
    Mutual information does not care how the image's contrast differs from the template's, so a
    post-contrast spin echo, whose grey and white matter are nearly alike, scores as a
    gradient echo does.

    Parameters
    ----------
    registered
        The image resampled onto the template's grid.
    coverage
        Boolean, same grid: where the image has data (its grid moved onto the template's).
    template, template_mask
        The registration template and its (dilated) brain mask.

    Returns
    -------
    float
        1.0 (nothing in common) to 2.0; 1.0 when fewer than 1000 voxels are covered.

    Raises
    ------
    ValueError
        If the arrays' shapes differ.
    """
    from scipy import ndimage

    arrays = [np.asarray(x) for x in (registered, coverage, template, template_mask)]
    if len({x.shape for x in arrays}) != 1:
        raise ValueError(f"shapes differ: {[x.shape for x in arrays]}")
    # Only the mask's bounding box (and a margin for the smoothing) matters.
    corners = np.argwhere(arrays[3] > 0)
    if len(corners) == 0:
        return 1.0
    margin = int(np.ceil(4 * smoothing_voxels)) + 4
    box = tuple(
        slice(max(low - margin, 0), high + margin + 1)
        for low, high in zip(corners.min(axis=0), corners.max(axis=0), strict=True)
    )
    registered, coverage, template, template_mask = (x[box] for x in arrays)
    region = ndimage.binary_erosion(coverage > 0, iterations=3) & (template_mask > 0)
    if region.sum() < 1000:
        return 1.0
    if smoothing_voxels > 0:
        registered = ndimage.gaussian_filter(registered.astype(np.float32), smoothing_voxels)
        template = ndimage.gaussian_filter(template.astype(np.float32), smoothing_voxels)
    return normalized_mutual_information(registered[region], template[region])


def registration_quality(moving: Any, transform_file: Path) -> float:
    """:func:`template_agreement` of an image registered by an ANTs affine.

    Parameters
    ----------
    moving
        The bias-corrected image (``ants.ANTsImage`` or a NIfTI path), in native space.
    transform_file
        Its template transform (template points to image points).
    """
    import tempfile

    import ants

    from .templates import registration_template

    if not hasattr(moving, "numpy"):
        moving = ants.image_read(str(moving))
    template, mask = registration_template()
    with tempfile.TemporaryDirectory(prefix="ce2nce_quality_") as folder:
        nib.save(template, Path(folder) / "template.nii")
        fixed = ants.image_read(str(Path(folder) / "template.nii"))
    return quality_on_template(moving, fixed, np.asarray(mask.dataobj), transform_file)


def quality_on_template(
    moving: Any, fixed: Any, fixed_mask: np.ndarray, transform_file: Path | str
) -> float:
    """:func:`template_agreement` of ``moving`` moved onto ``fixed`` (ANTs images) by an affine."""
    import ants

    warped = ants.apply_transforms(fixed, moving, [str(transform_file)])
    ones = moving.new_image_like(np.ones(moving.shape, dtype=np.float32))
    coverage = ants.apply_transforms(
        fixed, ones, [str(transform_file)], interpolator="nearestNeighbor"
    )
    return template_agreement(
        warped.numpy(), coverage.numpy() > 0.5, fixed.numpy(), np.asarray(fixed_mask)
    )


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
