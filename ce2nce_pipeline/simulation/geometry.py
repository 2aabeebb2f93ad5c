"""Geometry on the image grid: partial-volume weights of tubes, ellipsoids and sheets, smooth
random fields, per-subject jitter, and points on the template brain's surface.

Weights are float32 maps in [0, 1] (the fraction of each voxel a structure covers, roughly) on
the anatomy's grid; positions are MNI152 mm (:mod:`.landmarks`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from .anatomy import Anatomy, _template
from .landmarks import SSS_ANGLES, SSS_CENTRE


def densify(points: np.ndarray, radii: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step`` mm along a polyline, with linearly interpolated radii."""
    out_p, out_r = [points[:1]], [radii[:1]]
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        t = np.arange(1, n + 1, dtype=float)[:, None] / n
        out_p.append(a + t * (b - a))
        out_r.append(ra + t[:, 0] * (rb - ra))
    return np.concatenate(out_p), np.concatenate(out_r)


def tube(anatomy: Anatomy, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Partial-volume weight (0-1) of a tube of varying radius along MNI ``points``."""
    points = np.asarray(points, dtype=float)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(points),))
    voxel = anatomy.voxel_size
    dense, dense_r = densify(points, radii, 0.5 * float(voxel.min()))
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


def ellipsoid(anatomy: Anatomy, centre, semi_axes) -> np.ndarray:
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


def sheet_weight(distance: np.ndarray, thickness: float, voxel: float) -> np.ndarray:
    """Partial-volume weight of a sheet of ``thickness`` mm at signed ``distance`` mm."""
    cover = min(1.0, thickness / voxel)
    return np.clip((0.5 * thickness + 0.5 * voxel - np.abs(distance)) / voxel, 0.0, cover)


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Zero-mean unit-sd smooth random field (sigma in voxels), float32."""
    noise = rng.standard_normal(shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    return (smooth - smooth.mean()) / max(float(smooth.std()), 1e-6)


def coarse_field(
    shape: tuple[int, int, int], rng: np.random.Generator, scale_vox: float
) -> np.ndarray:
    """Smooth zero-mean unit-sd random field with features of ~``scale_vox`` voxels, made on
    a coarse grid and interpolated (cheap on 1 mm images)."""
    factor = max(1, int(scale_vox // 2))
    coarse_shape = tuple(max(3, -(-n // factor)) for n in shape)
    coarse = smooth_field(coarse_shape, rng, 1.0)
    zoom = [n / c for n, c in zip(shape, coarse_shape, strict=True)]
    fine = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")
    fine = fine[: shape[0], : shape[1], : shape[2]]
    return (fine - fine.mean()) / max(float(fine.std()), 1e-6)


def jitter(points: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Per-subject variation of a landmark path: a smooth offset plus small per-point noise."""
    offset = rng.normal(0.0, sd, size=3)
    return points + offset + rng.normal(0.0, 0.4 * sd, size=points.shape)


@lru_cache(maxsize=1)
def midline_outline() -> tuple[np.ndarray, np.ndarray]:
    """Outer outline of the template brain in the midline plane, as MNI points and angles."""
    template = _template()
    affine = template.affine
    i0 = int(round(-affine[0, 3] / affine[0, 0]))
    plane = template.brain[i0 - 3 : i0 + 4].any(axis=0)  # (y, z), closes the fissure
    angles = np.deg2rad(np.arange(SSS_ANGLES[0], SSS_ANGLES[1] + 0.1, 4.0))
    cy, cz = SSS_CENTRE
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
def template_surface_radius() -> tuple[np.ndarray, np.ndarray]:
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


def _horizontal_ray(point: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The horizontal ray from MNI (0, -40) at ``point``'s height through ``point``.

    Returns its origin, unit direction and the point's distance along it; ``None`` for a point
    on the origin's vertical line (no direction).
    """
    centre = np.array([0.0, -40.0, point[2]])
    direction = point - centre
    direction[2] = 0.0
    norm = float(np.linalg.norm(direction))
    if norm < 1e-6:
        return None
    return centre, direction / norm, norm


def snap_outside(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each point horizontally (from MNI (0, -40) at its height) to ``offset`` mm outside
    the template brain: puts the transverse and sigmoid sinuses in their bony grooves."""
    template = _template()
    brain = template.brain.astype(np.float32)
    steps = np.arange(0.0, 120.0, 0.5)
    out = []
    for p, offset in zip(np.asarray(points, float), offsets, strict=True):
        ray = _horizontal_ray(p)
        if ray is None:
            out.append(p)
            continue
        centre, d, norm = ray
        samples = centre + steps[:, None] * d
        vox = (samples - template.affine[:3, 3]) / np.diag(template.affine)[:3]
        inside = ndimage.map_coordinates(brain, vox.T, order=0, cval=0.0) > 0
        last = steps[np.flatnonzero(inside)[-1]] if inside.any() else norm
        out.append(centre + d * (last + offset))
    return np.asarray(out)


def snap_to_image(
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
        ray = _horizontal_ray(p)
        if ray is None:
            out.append(p)
            continue
        centre, d, norm = ray
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


def surface_point(direction: np.ndarray, offset: float) -> np.ndarray:
    """Point on the template brain surface along ``direction`` from the fan centre."""
    radius, centre = template_surface_radius()
    d = direction / np.linalg.norm(direction)
    az = np.rad2deg(np.arctan2(d[1], d[0])) % 360.0
    el = np.rad2deg(np.arcsin(np.clip(d[2], -1, 1)))
    ia = int(round(az / 5.0)) % radius.shape[0]
    ie = int(np.clip(round((el + 30.0) / 5.0), 0, radius.shape[1] - 1))
    return centre + d * (radius[ia, ie] + offset)
