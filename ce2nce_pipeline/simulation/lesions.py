"""Lesions: a ring-enhancing mass and small enhancing nodules.

Lesions change the non-contrast image too (necrosis and oedema are dark before injection):
that change is ``Effect.nce_change``, and their enhancement is relative to the lesioned image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy
from .effects import Effect, make_effect, parameter, toward
from .geometry import ellipsoid

__all__ = [
    "NodularLesionParameters",
    "RingLesionParameters",
    "nodular_lesions",
    "ring_lesion",
]

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class RingLesionParameters:
    """Parameters of :func:`ring_lesion`.

    Attributes
    ----------
    radius_mm
        Outer radius of the enhancing rim (irregular, +-20 %).
    necrosis_fraction
        Radius of the necrotic core relative to ``radius_mm``.
    oedema_mm
        Extent of the oedema beyond the rim, weighted by the WM prior.
    intensity
        Post-contrast intensity of the rim (multiple of WM).
    centre_mni
        Where to put the lesion; random brain tissue at least ``radius_mm`` + 5 mm deep if None.
    """

    radius_mm: float = parameter(14.0, "ring_radius_mm")
    necrosis_fraction: float = parameter(0.55, "ring_necrosis_fraction")
    oedema_mm: float = parameter(12.0, "ring_oedema_mm")
    intensity: float = parameter(1.45, "ring_intensity")
    centre_mni: tuple[float, float, float] | None = parameter(None, "ring_centre_mni")


@dataclass(frozen=True)
class NodularLesionParameters:
    """Parameters of :func:`nodular_lesions`.

    Attributes
    ----------
    n_lesions
        Number of nodules.
    radius_mm
        Range of their radii (uniform).
    intensity
        Post-contrast intensity (multiple of WM). Before contrast they are slightly darker than
        GM (``nce_change``).
    """

    n_lesions: int = parameter(4, "nodule_count")
    radius_mm: tuple[float, float] = parameter((1.5, 5.0), "nodule_radius_mm")
    intensity: float = parameter(1.35, "nodule_intensity")


def _lesion_centre(
    anatomy: Anatomy, rng: np.random.Generator, clearance_mm: float, where: str
) -> np.ndarray | None:
    """A random voxel index inside brain tissue at least ``clearance_mm`` from the surface."""
    tissue = anatomy.gm + anatomy.wm
    allowed = anatomy.brain & (anatomy.depth > clearance_mm) & ~anatomy.ventricle_region
    if where == "junction":
        allowed &= (anatomy.gm > 0.25) & (anatomy.wm > 0.25)
    else:
        allowed &= tissue > 0.8
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        return None
    return np.array(np.unravel_index(rng.choice(candidates), anatomy.shape), dtype=float)


def _radial_distance(
    anatomy: Anatomy, box: Box, centre_vox: np.ndarray, rng: np.random.Generator, roughness: float
) -> np.ndarray:
    """Distance (mm) from the centre, stretched by a random low-order shape (irregular mass)."""
    idx = np.indices(tuple(s.stop - s.start for s in box), dtype=np.float32)
    rel = [(idx[r] + box[r].start - centre_vox[r]) * anatomy.voxel_size[r] for r in range(3)]
    dist = np.sqrt(sum(v**2 for v in rel)) + 1e-6
    shape = np.ones_like(dist)
    for _ in range(4):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        cos = sum(axis[r] * rel[r] for r in range(3)) / dist
        shape += roughness * rng.uniform(-1, 1) * np.cos(rng.integers(1, 4) * np.arccos(cos))
    return dist / np.clip(shape, 0.5, 1.5)


def _ring_layers(
    anatomy: Anatomy, box: Box, rho: np.ndarray, params: RingLesionParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial-volume weights of the necrotic core, the rim and the oedema, in ``box``."""
    voxel = float(anatomy.voxel_size.mean())

    def inside(r: float) -> np.ndarray:
        return np.clip((r - rho) / voxel + 0.5, 0.0, 1.0)

    lesion, core = inside(params.radius_mm), inside(params.radius_mm * params.necrosis_fraction)
    rim = np.clip(lesion - core, 0.0, 1.0)
    oedema = np.clip(inside(params.radius_mm + params.oedema_mm) - lesion, 0.0, 1.0)
    oedema *= np.clip(anatomy.wm[box] * 1.3, 0.0, 1.0)
    brain = anatomy.brain[box]
    return core * brain, rim * brain, oedema * brain


def _ring_nce_change(
    anatomy: Anatomy, local: np.ndarray, core: np.ndarray, rim: np.ndarray, oedema: np.ndarray
) -> np.ndarray:
    """How the lesion changes the non-contrast image: dark core, GM-like rim, darker oedema."""
    levels = anatomy.intensities
    change = core * (1.3 * levels.csf - local)
    change += rim * (0.85 * levels.gm - local)
    change += oedema * np.minimum(0.5 * (levels.gm + levels.wm) - local, 0.0)
    return change


def ring_lesion(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: RingLesionParameters = RingLesionParameters(),
) -> Effect:
    """A ring-enhancing mass (glioblastoma / abscess-like): necrotic core, enhancing rim,
    surrounding vasogenic oedema in the white matter.

    The core (dark, near CSF) and the oedema (mildly dark) are present before contrast too,
    so they go into ``nce_change``; only the rim enhances.
    """
    zeros = np.zeros(anatomy.shape, dtype=np.float32)
    if params.centre_mni is None:
        centre = _lesion_centre(anatomy, rng, params.radius_mm + 5.0, "tissue")
    else:
        centre = anatomy.mni_to_voxel(np.asarray(params.centre_mni))[0]
    if centre is None:
        return make_effect("ring_lesion", zeros, zeros, zeros, placed=False)
    centre_mni_out = (anatomy.vox2mni[:3, :3] @ centre + anatomy.vox2mni[:3, 3]).tolist()
    reach = params.radius_mm * 1.5 + params.oedema_mm + 2.0
    box = anatomy.box_around(np.asarray(centre_mni_out), reach)
    rho = _radial_distance(anatomy, box, centre, rng, 0.12)
    core, rim, oedema = _ring_layers(anatomy, box, rho, params)
    local = nce[box]
    change = _ring_nce_change(anatomy, local, core, rim, oedema)
    hetero = 1.0 + 0.1 * rng.standard_normal(rim.shape).astype(np.float32)
    delta = toward(local + change, rim, params.intensity * anatomy.intensities.wm * hetero)
    weight, enh, nce_change = zeros.copy(), zeros.copy(), zeros.copy()
    weight[box], enh[box], nce_change[box] = rim, delta, change
    effect = make_effect(
        "ring_lesion",
        weight,
        enh,
        nce_change,
        placed=True,
        centre_mni=[round(float(v), 1) for v in centre_mni_out],
        radius_mm=params.radius_mm,
        necrosis_fraction=params.necrosis_fraction,
        oedema_mm=params.oedema_mm,
        intensity=params.intensity,
    )
    # The lesion's footprint on the nce image (core, rim, oedema) is also recorded.
    effect.details["lesion_mask_voxels"] = int(((core + rim + oedema) > 0).sum())
    return effect


def nodular_lesions(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: NodularLesionParameters = NodularLesionParameters(),
) -> Effect:
    """Small solid enhancing nodules (metastasis-like) at the grey / white matter junction."""
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    centres = []
    for _ in range(int(params.n_lesions)):
        r = float(rng.uniform(*params.radius_mm))
        centre = _lesion_centre(anatomy, rng, r + 2.0, "junction")
        if centre is None:
            continue
        mni = anatomy.vox2mni[:3, :3] @ centre + anatomy.vox2mni[:3, 3]
        weight = np.maximum(weight, ellipsoid(anatomy, mni, (r, r, r)))
        centres.append({"centre_mni": [round(float(v), 1) for v in mni], "radius_mm": round(r, 2)})
    weight = weight * anatomy.brain
    levels = anatomy.intensities
    nce_change = weight * (0.9 * levels.gm - nce)
    lesioned = nce + nce_change
    return make_effect(
        "nodular_lesions",
        weight,
        toward(lesioned, weight, params.intensity * levels.wm),
        nce_change.astype(np.float32),
        lesions=centres,
        intensity=params.intensity,
    )
