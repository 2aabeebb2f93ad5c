"""The run folder of a training run: its state, its checkpoints and how a run resumes.

``last/`` is the resume point (generator, discriminator, ``training_state.pt`` with the
optimiser states, counters and random states), replaced atomically after every epoch and on a
stop; ``best/`` is the selected generator; ``split.tsv`` the training/validation pairs. A run
resumes only with the settings (``TrainingConfig.identity``) and the split it started with.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import Ce2nceError
from ..models.checkpoint import TrainingMetadata, save_checkpoint
from .config import ConfigError, TrainingConfig
from .networks import GAIN_LEARNING_RATE_FACTOR, Networks
from .pairs import ImagePair
from .training_log import LOG_FILE

__all__ = [
    "BEST_DIR",
    "CONFIG_FILE",
    "LAST_DIR",
    "MODEL_CARD",
    "SPLIT_FILE",
    "STATE_FILE",
    "fresh_state",
    "load_optimizers",
    "read_state",
    "restore_rng",
    "resume_point",
    "save_best",
    "save_last",
    "training_metadata",
    "write_split",
]

LOGGER = logging.getLogger(__name__)

BEST_DIR = "best"
LAST_DIR = "last"
STATE_FILE = "training_state.pt"
CONFIG_FILE = "config.toml"
SPLIT_FILE = "split.tsv"
MODEL_CARD = "model_card.md"
_STATE_FORMAT = "ce2nce-training-state"
_STATE_VERSION = 1


def resume_point(out: Path, resume: bool) -> Path | None:
    """``last/`` (or ``last.old/`` after a crash during the swap) when resuming.

    Raises
    ------
    ConfigError
        If ``out`` holds a run and ``resume`` is false, or holds files but no resumable run.
    """
    for name in (LAST_DIR, LAST_DIR + ".old"):
        candidate = out / name
        if (candidate / STATE_FILE).is_file():
            if not resume:
                raise ConfigError(
                    f"{out}: holds a training run; set run.resume = true to continue "
                    "it, or choose another output_dir"
                )
            return candidate
    # A run killed before its first resume point leaves only these: start it afresh.
    restartable = {CONFIG_FILE, SPLIT_FILE, LOG_FILE, LAST_DIR + ".tmp"}
    if out.exists() and any(p.name not in restartable for p in out.iterdir()):
        raise ConfigError(
            f"{out}: exists and is not empty but holds no resumable run; choose an "
            "empty or new output_dir"
        )
    return None


def _split_ids(train_pairs: list[ImagePair], val_pairs: list[ImagePair]) -> dict[str, list]:
    return {
        "train": [p.pair_id for p in train_pairs],
        "validation": [p.pair_id for p in val_pairs],
    }


def fresh_state(
    config: TrainingConfig, train_pairs: list[ImagePair], val_pairs: list[ImagePair]
) -> dict[str, Any]:
    """The state of a run that has not made a step yet."""
    return {
        "format": _STATE_FORMAT,
        "version": _STATE_VERSION,
        "identity": json.dumps(config.identity(), sort_keys=True),
        "split": _split_ids(train_pairs, val_pairs),
        "completed": {},
        "partial": None,
        "global_step": 0,
        "best_val_loss": math.inf,
        "best_epoch": None,
        "best_metrics": {},
        "generator_source_sha256": None,
    }


def _load_state(path: Path) -> dict[str, Any]:
    """``training_state.pt``, read with ``weights_only=True``, of the right format and version."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors have no common base class
        raise Ce2nceError(f"{path}: unreadable training state ({error})") from None
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise Ce2nceError(f"{path}: not a ce2nce training state")
    if state.get("version") != _STATE_VERSION:
        raise Ce2nceError(f"{path}: unsupported training state version {state.get('version')}")
    return state


def read_state(
    folder: Path,
    config: TrainingConfig,
    train_pairs: list[ImagePair],
    val_pairs: list[ImagePair],
) -> dict[str, Any]:
    """The state saved in the resume point ``folder``, checked against the run's settings.

    Raises
    ------
    Ce2nceError
        If the state is unreadable, or (:class:`ConfigError`) the run was started with other
        settings or another training/validation split.
    """
    path = folder / STATE_FILE
    state = _load_state(path)
    saved = json.loads(state["identity"])
    current = config.identity()
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        raise ConfigError(
            f"{path}: the run was started with other settings ({', '.join(changed)} "
            "differ); restore them or choose another output_dir"
        )
    if state["split"] != _split_ids(train_pairs, val_pairs):
        raise ConfigError(
            f"{path}: the training/validation pairs differ from those the run started with; "
            f"see {Path(config.output_dir) / SPLIT_FILE}"
        )
    return state


def load_optimizers(nets: Networks, state: dict[str, Any], folder: Path) -> None:
    """Restore the optimiser states saved in ``state`` (and remove them from it)."""
    try:
        nets.optimizer_g.load_state_dict(state.pop("optimizer_g"))
    except ValueError as error:  # e.g. a gain branch supervised now but not then
        raise Ce2nceError(
            f"cannot resume from {folder}: the saved optimiser state does not fit this "
            f"generator ({error}); start a new output_dir"
        ) from None
    saved_d = state.pop("optimizer_d", None)
    if nets.optimizer_d is not None and saved_d is not None:
        nets.optimizer_d.load_state_dict(saved_d)
    LOGGER.debug("Optimizer states restored from %s", folder / STATE_FILE)


def restore_rng(state: dict[str, Any], noise: torch.Generator) -> None:
    """Restore the random states saved in ``state`` (and remove them from it), if any."""
    rng = state.pop("rng", None)
    if not rng:
        return
    torch.set_rng_state(rng["torch"])
    noise.set_state(rng["noise"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def write_split(out: Path, train_pairs: list[ImagePair], val_pairs: list[ImagePair]) -> None:
    """Write ``split.tsv``: one row per pair, with its split and its two images."""
    with open(out / SPLIT_FILE, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, delimiter="\t", lineterminator="\n")
        writer.writerow(["pair_id", "split", "ce", "nce"])
        for split, pairs in (("train", train_pairs), ("validation", val_pairs)):
            for pair in pairs:
                writer.writerow([pair.pair_id, split, pair.ce, pair.nce])


def _hyperparameters(config: TrainingConfig, nets: Networks) -> dict[str, Any]:
    """The settings a checkpoint records as its hyper-parameters."""
    values: dict[str, Any] = {
        "optimizer": "Adam",
        "learning_rate": config.learning_rate,
        "betas": list(config.betas),
        "weight_decay": config.weight_decay,
        "batch_size": config.effective_batch_size,
        "loss": "L1",
        "network_shape": list(nets.network_shape),
        "preset": config.preset,
        "model_kwargs": config.model_kwargs,
        "validation_fraction": config.validation_fraction,
        "selection": "lowest validation L1",
    }
    if config.training_patch is not None:
        values["training_patch"] = {
            "size": config.training_patch,
            "per_volume": config.patches_per_volume,
            "centres": "half in the head, half where |ce - nce| is in its top 2 %",
        }
    if config.lr_schedule != "constant":
        values["lr_schedule"] = {
            "schedule": config.lr_schedule,
            "decay_start_epoch": config.lr_decay_start_epoch,
            "min_learning_rate": config.min_learning_rate,
        }
    if config.protocol == "cgan":
        values.update(_cgan_hyperparameters(config, nets))
    if nets.gain_supervised:
        values["loss"] = f"{values['loss']} + {config.gain_loss_weight:g} x L1(gain)"
        values["gain_learning_rate_factor"] = GAIN_LEARNING_RATE_FACTOR
    return values


def _cgan_hyperparameters(config: TrainingConfig, nets: Networks) -> dict[str, Any]:
    return {
        "loss": "L1 + LSGAN",
        "generator_checkpoint_sha256": nets.source_sha,
        "discriminator": nets.discriminator.config,
        "discriminator_learning_rate": config.discriminator_learning_rate,
        "pretrain_epochs": config.pretrain_epochs,
        "patches": nets.grid.describe(),
        "l1_weight": config.l1_weight,
        "adversarial_weight": config.adversarial_weight,
        "real_label_range": list(config.real_label_range),
        "fake_label_range": list(config.fake_label_range),
    }


def training_metadata(
    config: TrainingConfig,
    nets: Networks,
    state: dict[str, Any],
    pairs: tuple[list[ImagePair], list[ImagePair]],
) -> TrainingMetadata:
    """What the run's checkpoints record of their training.

    Parameters
    ----------
    pairs : tuple
        The training and the validation pairs.
    """
    source = config.pairs_tsv or config.dataset_dir
    main_phase = "cgan" if config.protocol == "cgan" else "generator"
    return TrainingMetadata(
        data=(f"{len(pairs[0])} training and {len(pairs[1])} validation pairs from {source}"),
        protocol=config.protocol,
        epochs=state["completed"].get(main_phase, 0),
        best_epoch=state["best_epoch"],
        validation_metrics=dict(state["best_metrics"]),
        seed=config.seed,
        hyperparameters=_hyperparameters(config, nets),
        notes=(
            "validation metrics on the network grid, volumes in [0, 1], within the "
            "pairs' brain masks (or an Otsu head mask when none is given)"
        ),
    )


def _state_to_save(
    state: dict[str, Any], nets: Networks, noise: torch.Generator
) -> dict[str, Any]:
    """``state`` with the optimiser states and the random states added."""
    saved = dict(state)
    saved["optimizer_g"] = nets.optimizer_g.state_dict()
    if nets.optimizer_d is not None:
        saved["optimizer_d"] = nets.optimizer_d.state_dict()
    saved["rng"] = {
        "torch": torch.get_rng_state(),
        "noise": noise.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return saved


def save_last(
    out: Path,
    nets: Networks,
    state: dict[str, Any],
    metadata: TrainingMetadata,
    noise: torch.Generator,
    normalisation: str,
) -> None:
    """Replace ``last/`` by a new resume point, atomically (via ``last.tmp``).

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    nets, state, metadata
        The networks and optimisers, the run's state and the generator's training metadata.
    noise : torch.Generator
        The generator of the soft labels and training patches, whose state is saved too.
    normalisation : str
        The intensity normalisation recorded in the generator checkpoint.
    """
    tmp, last, old = (out / f"{LAST_DIR}{s}" for s in (".tmp", "", ".old"))
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(
        nets.generator,
        tmp / "generator",
        metadata,
        network_shape=nets.network_shape,
        normalisation=normalisation,
    )
    if nets.discriminator is not None:
        save_checkpoint(
            nets.discriminator,
            tmp / "discriminator",
            {"data": metadata.data, "protocol": "cgan discriminator"},
            network_shape=nets.network_shape,
        )
    torch.save(_state_to_save(state, nets, noise), tmp / STATE_FILE)
    shutil.rmtree(old, ignore_errors=True)
    if last.exists():
        os.replace(last, old)
    os.replace(tmp, last)
    shutil.rmtree(old, ignore_errors=True)


def save_best(out: Path, nets: Networks, metadata: TrainingMetadata, normalisation: str) -> None:
    """Write the generator as ``best/``, replacing the previous one."""
    save_checkpoint(
        nets.generator,
        out / BEST_DIR,
        metadata,
        network_shape=nets.network_shape,
        normalisation=normalisation,
        overwrite=True,
    )
