"""Typed settings read from TOML: one loader for every settings dataclass.

A settings dataclass declares each field with its type annotation and :func:`setting` (its
TOML table, default and bounds). The loader derives the check from the annotation, so a field
is declared once::

    epochs: int = setting(300, section="optimization", low=1)
    protocol: Literal["generator", "cgan"] = setting("generator", section="run")
    network_shape: tuple[int, int, int] | None = setting(None, section="data")

Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]`` of strings,
``pathlib.Path``, ``tuple[int, int, int]`` (a shape), ``tuple[float, float]`` (an ordered
range), ``dict[str, Any]`` (keyword arguments), ``dict[str, Path]`` (a table of paths), and any
of them ``| None``. Choices computed at import time (a registry) go in ``choices=``.

A value of the wrong type or out of bounds is a :class:`ConfigError` with one line naming the
key; an unknown table or key names the file and the known keys: a typo is never silently
ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..errors import Ce2nceError

__all__ = [
    "ConfigError",
    "build_dataclass",
    "coerce_fields",
    "read_toml",
    "setting",
    "settings_dict",
]


class ConfigError(Ce2nceError):
    """A training or evaluation setting that is missing, unknown or of the wrong type."""


Converter = Callable[[str, Any], Any]


# --- value checks: each takes the key's name (for messages) and the raw value and returns the
# checked value or raises ConfigError.


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_path(name: str, value: Any) -> Path:
    if isinstance(value, str | os.PathLike) and os.fspath(value):
        return Path(value).expanduser()
    raise ConfigError(f"{name} must be a path (a non-empty string), got {value!r}")


def _as_str(choices: tuple[str, ...] | None) -> Converter:
    def convert(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
        return value

    return convert


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _as_int(minimum: float | None) -> Converter:
    def convert(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name} must be >= {minimum:g}, got {value}")
        return value

    return convert


def _as_float(low: float | None, high: float | None, open_low: bool) -> Converter:
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


def _optional(convert: Converter) -> Converter:
    def wrapped(name: str, value: Any) -> Any:
        return None if value is None else convert(name, value)

    return wrapped


def _as_shape3(name: str, value: Any) -> tuple[int, int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigError(
            f"{name} must be 3 positive integers, e.g. [128, 128, 128], got {value!r}"
        )
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _as_range(low: float, high: float) -> Converter:
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


def _as_kwargs(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{name} must be a table of keyword arguments, got {value!r}")
    return json.loads(json.dumps(dict(value)))  # a plain, JSON-able deep copy


def _as_path_table(name: str, value: Any) -> dict[str, Path]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{name} must be a non-empty table of name = checkpoint path")
    return {str(key): _as_path(f"{name}.{key}", path) for key, path in value.items()}


def _converter(annotation: Any, metadata: Mapping[str, Any]) -> Converter:
    """The check of one field, derived from its type annotation and its bounds."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union) and type(None) in arguments:
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return _optional(_converter(inner, metadata))
    low, high = metadata.get("low"), metadata.get("high")
    if origin is Literal:
        return _as_str(tuple(arguments))
    if annotation is bool:
        return _as_bool
    if annotation is int:
        return _as_int(low)
    if annotation is float:
        return _as_float(low, high, metadata.get("open_low", False))
    if annotation is str:
        return _as_str(metadata.get("choices"))
    if annotation is Path:
        return _as_path
    if origin is tuple and arguments == (int, int, int):
        return _as_shape3
    if origin is tuple and arguments == (float, float):
        return _as_range(0.0 if low is None else low, 1.0 if high is None else high)
    if origin is dict and arguments == (str, Path):
        return _as_path_table
    if origin is dict and arguments[:1] == (str,):
        return _as_kwargs
    raise TypeError(f"no TOML setting type for the annotation {annotation!r}")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    section: str | None,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    choices: tuple[str, ...] | None = None,
    key: str | None = None,
    factory: Callable[[], Any] | None = None,
    path: bool = False,
) -> Any:
    """A dataclass field carrying its TOML table, TOML key and bounds.

    ``low``/``high`` bound numbers (``open_low`` excludes ``low``) and ranges; ``choices``
    restricts a ``str``; ``path=True`` marks a field holding a path (or a table of paths) that
    :func:`build_dataclass` resolves against the recipe's folder.
    """
    metadata = {
        "setting": True,
        "section": section,
        "key": key,
        "path": path,
        "low": low,
        "high": high,
        "open_low": open_low,
        "choices": choices,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _toml_key(item: dataclasses.Field) -> str:
    return item.metadata.get("key") or item.name


def _settings(cls: type) -> list[dataclasses.Field]:
    return [item for item in dataclasses.fields(cls) if item.metadata.get("setting")]


@cache
def _converters(cls: type) -> dict[str, Converter]:
    hints = typing.get_type_hints(cls)
    return {item.name: _converter(hints[item.name], item.metadata) for item in _settings(cls)}


def coerce_fields(instance: Any) -> None:
    """Check (and convert) every field of a dataclass built with :func:`setting`."""
    converters = _converters(type(instance))
    for item in _settings(instance):
        section = item.metadata["section"]
        label = f"{section}.{_toml_key(item)}" if section else _toml_key(item)
        value = converters[item.name](label, getattr(instance, item.name))
        object.__setattr__(instance, item.name, value)


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


def _values_from_document(cls: type, document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Field values of ``cls`` found in a parsed TOML document; unknown keys refused."""
    by_location = {(item.metadata["section"], _toml_key(item)): item for item in _settings(cls)}
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
    return values


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
    values = _values_from_document(cls, document, source)
    missing = [
        f"{item.metadata['section'] or ''}.{_toml_key(item)}".lstrip(".")
        for item in _settings(cls)
        if item.default is dataclasses.MISSING
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
        for item in _settings(cls):
            if item.metadata["path"]:
                resolved = _absolute(getattr(instance, item.name), base_dir)
                object.__setattr__(instance, item.name, resolved)
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
    for item in _settings(instance):
        value = getattr(instance, item.name)
        if value is None:
            continue
        section = item.metadata["section"]
        target = document.setdefault(section, {}) if section else document
        target[_toml_key(item)] = plain(value)
    return document
