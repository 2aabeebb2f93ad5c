"""Make a simulated pair look like two real series of one session.

:func:`~.simulator.simulate_ce` applies acquisition effects (noise, bias, blur, thick slices,
contrast change) to the T1w-ce only, on the grid of the T1w-nce: the target is cleaner than any
real T1w-nce and perfectly aligned with its ce. Real pre- and post-contrast series are two
acquisitions: each has its own noise, bias field and resolution, and the head moves between
them. A network trained on such pairs learns to remove enhancement, not to denoise and deblur
towards an ideal target.

- :func:`acquire_nce_series`: the pre-contrast series' own acquisition (a fresh draw of the good
  preset's noise, bias, blur and slice thickness; no contrast change: it is the reference);
- :func:`move_rigidly`: a rigid motion of up to a few millimetres and degrees, about the
  image centre, resampled on the same grid (linear interpolation).

Pure functions of images and seeds.
"""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
from scipy import ndimage

from .anatomy import Anatomy
from .simulator import _like, apply_acquisition, sample_parameters

__all__ = ["MOTION_MAX_DEG", "MOTION_MAX_MM", "acquire_nce_series", "move_rigidly"]

#: Largest translation (mm, per axis) and rotation (degrees, per axis) between the two series.
MOTION_MAX_MM = 3.0
MOTION_MAX_DEG = 3.0


def acquire_nce_series(
    nce: nib.Nifti1Image, anatomy: Anatomy, seed: int
) -> tuple[nib.Nifti1Image, dict[str, object]]:
    """The T1w-nce as its own acquisition: independent noise, bias, blur and slices.

    Returns the image (same grid) and the acquisition parameters drawn (for the sidecar).
    """
    rng = np.random.default_rng([int(seed), 7])
    params = dataclasses.replace(
        sample_parameters(rng, "good", lesion_probability=0.0), contrast_change=False
    )
    data = apply_acquisition(np.asarray(nce.dataobj, dtype=np.float32), anatomy, params, seed)
    drawn = {
        name: getattr(params, name)
        for name in (
            "low_resolution",
            "slice_axis",
            "slice_thickness_mm",
            "blur",
            "blur_fwhm_mm",
            "bias_field",
            "bias_amplitude",
            "noise",
            "noise_sigma",
        )
    }
    return _like(nce, data), drawn


def rigid_matrix(rotation_deg: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    """A 4×4 world-space rigid transform: rotations about x, y, z (degrees), then a shift."""
    rx, ry, rz = np.deg2rad(np.asarray(rotation_deg, dtype=float))
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rot_z @ rot_y @ rot_x
    matrix[:3, 3] = np.asarray(translation_mm, dtype=float)
    return matrix


def move_rigidly(
    image: nib.Nifti1Image,
    seed: int,
    max_mm: float = MOTION_MAX_MM,
    max_deg: float = MOTION_MAX_DEG,
) -> tuple[nib.Nifti1Image, dict[str, list[float]]]:
    """Move the head rigidly inside its field of view (same grid, linear interpolation).

    The rotation is about the centre of the field of view; translations and rotations are
    uniform in ``[-max, max]`` per axis. Returns the moved image and the motion drawn.
    """
    rng = np.random.default_rng([int(seed), 11])
    rotation = rng.uniform(-max_deg, max_deg, 3)
    translation = rng.uniform(-max_mm, max_mm, 3)
    affine = image.affine
    centre = affine @ np.r_[(np.asarray(image.shape[:3]) - 1) / 2.0, 1.0]
    to_centre, back = np.eye(4), np.eye(4)
    to_centre[:3, 3], back[:3, 3] = -centre[:3], centre[:3]
    world = back @ rigid_matrix(rotation, translation) @ to_centre
    # Output voxel -> world -> inverse motion -> input voxel.
    voxel_map = np.linalg.inv(affine) @ np.linalg.inv(world) @ affine
    data = ndimage.affine_transform(
        np.asarray(image.dataobj, dtype=np.float32),
        voxel_map[:3, :3],
        offset=voxel_map[:3, 3],
        order=1,
        mode="constant",
        cval=0.0,
    )
    motion = {
        "rotation_deg": [round(float(v), 3) for v in rotation],
        "translation_mm": [round(float(v), 3) for v in translation],
    }
    return _like(image, np.maximum(data, 0.0)), motion
