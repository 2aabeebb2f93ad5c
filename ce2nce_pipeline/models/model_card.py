"""Markdown model cards of checkpoints: what a network is, what it expects, how it was trained.

:func:`write_model_card` verifies a checkpoint (sha256 included) and writes one Markdown page
from its ``metadata.json``: the checkpoint, the network, the input and its preprocessing, the
training, the software, the intended use and the citation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..science.change_region import INTRACRANIAL_CHANGE_MARGIN_VOXELS
from ..science.resampling import T1_LINEAR_SHAPE
from .checkpoint import (
    _CITATION,
    checkpoint_change_region,
    checkpoint_output_resampling,
    load_checkpoint,
)
from .registry import count_parameters

__all__ = ["write_model_card"]

_PURPOSE = (
    "Translates a contrast-enhanced T1-weighted brain MRI (T1w-ce) into a synthetic "
    "non-contrast-enhanced one (T1w-nce), after Bottani et al. 2024, so that tools "
    "validated on non-contrast T1w (SPM, ANTs, FSL) can be applied to it."
)
_INTENDED_USE = (
    (
        "- For research: homogenising T1w-ce and T1w-nce before segmentation or feature "
        "extraction. Not a diagnostic device; synthetic images may hide or invent findings."
    ),
    (
        "- Valid only for inputs like the training data (scanner, field strength, contrast "
        "protocol, t1-linear preprocessing). Quality drops on low-quality T1w-ce."
    ),
    "- Images are smoothed by the 128³ resampling.",
)


def _normalisation_text(record: Mapping[str, Any]) -> str:
    """One bullet describing the intensity normalisation ``record`` of a checkpoint."""
    method = record.get("method", "min-max")
    if method == "min-max":
        return (
            "- Intensities min-max scaled to [0, 1] per image; the network output is clipped to "
            "[0, 1] and mapped back to the input's range."
        )
    white_matter = (
        "scaled per image so that its minimum is 0 and its median in the MNI152 2009 "
        f"white-matter prior (p >= {record.get('white_matter_prior_threshold')}) is "
        f"{record.get('white_matter_level')}, clipped to [0, 1]"
    )
    if method == "white-matter":
        return (
            f"- Intensities (input and target) {white_matter} (`white-matter` normalisation, "
            "not the paper's min-max); the network output is clipped to [0, 1] and mapped back "
            "the same way."
        )
    return (
        f"- The input (T1w-ce) is {white_matter}; the target (T1w-nce) was min-max scaled as in "
        "the paper (`white-matter-input` normalisation); the network output is clipped to "
        "[0, 1] and mapped back to the input's range."
    )


def _grid_text(preprocessing: Mapping[str, Any], grid: str) -> str:
    """One bullet describing how images reach the network ``grid`` and come back."""
    resampling = preprocessing["resampling"]
    if tuple(preprocessing["network_grid"]["shape"]) == T1_LINEAR_SHAPE:
        return f"- Translated at full resolution ({grid}, zero-padded to a multiple of 32)."
    how = (
        f"{resampling['method']} interpolation (`align_corners={resampling['align_corners']}`, "
        f"{resampling.get('implementation', 'PyTorch')})"
    )
    if checkpoint_output_resampling({"preprocessing": preprocessing}) == "keep-detail":
        return (
            f"- Resampled to {grid} with {how}; by default only the network's change comes back "
            "(resampled the same way) and is applied to the full-resolution input, so detail "
            "finer than the network grid is kept (`--output-resampling keep-detail`)."
        )
    return (
        f"- Resampled to {grid} and back with {how}, as in the paper "
        "(`--output-resampling round-trip`; `keep-detail` keeps the full-resolution detail)."
    )


def _table(rows: list[tuple[str, str]]) -> list[str]:
    """A two-column Markdown table without a header."""
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return lines


def _shown(value: Any) -> str:
    """``value`` as text, or "not recorded" when empty."""
    return "not recorded" if value in (None, "", {}, []) else str(value)


def _section(title: str, lines: list[str]) -> list[str]:
    """A level-two section: its heading, a blank line, ``lines`` and a blank line."""
    return [f"## {title}", "", *lines, ""]


def _checkpoint_section(meta: Mapping[str, Any]) -> list[str]:
    rows = [
        ("Format", f"{meta['format']} version {meta['format_version']}"),
        ("Created", _shown(meta.get("created"))),
        ("Weights", f"`{meta['weights']['file']}` (safetensors)"),
        ("Weights sha256", f"`{meta['weights']['sha256']}`"),
    ]
    return _section("Checkpoint", _table(rows))


def _network_section(meta: Mapping[str, Any], parameters: int) -> list[str]:
    arch = meta["architecture"]
    kwargs = ", ".join(f"`{k}={json.dumps(v)}`" for k, v in arch["kwargs"].items())
    rows = [
        ("Architecture", f"`{arch['name']}`"),
        ("Constructor arguments", kwargs or "defaults"),
        ("Parameters", f"{parameters:,}"),
    ]
    return _section("Network", _table(rows))


def _input_section(meta: Mapping[str, Any]) -> list[str]:
    pre = meta["preprocessing"]
    grid_in = "×".join(map(str, pre["input_grid"]["shape"]))
    grid_net = "×".join(map(str, pre["network_grid"]["shape"]))
    lines = [
        (
            f"- Input: a Clinica `t1-linear` image, {grid_in} voxels, 1 mm, "
            f"{pre['input_grid'].get('space', 'MNI152NLin2009cSym')}, finite and not constant."
        ),
        _normalisation_text(pre["intensity_normalisation"]),
        _grid_text(pre, grid_net),
        "- The output has the input's affine and header (float32).",
    ]
    if checkpoint_change_region(meta) == "intracranial":
        lines.append(
            "- The network's change is kept inside the intracranial space only (the template's "
            f"brain grown by {INTRACRANIAL_CHANGE_MARGIN_VOXELS} mm); outside it the input comes "
            "back unchanged (scalp, skull, neck)."
        )
    return _section("Input and preprocessing", lines)


def _training_section(training: Mapping[str, Any]) -> list[str]:
    rows = [
        ("Data", _shown(training.get("data"))),
        ("Protocol", _shown(training.get("protocol"))),
        ("Epochs", _shown(training.get("epochs"))),
        ("Best epoch (validation)", _shown(training.get("best_epoch"))),
        ("Seed", _shown(training.get("seed"))),
        ("Hyper-parameters", _shown(training.get("hyperparameters"))),
    ]
    lines = _section("Training", _table(rows))
    metrics = training.get("validation_metrics") or {}
    if metrics:
        lines += ["Validation metrics:", "", "| Metric | Value |", "|---|---|"]
        lines += [f"| {key} | {_shown(value)} |" for key, value in metrics.items()]
        lines.append("")
    if training.get("notes"):
        lines += [f"Notes: {training['notes']}", ""]
    return lines


def _card_lines(title: str, meta: Mapping[str, Any], parameters: int) -> list[str]:
    """Every line of the model card of a checkpoint with metadata ``meta``."""
    software = meta.get("software", {})
    return [
        f"# Model card: {meta['architecture']['name']} ({title})",
        "",
        _PURPOSE,
        "",
        *_checkpoint_section(meta),
        *_network_section(meta, parameters),
        *_input_section(meta),
        *_training_section(meta.get("training", {})),
        *_section(
            "Software",
            [", ".join(f"{key} {value}" for key, value in software.items()) or "not recorded"],
        ),
        *_section("Intended use and limitations", list(_INTENDED_USE)),
        *_section("Citation", [meta.get("citation", _CITATION)]),
    ]


def write_model_card(
    checkpoint_path: str | os.PathLike[str], out_md: str | os.PathLike[str]
) -> Path:
    """Write a Markdown model card describing a checkpoint.

    The checkpoint is fully verified (sha256 included) first.

    Parameters
    ----------
    checkpoint_path : path-like
        Checkpoint directory.
    out_md : path-like
        Markdown file to write.

    Returns
    -------
    pathlib.Path
        ``out_md``.

    Raises
    ------
    CheckpointError
        If the checkpoint does not load.
    """
    model, meta = load_checkpoint(checkpoint_path)
    lines = _card_lines(Path(checkpoint_path).name, meta, count_parameters(model))
    out = Path(out_md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
