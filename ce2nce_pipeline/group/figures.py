"""Figures of the group level, each written as PNG and SVG (matplotlib, Agg backend).

- :func:`plot_relative_differences`: box and strip plots of rD per tissue (the paper's Fig. 3);
- :func:`plot_example_slices`: sagittal and axial slices of ce, synthetic and real nce (Fig. 2);
- :func:`plot_volume_scatter`: volumes of the ce and synthetic images against the real nce's.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..io import atomic_write_bytes, atomic_write_text  # noqa: E402

logger = logging.getLogger(__name__)

TISSUES: tuple[str, ...] = ("GM", "WM", "CSF")
_SEED = 0


def save_figure(figure: Figure, folder: Path, name: str) -> list[Path]:
    """Write ``folder/name.png`` (150 dpi) and ``folder/name.svg`` atomically and close it.

    Returns
    -------
    list of pathlib.Path
        The two files written.
    """
    png, svg = io.BytesIO(), io.StringIO()
    try:
        figure.savefig(png, format="png", dpi=150, bbox_inches="tight")
        figure.savefig(svg, format="svg", bbox_inches="tight")
    finally:
        plt.close(figure)
    paths = [Path(folder) / f"{name}.png", Path(folder) / f"{name}.svg"]
    atomic_write_bytes(png.getvalue(), paths[0])
    atomic_write_text(svg.getvalue(), paths[1])
    return paths


def _categories(table: pd.DataFrame, group_col: str | None) -> list[tuple[str, ...]]:
    columns = ["comparison", *([group_col] if group_col else [])]
    return [tuple(map(str, row)) for row in table[columns].drop_duplicates().to_numpy()]


def plot_relative_differences(
    relative: pd.DataFrame, *, value: str = "rD", group_col: str | None = None
) -> Figure:
    """Box plots with the individual points of ``value`` per tissue and comparison (Fig. 3).

    Parameters
    ----------
    relative : pandas.DataFrame
        From :func:`ce2nce_pipeline.science.statistics.relative_differences` (columns
        ``tissue``, ``comparison`` and ``value``, plus ``group_col`` if given).
    value : str, default "rD"
        Column to plot (``"rD"`` or ``"rAD"``), in cm³.
    group_col : str, optional
        One box per comparison and group.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per tissue; a dashed line at 0.
    """
    tissues = [t for t in TISSUES if t in set(relative["tissue"])]
    categories = _categories(relative, group_col)
    figure, axes = plt.subplots(
        1, max(len(tissues), 1), figsize=(4 * max(len(tissues), 1), 4), squeeze=False
    )
    rng = np.random.default_rng(_SEED)
    for axis, tissue in zip(axes[0], tissues, strict=False):
        part = relative.loc[relative["tissue"] == tissue]
        data = []
        for category in categories:
            mask = part["comparison"].astype(str) == category[0]
            if group_col:
                mask &= part[group_col].astype(str) == category[1]
            data.append(part.loc[mask, value].to_numpy(dtype=np.float64))
        positions = np.arange(1, len(categories) + 1)
        axis.boxplot(data, positions=positions, widths=0.5, showfliers=False)
        for position, values in zip(positions, data, strict=True):
            jitter = rng.uniform(-0.12, 0.12, size=len(values))
            axis.scatter(position + jitter, values, s=12, alpha=0.6, zorder=3)
        axis.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xticks(positions, ["\n".join(c) for c in categories], fontsize=8)
        axis.set_title(tissue)
        axis.set_ylabel(f"{value} (cm³)")
    figure.suptitle(f"{value} of each image's tissue volume against the real T1w-nce")
    figure.tight_layout()
    return figure


def _slices(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle sagittal and axial slices, oriented for display (RAS+ voxel order assumed)."""
    x, _, z = (s // 2 for s in volume.shape[:3])
    return np.rot90(volume[x, :, :]), np.rot90(volume[:, :, z])


def plot_example_slices(examples: Sequence[dict[str, object]], *, max_rows: int = 3) -> Figure:
    """Sagittal and axial middle slices of ce, synthetic and real nce images (Fig. 2).

    Parameters
    ----------
    examples : sequence of dict
        Each with ``label`` and the paths ``ce``, ``synthetic`` and ``nce`` of one session.
    max_rows : int, default 3
        At most this many sessions, the first ones given.

    Returns
    -------
    matplotlib.figure.Figure
        One row per session; columns: ce, synthetic, nce, sagittal then axial. Each image is
        shown between its own 1st and 99th percentiles.
    """
    chosen = list(examples)[:max_rows]
    columns = ("ce", "synthetic", "nce")
    figure, axes = plt.subplots(
        max(len(chosen), 1), 6, figsize=(13, 2.4 * max(len(chosen), 1)), squeeze=False
    )
    for axis in axes.ravel():
        axis.axis("off")
    for row, example in enumerate(chosen):
        for col, kind in enumerate(columns):
            volume = np.asanyarray(nib.load(str(example[kind])).get_fdata(dtype=np.float32))
            low, high = np.percentile(volume, (1, 99))
            for view, image in enumerate(_slices(volume)):
                axis = axes[row, view * 3 + col]
                axis.imshow(image, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
                axis.set_title(f"{kind} {('sagittal', 'axial')[view]}", fontsize=8)
        axes[row, 0].text(
            -0.1, 0.5, str(example["label"]), transform=axes[row, 0].transAxes,
            rotation=90, va="center", ha="right", fontsize=8,
        )  # fmt: skip
    figure.tight_layout()
    return figure


def plot_volume_scatter(volumes: pd.DataFrame, *, reference: str = "nce") -> Figure:
    """Tissue volumes of every compared image against the real nce's, with the identity line.

    Parameters
    ----------
    volumes : pandas.DataFrame
        One row per pair x image (columns ``participant_id``, ``session_id``, ``ce_source``,
        ``image``, ``GM``, ``WM``, ``CSF``, ``TIV``).
    reference : str, default "nce"
        Value of ``image`` on the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per tissue and TIV; one colour per compared image.
    """
    keys = ["participant_id", "session_id", "ce_source"]
    reference_rows = volumes.loc[volumes["image"] == reference]
    others = volumes.loc[volumes["image"] != reference]
    merged = others.merge(reference_rows, on=keys, suffixes=("", "_ref"))
    measures = [*TISSUES, "TIV"]
    figure, axes = plt.subplots(1, len(measures), figsize=(4 * len(measures), 4), squeeze=False)
    for axis, measure in zip(axes[0], measures, strict=True):
        for image, part in merged.groupby("image", sort=False):
            axis.scatter(part[f"{measure}_ref"], part[measure], s=14, alpha=0.7, label=image)
        values = merged[[measure, f"{measure}_ref"]].to_numpy(dtype=np.float64)
        if values.size:
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            margin = 0.05 * (high - low) if high > low else 1.0
            axis.plot([low - margin, high + margin], [low - margin, high + margin], "k--", lw=0.8)
        axis.set_title(measure)
        axis.set_xlabel(f"{reference} (cm³)")
        axis.set_ylabel("compared image (cm³)")
    if len(merged):
        axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    return figure
