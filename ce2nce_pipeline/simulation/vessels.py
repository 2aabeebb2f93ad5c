"""Vessels: the dural venous sinuses, the cortical veins and the arteries of the head.

Each is a tube (or several) along landmark paths (:mod:`.landmarks`) jittered per subject, kept
to the head (nothing is painted on the background of a skull-stripped image) and brought toward
the post-contrast intensity of blood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy
from .effects import Effect, both_sides, enhance, parameter
from .geometry import jitter, midline_outline, snap_outside, snap_to_image, surface_point, tube
from .landmarks import (
    ARTERIES,
    BASILAR,
    INTERNAL_CEREBRAL_VEIN,
    SIGMOID_SINUS,
    SSS_CENTRE,
    STRAIGHT_SINUS,
    TORCULA,
    TRANSVERSE_SINUS,
)

__all__ = [
    "ArteryParameters",
    "CorticalVeinParameters",
    "VenousSinusParameters",
    "arteries",
    "cortical_veins",
    "venous_sinuses",
]


@dataclass(frozen=True)
class VenousSinusParameters:
    """Parameters of :func:`venous_sinuses`.

    Attributes
    ----------
    intensity
        Post-contrast intensity of venous blood, as a multiple of the WM intensity.
    radius_scale
        Multiplies the radii (SSS 1.5 mm anteriorly to 4 mm at the torcula; transverse and
        sigmoid 3-3.5 mm; straight sinus 2.5 mm; internal cerebral veins 1.2 mm).
    """

    intensity: float = parameter(1.3, "sinus_intensity")
    radius_scale: float = parameter(1.0, "sinus_radius_scale")


@dataclass(frozen=True)
class CorticalVeinParameters:
    """Parameters of :func:`cortical_veins`.

    Attributes
    ----------
    n_veins
        Number of veins (both hemispheres).
    intensity
        Post-contrast intensity of the veins, multiple of WM.
    radius_mm
        Vein radius (tapering to 70 % at the start).
    """

    n_veins: int = parameter(12, "vein_count")
    intensity: float = parameter(1.1, "vein_intensity")
    radius_mm: float = parameter(1.0, "vein_radius_mm")


@dataclass(frozen=True)
class ArteryParameters:
    """Parameters of :func:`arteries`.

    Attributes
    ----------
    intensity
        Post-contrast intensity of arterial blood (multiple of WM); flow makes it lower and
        more variable than in the sinuses on gradient-echo T1w.
    radius_scale
        Multiplies the radii (ICA 2.2 mm down to distal MCA/ACA branches 0.9 mm).
    """

    intensity: float = parameter(1.1, "artery_intensity")
    radius_scale: float = parameter(1.0, "artery_radius_scale")


def _superior_sagittal_sinus(
    anatomy: Anatomy, rng: np.random.Generator, radius_scale: float
) -> np.ndarray:
    """Weight of the SSS: along the brain's midline outline to the torcula, in the skull groove."""
    outline, _ = midline_outline()
    sss = np.vstack([outline, np.asarray(TORCULA)[None]])
    along = np.linspace(0.0, 1.0, len(sss))
    sss_r = (1.5 + 2.5 * along) * radius_scale
    # Push the sinus outward from the brain's outline by its radius (it runs in the skull groove).
    centre = np.array([0.0, *SSS_CENTRE])
    outward = sss - centre
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    sss = sss + outward * (sss_r[:, None] * 0.6)
    offset = rng.normal(0.0, 1.0, size=3) * [0.8, 1.5, 1.5]
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    return np.maximum(weight, tube(anatomy, sss + offset, sss_r))


def _lateral_sinuses(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    flip: np.ndarray,
    radius_scale: float,
) -> np.ndarray:
    """Weight of one side's transverse and sigmoid sinuses and internal cerebral vein."""
    ts = np.vstack([TORCULA, np.asarray(TRANSVERSE_SINUS) * flip])
    ts_r = np.linspace(3.5, 2.8, len(ts)) * radius_scale
    ts = snap_to_image(anatomy, nce, snap_outside(ts, ts_r + 0.5), ts_r + 0.5)
    weight = tube(anatomy, jitter(ts, rng, 1.0), ts_r)
    sg = np.asarray(SIGMOID_SINUS) * flip
    sg_r = np.linspace(2.8, 3.5, len(sg)) * radius_scale
    sg_snapped = snap_to_image(anatomy, nce, snap_outside(sg[1:], sg_r[1:] + 0.5), sg_r[1:] + 0.5)
    sg = np.vstack([ts[-1], sg_snapped])
    weight = np.maximum(weight, tube(anatomy, jitter(sg, rng, 1.0), sg_r))
    icv = np.asarray(INTERNAL_CEREBRAL_VEIN) * flip
    return np.maximum(weight, tube(anatomy, jitter(icv, rng, 0.8), 1.2 * radius_scale))


def venous_sinuses(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: VenousSinusParameters = VenousSinusParameters(),
) -> Effect:
    """Superior sagittal, transverse, sigmoid and straight sinuses, internal cerebral veins.

    Parameters
    ----------
    anatomy, nce
        The image's anatomy and its (non-contrast) data.
    rng
        Source of the per-subject jitter of the paths (sd 1.5 mm).
    params
        Intensity and radius scale.

    Returns
    -------
    Effect
        Restricted to the head (nothing is painted on the background of a skull-stripped image).
    """
    scale = params.radius_scale
    weight = both_sides(
        anatomy.shape,
        lambda flip: _lateral_sinuses(anatomy, nce, rng, flip, scale),
        start=_superior_sagittal_sinus(anatomy, rng, scale),
    )
    torcula = snap_to_image(anatomy, nce, snap_outside(np.asarray([TORCULA]), [4.0]), [4.0])
    st = np.vstack([np.asarray(STRAIGHT_SINUS)[:-1], torcula])
    weight = np.maximum(weight, tube(anatomy, jitter(st, rng, 1.0), 2.5 * scale))
    return enhance(
        "venous_sinuses",
        nce,
        weight,
        anatomy.head,
        params.intensity * anatomy.intensities.wm,
        intensity=params.intensity,
        radius_scale=params.radius_scale,
    )


def _cortical_vein_path(rng: np.random.Generator) -> np.ndarray:
    """MNI points of one vein, from a random point of the lateral convexity to the vertex."""
    side = rng.choice([-1.0, 1.0])
    az0 = np.deg2rad(rng.uniform(-70.0, 70.0))  # around the lateral direction
    el0 = np.deg2rad(rng.uniform(-15.0, 35.0))
    start = np.array([side * np.cos(el0) * np.cos(az0), np.cos(el0) * np.sin(az0), np.sin(el0)])
    end_y = np.sin(az0) * 0.6 + rng.normal(0.0, 0.15)
    end = np.array([side * 0.12, end_y, 1.0])
    end /= np.linalg.norm(end)
    t = np.linspace(0.0, 1.0, 10)
    wiggle = rng.normal(0.0, 0.05, size=(10, 3)) * np.sin(np.pi * t)[:, None]
    dirs = (1 - t)[:, None] * start + t[:, None] * end + wiggle
    depth = rng.uniform(0.0, 2.0)
    return np.array([surface_point(d, -depth) for d in dirs])


def cortical_veins(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: CorticalVeinParameters = CorticalVeinParameters(),
) -> Effect:
    """Superficial cortical (bridging) veins draining up to the superior sagittal sinus.

    Each vein starts at a random point of the lateral convexity and runs over the brain's
    surface (template outline, 0-2 mm inside it: the subarachnoid space) to the vertex, with a
    random meander.
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    placed = []
    for _ in range(int(params.n_veins)):
        path = _cortical_vein_path(rng)
        radii = params.radius_mm * np.linspace(0.7, 1.0, len(path))
        weight = np.maximum(weight, tube(anatomy, path, radii))
        placed.append([round(float(v), 1) for v in path[0]])
    return enhance(
        "cortical_veins",
        nce,
        weight,
        anatomy.head,
        params.intensity * anatomy.intensities.wm,
        n_veins=int(params.n_veins),
        starts_mni=placed,
    )


def arteries(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    params: ArteryParameters = ArteryParameters(),
) -> Effect:
    """Internal carotid, middle / anterior / posterior cerebral, vertebral and basilar arteries."""
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    for points, r0, r1 in ARTERIES.values():
        radii = np.linspace(r0, r1, len(points)) * params.radius_scale
        weight = both_sides(
            anatomy.shape,
            lambda flip, points=points, radii=radii: tube(
                anatomy, jitter(np.asarray(points) * flip, rng, 1.0), radii
            ),
            start=weight,
        )
    basilar = jitter(np.asarray(BASILAR), rng, 1.0)
    weight = np.maximum(weight, tube(anatomy, basilar, 1.6 * params.radius_scale))
    return enhance(
        "arteries",
        nce,
        weight,
        anatomy.head,
        params.intensity * anatomy.intensities.wm,
        intensity=params.intensity,
        radius_scale=params.radius_scale,
    )
