"""The report's figures: flickers, contours and an overlay, as small self-contained SVGs.

Every figure is three rows (axial, coronal, sagittal) of :data:`CUTS` cuts through the brain
mask's bounding box, cropped to that box plus :data:`MARGIN_MM`. The cuts are taken straight
from the arrays (reoriented to RAS once; neurological view: the subject's left on the left,
anterior up or to the right), so nothing is resampled. Each layer is one JPEG of all the cuts
at one pixel per voxel; outlines are SVG paths found on each 2D cut (marching squares on the
lightly smoothed mask cut) and simplified to a fraction of a voxel. A flicker holds two layers,
the upper one fading in and out while the mouse is over it. Each file is written atomically.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..io import atomic_write_text

#: Cuts per view.
CUTS = 5
#: Head around the brain mask's bounding box that the cuts keep (mm).
MARGIN_MM = 10.0
#: JPEG quality of the layers.
JPEG_QUALITY = 80
#: Gap between cuts and between rows (pixels of the layer).
GAP = 2
#: Smoothing of a mask's cut before its outline is found (voxels): no one-voxel islands.
CONTOUR_SIGMA = 1.0
#: Every how many marching-squares vertices an outline keeps (a vertex per voxel edge is more
#: than a reader sees at one pixel per voxel).
CONTOUR_STEP = 2
#: Outlines with fewer vertices than this (specks of a mask) are not drawn.
CONTOUR_MIN_VERTICES = 8
#: A plane is in the span of the cuts when it holds this fraction of the largest plane's mask.
BROAD_PLANE = 0.4
#: Intensity window of a layer: these percentiles of the voxels in the cropped box.
WINDOW_PERCENTILES = (0.5, 99.5)
_VIEWS = ("z", "y", "x")  # axial, coronal, sagittal
_FLICKER_STYLE = (
    "@keyframes flicker { 0% {opacity: 1;} 100% {opacity: 0;} }\n"
    ".foreground-svg { animation: 1s ease-in-out 0s alternate none infinite paused flicker; }\n"
    ".foreground-svg:hover { animation-play-state: running; }\n"
)


def _canonical(image: nib.spatialimages.SpatialImage) -> nib.Nifti1Image:
    """``image`` in RAS+ voxel order, float32 (no resampling: axes flipped and swapped)."""
    data = np.asanyarray(image.dataobj, dtype=np.float32)
    return nib.as_closest_canonical(nib.Nifti1Image(data, image.affine))


@dataclass(frozen=True)
class Frame:
    """Where the cuts are: the cropped box and the cut indices, in RAS voxel order.

    Built once per figure from the bounding-box mask; every layer of the figure is cut through
    it, so a flicker's layers and a contour figure's outlines line up to the voxel.
    """

    box: tuple[slice, slice, slice]
    cuts: dict[str, list[int]]
    zooms: tuple[float, float, float]
    affine: NDArray[np.float64]

    @classmethod
    def of(cls, bbox: nib.spatialimages.SpatialImage) -> Frame:
        canonical = _canonical(bbox)
        inside = np.asanyarray(canonical.dataobj) > 0
        if not inside.any():
            inside = np.ones(inside.shape, dtype=bool)
        zooms = tuple(float(z) for z in canonical.header.get_zooms()[:3])
        box, cuts = [], {}
        for axis, view in enumerate(("x", "y", "z")):
            area = inside.sum(axis=tuple(a for a in range(3) if a != axis))
            found = np.flatnonzero(area)
            margin = int(round(MARGIN_MM / zooms[axis]))
            box.append(slice(max(int(found[0]) - margin, 0),
                             min(int(found[-1]) + margin + 1, inside.shape[axis])))  # fmt: skip
            # Cuts span the planes with a good part of the brain (not its tips), evenly.
            large = np.flatnonzero(area >= BROAD_PLANE * area.max())
            positions = np.linspace(large[0], large[-1], CUTS + 2)[1:-1]
            cuts[view] = [int(round(p)) - box[axis].start for p in positions]
        return cls(tuple(box), cuts, zooms, canonical.affine)

    def crop(self, image: nib.spatialimages.SpatialImage) -> NDArray[np.float32]:
        """The box of ``image``, an image on the grid of the frame's bounding-box mask."""
        return np.asanyarray(_canonical(image).dataobj)[self.box]

    def cut(self, volume: NDArray, view: str, index: int) -> NDArray:
        """One cut, rows top to bottom (superior or anterior up), columns left to right."""
        plane = {"x": volume[index, :, :], "y": volume[:, index, :], "z": volume[:, :, index]}
        return plane[view].T[::-1]

    def cut_scale(self, view: str) -> tuple[float, float]:
        """mm per pixel of a cut of ``view``: (horizontal, vertical)."""
        horizontal, vertical = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}[view]
        return self.zooms[horizontal], self.zooms[vertical]

    def world(self, view: str, index: int) -> float:
        """The cut's coordinate (mm) along its axis."""
        axis = "xyz".index(view)
        voxel = np.zeros(4)
        voxel[axis] = index + self.box[axis].start
        voxel[3] = 1.0
        return float((self.affine @ voxel)[axis])


@dataclass(frozen=True)
class Layout:
    """Where each cut lies on a layer: offsets and sizes in layer pixels (1 mm per pixel)."""

    frame: Frame
    places: dict[tuple[str, int], tuple[int, int, int, int]]  # (view, i) -> x, y, width, height
    width: int
    height: int

    @classmethod
    def of(cls, frame: Frame) -> Layout:
        sizes = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}
        cut_sizes = {}
        for view in _VIEWS:
            horizontal, vertical = sizes[view]
            sx, sy = frame.cut_scale(view)
            cut_sizes[view] = (max(int(round(_length(frame.box[horizontal]) * sx)), 1),
                               max(int(round(_length(frame.box[vertical]) * sy)), 1))  # fmt: skip
        width = max(CUTS * (w + GAP) - GAP for w, _ in cut_sizes.values())
        places, top = {}, 0
        for view in _VIEWS:  # rows centred, one under the other
            w, h = cut_sizes[view]
            left = (width - (CUTS * (w + GAP) - GAP)) // 2
            for i in range(CUTS):
                places[(view, i)] = (left + i * (w + GAP), top, w, h)
            top += h + GAP
        return cls(frame, places, width, top - GAP)

    def paint(self, volume: NDArray, window: tuple[float, float] | None = None) -> NDArray:
        """The layer of a cropped volume: every cut, scaled to 0–255 in ``window``."""
        from PIL import Image

        low, high = window or _window(volume)
        canvas = np.zeros((self.height, self.width), dtype=np.uint8)
        for (view, i), (x, y, w, h) in self.places.items():
            cut = self.frame.cut(volume, view, self.frame.cuts[view][i])
            scaled = np.clip((cut - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)
            if scaled.shape != (h, w):
                scaled = np.asarray(Image.fromarray(scaled).resize((w, h), Image.BILINEAR))
            canvas[y : y + h, x : x + w] = scaled
        return canvas

    def outlines(self, mask: NDArray) -> str:
        """SVG path data of a cropped mask's outline on every cut."""
        from skimage.measure import find_contours

        parts = []
        for (view, i), (x, y, w, h) in self.places.items():
            cut = self.frame.cut(mask.astype(np.float32), view, self.frame.cuts[view][i])
            if not cut.any():
                continue
            smooth = ndimage.gaussian_filter(cut, CONTOUR_SIGMA, mode="constant")
            sx, sy = w / cut.shape[1], h / cut.shape[0]
            for line in find_contours(smooth, 0.5):
                if len(line) < CONTOUR_MIN_VERTICES:
                    continue
                kept = np.vstack([line[::CONTOUR_STEP], line[-1:]])
                xs, ys = x + (kept[:, 1] + 0.5) * sx, y + (kept[:, 0] + 0.5) * sy
                points = [
                    f"{a:.1f} {b:.1f}" for a, b in zip(xs.tolist(), ys.tolist(), strict=True)
                ]
                parts.append("M" + " L".join(points))
        return " ".join(parts)

    def labels(self) -> str:
        """Each cut's coordinate, nilearn-style (``z=12``), and L/R on axial and coronal cuts."""
        texts = []
        for (view, i), (x, y, w, h) in self.places.items():
            value = self.frame.world(view, self.frame.cuts[view][i])
            texts.append(f'<text x="{x + 2}" y="{y + h - 3}">{view}={value:.0f}</text>')
            if view != "x":
                texts.append(f'<text x="{x + 2}" y="{y + 24}">L</text>'
                             f'<text x="{x + w - 8}" y="{y + 24}">R</text>')  # fmt: skip
        return '<g fill="white" font-size="9" font-family="sans-serif">' + "".join(texts) + "</g>"


def _length(box: slice) -> int:
    return box.stop - box.start


def _window(volume: NDArray) -> tuple[float, float]:
    """Robust intensity range of a cropped volume (every other voxel is enough)."""
    sample = volume[::2, ::2, ::2]
    sample = sample[np.isfinite(sample) & (sample != 0)]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(sample, WINDOW_PERCENTILES)
    return float(low), float(high if high > low else low + 1.0)


def _jpeg(pixels: NDArray[np.uint8]) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _layer(layout: Layout, pixels: NDArray, label: str, paths: Sequence[tuple[str, str]]) -> str:
    """One opaque layer: the raster, the outlines (path data, colour), the label and cuts."""
    body = [f'<image x="0" y="0" width="{layout.width}" height="{layout.height}" '
            f'preserveAspectRatio="none" xlink:href="{_jpeg(pixels)}"/>']  # fmt: skip
    for data, colour in paths:
        if data:
            body.append(f'<path d="{data}" fill="none" stroke="{colour}" stroke-width="1"/>')
    body.append(layout.labels())
    if label:
        body.append(f'<rect x="0" y="0" width="{7 * len(label) + 8}" height="15" fill="white"/>'
                    f'<text x="4" y="11" fill="black" font-size="11" '
                    f'font-family="sans-serif">{escape(label)}</text>')  # fmt: skip
    return "".join(body)


def _write(layout: Layout, content: str, out: Path, extra_width: int = 0) -> Path:
    width, height = layout.width + extra_width, layout.height
    # The root tag on a line of its own: the report drops width/height attributes on that line.
    text = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'version="1.1" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">\n'
        f'<rect width="{width}" height="{height}" fill="black"/>{content}</svg>\n'
    )
    out = Path(out)
    atomic_write_text(text, out)
    return out


def flicker_figure(
    background: nib.spatialimages.SpatialImage,
    foreground: nib.spatialimages.SpatialImage,
    bbox: nib.spatialimages.SpatialImage,
    out: Path,
    *,
    labels: tuple[str, str],
    contour: nib.spatialimages.SpatialImage | None = None,
) -> Path:
    """Two images in one SVG that flickers between them when the mouse is over it.

    ``contour`` (e.g. the template brain's outline) is drawn in red on both layers.
    """
    layout = Layout.of(Frame.of(bbox))
    paths = [(layout.outlines(layout.frame.crop(contour) > 0), "#ff0000")] if contour else []
    back = _layer(layout, layout.paint(layout.frame.crop(background)), labels[0], paths)
    front = _layer(layout, layout.paint(layout.frame.crop(foreground)), labels[1], paths)
    return _write(layout, f'<style type="text/css">{_FLICKER_STYLE}</style>'
                  f'<g class="background-svg">{back}</g>'
                  f'<g class="foreground-svg">{front}</g>', out)  # fmt: skip


def contour_figure(
    image: nib.spatialimages.SpatialImage,
    masks: Sequence[nib.spatialimages.SpatialImage],
    colors: Sequence[str],
    bbox: nib.spatialimages.SpatialImage,
    out: Path,
) -> Path:
    """An image with the outline of each mask, one colour per mask."""
    layout = Layout.of(Frame.of(bbox))
    paths = [
        (layout.outlines(layout.frame.crop(m) > 0), c) for m, c in zip(masks, colors, strict=False)
    ]
    return _write(layout, _layer(layout, layout.paint(layout.frame.crop(image)), "", paths), out)


def _hot(fraction: NDArray) -> NDArray[np.uint8]:
    """matplotlib's "hot" colour map (black, red, yellow, white) of values in [0, 1]."""
    red = np.clip(fraction / 0.365, 0, 1)
    green = np.clip((fraction - 0.365) / 0.381, 0, 1)
    blue = np.clip((fraction - 0.746) / 0.254, 0, 1)
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def overlay_figure(
    image: nib.spatialimages.SpatialImage,
    overlay: np.ndarray,
    bbox: nib.spatialimages.SpatialImage,
    out: Path,
    *,
    label: str,
) -> Path:
    """A positive map (e.g. the enhancement removed) in colour over an image.

    The map is shown where above 5% of its 99th percentile, "hot" from 0 to that percentile
    (the colour bar on the right).
    """
    layout = Layout.of(Frame.of(bbox))
    values = np.clip(overlay, 0, None).astype(np.float32)
    positive = values[values > 0]
    top = float(np.percentile(positive, 99)) if positive.size else 1.0
    gray = layout.paint(layout.frame.crop(image))
    stat = layout.paint(layout.frame.crop(nib.Nifti1Image(values, image.affine)), (0.0, top))
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    shown = stat > 255 * 0.05
    rgb[shown] = _hot(stat[shown] / 255.0 * 0.75 + 0.25)
    bar_height = max(layout.height - 40, 10)
    ramp = _hot(np.linspace(1, 0.25, bar_height))[:, None, :].repeat(8, axis=1)
    x = layout.width + 8
    bar = (f'<image x="{x}" y="20" width="8" height="{bar_height}" preserveAspectRatio="none" '
           f'xlink:href="{_jpeg(np.ascontiguousarray(ramp))}"/>'
           f'<g fill="white" font-size="8" font-family="sans-serif">'
           f'<text x="{x - 2}" y="16">{top:.3g}</text>'
           f'<text x="{x - 2}" y="{bar_height + 30}">{top * 0.05:.2g}</text></g>')  # fmt: skip
    return _write(layout, _layer(layout, rgb, label, []) + bar, out, extra_width=40)
