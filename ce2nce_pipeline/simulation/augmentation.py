"""Multiply a few real T1w base images into many subjects.

``augment(image, params, seed)`` applies, in one resampling: a small random affine (rotation,
anisotropic scaling, translation, optional left-right mirror about the midline), a smooth random
elastic deformation, then a gamma and scale change of intensities and a multiplicative bias
field. The output keeps the input's shape, affine and header (float32), and is the same for the
same parameters and seed.

The affine part is kept small (a few degrees and per cent) so that an augmented Colin27 or
MNI152 image stays roughly in MNI space, as the simulator's anatomy expects when told
``space="mni"``; with ``space="auto"`` it registers anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

from .acquisition import bias_field

#: Ranges :func:`sample_augmentation` draws from (uniform).
AUGMENTATION_RANGES: dict[str, tuple[float, float]] = {
    "rotation_deg": (-4.0, 4.0),
    "scale": (0.94, 1.06),
    "translation_mm": (-3.0, 3.0),
    "elastic_amplitude_mm": (1.0, 4.0),
    "elastic_spacing_mm": (25.0, 45.0),
    "gamma": (0.85, 1.15),
    "intensity_scale": (0.8, 1.25),
    "bias_amplitude": (0.0, 0.15),
}
#: Probability of a left-right mirror.
FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class AugmentationParameters:
    """Parameters of one augmentation (identity by default). Ranges:
    :data:`AUGMENTATION_RANGES`."""

    #: Rotations about the x, y and z axes (degrees), about the image's centre of mass.
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Scaling along x, y, z.
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Mirror left-right about the sagittal plane through the centre of mass.
    flip_lr: bool = False
    #: Sd of the random displacement of the elastic control points (mm).
    elastic_amplitude_mm: float = 0.0
    #: Spacing of the elastic control points (mm); the field between them is smooth.
    elastic_spacing_mm: float = 35.0
    #: Intensity gamma, applied to intensities scaled by their 99.5th percentile.
    gamma: float = 1.0
    intensity_scale: float = 1.0
    bias_amplitude: float = 0.0

    def __post_init__(self) -> None:
        if self.elastic_spacing_mm <= 0 or self.elastic_amplitude_mm < 0:
            raise ValueError("elastic spacing must be > 0 and amplitude >= 0")
        if self.gamma <= 0 or self.intensity_scale <= 0:
            raise ValueError("gamma and intensity_scale must be > 0")
        if any(s <= 0 for s in self.scale):
            raise ValueError(f"scale factors must be > 0, got {self.scale}")

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly dict of all parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def sample_augmentation(rng: np.random.Generator) -> AugmentationParameters:
    """Draw augmentation parameters from :data:`AUGMENTATION_RANGES`."""

    def u(name: str, size: int | None = None):
        lo, hi = AUGMENTATION_RANGES[name]
        value = rng.uniform(lo, hi, size=size)
        return tuple(round(float(v), 4) for v in value) if size else round(float(value), 4)

    return AugmentationParameters(
        rotation_deg=u("rotation_deg", 3),
        scale=u("scale", 3),
        translation_mm=u("translation_mm", 3),
        flip_lr=bool(rng.random() < FLIP_PROBABILITY),
        elastic_amplitude_mm=u("elastic_amplitude_mm"),
        elastic_spacing_mm=u("elastic_spacing_mm"),
        gamma=u("gamma"),
        intensity_scale=u("intensity_scale"),
        bias_amplitude=u("bias_amplitude"),
    )


def _rotation(degrees: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _displacement(
    shape: tuple[int, int, int], voxel: np.ndarray, params: AugmentationParameters, rng
) -> np.ndarray:
    """Smooth random displacement field (3, *shape) in voxels."""
    extent = np.asarray(shape) * voxel
    n_ctrl = np.maximum(np.ceil(extent / params.elastic_spacing_mm).astype(int) + 1, 3)
    ctrl = rng.normal(0.0, params.elastic_amplitude_mm, size=(3, *n_ctrl)).astype(np.float32)
    # Cubic upsampling to a ~4 mm grid, then linear to the image grid (cheap on 1 mm images).
    mid = np.maximum(np.ceil(extent / 4.0).astype(int), n_ctrl)
    out = np.empty((3, *shape), dtype=np.float32)
    for axis in range(3):
        coarse = ndimage.zoom(ctrl[axis], mid / n_ctrl, order=3, mode="nearest", grid_mode=False)
        fine = ndimage.zoom(
            coarse,
            np.asarray(shape) / np.asarray(coarse.shape),
            order=1,
            mode="nearest",
            grid_mode=False,
        )
        out[axis] = fine[: shape[0], : shape[1], : shape[2]] / voxel[axis]
    return out


def augment(
    image: nib.Nifti1Image, params: AugmentationParameters, seed: int = 0
) -> nib.Nifti1Image:
    """Deform and re-contrast a T1w image into a new synthetic subject.

    Parameters
    ----------
    image
        3D image (not modified).
    params
        What to apply.
    seed
        Seeds the elastic field and the bias field (same seed -> same output).

    Returns
    -------
    nibabel.Nifti1Image
        float32 image with the input's shape, affine and header.
    """
    if len(image.shape) != 3:
        raise ValueError(f"expected a 3D image, got shape {image.shape}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    data = np.asarray(image.dataobj, dtype=np.float32)
    shape = data.shape
    affine = image.affine
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    foreground = data > np.percentile(data, 60)
    centre_vox = (
        np.array(ndimage.center_of_mass(foreground))
        if foreground.any()
        else ((np.asarray(shape) - 1) / 2.0)
    )
    centre = affine[:3, :3] @ centre_vox + affine[:3, 3]
    # Output world point x takes its value from the input at A^-1 (x - c - t) + c.
    linear = _rotation(params.rotation_deg) @ np.diag(params.scale)
    if params.flip_lr:
        linear = linear @ np.diag([-1.0, 1.0, 1.0])
    inverse = np.linalg.inv(linear)
    world = np.eye(4)
    world[:3, :3] = inverse
    world[:3, 3] = centre - inverse @ (centre + np.asarray(params.translation_mm))
    vox = np.linalg.inv(affine) @ world @ affine  # output voxel -> input voxel
    rng = np.random.default_rng([int(seed), 0])
    coords = np.indices(shape, dtype=np.float32)
    src = np.einsum("ij,j...->i...", vox[:3, :3].astype(np.float32), coords)
    src += vox[:3, 3].astype(np.float32)[:, None, None, None]
    if params.elastic_amplitude_mm > 0:
        src += _displacement(shape, voxel, params, rng)
    warped = ndimage.map_coordinates(data, src, order=1, mode="constant", cval=0.0)
    warped = np.maximum(warped, 0.0)
    top = float(np.percentile(warped[warped > 0], 99.5)) if (warped > 0).any() else 1.0
    out = params.intensity_scale * top * np.power(warped / top, params.gamma)
    if params.bias_amplitude > 0:
        out = out * bias_field(
            shape, np.random.default_rng([int(seed), 1]), amplitude=params.bias_amplitude
        )
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    result = nib.Nifti1Image(out.astype(np.float32), affine.copy(), header)
    result.header.set_slope_inter(None, None)
    return result
