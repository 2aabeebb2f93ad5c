"""Self-describing checkpoints: safetensors weights plus JSON metadata, checked on load.

A checkpoint is a directory::

    my_model/
        weights.safetensors   the state dict (safetensors: loading runs no pickled code)
        metadata.json         what the network is, how to feed it, how it was trained

``metadata.json`` records the format and its version, the architecture name and the
constructor arguments that rebuild the network, the intensity normalisation, the input and
network grids, the resampling between them, the training metadata and the software versions,
and the sha256 of ``weights.safetensors`` (``sha256sum weights.safetensors`` gives the same
digest). :func:`load_checkpoint` refuses, with a :class:`CheckpointError` naming the file, a
checkpoint whose format, version, architecture or digest does not match. The full layout is in
``docs/models.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..derivatives import software_versions
from ..science.change_region import CHANGE_REGIONS, check_change_region
from ..science.intensity import (
    INTENSITY_NORMALISATIONS,
    WHITE_MATTER_LEVEL,
    WHITE_MATTER_PRIOR_THRESHOLD,
    check_normalisation,
)
from ..science.resampling import (
    NETWORK_SHAPE,
    OUTPUT_RESAMPLINGS,
    RESAMPLING,
    T1_LINEAR_SHAPE,
)
from .registry import (
    architecture_name,
    build_model,
    count_parameters,
    list_models,
    model_config,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "SUPPORTED_FORMAT_VERSIONS",
    "WEIGHTS_FILE",
    "CheckpointError",
    "TrainingMetadata",
    "checkpoint_normalisation",
    "checkpoint_change_region",
    "checkpoint_output_resampling",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
    "sha256_file",
]

LOGGER = logging.getLogger(__name__)

FORMAT_NAME = "ce2nce-checkpoint"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1,)
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "weights.safetensors"

_CITATION = (
    "Bottani S, Thibeau-Sutre E, Maire A, Ströer S, Dormont D, Colliot O, Burgos N. "
    "Contrast-enhanced to non-contrast-enhanced image translation to exploit a clinical data "
    "warehouse of T1-weighted brain MRI. BMC Medical Imaging 24, 67 (2024). "
    "doi:10.1186/s12880-024-01242-3"
)


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, of another format or version, or fails its sha256."""


@dataclass
class TrainingMetadata:
    """How a checkpoint's weights were obtained.

    Attributes
    ----------
    data : str
        Description of the training data (dataset, number of pairs, quality selection).
    protocol : str, optional
        Training protocol, e.g. ``"generator"`` (L1) or ``"cgan"``.
    epochs : int, optional
        Epochs trained.
    best_epoch : int, optional
        Epoch whose weights these are (chosen on the validation split).
    validation_metrics : dict of str to float
        Metrics of these weights on the held-out validation split.
    seed : int, optional
        Random seed of the run.
    hyperparameters : dict
        Optimiser, learning rate, batch size, losses...
    notes : str
        Free text.
    """

    data: str = ""
    protocol: str | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    validation_metrics: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingMetadata:
        """Build from a mapping; unknown keys raise ``ValueError`` (no silent typos)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training metadata key(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hexadecimal sha256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    """Convert to plain JSON types; non-finite floats become ``None`` (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ValueError(f"metadata value {value!r} of type {type(value).__name__} is not JSON-able")


def _software_versions() -> dict[str, str]:
    """ce2nce and the libraries a checkpoint's weights depend on, with the interpreter."""
    return {
        **software_versions(("torch", "numpy", "safetensors")),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _normalisation_record(method: str) -> dict[str, Any]:
    if method == "min-max":
        return {
            "method": "min-max",
            "range": [0.0, 1.0],
            "scope": "per image, whole volume",
            "inverse": "network output clipped to [0, 1], then mapped back to the "
            "input's [min, max]",
        }
    white_matter = (
        "minimum -> 0, median in the MNI152 2009 white-matter prior "
        f"(p >= {WHITE_MATTER_PRIOR_THRESHOLD}) -> {WHITE_MATTER_LEVEL}, clipped to [0, 1]"
    )
    if method == "white-matter":
        scope = f"per image, input and target: {white_matter}"
        inverse = (
            "network output clipped to [0, 1], then mapped back linearly (the input's minimum "
            "at 0, its white-matter median at the level)"
        )
    else:
        scope = (
            f"per image; input (T1w-ce): {white_matter}; target (T1w-nce): min-max over the "
            "whole volume"
        )
        inverse = "network output clipped to [0, 1], then mapped back to the input's [min, max]"
    return {
        "method": method,
        "range": [0.0, 1.0],
        "scope": scope,
        "white_matter_level": WHITE_MATTER_LEVEL,
        "white_matter_prior_threshold": WHITE_MATTER_PRIOR_THRESHOLD,
        "inverse": inverse,
    }


def checkpoint_output_resampling(metadata: Mapping[str, Any]) -> str:
    """How a checkpoint's outputs return to the t1-linear grid (``"round-trip"`` if none).

    One of :data:`~ce2nce_pipeline.science.resampling.OUTPUT_RESAMPLINGS`, recorded as
    ``preprocessing.resampling.output``; checkpoints written before it was recorded used the
    paper's round trip.
    """
    record = metadata.get("preprocessing", {}).get("resampling", {})
    return str(record.get("output", "round-trip"))


def checkpoint_change_region(metadata: Mapping[str, Any]) -> str:
    """Where a checkpoint's translation may change the image (``"everywhere"`` if none).

    One of :data:`~ce2nce_pipeline.science.change_region.CHANGE_REGIONS`, recorded as
    ``preprocessing.change_region``.
    """
    return str(metadata.get("preprocessing", {}).get("change_region", "everywhere"))


def checkpoint_normalisation(metadata: Mapping[str, Any]) -> str:
    """The intensity normalisation a checkpoint's metadata records (``"min-max"`` if none)."""
    record = metadata.get("preprocessing", {}).get("intensity_normalisation", {})
    return str(record.get("method", "min-max"))


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    metadata: TrainingMetadata | Mapping[str, Any] | None = None,
    *,
    network_shape: tuple[int, int, int] = NETWORK_SHAPE,
    normalisation: str = "min-max",
    output_resampling: str = "round-trip",
    change_region: str = "everywhere",
    overwrite: bool = False,
    half_precision: bool = False,
) -> Path:
    """Write ``model`` as a self-describing checkpoint directory.

    Parameters
    ----------
    model : torch.nn.Module
        A registered architecture (built through :mod:`ce2nce_pipeline.models.registry`).
    path : path-like
        Checkpoint directory to create (parents are created).
    metadata : TrainingMetadata or mapping, optional
        Training metadata; a mapping must use the :class:`TrainingMetadata` field names.
    network_shape : tuple of 3 int
        Grid the network was trained on (128³ in the paper).
    normalisation : {"min-max", "white-matter", "white-matter-input"}
        How the network's inputs and targets were scaled
        (:mod:`ce2nce_pipeline.science.intensity`); the Predictor scales inputs the same way.
    output_resampling : {"round-trip", "keep-detail"}
        How the Predictor brings outputs of a network on a coarser grid back to the t1-linear
        grid by default (:func:`~ce2nce_pipeline.science.resampling.keep_detail`).
    change_region : {"everywhere", "intracranial"}
        Where the Predictor keeps the network's change
        (:mod:`~ce2nce_pipeline.science.change_region`); ``"intracranial"`` only for a network
        whose output shares its input's units.
    overwrite : bool
        Replace an existing checkpoint at ``path`` (e.g. the "last" checkpoint of a run).
    half_precision : bool
        Store floating-point weights as float16 (half the size: a chunk of training committed
        to the repository); loading casts them back to the model's precision.

    Returns
    -------
    pathlib.Path
        The checkpoint directory.

    Raises
    ------
    ValueError
        If the model is not a registered architecture, the metadata is not JSON-able or has
        unknown keys, or ``path`` holds a checkpoint and ``overwrite`` is false.
    """
    name = architecture_name(model)
    kwargs = model_config(model)
    check_normalisation(normalisation)
    if output_resampling not in OUTPUT_RESAMPLINGS:
        raise ValueError(
            f"unknown output resampling {output_resampling!r}; choose one of "
            f"{list(OUTPUT_RESAMPLINGS)}"
        )
    check_change_region(change_region)
    if metadata is None:
        training = TrainingMetadata()
    elif isinstance(metadata, TrainingMetadata):
        training = metadata
    else:
        training = TrainingMetadata.from_mapping(metadata)

    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a directory")
    if (directory / METADATA_FILE).exists() and not overwrite:
        raise ValueError(f"{directory}: a checkpoint exists there; pass overwrite=True to replace")
    directory.mkdir(parents=True, exist_ok=True)

    state = {key: tensor.detach().cpu().contiguous() for key, tensor in model.state_dict().items()}
    if half_precision:
        state = {k: t.half() if t.is_floating_point() else t for k, t in state.items()}
    weights = directory / WEIGHTS_FILE
    tmp_weights = weights.with_name(WEIGHTS_FILE + ".tmp")
    save_file(state, tmp_weights)
    digest = sha256_file(tmp_weights)

    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "architecture": {
            "name": name,
            "kwargs": kwargs,
            "num_parameters": count_parameters(model),
        },
        "weights": {"file": WEIGHTS_FILE, "sha256": digest, "format": "safetensors"},
        "preprocessing": {
            "intensity_normalisation": _normalisation_record(normalisation),
            "input_grid": {
                "shape": list(T1_LINEAR_SHAPE),
                "voxel_size_mm": [1.0, 1.0, 1.0],
                "space": "MNI152NLin2009cSym",
                "pipeline": "Clinica t1-linear (desc-Crop)",
            },
            "network_grid": {"shape": [int(s) for s in network_shape]},
            "resampling": {**RESAMPLING, "output": output_resampling},
        }
        | ({"change_region": change_region} if change_region != "everywhere" else {}),
        "training": dataclasses.asdict(training),
        "software": _software_versions(),
        "citation": _CITATION,
    }
    text = json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n"
    tmp_metadata = directory / (METADATA_FILE + ".tmp")
    tmp_metadata.write_text(text, encoding="utf-8")
    os.replace(tmp_weights, weights)
    os.replace(tmp_metadata, directory / METADATA_FILE)
    LOGGER.info("Saved %s checkpoint to %s (weights sha256 %s)", name, directory, digest)
    return directory


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a checkpoint's ``metadata.json`` without loading the weights.

    Checks the format name and version, the architecture name, and the preprocessing block.
    Does *not* check the weights' sha256 (:func:`load_checkpoint` does).

    Raises
    ------
    CheckpointError
        Naming the offending file.
    """
    directory = Path(path)
    metadata_file = directory / METADATA_FILE
    if not directory.is_dir() or not metadata_file.is_file():
        raise CheckpointError(
            f"{directory}: not a ce2nce checkpoint (expected a directory holding "
            f"{METADATA_FILE} and {WEIGHTS_FILE})"
        )
    try:
        document = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{metadata_file}: unreadable metadata ({error})") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{metadata_file}: not a {FORMAT_NAME} metadata file")
    version = document.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise CheckpointError(
            f"{metadata_file}: checkpoint format version {version!r} is not supported by this "
            f"ce2nce (supported: {list(SUPPORTED_FORMAT_VERSIONS)}); use a matching ce2nce "
            "version"
        )
    try:
        name = document["architecture"]["name"]
        kwargs = document["architecture"]["kwargs"]
        expected_digest = document["weights"]["sha256"]
        preprocessing = document["preprocessing"]
        network_shape = preprocessing["network_grid"]["shape"]
        input_shape = preprocessing["input_grid"]["shape"]
        normalisation = preprocessing["intensity_normalisation"]["method"]
        resampling = preprocessing["resampling"]
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{metadata_file}: missing metadata field {error}") from error
    if name not in list_models():
        raise CheckpointError(
            f"{metadata_file}: unknown architecture {name!r}; this ce2nce knows {list_models()}"
        )
    if not isinstance(kwargs, dict) or not isinstance(expected_digest, str):
        raise CheckpointError(f"{metadata_file}: malformed architecture or weights field")
    for label, shape in (("network_grid", network_shape), ("input_grid", input_shape)):
        if not (
            isinstance(shape, list)
            and len(shape) == 3
            and all(isinstance(s, int) and s > 0 for s in shape)
        ):
            raise CheckpointError(f"{metadata_file}: {label} shape {shape!r} is not 3 sizes")
    if tuple(input_shape) != T1_LINEAR_SHAPE:
        raise CheckpointError(
            f"{metadata_file}: input grid {input_shape} is not the t1-linear grid "
            f"{list(T1_LINEAR_SHAPE)}"
        )
    if normalisation not in INTENSITY_NORMALISATIONS:
        raise CheckpointError(f"{metadata_file}: unsupported normalisation {normalisation!r}")
    if normalisation != "min-max" and (
        preprocessing["intensity_normalisation"].get("white_matter_level") != WHITE_MATTER_LEVEL
        or preprocessing["intensity_normalisation"].get("white_matter_prior_threshold")
        != WHITE_MATTER_PRIOR_THRESHOLD
    ):
        raise CheckpointError(
            f"{metadata_file}: {normalisation} normalisation with other constants than this "
            f"ce2nce's (level {WHITE_MATTER_LEVEL}, prior threshold "
            f"{WHITE_MATTER_PRIOR_THRESHOLD})"
        )
    if not isinstance(resampling, dict) or (
        resampling.get("method"),
        resampling.get("align_corners"),
    ) != ("trilinear", False):
        raise CheckpointError(
            f"{metadata_file}: unsupported resampling {resampling!r} "
            "(expected trilinear, align_corners false)"
        )
    if preprocessing.get("change_region", "everywhere") not in CHANGE_REGIONS:
        raise CheckpointError(
            f"{metadata_file}: unknown change region {preprocessing.get('change_region')!r}; "
            f"this ce2nce knows {list(CHANGE_REGIONS)}"
        )
    if resampling.get("output", "round-trip") not in OUTPUT_RESAMPLINGS:
        raise CheckpointError(
            f"{metadata_file}: unknown output resampling {resampling.get('output')!r}; this "
            f"ce2nce knows {list(OUTPUT_RESAMPLINGS)} (use a matching ce2nce version)"
        )
    return document


def load_checkpoint(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Verify a checkpoint and rebuild its network.

    Parameters
    ----------
    path : path-like
        Checkpoint directory written by :func:`save_checkpoint`.
    device : str or torch.device
        Where to put the weights.

    Returns
    -------
    model : torch.nn.Module
        The network in eval mode.
    metadata : dict
        The parsed ``metadata.json``.

    Raises
    ------
    CheckpointError
        If the metadata is invalid (see :func:`read_metadata`), the weights file is missing,
        its sha256 differs from the recorded one, or the weights do not fit the architecture.
    """
    document = read_metadata(path)
    directory = Path(path)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file missing")
    expected = document["weights"]["sha256"]
    actual = sha256_file(weights)
    if actual != expected:
        raise CheckpointError(
            f"{weights}: sha256 {actual} differs from {expected} recorded in "
            f"{directory / METADATA_FILE}; the file is corrupted or was modified"
        )
    name = document["architecture"]["name"]
    try:
        model = build_model(name, **document["architecture"]["kwargs"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{directory / METADATA_FILE}: cannot build {name}: {error}"
        ) from error
    try:
        state = load_file(weights, device="cpu")
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, safetensors.SafetensorError) as error:
        raise CheckpointError(f"{weights}: weights do not fit {name}: {error}") from error
    model.to(device)
    model.eval()
    LOGGER.info("Loaded %s checkpoint %s (sha256 %s)", name, directory, actual)
    return model, document
