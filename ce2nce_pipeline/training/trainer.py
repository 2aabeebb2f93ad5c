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

This module holds the loop; the networks and optimisers are built in :mod:`.networks`, the step
of each protocol and the validation are in :mod:`.steps`, the run folder and resuming in
:mod:`.run_state`, ``log.tsv`` and the progress display in :mod:`.training_log`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..models.checkpoint import (
    TrainingMetadata,
    checkpoint_normalisation,
    load_checkpoint,
    save_checkpoint,
    sha256_file,
)
from ..models.model_card import write_model_card
from ..models.predictor import deterministic_cudnn, resolve_device
from .config import ConfigError, TrainingConfig
from .datasets import PairedVolumeDataset
from .losses import SoftLabels
from .networks import GAIN_LEARNING_RATE_FACTOR, build_generator, build_networks
from .pairs import load_pairs, split_pairs
from .patch_sampling import PatchCentres, patch_centres, sample_patches
from .run_state import (
    BEST_DIR,
    CONFIG_FILE,
    LAST_DIR,
    MODEL_CARD,
    STATE_FILE,
    fresh_state,
    load_optimizers,
    read_state,
    restore_rng,
    resume_point,
    save_best,
    save_last,
    training_metadata,
    write_split,
)
from .schedule import learning_rate_factor
from .steps import cgan_step, generator_step, pretrain_step, validate
from .training_log import (
    LOG_COLUMNS,
    LOG_FILE,
    Progress,
    append_log,
    log_epoch,
    read_log,
    start_log,
    trim_log,
)

__all__ = [
    "BEST_DIR",
    "GAIN_LEARNING_RATE_FACTOR",
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

_PHASE_CODES = {"initial": 0, "generator": 1, "discriminator_pretraining": 2, "cgan": 3}
_SELECTING_PHASES = ("generator", "cgan")

#: A step of a protocol: ``(ce, nce)`` on the run's device -> losses by log column.
Step = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]


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

    def summary(self) -> str:
        """One line: the best epoch of a finished run, or how to resume a stopped one."""
        if self.finished:
            return (
                f"Finished {self.epochs_completed} epoch(s); best epoch {self.best_epoch} "
                f"(validation L1 {self.best_val_loss:.5f}): {self.best_checkpoint}"
            )
        return (
            f"Stopped after {self.steps_run} step(s) at epoch {self.epochs_completed}; run "
            f"the same command again to resume from {self.output_dir / 'last'}"
        )


def _derived_seed(seed: int, phase: str, epoch: int) -> int:
    return (seed * 1_000_003 + _PHASE_CODES[phase] * 100_003 + epoch) % (2**63 - 1)


class _Run:
    """One training run (both protocols): its set-up, its epochs and its end."""

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
        #: Candidate patch centres of each training pair (with ``data.training_patch``).
        self.centres: dict[int, PatchCentres] = {}
        self.noise = torch.Generator()
        self.labels = SoftLabels(config.real_label_range, config.fake_label_range, self.noise)

    # --- set-up ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the pairs, build or resume the networks, write the run folder's first files."""
        config = self.config
        resume_from = resume_point(self.out, config.resume)
        pairs = load_pairs(pairs_tsv=config.pairs_tsv, dataset_dir=config.dataset_dir)
        self.train_pairs, self.val_pairs = split_pairs(
            pairs, config.validation_fraction, config.seed
        )
        if resume_from:
            self.state = read_state(resume_from, config, self.train_pairs, self.val_pairs)
        else:
            self.state = fresh_state(config, self.train_pairs, self.val_pairs)
        self.nets = build_networks(config, self.state, self.device, resume_from)
        self.train_set, self.val_set = (
            PairedVolumeDataset(
                pairs,
                self.network_shape,
                check_grid=config.check_grid,
                cache=config.cache,
                normalisation=config.intensity_normalisation,
                target=config.target,
            )
            for pairs in (self.train_pairs, self.val_pairs)
        )
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
        write_split(self.out, self.train_pairs, self.val_pairs)
        if resume_from:
            self._resume(resume_from)
        else:
            start_log(self.out)

    def _resume(self, folder: Path) -> None:
        load_optimizers(self.nets, self.state, folder)
        trim_log(self.out, self.state["completed"])
        LOGGER.info(
            "Resuming %s from %s (completed epochs %s, step %d)",
            self.out,
            folder,
            self.state["completed"],
            self.state["global_step"],
        )

    @property
    def network_shape(self) -> tuple[int, ...]:
        return self.nets.network_shape

    @property
    def main_phase(self) -> str:
        return "cgan" if self.cgan else "generator"

    def _phases(self) -> list[tuple[str, int, Step]]:
        """The phases of the protocol, in order: name, epochs, step."""
        bound = functools.partial
        args = (self.nets, self.config, self.labels)
        if self.cgan:
            return [
                (
                    "discriminator_pretraining",
                    self.config.pretrain_epochs,
                    bound(pretrain_step, *args),
                ),
                ("cgan", self.config.epochs, bound(cgan_step, *args)),
            ]
        return [("generator", self.config.epochs, bound(generator_step, *args))]

    # --- files ----------------------------------------------------------------------------

    def _metadata(self) -> TrainingMetadata:
        pairs = (self.train_pairs, self.val_pairs)
        return training_metadata(self.config, self.nets, self.state, pairs)

    def _save_last(self) -> None:
        normalisation = self.config.intensity_normalisation
        save_last(self.out, self.nets, self.state, self._metadata(), self.noise, normalisation)

    def _save_best(self) -> None:
        save_best(self.out, self.nets, self._metadata(), self.config.intensity_normalisation)

    def validate(self) -> dict[str, float]:
        """Validation L1 (and MAE/PSNR/SSIM) of the generator on the network grid."""
        return validate(self.nets, self.config, self.val_set, self.device)

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
        for group in self.nets.optimizer_g.param_groups:
            group["lr"] = config.learning_rate * factor * group.get("lr_scale", 1.0)
        if self.nets.optimizer_d is not None:
            for group in self.nets.optimizer_d.param_groups:
                group["lr"] = config.discriminator_learning_rate * factor
        if factor != 1.0:
            LOGGER.info(
                "%s epoch %d: learning rate %.3g", phase, epoch, config.learning_rate * factor
            )

    def _seed_epoch(self, phase: str, epoch: int) -> None:
        seed = _derived_seed(self.config.seed, phase, epoch)
        torch.manual_seed(seed)
        self.noise.manual_seed(seed + 1)

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
        append_log(self.out, row)
        LOGGER.info("Before training: validation L1 %.5f", row["val_loss"])

    def _select(self, row: dict[str, Any], epoch: int, partial: dict[str, Any]) -> None:
        """Validate after ``epoch``; keep the validation in ``row``, mark it if it is best."""
        started = time.monotonic()
        row.update(self.validate())
        partial["seconds"] += time.monotonic() - started
        if row["val_loss"] < self.state["best_val_loss"]:
            self.state["best_val_loss"] = row["val_loss"]
            self.state["best_epoch"] = epoch
            self.state["best_metrics"] = {k: v for k, v in row.items() if k.startswith("val_")}
            row["is_best"] = True

    def _end_epoch(self, phase: str, epoch: int, partial: dict[str, Any]) -> None:
        steps = partial["steps"]
        row: dict[str, Any] = {"phase": phase, "epoch": epoch, "steps": steps}
        row.update({name: total / steps for name, total in partial["sums"].items()})
        if phase in _SELECTING_PHASES:
            self._select(row, epoch, partial)
        self.state["completed"][phase] = epoch
        self.state["partial"] = None
        if row.get("is_best"):
            self._save_best()
        row["seconds"] = partial["seconds"]
        append_log(self.out, row)
        self._save_last()
        log_epoch(phase, epoch, row)

    def _epoch_partial(self, phase: str, epoch: int) -> dict[str, Any]:
        """The progress of ``epoch``: the one a stopped run saved, or a new, seeded one."""
        partial = self.state["partial"]
        if partial is None or partial["phase"] != phase:
            partial = {"phase": phase, "step": 0, "steps": 0, "sums": {}, "seconds": 0.0}
            self.state["partial"] = partial
            self._seed_epoch(phase, epoch)
        return partial

    def _count_step(self, partial: dict[str, Any], losses: dict[str, float]) -> None:
        for name, value in losses.items():
            partial["sums"][name] = partial["sums"].get(name, 0.0) + value
        partial["step"] += 1
        partial["steps"] += 1
        self.state["global_step"] += 1
        self.steps_run += 1

    def _run_epoch(self, phase: str, epoch: int, total: int, step: Step) -> bool:
        """Run (the rest of) ``epoch``; return false when a limit stopped it midway."""
        partial = self._epoch_partial(phase, epoch)
        self._set_learning_rates(phase, epoch, total)
        batches = self._batches(phase, epoch)
        progress = Progress(
            len(batches), partial["step"], f"{phase} {epoch}/{total}", self.config.progress
        )
        started = time.monotonic()
        try:
            for index in range(partial["step"], len(batches)):
                losses = step(*self._batch(batches[index]))
                self._count_step(partial, losses)
                progress.update(losses)
                if index + 1 < len(batches) and self._limit_reached():
                    partial["seconds"] += time.monotonic() - started
                    self._save_last()
                    return False
        finally:
            progress.close()
        partial["seconds"] += time.monotonic() - started
        self._end_epoch(phase, epoch, partial)
        return True

    def run(self) -> bool:
        """Train until done or a limit is reached; return whether every epoch is done."""
        completed = self.state["completed"]
        if not completed and self.state["partial"] is None:
            self._initial_row()
        restore_rng(self.state, self.noise)
        phases = self._phases()
        for position, (phase, total, step) in enumerate(phases):
            if any(name in completed for name, _, _ in phases[position + 1 :]):
                continue  # a later phase has started: this one is done
            last_phase = position + 1 == len(phases)
            while completed.get(phase, 0) < total:
                if not self._run_epoch(phase, completed.get(phase, 0) + 1, total, step):
                    return False
                more = completed.get(phase, 0) < total or not last_phase
                if more and self._limit_reached():
                    return False
        return True

    # --- end ------------------------------------------------------------------------------

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
