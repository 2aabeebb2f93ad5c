"""The report's figures on small real volumes: cuts in the right place and orientation, outlines
on the mask's edge, the overlay in colour only where the map is."""

from __future__ import annotations

import base64
import io
import re

import nibabel as nib
import numpy as np
from PIL import Image

from ce2nce_pipeline.reports.figures import (
    Frame,
    Layout,
    contour_figure,
    flicker_figure,
    overlay_figure,
)

SHAPE = (50, 60, 40)
CENTRE = np.array([25, 30, 20])
RADIUS = 12
RAS = np.array([[1, 0, 0, -25], [0, 1, 0, -30], [0, 0, 1, -20], [0, 0, 0, 1]], float)


def _ball() -> np.ndarray:
    grid = np.indices(SHAPE).transpose(1, 2, 3, 0)
    return (np.linalg.norm(grid - CENTRE, axis=-1) <= RADIUS).astype(np.uint8)


def _head() -> np.ndarray:
    """A dim ball with a bright cube in its right, anterior, superior part."""
    data = _ball().astype(np.float32) * 50
    data[28:34, 33:39, 17:26] = 200
    return data


def _layers(svg: str) -> list[np.ndarray]:
    found = re.findall(r'data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', svg)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in found]


def _middle_axial(pixels: np.ndarray, layout: Layout) -> np.ndarray:
    x, y, w, h = layout.places[("z", 2)]
    return pixels[y : y + h, x : x + w].mean(axis=-1)


def test_flicker_layers_show_each_image_the_same_way_whatever_its_voxel_order(tmp_path):
    head, mask = _head(), _ball()
    ras = nib.Nifti1Image(head, RAS)
    # The same head stored left-to-right (LAS): flipped voxels, flipped affine.
    las_affine = RAS @ np.array([[-1, 0, 0, SHAPE[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0],
                                 [0, 0, 0, 1]], float)  # fmt: skip
    las = nib.Nifti1Image(head[::-1].copy(), las_affine)
    out = flicker_figure(ras, las, nib.Nifti1Image(mask, RAS), tmp_path / "f.svg",
                         labels=("RAS", "LAS"), contour=nib.Nifti1Image(mask, RAS))  # fmt: skip
    svg = out.read_text()
    assert svg.count('class="background-svg"') == 1 and svg.count('class="foreground-svg"') == 1
    assert ">RAS</text>" in svg and ">LAS</text>" in svg
    layout = Layout.of(Frame.of(nib.Nifti1Image(mask, RAS)))
    back, front = _layers(svg)
    assert back.shape[:2] == (layout.height, layout.width)
    for pixels in (back, front):
        cut = _middle_axial(pixels, layout)
        bright = np.argwhere(cut > 200)
        # The cube is on the subject's right (right half) and anterior (upper half).
        assert len(bright) > 10
        assert bright[:, 1].min() > cut.shape[1] / 2 and bright[:, 0].max() < cut.shape[0] / 2
    assert np.abs(_middle_axial(back, layout) - _middle_axial(front, layout)).mean() < 3
    # The template outline is drawn on both layers.
    assert svg.count('stroke="#ff0000"') == 2


def test_outlines_follow_the_mask_edge_on_each_cut(tmp_path):
    mask = nib.Nifti1Image(_ball(), RAS)
    out = contour_figure(nib.Nifti1Image(_head(), RAS), [mask], ["#e41a1c"], mask,
                         tmp_path / "c.svg")  # fmt: skip
    data = re.search(r'<path d="([^"]+)" fill="none" stroke="#e41a1c"', out.read_text()).group(1)
    vertices = np.array(re.findall(r"(-?[\d.]+) (-?[\d.]+)", data), float)
    frame = Frame.of(mask)
    layout = Layout.of(frame)
    x, y, w, h = layout.places[("z", 2)]
    plane = frame.cuts["z"][2] + frame.box[2].start
    expected = np.sqrt(RADIUS**2 - (plane - CENTRE[2]) ** 2)
    centre = (
        x + CENTRE[0] - frame.box[0].start + 0.5,
        y + frame.box[1].stop - 1 - CENTRE[1] + 0.5,
    )
    inside = (vertices[:, 0] >= x) & (vertices[:, 0] < x + w)
    inside &= (vertices[:, 1] >= y) & (vertices[:, 1] < y + h)
    distances = np.hypot(vertices[inside, 0] - centre[0], vertices[inside, 1] - centre[1])
    assert len(distances) > 20
    assert np.abs(distances - expected).max() < 1.0
    assert len(re.findall("M", data)) == 3 * 5  # one closed outline per cut


def test_overlay_is_coloured_only_where_the_map_is_positive(tmp_path):
    head, mask = _head(), _ball()
    removed = np.zeros(SHAPE, np.float32)
    removed[20:26, 24:30, 17:23] = 10.0  # around the centre: in every middle cut
    out = overlay_figure(nib.Nifti1Image(head, RAS), removed, nib.Nifti1Image(mask, RAS),
                         tmp_path / "o.svg", label="ce minus synthetic")  # fmt: skip
    layout = Layout.of(Frame.of(nib.Nifti1Image(mask, RAS)))
    nothing = np.zeros(SHAPE, np.float32)
    plain = overlay_figure(nib.Nifti1Image(head, RAS), nothing, nib.Nifti1Image(mask, RAS),
                           tmp_path / "p.svg", label="none")  # fmt: skip
    x, y, w, h = layout.places[("z", 2)]
    cuts = [_layers(f.read_text())[0][y : y + h, x : x + w].astype(int) for f in (out, plain)]
    coloured = np.argwhere(np.abs(cuts[0] - cuts[1]).max(axis=-1) > 60)
    assert 25 < len(coloured) < 60  # the 6x6 square (JPEG edges aside), nothing else
    frame = layout.frame
    rows = frame.box[1].stop - 1 - np.array([29, 24])
    columns = np.array([20, 25]) - frame.box[0].start
    assert rows[0] - 1 <= coloured[:, 0].min() and coloured[:, 0].max() <= rows[1] + 1
    assert columns[0] - 1 <= coloured[:, 1].min() and coloured[:, 1].max() <= columns[1] + 1
