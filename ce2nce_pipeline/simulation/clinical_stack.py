"""Clinical-like 2D stacks from a real 3D head: a moved head, thick slices, partial coverage.

A clinical T1w is often a stack of 4-7 mm slices with the head pitched or rolled in the coil
and the coverage cut to the brain. :func:`clinical_stack` makes one from a real head image with
a known head motion (:func:`head_pose`), so that a registration can be scored against the
known transform (``benchmarks/bench_registration.py``, ``tests/test_clinical_registration.py``).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

#: The world axis (RAS) that each stack orientation's slices are stacked along.
SLICE_AXIS: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}


def head_pose(
    angles_deg: tuple[float, float, float],
    translation_mm: tuple[float, float, float],
    centre: np.ndarray,
) -> np.ndarray:
    """A rigid motion of the head (4x4, RAS mm): rotation about ``centre``, then translation.

    ``angles_deg`` are (pitch, roll, yaw): rotations about the left-right, anterior-posterior
    and inferior-superior axes, in degrees.
    """
    rotation = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    motion = np.eye(4)
    motion[:3, :3] = rotation
    centre = np.asarray(centre, dtype=np.float64)
    motion[:3, 3] = centre - rotation @ centre + np.asarray(translation_mm, dtype=np.float64)
    return motion


def moved_header(image: nib.Nifti1Image, motion: np.ndarray) -> nib.Nifti1Image:
    """The same voxels with the head moved by ``motion`` in world space (header only)."""
    data = np.asarray(image.dataobj, dtype=np.float32)
    return nib.Nifti1Image(data, np.asarray(motion) @ image.affine)


def clinical_stack(
    image: nib.Nifti1Image,
    motion: np.ndarray,
    *,
    orientation: str = "axial",
    slice_mm: float = 5.0,
    in_plane_mm: float = 0.9,
    coverage_mm: float = 130.0,
    field_of_view_mm: float = 230.0,
    centre: np.ndarray | None = None,
    offset_mm: float = 0.0,
) -> nib.Nifti1Image:
    """Acquire a thick-slice stack of ``image``'s head after it moved by ``motion``.

    Parameters
    ----------
    image
        A real 3D head (any grid).
    motion
        4x4 RAS motion of the head in world space (:func:`head_pose`): the stack's world
        point ``y`` shows the head's point ``motion^-1 y``.
    orientation
        ``axial``, ``coronal`` or ``sagittal``: the world axis the slices are stacked along.
    slice_mm, in_plane_mm
        Slice thickness (no gap; each slice averages the head over its thickness) and the
        in-plane voxel size.
    coverage_mm, field_of_view_mm
        Extent along the slice axis, and the square in-plane field of view.
    centre
        World point (mm, before the motion) the stack is centred on (default: the image's
        intensity centre of mass).
    offset_mm
        Shift of the stack along its slice axis from ``centre`` (moves the cut coverage).

    Returns
    -------
    nibabel.Nifti1Image
        float32 stack on an axis-aligned RAS grid.
    """
    if orientation not in SLICE_AXIS:
        raise ValueError(f"unknown orientation {orientation!r}: {tuple(SLICE_AXIS)}")
    data = np.asarray(image.dataobj, dtype=np.float32)
    if centre is None:
        centre = nib.affines.apply_affine(image.affine, ndimage.center_of_mass(np.abs(data)))
    axis = SLICE_AXIS[orientation]
    motion = np.asarray(motion, dtype=np.float64)
    centre = nib.affines.apply_affine(motion, np.asarray(centre, dtype=np.float64))
    centre[axis] += offset_mm
    n_slices = max(1, int(round(coverage_mm / slice_mm)))
    n_plane = int(round(field_of_view_mm / in_plane_mm))
    zooms = np.full(3, in_plane_mm)
    zooms[axis] = slice_mm
    shape = np.full(3, n_plane)
    shape[axis] = n_slices
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = centre - zooms * (shape - 1) / 2.0
    # Each slice averages sub-slices about 1 mm apart across its thickness.
    n_sub = max(1, int(round(slice_mm)))
    sub_offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * slice_mm
    to_voxels = np.linalg.inv(image.affine) @ np.linalg.inv(motion) @ affine
    plane = np.indices(np.delete(shape, axis)).reshape(2, -1).astype(np.float64)
    out = np.zeros(shape, dtype=np.float32)
    for k in range(n_slices):
        values = np.zeros(plane.shape[1], dtype=np.float64)
        for sub in sub_offsets:
            index = np.insert(plane, axis, k + sub / slice_mm, axis=0)
            points = to_voxels[:3, :3] @ index + to_voxels[:3, 3:4]
            values += ndimage.map_coordinates(data, points, order=1, mode="constant")
        slab = (values / n_sub).reshape(np.delete(shape, axis))
        out[(slice(None),) * axis + (k,)] = slab
    stack = nib.Nifti1Image(out, affine)
    stack.header.set_xyzt_units("mm")
    stack.header.set_qform(affine, code=1)
    stack.header.set_sform(affine, code=1)
    return stack
