"""What gadolinium does to a T1w image, one effect per function.

Each anatomical effect returns an :class:`Effect`: the enhancement (intensity added by the
contrast agent, >= 0) and the mask of the voxels where the effect acts, both on the image grid;
the enhancement is zero outside the mask. Lesions also change the non-contrast image (necrosis
and oedema are dark before injection too): that change is ``Effect.nce_change``.

Enhancement model: a voxel that holds a fraction ``w`` (partial volume, 0-1) of an enhancing
structure whose post-contrast intensity is ``T`` (a multiple of the image's WM intensity) goes
from ``I`` to ``I + w * max(T - I, 0)``; tissues that enhance in proportion to their signal
(muscle, mucosa) go to ``I * (1 + w * k)``. Where the structure is already brighter than ``T``
nothing changes.

Structures the template does not delineate are placed at MNI152 coordinates (mm) read off the
ICBM 2009a template and Colin27 (midline x = 0, right hemisphere x > 0), jittered per subject:
they are approximate to a few millimetres, see ``docs/simulation.md``.

Acquisition effects (contrast change, resolution, blur, bias field, ghosting, noise) act on a
whole array and return a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from .anatomy import Anatomy, _template

Box = tuple[slice, slice, slice]

# ---------------------------------------------------------------------------------------------
# Landmarks, MNI152 mm. Right side (x > 0); the left side is mirrored.
#: Confluence of sinuses (torcula Herophili).
TORCULA = (0.0, -97.0, -14.0)
#: Transverse then sigmoid sinus, torcula -> jugular bulb (right side).
TRANSVERSE_SINUS = (
    (6.0, -99.0, -14.0),
    (18.0, -99.0, -15.0),
    (30.0, -95.0, -17.0),
    (42.0, -87.0, -19.0),
    (51.0, -76.0, -21.0),
    (56.0, -65.0, -24.0),
)
SIGMOID_SINUS = (
    (56.0, -65.0, -24.0),
    (57.0, -56.0, -29.0),
    (53.0, -48.0, -36.0),
    (47.0, -41.0, -42.0),
    (42.0, -36.0, -49.0),
)
#: Vein of Galen -> straight sinus -> torcula (midline).
STRAIGHT_SINUS = (
    (0.0, -49.0, 11.0),
    (0.0, -60.0, 4.0),
    (0.0, -72.0, -4.0),
    (0.0, -84.0, -11.0),
    TORCULA,
)
#: Internal cerebral vein (right), foramen of Monro -> vein of Galen.
INTERNAL_CEREBRAL_VEIN = (
    (3.0, -4.0, 15.0),
    (3.0, -18.0, 16.0),
    (2.5, -32.0, 14.0),
    (1.0, -44.0, 11.0),
    (0.0, -49.0, 11.0),
)
#: Centre of the fan along which the superior sagittal sinus follows the brain's midline
#: outline, and the angles (degrees, in the y-z plane, 0 = anterior, 90 = superior) it spans.
_SSS_CENTRE = (-20.0, 12.0)
_SSS_ANGLES = (-12.0, 196.0)

#: Arteries (right side), with radii (mm) at the first and last point.
ARTERIES: dict[str, tuple[tuple[tuple[float, float, float], ...], float, float]] = {
    "internal_carotid": (
        (
            (19.0, -6.0, -46.0),
            (18.0, -1.0, -39.0),
            (16.0, 3.0, -33.0),
            (14.0, 2.0, -27.0),
            (14.0, 5.0, -21.0),
            (15.0, 5.0, -16.0),
        ),
        2.2,
        1.9,
    ),
    "middle_cerebral": (
        (
            (15.0, 5.0, -16.0),
            (25.0, 5.0, -14.0),
            (35.0, 5.0, -10.0),
            (40.0, 3.0, -4.0),
            (42.0, -6.0, 4.0),
            (43.0, -16.0, 9.0),
        ),
        1.6,
        1.0,
    ),
    "anterior_cerebral": (
        (
            (15.0, 5.0, -16.0),
            (8.0, 12.0, -11.0),
            (3.0, 17.0, -8.0),
            (2.5, 25.0, 2.0),
            (2.5, 31.0, 12.0),
            (2.5, 30.0, 24.0),
            (2.5, 20.0, 32.0),
            (2.5, 2.0, 36.0),
        ),
        1.3,
        0.9,
    ),
    "vertebral": (((9.0, -33.0, -62.0), (6.0, -27.0, -55.0), (1.5, -19.0, -49.0)), 1.6, 1.5),
    "posterior_cerebral": (
        (
            (0.0, -11.0, -19.0),
            (8.0, -15.0, -17.0),
            (17.0, -24.0, -13.0),
            (23.0, -38.0, -7.0),
            (24.0, -58.0, 0.0),
        ),
        1.2,
        0.9,
    ),
}
#: Basilar artery (midline), vertebral confluence -> tip.
BASILAR = ((0.0, -19.0, -49.0), (0.0, -13.0, -40.0), (0.0, -10.0, -30.0), (0.0, -11.0, -19.0))
#: Choroid plexus (right): foramen of Monro -> body -> glomus (atrium) -> temporal horn.
CHOROID_PATH = (
    (4.0, -2.0, 12.0),
    (10.0, -15.0, 17.0),
    (18.0, -28.0, 17.0),
    (24.0, -40.0, 13.0),
    (30.0, -35.0, 2.0),
    (32.0, -24.0, -9.0),
    (31.0, -14.0, -16.0),
)
GLOMUS = (24.0, -40.0, 13.0)
#: Pituitary gland (centre, semi-axes) and stalk.
PITUITARY = ((0.0, 4.0, -31.0), (6.5, 5.0, 3.5))
PITUITARY_STALK = ((0.0, 2.0, -27.0), (0.0, 0.0, -16.0))
#: Cavernous sinus (right: centre, semi-axes).
CAVERNOUS_SINUS = ((13.0, 1.0, -31.0), (4.0, 9.0, 5.0))
#: Straight-sinus line in the midline plane, z = a + b * y, which the tentorium follows.
_TENTORIUM_LINE = (12.0 + 0.66 * 50.0, 0.66)


def _mirror(points: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    return np.asarray(points, dtype=float) * np.array([-1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Effect:
    """One gadolinium effect on the image grid.

    Attributes
    ----------
    name
        Component name.
    mask
        Boolean map of the voxels where the effect acts.
    enhancement
        float32 intensity added by the contrast agent (>= 0, zero outside ``mask``).
    nce_change
        float32 change of the non-contrast image (lesions only), else ``None``.
    details
        JSON-friendly description of what was placed (positions, sizes).
    """

    name: str
    mask: np.ndarray
    enhancement: np.ndarray
    nce_change: np.ndarray | None = None
    details: dict[str, object] = field(default_factory=dict)


def _effect(
    name: str,
    weight: np.ndarray,
    delta: np.ndarray,
    nce_change: np.ndarray | None = None,
    **details: object,
) -> Effect:
    enhancement = np.where(weight > 0, np.maximum(delta, 0.0), 0.0).astype(np.float32)
    return Effect(name, weight > 0, enhancement, nce_change, dict(details))


def _toward(nce: np.ndarray, weight: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    """Enhancement that brings a fraction ``weight`` of each voxel to ``target``."""
    return weight * np.maximum(np.asarray(target, dtype=np.float32) - nce, 0.0)


# ---------------------------------------------------------------------------------------------
# Geometry on the image grid.


def _densify(points: np.ndarray, radii: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step`` mm along a polyline, with linearly interpolated radii."""
    out_p, out_r = [points[:1]], [radii[:1]]
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        t = np.arange(1, n + 1, dtype=float)[:, None] / n
        out_p.append(a + t * (b - a))
        out_r.append(ra + t[:, 0] * (rb - ra))
    return np.concatenate(out_p), np.concatenate(out_r)


def _tube(anatomy: Anatomy, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Partial-volume weight (0-1) of a tube of varying radius along MNI ``points``."""
    points = np.asarray(points, dtype=float)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(points),))
    voxel = anatomy.voxel_size
    dense, dense_r = _densify(points, radii, 0.5 * float(voxel.min()))
    box = anatomy.box_around(dense, float(dense_r.max()) + 2 * float(voxel.max()))
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    if any(s.stop <= s.start for s in box):
        return weight
    shape = tuple(s.stop - s.start for s in box)
    index = np.round(anatomy.mni_to_voxel(dense)).astype(int) - [s.start for s in box]
    inside = np.all((index >= 0) & (index < shape), axis=1)
    if not inside.any():
        return weight
    seeds = np.zeros(shape, dtype=np.int32)
    seeds[tuple(index[inside].T)] = np.flatnonzero(inside) + 1
    distance, nearest = ndimage.distance_transform_edt(
        seeds == 0, sampling=voxel, return_indices=True
    )
    radius = dense_r[seeds[tuple(nearest)] - 1]
    # Half a voxel of soft edge: the fraction of the voxel the tube covers, roughly.
    local = np.clip((radius - distance) / float(voxel.mean()) + 0.5, 0.0, 1.0)
    weight[box] = local.astype(np.float32)
    return weight


def _ellipsoid(anatomy: Anatomy, centre, semi_axes) -> np.ndarray:
    """Partial-volume weight of an axis-aligned (MNI) ellipsoid."""
    centre, semi = np.asarray(centre, float), np.asarray(semi_axes, float)
    box = anatomy.box_around(
        np.array([centre - semi, centre + semi]), 2 * anatomy.voxel_size.max()
    )
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    if any(s.stop <= s.start for s in box):
        return weight
    mni = anatomy.mni_coordinates(box)
    rho = np.sqrt(sum(((mni[r] - centre[r]) / semi[r]) ** 2 for r in range(3)))
    edge = float(anatomy.voxel_size.mean()) / float(semi.min())
    weight[box] = np.clip((1.0 - rho) / edge + 0.5, 0.0, 1.0)
    return weight


def _sheet_weight(distance: np.ndarray, thickness: float, voxel: float) -> np.ndarray:
    """Partial-volume weight of a sheet of ``thickness`` mm at signed ``distance`` mm."""
    cover = min(1.0, thickness / voxel)
    return np.clip((0.5 * thickness + 0.5 * voxel - np.abs(distance)) / voxel, 0.0, cover)


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Zero-mean unit-sd smooth random field (sigma in voxels), float32."""
    noise = rng.standard_normal(shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    return (smooth - smooth.mean()) / max(float(smooth.std()), 1e-6)


def _coarse_field(
    shape: tuple[int, int, int], rng: np.random.Generator, scale_vox: float
) -> np.ndarray:
    """Smooth zero-mean unit-sd random field with features of ~``scale_vox`` voxels, made on
    a coarse grid and interpolated (cheap on 1 mm images)."""
    factor = max(1, int(scale_vox // 2))
    coarse_shape = tuple(max(3, -(-n // factor)) for n in shape)
    coarse = _smooth_field(coarse_shape, rng, 1.0)
    zoom = [n / c for n, c in zip(shape, coarse_shape, strict=True)]
    fine = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")
    fine = fine[: shape[0], : shape[1], : shape[2]]
    return (fine - fine.mean()) / max(float(fine.std()), 1e-6)


def _jitter(points: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Per-subject variation of a landmark path: a smooth offset plus small per-point noise."""
    offset = rng.normal(0.0, sd, size=3)
    return points + offset + rng.normal(0.0, 0.4 * sd, size=points.shape)


@lru_cache(maxsize=1)
def _midline_outline() -> tuple[np.ndarray, np.ndarray]:
    """Outer outline of the template brain in the midline plane, as MNI points and angles."""
    template = _template()
    affine = template.affine
    i0 = int(round(-affine[0, 3] / affine[0, 0]))
    plane = template.brain[i0 - 3 : i0 + 4].any(axis=0)  # (y, z), closes the fissure
    angles = np.deg2rad(np.arange(_SSS_ANGLES[0], _SSS_ANGLES[1] + 0.1, 4.0))
    cy, cz = _SSS_CENTRE
    steps = np.arange(10.0, 140.0, 0.5)
    points = []
    for angle in angles:
        y = cy + steps * np.cos(angle)
        z = cz + steps * np.sin(angle)
        j = np.round((y - affine[1, 3]) / affine[1, 1]).astype(int)
        k = np.round((z - affine[2, 3]) / affine[2, 2]).astype(int)
        ok = (j >= 0) & (j < plane.shape[0]) & (k >= 0) & (k < plane.shape[1])
        inside = np.zeros_like(steps, dtype=bool)
        inside[ok] = plane[j[ok], k[ok]]
        last = steps[np.flatnonzero(inside)[-1]] if inside.any() else steps[0]
        points.append((0.0, cy + last * np.cos(angle), cz + last * np.sin(angle)))
    return np.asarray(points), angles


@lru_cache(maxsize=1)
def _template_surface_radius() -> tuple[np.ndarray, np.ndarray]:
    """Radius (mm) of the template brain surface from (0, -18, 18) on a direction grid."""
    template = _template()
    centre = np.array([0.0, -18.0, 18.0])
    azimuth = np.deg2rad(np.arange(0.0, 360.0, 5.0))
    elevation = np.deg2rad(np.arange(-30.0, 90.1, 5.0))
    az, el = np.meshgrid(azimuth, elevation, indexing="ij")
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
    steps = np.arange(5.0, 120.0, 0.5)
    pts = centre + dirs[..., None, :] * steps[:, None]
    vox = (pts - template.affine[:3, 3]) / np.diag(template.affine)[:3]
    inside = ndimage.map_coordinates(
        template.brain.astype(np.float32), vox.reshape(-1, 3).T, order=0, cval=0.0
    ).reshape(pts.shape[:-1])
    idx = np.where(inside.any(-1), inside.shape[-1] - 1 - np.argmax(inside[..., ::-1] > 0, -1), 0)
    return steps[idx], centre


def _snap_outside(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each point horizontally (from MNI (0, -40) at its height) to ``offset`` mm outside
    the template brain: puts the transverse and sigmoid sinuses in their bony grooves."""
    template = _template()
    brain = template.brain.astype(np.float32)
    steps = np.arange(0.0, 120.0, 0.5)
    out = []
    for p, offset in zip(np.asarray(points, float), offsets, strict=True):
        centre = np.array([0.0, -40.0, p[2]])
        d = p - centre
        d[2] = 0.0
        norm = np.linalg.norm(d)
        if norm < 1e-6:
            out.append(p)
            continue
        d /= norm
        ray = centre + steps[:, None] * d
        vox = (ray - template.affine[:3, 3]) / np.diag(template.affine)[:3]
        inside = ndimage.map_coordinates(brain, vox.T, order=0, cval=0.0) > 0
        last = steps[np.flatnonzero(inside)[-1]] if inside.any() else norm
        out.append(centre + d * (last + offset))
    return np.asarray(out)


def _snap_to_image(
    anatomy: Anatomy, nce: np.ndarray, points: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Refine template-snapped sinus points on an image with a head: move each point, along
    the same horizontal ray, to ``offset`` mm beyond the image's own brain edge (the first
    2 mm of CSF-dark voxels met going outward), by at most 8 mm."""
    if not anatomy.has_head:
        return points
    threshold = anatomy.intensities.csf_threshold
    out = []
    for p, offset in zip(np.asarray(points, float), offsets, strict=True):
        centre = np.array([0.0, -40.0, p[2]])
        d = p - centre
        d[2] = 0.0
        norm = np.linalg.norm(d)
        if norm < 1e-6:
            out.append(p)
            continue
        d /= norm
        edge_template = norm - offset
        steps = np.arange(edge_template - 10.0, edge_template + 10.0, 0.5)
        vox = anatomy.mni_to_voxel(centre + steps[:, None] * d)
        values = ndimage.map_coordinates(nce, vox.T, order=1, cval=0.0)
        dark = values < threshold
        run = np.convolve(dark.astype(float), np.ones(4), mode="full")[3:] >= 4
        hits = np.flatnonzero(run)
        if hits.size == 0:
            out.append(p)
            continue
        edge = float(np.clip(steps[hits[0]], edge_template - 8.0, edge_template + 8.0))
        out.append(centre + d * (edge + offset))
    return np.asarray(out)


def _surface_point(direction: np.ndarray, offset: float) -> np.ndarray:
    """Point on the template brain surface along ``direction`` from the fan centre."""
    radius, centre = _template_surface_radius()
    d = direction / np.linalg.norm(direction)
    az = np.rad2deg(np.arctan2(d[1], d[0])) % 360.0
    el = np.rad2deg(np.arcsin(np.clip(d[2], -1, 1)))
    ia = int(round(az / 5.0)) % radius.shape[0]
    ie = int(np.clip(round((el + 30.0) / 5.0), 0, radius.shape[1] - 1))
    return centre + d * (radius[ia, ie] + offset)


# ---------------------------------------------------------------------------------------------
# Vessels.


def venous_sinuses(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 1.3,
    radius_scale: float = 1.0,
) -> Effect:
    """Superior sagittal, transverse, sigmoid and straight sinuses, internal cerebral veins.

    Parameters
    ----------
    anatomy, nce
        The image's anatomy and its (non-contrast) data.
    rng
        Source of the per-subject jitter of the paths (sd 1.5 mm).
    intensity
        Post-contrast intensity of venous blood, as a multiple of the WM intensity.
    radius_scale
        Multiplies the radii (SSS 1.5 mm anteriorly to 4 mm at the torcula; transverse and
        sigmoid 3-3.5 mm; straight sinus 2.5 mm; internal cerebral veins 1.2 mm).

    Returns
    -------
    Effect
        Restricted to the head (nothing is painted on the background of a skull-stripped image).
    """
    outline, _ = _midline_outline()
    sss = np.vstack([outline, np.asarray(TORCULA)[None]])
    along = np.linspace(0.0, 1.0, len(sss))
    sss_r = (1.5 + 2.5 * along) * radius_scale
    # Push the sinus outward from the brain's outline by its radius (it runs in the skull groove).
    centre = np.array([0.0, *_SSS_CENTRE])
    outward = sss - centre
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    sss = sss + outward * (sss_r[:, None] * 0.6)
    offset = rng.normal(0.0, 1.0, size=3) * [0.8, 1.5, 1.5]
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    weight = np.maximum(weight, _tube(anatomy, sss + offset, sss_r))
    for side in (1.0, -1.0):
        flip = np.array([side, 1.0, 1.0])
        ts = np.vstack([TORCULA, np.asarray(TRANSVERSE_SINUS) * flip])
        ts_r = np.linspace(3.5, 2.8, len(ts)) * radius_scale
        ts = _snap_to_image(anatomy, nce, _snap_outside(ts, ts_r + 0.5), ts_r + 0.5)
        weight = np.maximum(weight, _tube(anatomy, _jitter(ts, rng, 1.0), ts_r))
        sg = np.asarray(SIGMOID_SINUS) * flip
        sg_r = np.linspace(2.8, 3.5, len(sg)) * radius_scale
        sg_snapped = _snap_to_image(
            anatomy, nce, _snap_outside(sg[1:], sg_r[1:] + 0.5), sg_r[1:] + 0.5
        )
        sg = np.vstack([ts[-1], sg_snapped])
        weight = np.maximum(weight, _tube(anatomy, _jitter(sg, rng, 1.0), sg_r))
        icv = np.asarray(INTERNAL_CEREBRAL_VEIN) * flip
        weight = np.maximum(weight, _tube(anatomy, _jitter(icv, rng, 0.8), 1.2 * radius_scale))
    torcula = _snap_to_image(anatomy, nce, _snap_outside(np.asarray([TORCULA]), [4.0]), [4.0])
    st = np.vstack([np.asarray(STRAIGHT_SINUS)[:-1], torcula])
    weight = np.maximum(weight, _tube(anatomy, _jitter(st, rng, 1.0), 2.5 * radius_scale))
    weight = weight * anatomy.head
    target = intensity * anatomy.intensities.wm
    return _effect(
        "venous_sinuses",
        weight,
        _toward(nce, weight, target),
        intensity=intensity,
        radius_scale=radius_scale,
    )


def cortical_veins(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    n_veins: int = 12,
    intensity: float = 1.1,
    radius_mm: float = 1.0,
) -> Effect:
    """Superficial cortical (bridging) veins draining up to the superior sagittal sinus.

    Each vein starts at a random point of the lateral convexity and runs over the brain's
    surface (template outline, 0-2 mm inside it: the subarachnoid space) to the vertex, with a
    random meander.

    Parameters
    ----------
    n_veins
        Number of veins (both hemispheres).
    intensity
        Post-contrast intensity of the veins, multiple of WM.
    radius_mm
        Vein radius (tapering to 70 % at the start).
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    placed = []
    for _ in range(int(n_veins)):
        side = rng.choice([-1.0, 1.0])
        az0 = np.deg2rad(rng.uniform(-70.0, 70.0))  # around the lateral direction
        el0 = np.deg2rad(rng.uniform(-15.0, 35.0))
        start = np.array(
            [side * np.cos(el0) * np.cos(az0), np.cos(el0) * np.sin(az0), np.sin(el0)]
        )
        end_y = np.sin(az0) * 0.6 + rng.normal(0.0, 0.15)
        end = np.array([side * 0.12, end_y, 1.0])
        end /= np.linalg.norm(end)
        t = np.linspace(0.0, 1.0, 10)
        wiggle = rng.normal(0.0, 0.05, size=(10, 3)) * np.sin(np.pi * t)[:, None]
        dirs = (1 - t)[:, None] * start + t[:, None] * end + wiggle
        depth = rng.uniform(0.0, 2.0)
        path = np.array([_surface_point(d, -depth) for d in dirs])
        radii = radius_mm * np.linspace(0.7, 1.0, len(path))
        weight = np.maximum(weight, _tube(anatomy, path, radii))
        placed.append([round(float(v), 1) for v in path[0]])
    weight = weight * anatomy.head
    target = intensity * anatomy.intensities.wm
    return _effect(
        "cortical_veins",
        weight,
        _toward(nce, weight, target),
        n_veins=int(n_veins),
        starts_mni=placed,
    )


def arteries(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 1.1,
    radius_scale: float = 1.0,
) -> Effect:
    """Internal carotid, middle / anterior / posterior cerebral, vertebral and basilar arteries.

    Parameters
    ----------
    intensity
        Post-contrast intensity of arterial blood (multiple of WM); flow makes it lower and
        more variable than in the sinuses on gradient-echo T1w.
    radius_scale
        Multiplies the radii (ICA 2.2 mm down to distal MCA/ACA branches 0.9 mm).
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    for points, r0, r1 in ARTERIES.values():
        for side in (1.0, -1.0):
            path = np.asarray(points) * [side, 1.0, 1.0]
            radii = np.linspace(r0, r1, len(path)) * radius_scale
            weight = np.maximum(weight, _tube(anatomy, _jitter(path, rng, 1.0), radii))
    basilar = _jitter(np.asarray(BASILAR), rng, 1.0)
    weight = np.maximum(weight, _tube(anatomy, basilar, 1.6 * radius_scale))
    weight = weight * anatomy.head
    target = intensity * anatomy.intensities.wm
    return _effect(
        "arteries",
        weight,
        _toward(nce, weight, target),
        intensity=intensity,
        radius_scale=radius_scale,
    )


# ---------------------------------------------------------------------------------------------
# Brain structures without a blood-brain barrier.


def choroid_plexus(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 1.2,
    glomus_radius_mm: float = 4.5,
) -> Effect:
    """Choroid plexus of the lateral ventricles: a strand along the body's floor and the
    temporal horn, and the glomus in the atrium; confined to the template ventricles.

    Parameters
    ----------
    intensity
        Post-contrast intensity (multiple of WM).
    glomus_radius_mm
        Radius of the glomus (the strand is 1.5 mm).
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    for side in (1.0, -1.0):
        flip = np.array([side, 1.0, 1.0])
        path = _jitter(np.asarray(CHOROID_PATH) * flip, rng, 1.0)
        weight = np.maximum(weight, _tube(anatomy, path, 1.5))
        glomus = np.asarray(GLOMUS) * flip + rng.normal(0.0, 1.0, 3)
        semi = glomus_radius_mm * rng.uniform(0.8, 1.2, 3)
        weight = np.maximum(weight, _ellipsoid(anatomy, glomus, semi))
    weight = weight * anatomy.ventricle_region
    target = intensity * anatomy.intensities.wm
    return _effect(
        "choroid_plexus",
        weight,
        _toward(nce, weight, target),
        intensity=intensity,
        glomus_radius_mm=glomus_radius_mm,
    )


def _plane_distance(mni: np.ndarray, axis: int, value: float) -> np.ndarray:
    return mni[axis] - value


def dura(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 0.95,
    thickness_mm: float = 1.2,
    coverage: float = 0.6,
    falx: bool = True,
    tentorium: bool = True,
    convexity: bool = True,
) -> Effect:
    """Thin enhancement of the dura mater: falx cerebri, tentorium cerebelli, convexity.

    Parameters
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

    Notes
    -----
    Falx: the midline sheet (MNI x = 0) inside the top 28 mm below the brain's outline, above
    the straight-sinus line and away from the corpus callosum (WM prior < 0.3). Tentorium: a
    tent whose ridge is the straight-sinus line and which falls 0.35 mm per mm laterally to
    the transverse sinuses, with an incisura for the midbrain. Convexity: a shell 0.5 mm outside
    the template brain, only where the image shows a head.
    """
    voxel = float(anatomy.voxel_size.mean())
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    a, b = _TENTORIUM_LINE
    shift = rng.normal(0.0, 1.0, 3) * [0.5, 1.5, 1.5]
    if falx:
        box = anatomy.box_around(np.array([[-4, -105, -20], [4, 80, 90]]) + shift, voxel)
        if all(s.stop > s.start for s in box):
            mni = anatomy.mni_coordinates(box) - shift[:, None, None, None].astype(np.float32)
            # Thin and partly hidden by partial volume: drawn at 60 % of a full sheet, only in
            # the fissure (darker than the GM/WM mid-level), not in the white matter.
            w = 0.6 * _sheet_weight(mni[0], thickness_mm, voxel)
            levels = anatomy.intensities
            keep = (anatomy.depth[box] < 28.0) & (anatomy.wm[box] < 0.3) & anatomy.brain[box]
            keep &= nce[box] < 0.5 * (levels.gm + levels.wm)
            floor = np.where(mni[1] < -50.0, a + b * mni[1], -10.0)
            keep &= mni[2] > floor
            weight[box] = np.maximum(weight[box], w * keep)
    if tentorium:
        box = anatomy.box_around(np.array([[-62, -105, -32], [62, -40, 15]]) + shift, voxel)
        if all(s.stop > s.start for s in box):
            mni = anatomy.mni_coordinates(box) - shift[:, None, None, None].astype(np.float32)
            slope = np.clip(0.4 * (mni[1] + 100.0) / 30.0, 0.05, 0.4)
            ridge = np.maximum(a + b * mni[1] - slope * np.abs(mni[0]), -26.0)
            w = 0.6 * _sheet_weight(mni[2] - ridge, thickness_mm, voxel)
            keep = (anatomy.outside[box] < 3.0) & anatomy.head[box]
            keep &= ~((np.abs(mni[0]) < 14.0) & (mni[1] > -58.0))
            keep &= np.abs(mni[0]) < 60.0
            weight[box] = np.maximum(weight[box], w * keep)
    if convexity and anatomy.has_head:
        shell = _sheet_weight(anatomy.outside - 0.5 - 0.5 * thickness_mm, thickness_mm, voxel)
        shell *= anatomy.head & (anatomy.outside > 0)
        patches = _coarse_field(anatomy.shape, rng, 8.0 / voxel)
        shown = patches > float(ndtri(1.0 - coverage))
        weight = np.maximum(weight, shell * shown)
    weight = weight * anatomy.head
    target = intensity * anatomy.intensities.wm
    return _effect(
        "dura",
        weight,
        _toward(nce, weight, target),
        intensity=intensity,
        thickness_mm=thickness_mm,
        coverage=coverage,
    )


def pituitary(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 1.3,
    cavernous_intensity: float = 1.25,
) -> Effect:
    """Pituitary gland and stalk (no blood-brain barrier) and the cavernous sinuses.

    Parameters
    ----------
    intensity
        Post-contrast intensity of the gland and stalk (multiple of WM).
    cavernous_intensity
        Post-contrast intensity of the cavernous sinuses (multiple of WM).
    """
    shift = rng.normal(0.0, 1.0, 3)
    centre, semi = PITUITARY
    gland = _ellipsoid(
        anatomy, np.asarray(centre) + shift, np.asarray(semi) * rng.uniform(0.85, 1.15, 3)
    )
    gland = np.maximum(gland, _tube(anatomy, np.asarray(PITUITARY_STALK) + shift, 1.2))
    cav = np.zeros(anatomy.shape, dtype=np.float32)
    for side in (1.0, -1.0):
        c, s = CAVERNOUS_SINUS
        cav = np.maximum(cav, _ellipsoid(anatomy, np.asarray(c) * [side, 1, 1] + shift, s))
    gland, cav = gland * anatomy.head, cav * anatomy.head
    wm = anatomy.intensities.wm
    delta = np.maximum(
        _toward(nce, gland, intensity * wm), _toward(nce, cav, cavernous_intensity * wm)
    )
    return _effect(
        "pituitary",
        np.maximum(gland, cav),
        delta,
        intensity=intensity,
        cavernous_intensity=cavernous_intensity,
        centre_mni=[round(float(v), 1) for v in np.asarray(centre) + shift],
    )


def extracranial(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    muscle_enhancement: float = 0.15,
    mucosa_enhancement: float = 0.5,
) -> Effect:
    """Enhancement outside the skull: temporalis and neck muscles, nasal mucosa.

    Acts only where the image shows a head: nothing on a skull-stripped image. Voxels are
    picked by position (MNI boxes at least 6 mm outside the brain) and intensity (muscle and
    mucosa are darker than fat and brighter than air or bone).

    Parameters
    ----------
    muscle_enhancement
        Relative signal increase of muscle (0.15 = +15 %).
    mucosa_enhancement
        Relative signal increase of the nasal mucosa.
    """
    weight_m = np.zeros(anatomy.shape, dtype=np.float32)
    weight_n = np.zeros(anatomy.shape, dtype=np.float32)
    if anatomy.has_head:
        wm = anatomy.intensities.wm
        voxel = float(anatomy.voxel_size.max())
        tissue = (nce > 0.3 * wm) & (nce < 0.9 * wm) & anatomy.head
        boxes_m = [
            np.array([[44, -45, -40], [90, 35, 50]]),  # right temporalis
            np.array([[-90, -45, -40], [-44, 35, 50]]),  # left temporalis
            np.array([[-60, -130, -90], [60, -55, -35]]),  # neck extensors
        ]
        for corners in boxes_m:
            box = anatomy.box_around(corners, voxel)
            if all(s.stop > s.start for s in box):
                keep = tissue[box] & (anatomy.outside[box] > 6.0)
                weight_m[box] = np.maximum(weight_m[box], keep)
        box = anatomy.box_around(np.array([[-15, 20, -70], [15, 90, -12]]), voxel)
        if all(s.stop > s.start for s in box):
            keep = (nce[box] > 0.25 * wm) & (nce[box] < 1.0 * wm) & anatomy.head[box]
            keep &= anatomy.outside[box] > 4.0
            weight_n[box] = keep
        # Soft edges and patchy uptake.
        weight_m = ndimage.gaussian_filter(weight_m, 0.5) * (weight_m > 0)
        weight_n = ndimage.gaussian_filter(weight_n, 0.5) * (weight_n > 0)
        patch = 1.0 + 0.25 * _coarse_field(anatomy.shape, rng, 6.0 / voxel)
        weight_m = np.clip(weight_m * patch, 0.0, 1.0) * (weight_m > 0)
        weight_n = np.clip(weight_n * patch, 0.0, 1.0) * (weight_n > 0)
    delta = nce * (weight_m * muscle_enhancement + weight_n * mucosa_enhancement)
    return _effect(
        "extracranial",
        np.maximum(weight_m, weight_n),
        delta,
        muscle_enhancement=muscle_enhancement,
        mucosa_enhancement=mucosa_enhancement,
    )


# ---------------------------------------------------------------------------------------------
# Lesions.


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


def ring_lesion(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    radius_mm: float = 14.0,
    necrosis_fraction: float = 0.55,
    oedema_mm: float = 12.0,
    intensity: float = 1.45,
    centre_mni: tuple[float, float, float] | None = None,
) -> Effect:
    """A ring-enhancing mass (glioblastoma / abscess-like): necrotic core, enhancing rim,
    surrounding vasogenic oedema in the white matter.

    The core (dark, near CSF) and the oedema (mildly dark) are present before contrast too,
    so they go into ``nce_change``; only the rim enhances.

    Parameters
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
    zeros = np.zeros(anatomy.shape, dtype=np.float32)
    if centre_mni is None:
        centre = _lesion_centre(anatomy, rng, radius_mm + 5.0, "tissue")
    else:
        centre = anatomy.mni_to_voxel(np.asarray(centre_mni))[0]
    if centre is None:
        return _effect("ring_lesion", zeros, zeros, zeros, placed=False)
    centre_mni_out = (anatomy.vox2mni[:3, :3] @ centre + anatomy.vox2mni[:3, 3]).tolist()
    reach = radius_mm * 1.5 + oedema_mm + 2.0
    box = anatomy.box_around(np.asarray(centre_mni_out), reach)
    rho = _radial_distance(anatomy, box, centre, rng, 0.12)
    voxel = float(anatomy.voxel_size.mean())

    def inside(r: float) -> np.ndarray:
        return np.clip((r - rho) / voxel + 0.5, 0.0, 1.0)

    lesion, core = inside(radius_mm), inside(radius_mm * necrosis_fraction)
    rim = np.clip(lesion - core, 0.0, 1.0)
    oedema = np.clip(inside(radius_mm + oedema_mm) - lesion, 0.0, 1.0)
    oedema *= np.clip(anatomy.wm[box] * 1.3, 0.0, 1.0)
    brain = anatomy.brain[box]
    core, rim, oedema = core * brain, rim * brain, oedema * brain
    levels = anatomy.intensities
    local = nce[box]
    change = core * (1.3 * levels.csf - local)
    change += rim * (0.85 * levels.gm - local)
    change += oedema * np.minimum(0.5 * (levels.gm + levels.wm) - local, 0.0)
    lesioned = local + change
    hetero = 1.0 + 0.1 * rng.standard_normal(rim.shape).astype(np.float32)
    delta = _toward(lesioned, rim, intensity * levels.wm * hetero)
    weight, enh, nce_change = zeros.copy(), zeros.copy(), zeros.copy()
    weight[box], enh[box], nce_change[box] = rim, delta, change
    effect = _effect(
        "ring_lesion",
        weight,
        enh,
        nce_change,
        placed=True,
        centre_mni=[round(float(v), 1) for v in centre_mni_out],
        radius_mm=radius_mm,
        necrosis_fraction=necrosis_fraction,
        oedema_mm=oedema_mm,
        intensity=intensity,
    )
    # The lesion's footprint on the nce image (core, rim, oedema) is also recorded.
    effect.details["lesion_mask_voxels"] = int(((core + rim + oedema) > 0).sum())
    return effect


def nodular_lesions(
    anatomy: Anatomy,
    nce: np.ndarray,
    rng: np.random.Generator,
    *,
    n_lesions: int = 4,
    radius_mm: tuple[float, float] = (1.5, 5.0),
    intensity: float = 1.35,
) -> Effect:
    """Small solid enhancing nodules (metastasis-like) at the grey / white matter junction.

    Parameters
    ----------
    n_lesions
        Number of nodules.
    radius_mm
        Range of their radii (uniform).
    intensity
        Post-contrast intensity (multiple of WM). Before contrast they are slightly darker than
        GM (``nce_change``).
    """
    weight = np.zeros(anatomy.shape, dtype=np.float32)
    centres = []
    for _ in range(int(n_lesions)):
        r = float(rng.uniform(*radius_mm))
        centre = _lesion_centre(anatomy, rng, r + 2.0, "junction")
        if centre is None:
            continue
        mni = anatomy.vox2mni[:3, :3] @ centre + anatomy.vox2mni[:3, 3]
        weight = np.maximum(weight, _ellipsoid(anatomy, mni, (r, r, r)))
        centres.append({"centre_mni": [round(float(v), 1) for v in mni], "radius_mm": round(r, 2)})
    weight = weight * anatomy.brain
    levels = anatomy.intensities
    nce_change = weight * (0.9 * levels.gm - nce)
    lesioned = nce + nce_change
    return _effect(
        "nodular_lesions",
        weight,
        _toward(lesioned, weight, intensity * levels.wm),
        nce_change.astype(np.float32),
        lesions=centres,
        intensity=intensity,
    )


# ---------------------------------------------------------------------------------------------
# Acquisition differences between the pre- and the post-contrast series.


def contrast_change(
    data: np.ndarray, anatomy: Anatomy, *, gm_wm_factor: float = 1.0, csf_factor: float = 1.0
) -> np.ndarray:
    """Change the grey/white and CSF/grey contrast with a monotone piecewise-linear map.

    WM keeps its intensity; GM moves to ``WM - gm_wm_factor * (WM - GM)``; CSF to
    ``GM' - csf_factor * (GM - CSF)``. Factors < 1 flatten the contrast, as on many
    post-contrast gradient-echo series.
    """
    lv = anatomy.intensities
    gm = lv.wm - gm_wm_factor * (lv.wm - lv.gm)
    csf = max(gm - csf_factor * (lv.gm - lv.csf), 0.05 * lv.wm)
    top = max(float(data.max()), 2.0 * lv.wm)
    xs = np.array([min(0.0, float(data.min())), 0.0, lv.csf, lv.gm, lv.wm, top])
    ys = np.array([xs[0], 0.0, csf, gm, lv.wm, top])
    return np.interp(data, xs, ys).astype(np.float32)


def lower_resolution(
    data: np.ndarray, voxel_size: np.ndarray, *, axis: int = 2, thickness_mm: float = 4.0
) -> np.ndarray:
    """Thick-slice acquisition along ``axis``: average slabs of ``thickness_mm``, keep one
    sample per slab, interpolate back linearly."""
    step = max(1, int(round(thickness_mm / float(voxel_size[axis]))))
    if step == 1:
        return data.astype(np.float32, copy=True)
    slab = ndimage.uniform_filter1d(data.astype(np.float32), step, axis=axis, mode="nearest")
    n = data.shape[axis]
    samples = np.arange(0, n, step)
    if samples[-1] != n - 1:
        samples = np.append(samples, n - 1)
    coarse = np.take(slab, samples, axis=axis)
    position = np.interp(np.arange(n), samples, np.arange(len(samples)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(samples) - 1)
    frac = (position - lo).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = n
    frac = frac.reshape(shape)
    return np.take(coarse, lo, axis=axis) * (1 - frac) + np.take(coarse, hi, axis=axis) * frac


def blur(data: np.ndarray, voxel_size: np.ndarray, *, fwhm_mm: float = 1.0) -> np.ndarray:
    """Isotropic Gaussian blur of ``fwhm_mm``."""
    if fwhm_mm <= 0:
        return data.astype(np.float32, copy=True)
    sigma = fwhm_mm / 2.3548 / np.asarray(voxel_size, dtype=float)
    return ndimage.gaussian_filter(data.astype(np.float32), sigma, mode="nearest")


def bias_field(
    shape: tuple[int, int, int], rng: np.random.Generator, *, amplitude: float = 0.05
) -> np.ndarray:
    """Smooth multiplicative field ``exp(amplitude * f)``, f a random Legendre polynomial of
    degree <= 3 scaled to max |f| = 1."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    legendre = [np.polynomial.legendre.legvander(a, 3).astype(np.float32) for a in axes]
    field_ = np.zeros(shape, dtype=np.float32)
    for i in range(4):
        for j in range(4 - i):
            for k in range(4 - i - j):
                if i + j + k == 0:
                    continue
                c = rng.normal(0.0, 1.0 / (i + j + k))
                field_ += c * (
                    legendre[0][:, i, None, None]
                    * legendre[1][None, :, j, None]
                    * legendre[2][None, None, :, k]
                )
    field_ /= max(float(np.abs(field_).max()), 1e-6)
    return np.exp(amplitude * field_).astype(np.float32)


def ghosting(data: np.ndarray, *, axis: int = 1, amplitude: float = 0.03) -> np.ndarray:
    """Motion / N/2 ghosts: faint copies shifted by half and a quarter of the field of view
    along the phase-encoding ``axis``."""
    n = data.shape[axis]
    data = data.astype(np.float32)
    ghost = amplitude * np.roll(data, n // 2, axis=axis)
    ghost += 0.5 * amplitude * np.roll(data, n // 4, axis=axis)
    return data + ghost


def rician_noise(data: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """Rician noise of parameter ``sigma`` (magnitude of a complex Gaussian signal)."""
    if sigma <= 0:
        return data.astype(np.float32, copy=True)
    real = data + rng.normal(0.0, sigma, data.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, data.shape).astype(np.float32)
    return np.sqrt(real**2 + imag**2).astype(np.float32)
