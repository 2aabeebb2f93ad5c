"""Structures without a blood-brain barrier: choroid plexus, dura mater, pituitary gland and
cavernous sinuses. They enhance on every post-contrast T1w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from .anatomy import Anatomy
from .effects import Effect, both_sides, enhance, make_effect, parameter, toward
from .geometry import coarse_field, ellipsoid, jitter, sheet_weight, tube
from .landmarks import (
    CAVERNOUS_SINUS,
    CHOROID_PATH,
    GLOMUS,
    PITUITARY,
    PITUITARY_STALK,
    TENTORIUM_LINE,
)

__all__ = [
    "ChoroidPlexusParameters",
    "DuraParameters",
    "PituitaryParameters",
    "choroid_plexus",
    "dura",
    "pituitary",
]


@dataclass(frozen=True)
class ChoroidPlexusParameters:
    """Parameters of :func:`choroid_plexus`.

    Attributes
    ----------
    intensity
        Post-contrast intensity (multiple of WM).
    glomus_radius_mm
        Radius of the glomus (the strand is 1.5 mm).
    """

    intensity: float = parameter(1.2, "choroid_intensity")
    glomus_radius_mm: float = parameter(4.5, "choroid_glomus_radius_mm")


@dataclass(frozen=True)
class DuraParameters:
    """Parameters of :func:`dura`.

    Attributes
    ----------
    intensity
        Post-contrast intensity of the dura (multiple of WM).
    thickness_mm
        Thickness of the enhancing sheets.
    coverage
        Fraction of the convexity dura that shows (normal pachymeningeal enhancement is thin
        and discontinuous).
    falx, tentorium, convexity
        Which parts to draw.
    """

    intensity: float = parameter(0.95, "dura_intensity")
    thickness_mm: float = parameter(1.2, "dura_thickness_mm")
    coverage: float = parameter(0.6, "dura_coverage")
    falx: bool = True
    tentorium: bool = True
    convexity: bool = True


@dataclass(frozen=True)
class PituitaryParameters:
    """Parameters of :func:`pituitary`.

    Attributes
    ----------
    intensity
        Post-contrast intensity of the gland and stalk (multiple of WM).
    cavernous_intensity
        Post-contrast intensity of the cavernous sinuses (multiple of WM).
    """

    intensity: float = parameter(1.3, "pituitary_intensity")
    cavernous_intensity: float = parameter(1.25, "cavernous_intensity")


def _choroid_side(
    anatomy: Anatomy, rng: np.random.Generator, flip: np.ndarray, glomus_radius_mm: float
) -> np.ndarray:
    """Weight of one side's choroid plexus: the strand and the glomus."""
    path = jitter(np.asarray(CHOROID_PATH) * flip, rng, 1.0)
    weight = tube(anatomy, path, 1.5)
    glomus = np.asarray(GLOMUS) * flip + rng.normal(0.0, 1.0, 3)
    semi = glomus_radius_mm * rng.uniform(0.8, 1.2, 3)
    return np.maximum(weight, ellipsoid(anatomy, glomus, semi))


def choroid_plexus(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: ChoroidPlexusParameters = ChoroidPlexusParameters(),
) -> Effect:
    """Choroid plexus of the lateral ventricles: a strand along the body's floor and the
    temporal horn, and the glomus in the atrium; confined to the template ventricles."""
    weight = both_sides(
        anatomy.shape, lambda flip: _choroid_side(anatomy, rng, flip, params.glomus_radius_mm)
    )
    return enhance(
        "choroid_plexus",
        nce,
        weight,
        anatomy.ventricle_region,
        params.intensity * anatomy.intensities.wm,
        intensity=params.intensity,
        glomus_radius_mm=params.glomus_radius_mm,
    )


def _falx(
    anatomy: Anatomy, nce: np.ndarray, shift: np.ndarray, thickness_mm: float
) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """The falx cerebri: its box on the grid and its weight there (None if off the grid)."""
    voxel = float(anatomy.voxel_size.mean())
    a, b = TENTORIUM_LINE
    box = anatomy.box_around(np.array([[-4, -105, -20], [4, 80, 90]]) + shift, voxel)
    if not all(s.stop > s.start for s in box):
        return None
    mni = anatomy.mni_coordinates(box) - shift[:, None, None, None].astype(np.float32)
    # Thin and partly hidden by partial volume: drawn at 60 % of a full sheet, only in
    # the fissure (darker than the GM/WM mid-level), not in the white matter.
    w = 0.6 * sheet_weight(mni[0], thickness_mm, voxel)
    levels = anatomy.intensities
    keep = (anatomy.depth[box] < 28.0) & (anatomy.wm[box] < 0.3) & anatomy.brain[box]
    keep &= nce[box] < 0.5 * (levels.gm + levels.wm)
    floor = np.where(mni[1] < -50.0, a + b * mni[1], -10.0)
    keep &= mni[2] > floor
    return box, w * keep


def _tentorium(
    anatomy: Anatomy, shift: np.ndarray, thickness_mm: float
) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """The tentorium cerebelli: its box on the grid and its weight there (None if off it)."""
    voxel = float(anatomy.voxel_size.mean())
    a, b = TENTORIUM_LINE
    box = anatomy.box_around(np.array([[-62, -105, -32], [62, -40, 15]]) + shift, voxel)
    if not all(s.stop > s.start for s in box):
        return None
    mni = anatomy.mni_coordinates(box) - shift[:, None, None, None].astype(np.float32)
    slope = np.clip(0.4 * (mni[1] + 100.0) / 30.0, 0.05, 0.4)
    ridge = np.maximum(a + b * mni[1] - slope * np.abs(mni[0]), -26.0)
    w = 0.6 * sheet_weight(mni[2] - ridge, thickness_mm, voxel)
    keep = (anatomy.outside[box] < 3.0) & anatomy.head[box]
    keep &= ~((np.abs(mni[0]) < 14.0) & (mni[1] > -58.0))
    keep &= np.abs(mni[0]) < 60.0
    return box, w * keep


def _convexity(anatomy: Anatomy, rng: np.random.Generator, params: DuraParameters) -> np.ndarray:
    """The convexity dura: a patchy shell 0.5 mm outside the brain, where the image shows a
    head."""
    voxel = float(anatomy.voxel_size.mean())
    thickness_mm = params.thickness_mm
    shell = sheet_weight(anatomy.outside - 0.5 - 0.5 * thickness_mm, thickness_mm, voxel)
    shell *= anatomy.head & (anatomy.outside > 0)
    patches = coarse_field(anatomy.shape, rng, 8.0 / voxel)
    shown = patches > float(ndtri(1.0 - params.coverage))
    return shell * shown


def dura(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: DuraParameters = DuraParameters(),
) -> Effect:
    """Thin enhancement of the dura mater: falx cerebri, tentorium cerebelli, convexity.

    Notes
    -----
    Falx: the midline sheet (MNI x = 0) inside the top 28 mm below the brain's outline, above
    the straight-sinus line and away from the corpus callosum (WM prior < 0.3). Tentorium: a
    tent whose ridge is the straight-sinus line and which falls 0.35 mm per mm laterally to
    the transverse sinuses, with an incisura for the midbrain. Convexity: a shell 0.5 mm outside
    the template brain, only where the image shows a head.
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    shift = rng.normal(0.0, 1.0, 3) * [0.5, 1.5, 1.5]
    sheets = [
        _falx(anatomy, nce, shift, params.thickness_mm) if params.falx else None,
        _tentorium(anatomy, shift, params.thickness_mm) if params.tentorium else None,
    ]
    for sheet in sheets:
        if sheet is not None:
            box, w = sheet
            weight[box] = np.maximum(weight[box], w)
    if params.convexity and anatomy.has_head:
        weight = np.maximum(weight, _convexity(anatomy, rng, params))
    return enhance(
        "dura",
        nce,
        weight,
        anatomy.head,
        params.intensity * anatomy.intensities.wm,
        intensity=params.intensity,
        thickness_mm=params.thickness_mm,
        coverage=params.coverage,
    )


def pituitary(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: PituitaryParameters = PituitaryParameters(),
) -> Effect:
    """Pituitary gland and stalk (no blood-brain barrier) and the cavernous sinuses."""
    shift = rng.normal(0.0, 1.0, 3)
    centre, semi = PITUITARY
    gland = ellipsoid(
        anatomy, np.asarray(centre) + shift, np.asarray(semi) * rng.uniform(0.85, 1.15, 3)
    )
    gland = np.maximum(gland, tube(anatomy, np.asarray(PITUITARY_STALK) + shift, 1.2))
    c, s = CAVERNOUS_SINUS
    cav = both_sides(
        anatomy.shape, lambda flip: ellipsoid(anatomy, np.asarray(c) * flip + shift, s)
    )
    gland, cav = gland * anatomy.head, cav * anatomy.head
    wm = anatomy.intensities.wm
    delta = np.maximum(
        toward(nce, gland, params.intensity * wm),
        toward(nce, cav, params.cavernous_intensity * wm),
    )
    return make_effect(
        "pituitary",
        np.maximum(gland, cav),
        delta,
        intensity=params.intensity,
        cavernous_intensity=params.cavernous_intensity,
        centre_mni=[round(float(v), 1) for v in np.asarray(centre) + shift],
    )
