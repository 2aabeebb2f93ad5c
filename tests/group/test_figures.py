"""Figures are written as non-empty PNG and SVG files."""

from __future__ import annotations

from ce2nce_pipeline.group.collect import collect_sessions
from ce2nce_pipeline.group.figures import (
    plot_example_slices,
    plot_relative_differences,
    plot_volume_scatter,
    save_figure,
)
from ce2nce_pipeline.group.validation import validate

from .fake_derivatives import write_pair_session


def test_figures_are_written(tmp_path):
    out = tmp_path / "out"
    for seed, sub in enumerate(("01", "02", "03")):
        write_pair_session(out, sub, seed=seed, ce_volumes=(630 + seed, 440, 190 - seed))
    result = validate(collect_sessions(out)[0])
    figures = {
        "rd": plot_relative_differences(result.relative),
        "slices": plot_example_slices(result.examples),
        "scatter": plot_volume_scatter(result.volumes),
    }
    for name, figure in figures.items():
        png, svg = save_figure(figure, tmp_path / "figures", name)
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
        assert "<svg" in svg.read_text()
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(
        f"{n}.{e}" for n in figures for e in ("png", "svg")
    )
