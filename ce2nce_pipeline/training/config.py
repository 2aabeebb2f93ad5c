"""Typed training settings, read from a TOML recipe (``workflows/train_*.toml``).

A recipe has five tables; every key is optional except ``run.output_dir`` and one data source::

    [run]           output_dir, protocol ("generator" | "cgan"), seed, device, num_threads,
                    resume, max_steps, max_minutes, progress, deterministic
    [data]          pairs_tsv | dataset_dir, validation_fraction, network_shape, check_grid,
                    cache, validation_metrics, intensity_normalisation
                    ("min-max" | "white-matter" | "white-matter-input"),
                    training_patch, patches_per_volume
    [model]         architecture, preset, kwargs
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
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Ce2nceError
from ..models.registry import GENERATORS, get_preset, list_presets
from ..science.intensity import INTENSITY_NORMALISATIONS
from .schedule import LR_SCHEDULES

__all__ = [
    "PATCH_MODES",
    "PROTOCOLS",
    "RESUME_INDEPENDENT",
    "SECTIONS",
    "ConfigError",
    "TrainingConfig",
    "as_bool",
    "as_float",
    "as_int",
    "as_kwargs",
    "as_path",
    "as_path_table",
    "as_range",
    "as_shape3",
    "as_str",
    "build_dataclass",
    "coerce_fields",
    "load_training_config",
    "optional",
    "read_toml",
    "setting",
    "settings_dict",
]

PROTOCOLS: tuple[str, ...] = ("generator", "cgan")
PATCH_MODES: tuple[str, ...] = ("paper", "cover")
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


class ConfigError(Ce2nceError):
    """A training or evaluation setting that is missing, unknown or of the wrong type."""


Converter = Callable[[str, Any], Any]


# --- value converters: each takes the key's name (for messages) and the raw value and returns
# the checked value or raises ConfigError; shared with the evaluation settings.


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_path(name: str, value: Any) -> Path:
    """A non-empty string or path-like, as a ``Path`` (``~`` expanded)."""
    if isinstance(value, str | os.PathLike) and os.fspath(value):
        return Path(value).expanduser()
    raise ConfigError(f"{name} must be a path (a non-empty string), got {value!r}")


def as_str(choices: tuple[str, ...] | None = None) -> Converter:
    """Converter to a non-empty string, one of ``choices`` when given."""

    def convert(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
        return value

    return convert


def as_bool(name: str, value: Any) -> bool:
    """A TOML boolean (no truthy numbers or strings)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def as_int(minimum: int | None = None) -> Converter:
    """Converter to an integer (not a boolean) of at least ``minimum``."""

    def convert(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        return value

    return convert


def as_float(
    low: float | None = None, high: float | None = None, *, open_low: bool = False
) -> Converter:
    """Converter to a finite float within ``[low, high]`` (``(low, high]`` if ``open_low``)."""

    def convert(name: str, value: Any) -> float:
        if not _number(value) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
        if low is not None and (value < low or (open_low and value == low)):
            bound = ">" if open_low else ">="
            raise ConfigError(f"{name} must be {bound} {low}, got {value}")
        if high is not None and value > high:
            raise ConfigError(f"{name} must be <= {high}, got {value}")
        return value

    return convert


def optional(convert: Converter) -> Converter:
    """``convert``, letting ``None`` through."""

    def wrapped(name: str, value: Any) -> Any:
        return None if value is None else convert(name, value)

    return wrapped


def as_shape3(name: str, value: Any) -> tuple[int, int, int]:
    """Three positive integers, as a tuple."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigError(
            f"{name} must be 3 positive integers, e.g. [128, 128, 128], got {value!r}"
        )
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def as_range(low: float, high: float) -> Converter:
    """Converter to an ordered pair ``(a, b)`` with ``low <= a <= b <= high``."""

    def convert(name: str, value: Any) -> tuple[float, float]:
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(_number(v) and math.isfinite(v) for v in value)
            or not low <= value[0] <= value[1] <= high
        ):
            raise ConfigError(
                f"{name} must be two numbers [a, b] with {low} <= a <= b <= {high}, got {value!r}"
            )
        return float(value[0]), float(value[1])

    return convert


def as_kwargs(name: str, value: Any) -> dict[str, Any]:
    """A table of keyword arguments, as a plain JSON-able dict."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{name} must be a table of keyword arguments, got {value!r}")
    return json.loads(json.dumps(dict(value)))  # a plain, JSON-able deep copy


def as_path_table(name: str, value: Any) -> dict[str, Path]:
    """A non-empty table ``name = path``."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{name} must be a non-empty table of name = checkpoint path")
    return {str(key): as_path(f"{name}.{key}", path) for key, path in value.items()}


def setting(
    default: Any = dataclasses.MISSING,
    *,
    section: str | None,
    convert: Converter,
    key: str | None = None,
    factory: Callable[[], Any] | None = None,
    path: bool = False,
) -> Any:
    """A dataclass field carrying its TOML table, TOML key and converter.

    ``path=True`` marks a field holding a path (or a table of paths) that
    :func:`build_dataclass` resolves against the recipe's folder.
    """
    metadata = {"section": section, "convert": convert, "key": key, "path": path}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _toml_key(item: dataclasses.Field) -> str:
    return item.metadata.get("key") or item.name


def coerce_fields(instance: Any) -> None:
    """Convert (and check) every field of a dataclass built with :func:`setting`."""
    for item in dataclasses.fields(instance):
        if "convert" not in item.metadata:
            continue
        section = item.metadata["section"]
        label = f"{section}.{_toml_key(item)}" if section else _toml_key(item)
        value = getattr(instance, item.name)
        object.__setattr__(instance, item.name, item.metadata["convert"](label, value))


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file.

    Raises
    ------
    ConfigError
        If the file is missing or not valid TOML (one line naming the file).
    """
    source = Path(path)
    try:
        with open(source, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such configuration file") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{source}: not a readable TOML file ({message})") from None


def build_dataclass(
    cls: type, document: Mapping[str, Any], *, source: str, base_dir: Path | None = None
) -> Any:
    """Build a settings dataclass from a parsed TOML document, refusing unknown keys.

    Parameters
    ----------
    cls : type
        A dataclass whose fields are made with :func:`setting`; fields with ``section=None``
        are top-level keys, the others keys of ``[section]``.
    document : mapping
        The parsed TOML.
    source : str
        Name of the file, for messages.
    base_dir : pathlib.Path, optional
        Folder against which the relative paths of ``path=True`` fields are resolved.

    Raises
    ------
    ConfigError
        One line naming ``source`` and the offending table or key.
    """
    by_location: dict[tuple[str | None, str], dataclasses.Field] = {
        (item.metadata.get("section"), _toml_key(item)): item
        for item in dataclasses.fields(cls)
        if "convert" in item.metadata
    }
    sections = {section for section, _ in by_location if section is not None}
    values: dict[str, Any] = {}
    for name, content in document.items():
        if name in sections:
            if not isinstance(content, Mapping):
                raise ConfigError(f"{source}: [{name}] must be a table")
            for key, value in content.items():
                item = by_location.get((name, key))
                if item is None:
                    known = sorted(k for s, k in by_location if s == name)
                    raise ConfigError(
                        f"{source}: unknown key {key!r} in [{name}]; known keys: "
                        f"{', '.join(known)}"
                    )
                values[item.name] = value
        elif (None, name) in by_location:
            values[by_location[(None, name)].name] = content
        else:
            known = sorted(f"[{s}]" for s in sections) + sorted(
                k for s, k in by_location if s is None
            )
            raise ConfigError(
                f"{source}: unknown table or key {name!r}; known: {', '.join(known)}"
            )
    missing = [
        f"{item.metadata['section'] or ''}.{_toml_key(item)}".lstrip(".")
        for item in dataclasses.fields(cls)
        if "convert" in item.metadata
        and item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
        and item.name not in values
    ]
    if missing:
        raise ConfigError(f"{source}: missing required setting(s) {', '.join(missing)}")
    try:
        instance = cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    if base_dir is not None:
        for item in dataclasses.fields(instance):
            if item.metadata.get("path"):
                setattr(instance, item.name, _absolute(getattr(instance, item.name), base_dir))
    return instance


def _absolute(value: Any, base_dir: Path) -> Any:
    """Resolve a relative path (or the paths of a table) against ``base_dir``."""
    if isinstance(value, dict):
        return {key: _absolute(path, base_dir) for key, path in value.items()}
    if isinstance(value, Path) and not value.is_absolute():
        return Path(os.path.normpath(base_dir / value))
    return value


def settings_dict(instance: Any) -> dict[str, Any]:
    """The non-``None`` settings of a dataclass as TOML tables (paths as strings)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return os.fspath(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    document: dict[str, Any] = {}
    for item in dataclasses.fields(instance):
        if "convert" not in item.metadata:
            continue
        value = getattr(instance, item.name)
        if value is None:
            continue
        section = item.metadata["section"]
        target = document.setdefault(section, {}) if section else document
        target[_toml_key(item)] = plain(value)
    return document


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

    output_dir: Path = setting(section="run", convert=as_path, path=True)
    protocol: str = setting("generator", section="run", convert=as_str(PROTOCOLS))
    seed: int = setting(0, section="run", convert=as_int(0))
    device: str = setting("auto", section="run", convert=as_str())
    num_threads: int | None = setting(None, section="run", convert=optional(as_int(1)))
    resume: bool = setting(True, section="run", convert=as_bool)
    max_steps: int | None = setting(None, section="run", convert=optional(as_int(1)))
    max_minutes: float | None = setting(
        None, section="run", convert=optional(as_float(0.0, open_low=True))
    )
    progress: bool = setting(True, section="run", convert=as_bool)
    deterministic: bool = setting(True, section="run", convert=as_bool)

    pairs_tsv: Path | None = setting(None, section="data", convert=optional(as_path), path=True)
    dataset_dir: Path | None = setting(None, section="data", convert=optional(as_path), path=True)
    validation_fraction: float = setting(
        0.2, section="data", convert=as_float(0.0, 0.9, open_low=True)
    )
    network_shape: tuple[int, int, int] | None = setting(
        None, section="data", convert=optional(as_shape3)
    )
    check_grid: bool = setting(True, section="data", convert=as_bool)
    cache: bool = setting(True, section="data", convert=as_bool)
    validation_metrics: bool = setting(True, section="data", convert=as_bool)
    intensity_normalisation: str = setting(
        "min-max", section="data", convert=as_str(INTENSITY_NORMALISATIONS)
    )
    training_patch: int | None = setting(None, section="data", convert=optional(as_int(8)))
    patches_per_volume: int = setting(4, section="data", convert=as_int(1))

    architecture: str | None = setting(None, section="model", convert=optional(as_str(GENERATORS)))
    preset: str | None = setting(None, section="model", convert=optional(as_str()))
    model_kwargs: dict[str, Any] = setting(
        section="model", convert=as_kwargs, key="kwargs", factory=dict
    )

    epochs: int = setting(300, section="optimization", convert=as_int(1))
    batch_size: int | None = setting(None, section="optimization", convert=optional(as_int(1)))
    learning_rate: float = setting(
        1e-4, section="optimization", convert=as_float(0.0, open_low=True)
    )
    betas: tuple[float, float] = setting(
        (0.5, 0.999), section="optimization", convert=as_range(0.0, 0.999999)
    )
    weight_decay: float = setting(0.0, section="optimization", convert=as_float(0.0))
    lr_schedule: str = setting("constant", section="optimization", convert=as_str(LR_SCHEDULES))
    lr_decay_start_epoch: int = setting(0, section="optimization", convert=as_int(0))
    min_learning_rate: float = setting(0.0, section="optimization", convert=as_float(0.0))
    gain_loss_weight: float = setting(1.0, section="optimization", convert=as_float(0.0))

    generator_checkpoint: Path | None = setting(
        None, section="cgan", convert=optional(as_path), path=True
    )
    discriminator_preset: str = setting("small", section="cgan", convert=as_str())
    discriminator_kwargs: dict[str, Any] = setting(section="cgan", convert=as_kwargs, factory=dict)
    pretrain_epochs: int = setting(1, section="cgan", convert=as_int(0))
    patches: str = setting("paper", section="cgan", convert=as_str(PATCH_MODES))
    patch_size: int = setting(64, section="cgan", convert=as_int(1))
    patch_stride: int = setting(50, section="cgan", convert=as_int(1))
    discriminator_learning_rate: float = setting(
        1e-4, section="cgan", convert=as_float(0.0, open_low=True)
    )
    l1_weight: float = setting(1.0, section="cgan", convert=as_float(0.0))
    adversarial_weight: float = setting(1.0, section="cgan", convert=as_float(0.0))
    real_label_range: tuple[float, float] = setting(
        (0.0, 0.3), section="cgan", convert=as_range(0.0, 1.0)
    )
    fake_label_range: tuple[float, float] = setting(
        (0.7, 1.0), section="cgan", convert=as_range(0.0, 1.0)
    )

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
