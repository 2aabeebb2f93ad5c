"""Enhancement outside the skull: temporalis and neck muscles, nasal mucosa.

These tissues enhance in proportion to their signal: a voxel goes from ``I`` to
``I * (1 + w * k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .anatomy import Anatomy
from .effects import Effect, make_effect, parameter
from .geometry import coarse_field

__all__ = ["ExtracranialParameters", "extracranial"]

#: MNI boxes (mm, two corners) of the muscles: right and left temporalis, neck extensors.
MUSCLE_BOXES = (
    ((44, -45, -40), (90, 35, 50)),
    ((-90, -45, -40), (-44, 35, 50)),
    ((-60, -130, -90), (60, -55, -35)),
)
#: MNI box of the nasal mucosa.
MUCOSA_BOX = ((-15, 20, -70), (15, 90, -12))


@dataclass(frozen=True)
class ExtracranialParameters:
    """Parameters of :func:`extracranial`.

    Attributes
    ----------
    muscle_enhancement
        Relative signal increase of muscle (0.15 = +15 %).
    mucosa_enhancement
        Relative signal increase of the nasal mucosa.
    """

    muscle_enhancement: float = parameter(0.15, "muscle_enhancement")
    mucosa_enhancement: float = parameter(0.5, "mucosa_enhancement")


def _muscle(anatomy: Anatomy, nce: np.ndarray) -> np.ndarray:
    """Muscle voxels: muscle-like intensity, in the muscle boxes, at least 6 mm outside the
    brain."""
    wm = anatomy.intensities.wm
    voxel = float(anatomy.voxel_size.max())
    tissue = (nce > 0.3 * wm) & (nce < 0.9 * wm) & anatomy.head
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    for corners in MUSCLE_BOXES:
        box = anatomy.box_around(np.array(corners), voxel)
        if all(s.stop > s.start for s in box):
            keep = tissue[box] & (anatomy.outside[box] > 6.0)
            weight[box] = np.maximum(weight[box], keep)
    return weight


def _mucosa(anatomy: Anatomy, nce: np.ndarray) -> np.ndarray:
    """Nasal mucosa voxels: mucosa-like intensity, in its box, at least 4 mm outside the brain."""
    wm = anatomy.intensities.wm
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    box = anatomy.box_around(np.array(MUCOSA_BOX), float(anatomy.voxel_size.max()))
    if all(s.stop > s.start for s in box):
        keep = (nce[box] > 0.25 * wm) & (nce[box] < 1.0 * wm) & anatomy.head[box]
        keep &= anatomy.outside[box] > 4.0
        weight[box] = keep
    return weight


def _patchy(weight: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """Soft edges and patchy uptake of a tissue's weight."""
    weight = ndimage.gaussian_filter(weight, 0.5) * (weight > 0)
    return np.clip(weight * patch, 0.0, 1.0) * (weight > 0)


def extracranial(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: ExtracranialParameters = ExtracranialParameters(),
) -> Effect:
    """Enhancement outside the skull: temporalis and neck muscles, nasal mucosa.

    Acts only where the image shows a head: nothing on a skull-stripped image. Voxels are
    picked by position (MNI boxes at least 6 mm outside the brain) and intensity (muscle and
    mucosa are darker than fat and brighter than air or bone).
    """
    weight_m = np.zeros(anatomy.shape, dtype=np.float32)
    weight_n = np.zeros(anatomy.shape, dtype=np.float32)
    if anatomy.has_head:
        voxel = float(anatomy.voxel_size.max())
        muscle, mucosa = _muscle(anatomy, nce), _mucosa(anatomy, nce)
        patch = 1.0 + 0.25 * coarse_field(anatomy.shape, rng, 6.0 / voxel)
        weight_m, weight_n = _patchy(muscle, patch), _patchy(mucosa, patch)
    delta = nce * (weight_m * params.muscle_enhancement + weight_n * params.mucosa_enhancement)
    return make_effect(
        "extracranial",
        np.maximum(weight_m, weight_n),
        delta,
        muscle_enhancement=params.muscle_enhancement,
        mucosa_enhancement=params.mucosa_enhancement,
    )
