"""Typed training settings, read from a TOML recipe (``workflows/train_*.toml``).

A recipe has five tables; every key is optional except ``run.output_dir`` and one data source::

    [run]           output_dir, protocol ("generator" | "cgan"), seed, device, num_threads,
                    resume, max_steps, max_minutes, progress, deterministic
    [data]          pairs_tsv | dataset_dir, validation_fraction, network_shape, check_grid,
                    cache, validation_metrics, intensity_normalisation
                    ("min-max" | "white-matter" | "white-matter-input"),
                    training_patch, patches_per_volume, target
                    ("nce" | "ce-without-enhancement")
    [model]         architecture, preset, kwargs, initial_checkpoint
    [optimization]  epochs, batch_size, learning_rate, betas, weight_decay, lr_schedule
                    ("constant" | "cosine"), lr_decay_start_epoch, min_learning_rate,
                    gain_loss_weight
    [cgan]          generator_checkpoint, discriminator_preset, discriminator_kwargs,
                    pretrain_epochs, patches ("paper" | "cover"), patch_size, patch_stride,
                    discriminator_learning_rate, l1_weight, adversarial_weight,
                    real_label_range, fake_label_range

An unknown table or key, or a value of the wrong type, is a :class:`ConfigError` with a
one-line message naming the file and the key: a typo is never silently ignored. Relative paths
in a recipe are relative to the recipe's folder. ``docs/training.md`` describes every key.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ..models.registry import GENERATORS, get_preset, list_presets
from ..science.intensity import INTENSITY_NORMALISATIONS
from .pairs import TRAINING_TARGETS
from .schedule import LR_SCHEDULES
from .settings import (
    ConfigError,
    build_dataclass,
    coerce_fields,
    read_toml,
    setting,
    settings_dict,
)

__all__ = [
    "PATCH_MODES",
    "PROTOCOLS",
    "RESUME_INDEPENDENT",
    "SECTIONS",
    "ConfigError",
    "TrainingConfig",
    "load_training_config",
]

Protocol = Literal["generator", "cgan"]
PatchMode = Literal["paper", "cover"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
PATCH_MODES: tuple[str, ...] = get_args(PatchMode)
SECTIONS: tuple[str, ...] = ("run", "data", "model", "optimization", "cgan")
#: Settings that may change between a run and its resumption (the others must not).
RESUME_INDEPENDENT: frozenset[str] = frozenset(
    {
        "output_dir",
        "device",
        "num_threads",
        "resume",
        "max_steps",
        "max_minutes",
        "progress",
        "deterministic",
        "epochs",
        "lr_schedule",
        "lr_decay_start_epoch",
        "min_learning_rate",
        "pairs_tsv",
        "dataset_dir",
        "cache",
        "validation_metrics",
        "generator_checkpoint",
    }
)


@dataclass
class TrainingConfig:
    """Every setting of a training run (generator or cGAN protocol).

    Fields are grouped in the TOML tables named in the module docstring; the attribute names
    equal the TOML keys except ``model_kwargs`` (``[model] kwargs``). Defaults follow the
    paper (Adam, lr 1e-4, betas (0.5, 0.999), L1, batch size 2 — 1 for cGANs —, 300 epochs,
    8 discriminator patches of 64³ with stride 50, soft labels real ~ U(0, 0.3) and fake ~
    U(0.7, 1)); ``docs/training.md`` lists where we depart from it.

    Raises
    ------
    ConfigError
        For a value of the wrong type or out of range, or inconsistent settings.
    """

    output_dir: Path = setting(section="run", path=True)
    protocol: Protocol = setting("generator", section="run")
    seed: int = setting(0, section="run", low=0)
    device: str = setting("auto", section="run")
    num_threads: int | None = setting(None, section="run", low=1)
    resume: bool = setting(True, section="run")
    max_steps: int | None = setting(None, section="run", low=1)
    max_minutes: float | None = setting(None, section="run", low=0.0, open_low=True)
    progress: bool = setting(True, section="run")
    deterministic: bool = setting(True, section="run")

    pairs_tsv: Path | None = setting(None, section="data", path=True)
    dataset_dir: Path | None = setting(None, section="data", path=True)
    validation_fraction: float = setting(0.2, section="data", low=0.0, high=0.9, open_low=True)
    network_shape: tuple[int, int, int] | None = setting(None, section="data")
    check_grid: bool = setting(True, section="data")
    cache: bool = setting(True, section="data")
    validation_metrics: bool = setting(True, section="data")
    intensity_normalisation: str = setting(
        "min-max", section="data", choices=INTENSITY_NORMALISATIONS
    )
    training_patch: int | None = setting(None, section="data", low=8)
    patches_per_volume: int = setting(4, section="data", low=1)
    target: str = setting("nce", section="data", choices=TRAINING_TARGETS)

    architecture: str | None = setting(None, section="model", choices=GENERATORS)
    preset: str | None = setting(None, section="model")
    model_kwargs: dict[str, Any] = setting(section="model", key="kwargs", factory=dict)
    initial_checkpoint: Path | None = setting(None, section="model", path=True)

    epochs: int = setting(300, section="optimization", low=1)
    batch_size: int | None = setting(None, section="optimization", low=1)
    learning_rate: float = setting(1e-4, section="optimization", low=0.0, open_low=True)
    betas: tuple[float, float] = setting((0.5, 0.999), section="optimization", high=0.999999)
    weight_decay: float = setting(0.0, section="optimization", low=0.0)
    lr_schedule: str = setting("constant", section="optimization", choices=LR_SCHEDULES)
    lr_decay_start_epoch: int = setting(0, section="optimization", low=0)
    min_learning_rate: float = setting(0.0, section="optimization", low=0.0)
    gain_loss_weight: float = setting(1.0, section="optimization", low=0.0)

    generator_checkpoint: Path | None = setting(None, section="cgan", path=True)
    discriminator_preset: str = setting("small", section="cgan")
    discriminator_kwargs: dict[str, Any] = setting(section="cgan", factory=dict)
    pretrain_epochs: int = setting(1, section="cgan", low=0)
    patches: PatchMode = setting("paper", section="cgan")
    patch_size: int = setting(64, section="cgan", low=1)
    patch_stride: int = setting(50, section="cgan", low=1)
    discriminator_learning_rate: float = setting(1e-4, section="cgan", low=0.0, open_low=True)
    l1_weight: float = setting(1.0, section="cgan", low=0.0)
    adversarial_weight: float = setting(1.0, section="cgan", low=0.0)
    real_label_range: tuple[float, float] = setting((0.0, 0.3), section="cgan")
    fake_label_range: tuple[float, float] = setting((0.7, 1.0), section="cgan")

    def __post_init__(self) -> None:
        coerce_fields(self)
        if (self.pairs_tsv is None) == (self.dataset_dir is None):
            raise ConfigError(
                "give exactly one data source: data.pairs_tsv (a TSV of pairs) or "
                "data.dataset_dir (a ce2nce output dataset)"
            )
        if self.protocol == "cgan":
            if self.generator_checkpoint is None:
                raise ConfigError(
                    "the cgan protocol needs cgan.generator_checkpoint: the trained U-Net "
                    "checkpoint its generator starts from (e.g. the 'best' folder of a "
                    "generator run)"
                )
            if self.preset is not None or self.model_kwargs:
                raise ConfigError(
                    "the cgan generator is rebuilt from cgan.generator_checkpoint: remove "
                    "model.preset and model.kwargs"
                )
            get_preset("patch_discriminator", self.discriminator_preset)
        elif self.preset is not None and self.preset not in list_presets(
            self.architecture or "att_unet"
        ):
            raise ConfigError(
                f"model.preset {self.preset!r} does not exist for "
                f"{self.architecture or 'att_unet'}; choose one of "
                f"{list_presets(self.architecture or 'att_unet')}"
            )
        if self.initial_checkpoint is not None and self.protocol == "cgan":
            raise ConfigError(
                "model.initial_checkpoint starts a generator-protocol run from trained weights; "
                "a cgan run starts from cgan.generator_checkpoint"
            )
        if self.training_patch is not None and self.protocol == "cgan":
            raise ConfigError(
                "data.training_patch trains a generator on patches; the cgan protocol works on "
                "whole volumes (remove data.training_patch)"
            )
        if self.min_learning_rate > self.learning_rate:
            raise ConfigError(
                f"optimization.min_learning_rate ({self.min_learning_rate}) is above "
                f"optimization.learning_rate ({self.learning_rate})"
            )
        if self.real_label_range[1] > self.fake_label_range[0]:
            # Soft labels may touch but must not overlap, or D could not tell them apart.
            raise ConfigError(
                f"cgan.real_label_range {list(self.real_label_range)} overlaps "
                f"cgan.fake_label_range {list(self.fake_label_range)}"
            )

    @property
    def effective_batch_size(self) -> int:
        """``batch_size``, or the paper's default: 2 for generators, 1 for cGANs."""
        if self.batch_size is not None:
            return self.batch_size
        return 1 if self.protocol == "cgan" else 2

    def to_dict(self) -> dict[str, Any]:
        """The settings as TOML tables (``None`` left out, paths as strings)."""
        return settings_dict(self)

    def to_toml(self) -> str:
        """The settings as TOML text, readable by :func:`load_training_config`."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def identity(self) -> dict[str, Any]:
        """The settings that must not change when a run is resumed (see ``RESUME_INDEPENDENT``)."""
        identity: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            if item.name in RESUME_INDEPENDENT:
                continue
            value = getattr(self, item.name)
            identity[item.name] = list(value) if isinstance(value, tuple) else value
        return json.loads(json.dumps(identity, default=os.fspath))


def load_training_config(path: str | os.PathLike[str], **overrides: Any) -> TrainingConfig:
    """Read a training recipe.

    Parameters
    ----------
    path : path-like
        TOML file (see the module docstring). Relative paths in it are resolved against its
        folder.
    **overrides
        Attribute values that replace the file's (e.g. from the command line); ``None``
        values are ignored.

    Returns
    -------
    TrainingConfig

    Raises
    ------
    ConfigError
        One line naming the file and the offending table or key.
    """
    source = Path(path)
    document = read_toml(source)
    config = build_dataclass(
        TrainingConfig, document, source=str(source), base_dir=source.resolve().parent
    )
    updates = {name: value for name, value in overrides.items() if value is not None}
    if updates:
        unknown = sorted(set(updates) - {f.name for f in dataclasses.fields(TrainingConfig)})
        if unknown:
            raise ConfigError(f"unknown training setting(s) {unknown}")
        try:
            config = dataclasses.replace(config, **updates)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
    return config
