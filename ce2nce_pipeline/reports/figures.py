"""The report's figures: nireports reportlets (flickers, contours) and an overlay, as SVG.

Every figure is three rows (axial, coronal, sagittal) of cuts through the brain mask's bounding
box. nireports embeds each cut as a raster; to keep a subject's report small, the rasters are
drawn at :data:`FIGURE_DPI` and re-encoded as JPEG (opaque ones) or palette PNG (transparent
ones), and the contour coordinates are rounded to whole pixels (:func:`compact_svg`). Each file is
written atomically.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..io import atomic_write_text

#: Resolution of the rasters inside the SVG figures (nireports' own default is 300).
FIGURE_DPI = 90
#: JPEG quality of the opaque rasters.
JPEG_QUALITY = 75
#: Cuts per view.
CUTS = 5
_RASTER = re.compile(r'data:image/png;base64,([A-Za-z0-9+/=\s]+)"')
_PATH_TOKEN = re.compile(r"([ML])\s*(-?[\d.]+)\s+(-?[\d.]+)|([zZ])")
#: Paths made only of moves, lines and closes (contours); curves (glyphs) are left as they are.
_POLYLINE = re.compile(r"^[MLzZ\d\s.,-]*$")


@contextlib.contextmanager
def _figure_resolution(dpi: int) -> Iterator[None]:
    """nireports' mosaics rasterise at ``dpi`` within the block."""
    from nireports.reportlets import mosaic, utils

    original = mosaic.extract_svg
    mosaic.extract_svg = functools.partial(utils.extract_svg, dpi=dpi)
    try:
        yield
    finally:
        mosaic.extract_svg = original


def _reencode(match: re.Match) -> str:
    from PIL import Image

    raw = base64.b64decode(match.group(1))
    image = Image.open(io.BytesIO(raw))
    image.load()
    buffer = io.BytesIO()
    rgba = image.convert("RGBA")
    if rgba.getchannel("A").getextrema() == (255, 255):
        rgba.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
        kind = "jpeg"
    else:
        rgba.quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(
            buffer, format="PNG", optimize=True
        )
        kind = "png"
    if buffer.tell() >= len(raw):
        return match.group(0)
    return f'data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode()}"'


def _simplify_path(match: re.Match) -> str:
    """A polyline's vertices rounded to whole pixels, repeated vertices dropped."""
    if not _POLYLINE.match(match.group(1)):
        return match.group(0)
    parts, previous = [], None
    for command, x, y, close in _PATH_TOKEN.findall(match.group(1)):
        if close:
            parts.append("z")
            previous = None
            continue
        point = (round(float(x)), round(float(y)))
        if command == "L" and point == previous:
            continue
        parts.append(f"{command}{point[0]} {point[1]}")
        previous = point
    return f' d="{" ".join(parts)}"'


def compact_svg(text: str) -> str:
    """Re-encode the rasters of an SVG (JPEG or palette PNG) and round path coordinates."""
    text = _RASTER.sub(_reencode, text)
    return re.sub(r' d="([^"]*)"', _simplify_path, text)


def _as_image(image: nib.spatialimages.SpatialImage | np.ndarray, like=None) -> nib.Nifti1Image:
    if isinstance(image, np.ndarray):
        return nib.Nifti1Image(image.astype(np.float32), like.affine)
    data = np.asanyarray(image.dataobj, dtype=np.float32)
    return nib.Nifti1Image(data, image.affine)


def _save(svgs_background: Sequence, svgs_foreground: Sequence, out: Path) -> Path:
    from nireports.reportlets.utils import compose_view

    out = Path(out)
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(
            compose_view(
                list(svgs_background), list(svgs_foreground), out_file=Path(folder) / "f.svg"
            )
        )
        text = raw.read_text(encoding="utf-8")
    atomic_write_text(compact_svg(text), out)
    return out


def _cuts(bbox: nib.spatialimages.SpatialImage) -> dict[str, list[float]]:
    from nireports.reportlets.utils import cuts_from_bbox

    return cuts_from_bbox(bbox, cuts=CUTS)


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

    ``contour`` (e.g. the template brain's outline) is drawn in red on the background.
    """
    from nireports.reportlets.mosaic import plot_registration

    cuts = _cuts(bbox)
    with _figure_resolution(FIGURE_DPI):
        back = plot_registration(
            _as_image(background), "bg", cuts=cuts, estimate_brightness=True,
            label=labels[0], contour=contour, dismiss_affine=True,
        )  # fmt: skip
        front = plot_registration(
            _as_image(foreground), "fg", cuts=cuts, estimate_brightness=True,
            label=labels[1], contour=contour, dismiss_affine=True,
        )  # fmt: skip
    return _save(back, front, out)


def contour_figure(
    image: nib.spatialimages.SpatialImage,
    masks: Sequence[nib.spatialimages.SpatialImage],
    colors: Sequence[str],
    bbox: nib.spatialimages.SpatialImage,
    out: Path,
) -> Path:
    """An image with the outline of each mask, one colour per mask."""
    from nireports.reportlets.mosaic import plot_segs

    # Outlines of slightly smoothed masks: no one-voxel islands, fewer vertices to store.
    smooth = [
        _as_image(ndimage.gaussian_filter(np.asanyarray(m.dataobj, np.float32), 1.5), like=m)
        for m in masks
    ]
    with _figure_resolution(FIGURE_DPI):
        rows = plot_segs(_as_image(image), smooth, bbox_nii=bbox, colors=list(colors))
    return _save(rows, [], out)


def overlay_figure(
    image: nib.spatialimages.SpatialImage,
    overlay: np.ndarray,
    bbox: nib.spatialimages.SpatialImage,
    out: Path,
    *,
    label: str,
) -> Path:
    """A positive map (e.g. the enhancement removed) in colour over an image."""
    from nilearn.plotting import plot_stat_map
    from nireports._vendored.svgutils.transform import fromstring
    from nireports.reportlets.utils import extract_svg

    cuts = _cuts(bbox)
    background = _as_image(image)
    stat = _as_image(np.clip(overlay, 0, None), like=background)
    top = float(np.percentile(overlay[overlay > 0], 99)) if np.any(overlay > 0) else 1.0
    rows = []
    for index, mode in enumerate(("z", "x", "y")):
        display = plot_stat_map(
            stat, bg_img=background, display_mode=mode, cut_coords=cuts[mode],
            cmap="hot", threshold=top * 0.05, vmax=top, colorbar=index == 0,
            title=label if index == 0 else None, black_bg=True,
        )  # fmt: skip
        svg = extract_svg(display, dpi=FIGURE_DPI)
        display.close()
        rows.append(fromstring(svg.replace("figure_1", f"overlay-{mode}", 1)))
    return _save(rows, [], out)
