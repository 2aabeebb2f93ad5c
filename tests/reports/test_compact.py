"""The report's size savings keep what a reader sees: rasters re-encoded, outlines rounded."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from ce2nce_pipeline.cli.parser import parse_args
from ce2nce_pipeline.reports import html
from ce2nce_pipeline.reports.figures import compact_svg


def _png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_opaque_rasters_become_jpeg_and_outlines_whole_pixels():
    rng = np.random.default_rng(0)
    slice_ = (rng.normal(128, 30, (120, 100)).clip(0, 255)).astype(np.uint8)
    rgba = np.dstack([slice_, slice_, slice_, np.full_like(slice_, 255)])
    svg = (
        f'<svg><image xlink:href="data:image/png;base64,{_png(rgba)}"/>'
        '<path d="M 10.44 20.51 L 10.46 20.6 L 11.6 21.4 z" style="stroke: red"/>'
        '<path d="M 1.5 2.25 C 3.1 4.2 5.3 6.4 7.5 8.6"/></svg>'
    )
    out = compact_svg(svg)
    assert "image/jpeg" in out and len(out) < len(svg)
    encoded = out.split("base64,")[1].split('"')[0]
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L"), float)
    assert decoded.shape == slice_.shape
    assert np.abs(decoded - slice_).mean() < 12  # lossy, but the same picture
    # The repeated vertex (10, 21) after rounding is dropped; the curve is left as it was.
    assert 'd="M10 21 L12 21 z"' in out
    assert 'd="M 1.5 2.25 C 3.1 4.2 5.3 6.4 7.5 8.6"' in out


def test_transparent_rasters_stay_png():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[10:20, 10:20] = (255, 0, 0, 128)
    out = compact_svg(f'<image href="data:image/png;base64,{_png(rgba)}"/>')
    assert "image/png" in out and "image/jpeg" not in out


def test_tables_escape_text_and_show_missing_values_as_na():
    table = html.table([{"a": "<b>", "b": float("nan"), "c": html.link("sub-01.html", "x")}])
    assert "&lt;b&gt;" in table and "<td>n/a</td>" in table
    assert '<a href="./sub-01.html">x</a>' in table


def test_reports_only_is_a_run_setting(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    config = parse_args([str(bids), str(tmp_path / "out"), "group", "--reports-only"])
    assert config.reports_only
    assert not parse_args([str(bids), str(tmp_path / "out"), "group"]).reports_only
