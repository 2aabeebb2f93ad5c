"""Training loops: the generator protocol and the cGAN protocol (Bottani et al. 2024, §2.3).

Generator protocol
    Adam (lr 1e-4, betas (0.5, 0.999) by default), L1 loss, batch size 2. After every epoch the
    network is evaluated on the held-out validation pairs; the checkpoint with the lowest
    validation L1 is kept as ``best/`` — not the lowest training loss, as the authors' code did.

cGAN protocol
    The generator starts from a trained U-Net checkpoint. The patch discriminator is first
    pre-trained (``pretrain_epochs``) on real and fake patches, the fake images coming from
    the frozen generator in eval mode; then both networks train together, batch size 1: per
    step, the discriminator loss (mean of LSGAN(D(real), real label) and LSGAN(D(fake), fake
    label)) updates the discriminator, then the generator loss (L1 + LSGAN(D(fake), real
    label)) updates the generator, with soft labels real ~ U(0, 0.3), fake ~ U(0.7, 1). The
    best generator is again chosen on the validation L1.

Every run writes into ``output_dir``::

    config.toml        the settings of the latest invocation
    split.tsv          the training/validation pairs
    log.tsv            one row per epoch (see LOG_COLUMNS)
    best/              the selected generator: a checkpoint for the Predictor
    model_card.md      written when the run finishes
    last/              resume point, replaced atomically after every epoch and on a stop:
        generator/         checkpoint (save_checkpoint)
        discriminator/     checkpoint (cGAN)
        training_state.pt  optimiser states, counters, random states (torch.save; read back
                           only with torch.load(..., weights_only=True))

Runs are seeded and resumable: a run stopped by ``max_steps``/``max_minutes`` (or killed after
an epoch) continues from ``last/`` when started again with the same settings, and on the CPU
gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import Ce2nceError
from ..models.checkpoint import (
    CheckpointError,
    TrainingMetadata,
    checkpoint_normalisation,
    load_checkpoint,
    save_checkpoint,
    sha256_file,
)
from ..models.model_card import write_model_card
from ..models.predictor import deterministic_cudnn, resolve_device
from ..models.registry import build_model, get_preset
from ..science.metrics import image_similarity
from ..science.resampling import NETWORK_SHAPE, SIZE_MULTIPLE, run_padded
from .config import ConfigError, TrainingConfig
from .datasets import PairedVolumeDataset, load_pairs, split_pairs
from .losses import (
    SoftLabels,
    discriminator_loss,
    gain_loss,
    gain_target,
    generator_adversarial_loss,
    l1_loss,
)
from .patch_sampling import PatchCentres, patch_centres, sample_patches
from .patches import PatchGrid, make_patch_grid
from .schedule import learning_rate_factor

__all__ = [
    "BEST_DIR",
    "LAST_DIR",
    "LOG_COLUMNS",
    "LOG_FILE",
    "STATE_FILE",
    "TrainingResult",
    "build_generator",
    "read_log",
    "train",
]

LOGGER = logging.getLogger(__name__)

#: Learning rate of a supervised global-gain branch (Res-U-Net ``global_gain``), as a multiple
#: of the generator's: at the paper's rate its input-dependent part would need thousands of steps
#: to move the gain by 1 (measured: 1.05 after 880 steps where 2.2 was needed).
GAIN_LEARNING_RATE_FACTOR = 10.0

BEST_DIR = "best"
LAST_DIR = "last"
LOG_FILE = "log.tsv"
STATE_FILE = "training_state.pt"
CONFIG_FILE = "config.toml"
SPLIT_FILE = "split.tsv"
MODEL_CARD = "model_card.md"
_STATE_FORMAT = "ce2nce-training-state"
_STATE_VERSION = 1

#: Columns of ``log.tsv``; a value that does not apply to a row's phase is left empty.
LOG_COLUMNS: tuple[str, ...] = (
    "phase",
    "epoch",
    "steps",
    "train_loss",
    "train_l1",
    "train_adversarial",
    "train_discriminator",
    "val_loss",
    "val_mae_percent",
    "val_psnr_db",
    "val_ssim",
    "is_best",
    "seconds",
)
_PHASE_CODES = {"initial": 0, "generator": 1, "discriminator_pretraining": 2, "cgan": 3}
_SELECTING_PHASES = ("generator", "cgan")


@dataclass(frozen=True)
class TrainingResult:
    """What a call to :func:`train` did.

    Attributes
    ----------
    output_dir : pathlib.Path
        The run folder.
    finished : bool
        Whether every epoch is done (``False``: stopped by ``max_steps``/``max_minutes``; run
        again with ``resume`` to continue).
    epochs_completed : int
        Epochs of the main phase (generator or joint cGAN training) done so far.
    best_epoch : int or None
        Epoch of the selected generator.
    best_val_loss : float
        Its validation L1 (``inf`` before the first epoch).
    steps_run : int
        Optimisation steps made by this call.
    global_step : int
        Optimisation steps made by the run since it began.
    best_checkpoint, last_checkpoint, log_file : pathlib.Path or None
        ``best/`` (``None`` before the first epoch), ``last/generator`` and ``log.tsv``.
    """

    output_dir: Path
    finished: bool
    epochs_completed: int
    best_epoch: int | None
    best_val_loss: float
    steps_run: int
    global_step: int
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    log_file: Path


def build_generator(config: TrainingConfig) -> nn.Module:
    """Build the generator of the generator protocol from ``[model]``.

    ``architecture`` defaults to ``att_unet`` and ``preset`` to ``small``; ``kwargs`` override
    the preset's arguments. A Trans-U-Net gets ``input_size`` from the network grid unless
    given.

    Raises
    ------
    ConfigError
        If the architecture rejects the arguments or the network grid (e.g. sides not
        divisible by ``2**depth``).
    """
    architecture = config.architecture or "att_unet"
    kwargs = get_preset(architecture, config.preset or "small")
    kwargs.update(config.model_kwargs)
    shape = config.network_shape or NETWORK_SHAPE
    if config.training_patch is not None:
        # Trained on cubes, applied to the grid padded like the Predictor pads it.
        shape = tuple(side + (-side) % SIZE_MULTIPLE for side in shape)
    if architecture == "trans_unet" and "input_size" not in config.model_kwargs:
        if len(set(shape)) != 1:
            raise ConfigError(f"trans_unet needs a cubic network_shape, got {list(shape)}")
        kwargs["input_size"] = shape[0]
    try:
        # A forward pass on the meta device checks the grid against the architecture without
        # computing anything; fork_rng keeps the seeded initialisation below unaffected.
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            network = build_model(architecture, **kwargs)
            network(torch.empty(1, 1, *shape))
            if config.training_patch is not None:
                network(torch.empty(2, 1, *(config.training_patch,) * 3))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model: {architecture} does not fit: {error}") from None
    return build_model(architecture, **kwargs)


def read_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a ``log.tsv`` as dictionaries of strings (empty string: not applicable)."""
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def _derived_seed(seed: int, phase: str, epoch: int) -> int:
    return (seed * 1_000_003 + _PHASE_CODES[phase] * 100_003 + epoch) % (2**63 - 1)


class _Progress:
    """tqdm when installed, else a logging line every tenth of the epoch (and at its end)."""

    def __init__(self, total: int, done: int, description: str, enabled: bool) -> None:
        self.total, self.done, self.description = total, done, description
        self.every = max(1, total // 10)
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=done, desc=description, leave=False)
        self.enabled = enabled

    def update(self, losses: dict[str, float]) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
        elif self.enabled and (self.done % self.every == 0 or self.done == self.total):
            shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
            LOGGER.info("%s: step %d/%d, %s", self.description, self.done, self.total, shown)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Run:
    """State and steps of one training run (both protocols)."""

    def __init__(self, config: TrainingConfig) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        try:
            self.device = resolve_device(config.device)
        except ValueError as error:
            raise ConfigError(f"run.device: {error}") from None
        self.cgan = config.protocol == "cgan"
        self.batch_size = config.effective_batch_size
        self.started = time.monotonic()
        self.steps_run = 0
        self.discriminator: nn.Module | None = None
        self.optimizer_d: torch.optim.Optimizer | None = None
        self.grid: PatchGrid | None = None
        #: Candidate patch centres of each training pair (with ``data.training_patch``).
        self.centres: dict[int, PatchCentres] = {}
        self.generator_source_sha: str | None = None
        self.noise = torch.Generator()
        self.labels = SoftLabels(config.real_label_range, config.fake_label_range, self.noise)

    # --- set-up ---------------------------------------------------------------------------

    def prepare(self) -> None:
        config = self.config
        resume_from = self._resume_point()
        pairs = load_pairs(pairs_tsv=config.pairs_tsv, dataset_dir=config.dataset_dir)
        self.train_pairs, self.val_pairs = split_pairs(
            pairs, config.validation_fraction, config.seed
        )
        self.state = self._read_state(resume_from) if resume_from else self._fresh_state()
        self._build_networks(resume_from)
        self.train_set, self.val_set = (
            PairedVolumeDataset(
                pairs,
                self.network_shape,
                check_grid=config.check_grid,
                cache=config.cache,
                normalisation=config.intensity_normalisation,
            )
            for pairs in (self.train_pairs, self.val_pairs)
        )
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
        self._write_split()
        if resume_from:
            self._load_optimizers(resume_from)
            self._trim_log()
            LOGGER.info(
                "Resuming %s from %s (completed epochs %s, step %d)",
                self.out,
                resume_from,
                self.state["completed"],
                self.state["global_step"],
            )
        else:
            self._start_log()

    def _resume_point(self) -> Path | None:
        """``last/`` (or ``last.old/`` after a crash during the swap) when resuming."""
        for name in (LAST_DIR, LAST_DIR + ".old"):
            candidate = self.out / name
            if (candidate / STATE_FILE).is_file():
                if not self.config.resume:
                    raise ConfigError(
                        f"{self.out}: holds a training run; set run.resume = true to continue "
                        "it, or choose another output_dir"
                    )
                return candidate
        # A run killed before its first resume point leaves only these: start it afresh.
        restartable = {CONFIG_FILE, SPLIT_FILE, LOG_FILE, LAST_DIR + ".tmp"}
        if self.out.exists() and any(p.name not in restartable for p in self.out.iterdir()):
            raise ConfigError(
                f"{self.out}: exists and is not empty but holds no resumable run; choose an "
                "empty or new output_dir"
            )
        return None

    def _fresh_state(self) -> dict[str, Any]:
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "identity": json.dumps(self.config.identity(), sort_keys=True),
            "split": {
                "train": [p.pair_id for p in self.train_pairs],
                "validation": [p.pair_id for p in self.val_pairs],
            },
            "completed": {},
            "partial": None,
            "global_step": 0,
            "best_val_loss": math.inf,
            "best_epoch": None,
            "best_metrics": {},
            "generator_source_sha256": None,
        }

    def _read_state(self, folder: Path) -> dict[str, Any]:
        path = folder / STATE_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling errors have no common base class
            raise Ce2nceError(f"{path}: unreadable training state ({error})") from None
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise Ce2nceError(f"{path}: not a ce2nce training state")
        if state.get("version") != _STATE_VERSION:
            raise Ce2nceError(f"{path}: unsupported training state version {state.get('version')}")
        saved = json.loads(state["identity"])
        current = self.config.identity()
        changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if changed:
            raise ConfigError(
                f"{path}: the run was started with other settings ({', '.join(changed)} "
                "differ); restore them or choose another output_dir"
            )
        split = {
            "train": [p.pair_id for p in self.train_pairs],
            "validation": [p.pair_id for p in self.val_pairs],
        }
        if state["split"] != split:
            raise ConfigError(
                f"{path}: the training/validation pairs differ from those the run started with; "
                f"see {self.out / SPLIT_FILE}"
            )
        return state

    def _load_generator_source(self) -> tuple[nn.Module, dict[str, Any]]:
        checkpoint = self.config.generator_checkpoint
        try:
            model, metadata = load_checkpoint(checkpoint, device=self.device)
        except CheckpointError as error:
            raise Ce2nceError(str(error)) from None
        name = metadata["architecture"]["name"]
        if name == "patch_discriminator":
            raise ConfigError(f"cgan.generator_checkpoint {checkpoint} is a discriminator")
        if self.config.architecture not in (None, name):
            raise ConfigError(
                f"model.architecture {self.config.architecture!r} differs from the "
                f"generator checkpoint's {name!r}"
            )
        return model, metadata

    def _build_networks(self, resume_from: Path | None) -> None:
        config = self.config
        torch.manual_seed(config.seed)
        if self.cgan:
            generator, metadata = self._load_generator_source()
            self.generator_source_sha = metadata["weights"]["sha256"]
            recorded = self.state.get("generator_source_sha256")
            if recorded not in (None, self.generator_source_sha):
                raise ConfigError(
                    f"cgan.generator_checkpoint {config.generator_checkpoint} is not the "
                    f"checkpoint the run started from (sha256 {recorded})"
                )
            self.state["generator_source_sha256"] = self.generator_source_sha
            shape = tuple(metadata["preprocessing"]["network_grid"]["shape"])
            if config.network_shape is not None and tuple(config.network_shape) != shape:
                raise ConfigError(
                    f"data.network_shape {list(config.network_shape)} differs from the grid "
                    f"{list(shape)} the generator checkpoint was trained on"
                )
            self.network_shape = shape
            normalisation = checkpoint_normalisation(metadata)
            if config.intensity_normalisation != normalisation:
                raise ConfigError(
                    f"data.intensity_normalisation {config.intensity_normalisation!r} differs "
                    f"from the {normalisation!r} the generator checkpoint was trained with"
                )
            kwargs = get_preset("patch_discriminator", config.discriminator_preset)
            kwargs.update(config.discriminator_kwargs)
            try:
                discriminator = build_model("patch_discriminator", **kwargs)
                self.grid = make_patch_grid(
                    shape, config.patch_size, config.patch_stride, config.patches
                )
            except (TypeError, ValueError) as error:
                raise ConfigError(f"cgan: {error}") from None
            if config.patch_size < discriminator.min_patch_size:
                raise ConfigError(
                    f"cgan.patch_size {config.patch_size} is too small for a discriminator of "
                    f"depth {discriminator.config['depth']} (at least "
                    f"{discriminator.min_patch_size})"
                )
            LOGGER.info("Discriminator patches: %s", self.grid.describe())
        else:
            generator = build_generator(config)
            self.network_shape = tuple(config.network_shape or NETWORK_SHAPE)
            discriminator = None
        if resume_from is not None:
            generator = self._load_last(resume_from / "generator")
            if self.cgan:
                discriminator = self._load_last(resume_from / "discriminator")
        self.generator = generator.to(self.device).train()
        self.optimizer_g = torch.optim.Adam(
            self._generator_parameter_groups(),
            lr=config.learning_rate,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        if discriminator is not None:
            self.discriminator = discriminator.to(self.device).train()
            self.optimizer_d = torch.optim.Adam(
                self.discriminator.parameters(),
                lr=config.discriminator_learning_rate,
                betas=config.betas,
                weight_decay=config.weight_decay,
            )

    @property
    def gain_supervised(self) -> bool:
        """Whether the generator has a global gain that training supervises."""
        gain = getattr(self.generator, "gain", None)
        return isinstance(gain, nn.Module) and self.config.gain_loss_weight > 0

    def _generator_parameter_groups(self) -> list[dict[str, Any]]:
        """One Adam group, or two when the global gain is supervised (its own rate)."""
        if not self.gain_supervised:
            return [{"params": list(self.generator.parameters()), "lr_scale": 1.0}]
        gain_ids = {id(p) for p in self.generator.gain.parameters()}
        body = [p for p in self.generator.parameters() if id(p) not in gain_ids]
        return [
            {"params": body, "lr_scale": 1.0},
            {
                "params": list(self.generator.gain.parameters()),
                "lr_scale": GAIN_LEARNING_RATE_FACTOR,
            },
        ]

    def _gain_loss(self, ce: torch.Tensor, nce: torch.Tensor) -> torch.Tensor | None:
        """Weighted gain supervision of the generator, or None when it has no gain."""
        if not self.gain_supervised:
            return None
        predicted = self.generator.predict_gain(ce)
        return self.config.gain_loss_weight * gain_loss(predicted, gain_target(ce, nce))

    def _load_last(self, folder: Path) -> nn.Module:
        try:
            model, _ = load_checkpoint(folder, device=self.device)
        except CheckpointError as error:
            raise Ce2nceError(f"cannot resume: {error}") from None
        return model

    def _load_optimizers(self, folder: Path) -> None:
        try:
            self.optimizer_g.load_state_dict(self.state.pop("optimizer_g"))
        except ValueError as error:  # e.g. a gain branch supervised now but not then
            raise Ce2nceError(
                f"cannot resume from {folder}: the saved optimiser state does not fit this "
                f"generator ({error}); start a new output_dir"
            ) from None
        saved_d = self.state.pop("optimizer_d", None)
        if self.optimizer_d is not None and saved_d is not None:
            self.optimizer_d.load_state_dict(saved_d)
        LOGGER.debug("Optimizer states restored from %s", folder / STATE_FILE)

    # --- files ----------------------------------------------------------------------------

    def _write_split(self) -> None:
        with open(self.out / SPLIT_FILE, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, delimiter="\t", lineterminator="\n")
            writer.writerow(["pair_id", "split", "ce", "nce"])
            for split, pairs in (("train", self.train_pairs), ("validation", self.val_pairs)):
                for pair in pairs:
                    writer.writerow([pair.pair_id, split, pair.ce, pair.nce])

    def _start_log(self) -> None:
        with open(self.out / LOG_FILE, "w", newline="", encoding="utf-8") as stream:
            csv.writer(stream, delimiter="\t", lineterminator="\n").writerow(LOG_COLUMNS)

    def _trim_log(self) -> None:
        """Drop log rows of epochs the resume point does not contain (written after it)."""
        path = self.out / LOG_FILE
        rows = read_log(path) if path.is_file() else []
        completed = self.state["completed"]
        kept = [
            row
            for row in rows
            if row["phase"] == "initial" or int(row["epoch"]) <= completed.get(row["phase"], 0)
        ]
        self._start_log()
        for row in kept:
            self._append_log(row)

    def _append_log(self, row: dict[str, Any]) -> None:
        def text(value: Any) -> str:
            if value is None:
                return ""
            if isinstance(value, float):
                return f"{value:.6g}"
            return str(value)

        with open(self.out / LOG_FILE, "a", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, delimiter="\t", lineterminator="\n")
            writer.writerow([text(row.get(column)) for column in LOG_COLUMNS])

    def _hyperparameters(self) -> dict[str, Any]:
        config = self.config
        values: dict[str, Any] = {
            "optimizer": "Adam",
            "learning_rate": config.learning_rate,
            "betas": list(config.betas),
            "weight_decay": config.weight_decay,
            "batch_size": self.batch_size,
            "loss": "L1",
            "network_shape": list(self.network_shape),
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
        if self.cgan:
            values.update(
                {
                    "loss": "L1 + LSGAN",
                    "generator_checkpoint_sha256": self.generator_source_sha,
                    "discriminator": self.discriminator.config,
                    "discriminator_learning_rate": config.discriminator_learning_rate,
                    "pretrain_epochs": config.pretrain_epochs,
                    "patches": self.grid.describe(),
                    "l1_weight": config.l1_weight,
                    "adversarial_weight": config.adversarial_weight,
                    "real_label_range": list(config.real_label_range),
                    "fake_label_range": list(config.fake_label_range),
                }
            )
        if self.gain_supervised:
            values["loss"] = f"{values['loss']} + {config.gain_loss_weight:g} x L1(gain)"
            values["gain_learning_rate_factor"] = GAIN_LEARNING_RATE_FACTOR
        return values

    def _metadata(self) -> TrainingMetadata:
        source = self.config.pairs_tsv or self.config.dataset_dir
        return TrainingMetadata(
            data=(
                f"{len(self.train_pairs)} training and {len(self.val_pairs)} validation pairs "
                f"from {source}"
            ),
            protocol=self.config.protocol,
            epochs=self.state["completed"].get(self.main_phase, 0),
            best_epoch=self.state["best_epoch"],
            validation_metrics=dict(self.state["best_metrics"]),
            seed=self.config.seed,
            hyperparameters=self._hyperparameters(),
            notes=(
                "validation metrics on the network grid, volumes in [0, 1], within the "
                "pairs' brain masks (or an Otsu head mask when none is given)"
            ),
        )

    def _save_last(self) -> None:
        """Replace ``last/`` by a new resume point, atomically (via ``last.tmp``)."""
        tmp, last, old = (self.out / f"{LAST_DIR}{s}" for s in (".tmp", "", ".old"))
        shutil.rmtree(tmp, ignore_errors=True)
        metadata = self._metadata()
        save_checkpoint(
            self.generator,
            tmp / "generator",
            metadata,
            network_shape=self.network_shape,
            normalisation=self.config.intensity_normalisation,
        )
        if self.discriminator is not None:
            save_checkpoint(
                self.discriminator,
                tmp / "discriminator",
                {"data": metadata.data, "protocol": "cgan discriminator"},
                network_shape=self.network_shape,
            )
        state = dict(self.state)
        state["optimizer_g"] = self.optimizer_g.state_dict()
        if self.optimizer_d is not None:
            state["optimizer_d"] = self.optimizer_d.state_dict()
        state["rng"] = {
            "torch": torch.get_rng_state(),
            "noise": self.noise.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(state, tmp / STATE_FILE)
        shutil.rmtree(old, ignore_errors=True)
        if last.exists():
            os.replace(last, old)
        os.replace(tmp, last)
        shutil.rmtree(old, ignore_errors=True)

    def _save_best(self) -> None:
        save_checkpoint(
            self.generator,
            self.out / BEST_DIR,
            self._metadata(),
            network_shape=self.network_shape,
            normalisation=self.config.intensity_normalisation,
            overwrite=True,
        )

    # --- steps ----------------------------------------------------------------------------

    @property
    def main_phase(self) -> str:
        return "cgan" if self.cgan else "generator"

    def _phases(self) -> list[tuple[str, int, Callable[[torch.Tensor, torch.Tensor], dict]]]:
        if self.cgan:
            return [
                ("discriminator_pretraining", self.config.pretrain_epochs, self._pretrain_step),
                ("cgan", self.config.epochs, self._cgan_step),
            ]
        return [("generator", self.config.epochs, self._generator_step)]

    def _generator_step(self, ce: torch.Tensor, nce: torch.Tensor) -> dict[str, float]:
        self.generator.train()
        l1 = l1_loss(self.generator(ce), nce)
        supervision = self._gain_loss(ce, nce)
        loss = l1 if supervision is None else l1 + supervision
        self.optimizer_g.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_g.step()
        return {"train_loss": float(loss.detach()), "train_l1": float(l1.detach())}

    def _pretrain_step(self, ce: torch.Tensor, nce: torch.Tensor) -> dict[str, float]:
        self.generator.eval()
        with torch.no_grad():
            fake = self.generator(ce)
        self.discriminator.train()
        condition = self.grid.extract(ce)
        real_scores = self.discriminator(self.grid.extract(nce), condition)
        fake_scores = self.discriminator(self.grid.extract(fake), condition)
        loss = discriminator_loss(real_scores, fake_scores, self.labels)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_d.step()
        value = float(loss.detach())
        return {"train_loss": value, "train_discriminator": value}

    def _cgan_step(self, ce: torch.Tensor, nce: torch.Tensor) -> dict[str, float]:
        generator, discriminator, grid = self.generator, self.discriminator, self.grid
        generator.train()
        discriminator.train()
        fake = generator(ce)
        condition = grid.extract(ce)
        # Discriminator update on real and (detached) fake patches.
        real_scores = discriminator(grid.extract(nce), condition)
        fake_scores = discriminator(grid.extract(fake.detach()), condition)
        loss_d = discriminator_loss(real_scores, fake_scores, self.labels)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizer_d.step()
        # Generator update against the updated discriminator, whose weights stay fixed here.
        discriminator.requires_grad_(False)
        try:
            adversarial = generator_adversarial_loss(
                discriminator(grid.extract(fake), condition), self.labels
            )
            l1 = l1_loss(fake, nce)
            loss_g = self.config.l1_weight * l1 + self.config.adversarial_weight * adversarial
            supervision = self._gain_loss(ce, nce)
            if supervision is not None:
                loss_g = loss_g + supervision
            self.optimizer_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.optimizer_g.step()
        finally:
            discriminator.requires_grad_(True)
        return {
            "train_loss": float(loss_g.detach()),
            "train_l1": float(l1.detach()),
            "train_adversarial": float(adversarial.detach()),
            "train_discriminator": float(loss_d.detach()),
        }

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation L1 (and MAE/PSNR/SSIM) of the generator on the network grid."""
        self.generator.eval()
        losses, mae, psnr, ssim = [], [], [], []
        for index in range(len(self.val_set)):
            item = self.val_set[index]
            ce = item["ce"][None].to(self.device)
            nce = item["nce"][None].to(self.device)
            # Cube-trained networks see whole volumes, padded as the Predictor pads them.
            if self.config.training_patch is None:
                prediction = self.generator(ce)
            else:
                prediction = run_padded(self.generator, ce)
            losses.append(float(l1_loss(prediction, nce)))
            if self.config.validation_metrics:
                metrics = image_similarity(
                    item["nce"][0].numpy(),
                    prediction[0, 0].clamp(0.0, 1.0).float().cpu().numpy(),
                    item["mask"].numpy(),
                    scale=False,
                )
                mae.append(metrics.mae_percent)
                psnr.append(metrics.psnr_db)
                ssim.append(metrics.ssim)
        self.generator.train()
        result = {"val_loss": float(np.mean(losses))}
        if self.config.validation_metrics:
            result.update(
                val_mae_percent=float(np.mean(mae)),
                val_psnr_db=float(np.mean(psnr)),
                val_ssim=float(np.mean(ssim)),
            )
        return result

    # --- loop -----------------------------------------------------------------------------

    def _limit_reached(self) -> bool:
        config = self.config
        if config.max_steps is not None and self.steps_run >= config.max_steps:
            return True
        minutes = (time.monotonic() - self.started) / 60.0
        return config.max_minutes is not None and minutes >= config.max_minutes

    def _set_learning_rates(self, phase: str, epoch: int, total: int) -> None:
        """Set the optimisers' rates for ``epoch`` of ``phase`` (see ``training.schedule``).

        Called before every epoch (and after a resume, whose saved optimiser state carries the
        rate it stopped at). Discriminator pre-training always runs at the full rate.
        """
        config = self.config
        factor = 1.0
        if phase in _SELECTING_PHASES:
            factor = learning_rate_factor(
                epoch,
                total,
                config.lr_schedule,
                config.lr_decay_start_epoch,
                config.min_learning_rate / config.learning_rate,
            )
        for group in self.optimizer_g.param_groups:
            group["lr"] = config.learning_rate * factor * group.get("lr_scale", 1.0)
        if self.optimizer_d is not None:
            for group in self.optimizer_d.param_groups:
                group["lr"] = config.discriminator_learning_rate * factor
        if factor != 1.0:
            LOGGER.info(
                "%s epoch %d: learning rate %.3g", phase, epoch, config.learning_rate * factor
            )

    def _seed_epoch(self, phase: str, epoch: int) -> None:
        seed = _derived_seed(self.config.seed, phase, epoch)
        torch.manual_seed(seed)
        self.noise.manual_seed(seed + 1)

    def _restore_rng(self) -> None:
        rng = self.state.pop("rng", None)
        if not rng:
            return
        torch.set_rng_state(rng["torch"])
        self.noise.set_state(rng["noise"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def _batches(self, phase: str, epoch: int) -> list[list[int]]:
        order = torch.randperm(
            len(self.train_set),
            generator=torch.Generator().manual_seed(_derived_seed(self.config.seed, phase, epoch)),
        ).tolist()
        size = self.batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.train_set[i] for i in indices]
        size = self.config.training_patch
        if size is None:
            ce = torch.stack([item["ce"] for item in items])
            nce = torch.stack([item["nce"] for item in items])
            return ce.to(self.device), nce.to(self.device)
        cubes = []
        for index, item in zip(indices, items, strict=True):
            if index not in self.centres:
                self.centres[index] = patch_centres(item["ce"], item["nce"], item["mask"])
            cubes.append(
                sample_patches(
                    item["ce"],
                    item["nce"],
                    self.centres[index],
                    size,
                    self.config.patches_per_volume,
                    self.noise,
                )
            )
        ce = torch.cat([pair[0] for pair in cubes])
        nce = torch.cat([pair[1] for pair in cubes])
        return ce.to(self.device), nce.to(self.device)

    def _initial_row(self) -> None:
        row = {"phase": "initial", "epoch": 0, "steps": 0, "seconds": 0.0, **self.validate()}
        self._append_log(row)
        LOGGER.info("Before training: validation L1 %.5f", row["val_loss"])

    def _end_epoch(self, phase: str, epoch: int, partial: dict[str, Any]) -> None:
        steps = partial["steps"]
        row: dict[str, Any] = {"phase": phase, "epoch": epoch, "steps": steps}
        row.update({name: total / steps for name, total in partial["sums"].items()})
        if phase in _SELECTING_PHASES:
            started = time.monotonic()
            row.update(self.validate())
            partial["seconds"] += time.monotonic() - started
            if row["val_loss"] < self.state["best_val_loss"]:
                self.state["best_val_loss"] = row["val_loss"]
                self.state["best_epoch"] = epoch
                self.state["best_metrics"] = {k: v for k, v in row.items() if k.startswith("val_")}
                row["is_best"] = True
        completed = self.state["completed"]
        completed[phase] = epoch
        self.state["partial"] = None
        if row.get("is_best"):
            self._save_best()
        row["seconds"] = partial["seconds"]
        self._append_log(row)
        self._save_last()
        LOGGER.info(
            "%s epoch %d: train %.5f%s (%.1f s)",
            phase,
            epoch,
            row["train_loss"],
            f", validation L1 {row['val_loss']:.5f}" if "val_loss" in row else "",
            row["seconds"],
        )

    def run(self) -> bool:
        """Train until done or a limit is reached; return whether every epoch is done."""
        if not self.state["completed"] and self.state["partial"] is None:
            self._initial_row()
        self._restore_rng()
        phases = self._phases()
        for position, (phase, total, step) in enumerate(phases):
            later_started = any(
                name in self.state["completed"] for name, _, _ in phases[position + 1 :]
            )
            if later_started:
                continue
            while self.state["completed"].get(phase, 0) < total:
                epoch = self.state["completed"].get(phase, 0) + 1
                partial = self.state["partial"]
                if partial is None or partial["phase"] != phase:
                    partial = {"phase": phase, "step": 0, "steps": 0, "sums": {}, "seconds": 0.0}
                    self.state["partial"] = partial
                    self._seed_epoch(phase, epoch)
                self._set_learning_rates(phase, epoch, total)
                batches = self._batches(phase, epoch)
                progress = _Progress(
                    len(batches), partial["step"], f"{phase} {epoch}/{total}", self.config.progress
                )
                started = time.monotonic()
                try:
                    for index in range(partial["step"], len(batches)):
                        losses = step(*self._batch(batches[index]))
                        for name, value in losses.items():
                            partial["sums"][name] = partial["sums"].get(name, 0.0) + value
                        partial["step"] += 1
                        partial["steps"] += 1
                        self.state["global_step"] += 1
                        self.steps_run += 1
                        progress.update(losses)
                        if index + 1 < len(batches) and self._limit_reached():
                            partial["seconds"] += time.monotonic() - started
                            self._save_last()
                            return False
                finally:
                    progress.close()
                partial["seconds"] += time.monotonic() - started
                self._end_epoch(phase, epoch, partial)
                more = self.state["completed"].get(phase, 0) < total or position + 1 < len(phases)
                if more and self._limit_reached():
                    return False
        return True

    def finish(self) -> None:
        """Record the final epoch count in ``best/`` and write the model card."""
        best = self.out / BEST_DIR
        if not (best / "metadata.json").is_file():
            return
        model, metadata = load_checkpoint(best)
        training = TrainingMetadata.from_mapping(metadata["training"])
        training = dataclasses.replace(
            training, epochs=self.state["completed"].get(self.main_phase, 0)
        )
        save_checkpoint(
            model,
            best,
            training,
            network_shape=self.network_shape,
            normalisation=checkpoint_normalisation(metadata),
            overwrite=True,
        )
        write_model_card(best, self.out / MODEL_CARD)
        LOGGER.info(
            "Best generator: epoch %s, validation L1 %.5f, sha256 %s (%s)",
            self.state["best_epoch"],
            self.state["best_val_loss"],
            sha256_file(best / "weights.safetensors"),
            best,
        )

    def result(self, finished: bool) -> TrainingResult:
        best = self.out / BEST_DIR
        last = self.out / LAST_DIR / "generator"
        return TrainingResult(
            output_dir=self.out,
            finished=finished,
            epochs_completed=self.state["completed"].get(self.main_phase, 0),
            best_epoch=self.state["best_epoch"],
            best_val_loss=float(self.state["best_val_loss"]),
            steps_run=self.steps_run,
            global_step=self.state["global_step"],
            best_checkpoint=best if best.is_dir() else None,
            last_checkpoint=last if last.is_dir() else None,
            log_file=self.out / LOG_FILE,
        )


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(config: TrainingConfig) -> TrainingResult:
    """Train (or resume training) a generator or a cGAN as ``config`` says.

    Parameters
    ----------
    config : TrainingConfig
        The settings (``protocol`` selects the generator or the cGAN protocol).

    Returns
    -------
    TrainingResult
        ``finished`` is false when ``max_steps``/``max_minutes`` stopped the run: calling
        :func:`train` again with the same settings continues it from ``last/``.

    Raises
    ------
    Ce2nceError
        For unusable settings (:class:`~.config.ConfigError`), data
        (:class:`~ce2nce_pipeline.errors.InvalidInputError`), checkpoints or resume points.
    """
    with _threads(config.num_threads):
        run = _Run(config)
        run.prepare()
        context = (
            deterministic_cudnn()
            if config.deterministic and run.device.type == "cuda"
            else contextlib.nullcontext()
        )
        with context:
            finished = run.run()
        if finished:
            run.finish()
        else:
            LOGGER.info(
                "Stopped after %d step(s) (max_steps/max_minutes); run again to resume from %s",
                run.steps_run,
                run.out / LAST_DIR,
            )
        return run.result(finished)
