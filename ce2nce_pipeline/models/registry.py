"""Architectures by name, and their presets.

``build_model("att_unet", base_channels=8)`` builds any registered architecture from JSON-able
keyword arguments; ``build_preset("att_unet", "small")`` builds a named configuration.
Checkpoints store the name and the keyword arguments (``model.config``) and rebuild through
:func:`build_model`.

Presets (parameter counts in ``docs/models.md``):

``paper``
    The layer choices of Bottani et al. 2024 (§2.3, Fig. 1) at the widths of the authors'
    public code (TransBTS's for the Trans-U-Net). GPU-sized.
``small``
    Base width 8: the CPU presets; ``att_unet``/``small`` is :data:`DEFAULT_CPU_PRESET`.
``tiny``
    Base width 4, for tests and smoke runs.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import nn

from .att_unet import AttUNet
from .patch_discriminator import PatchDiscriminator
from .res_unet import ResUNet
from .trans_unet import TransUNet

__all__ = [
    "DEFAULT_CPU_PRESET",
    "GENERATORS",
    "architecture_name",
    "build_model",
    "build_preset",
    "count_parameters",
    "get_preset",
    "list_models",
    "list_presets",
    "model_config",
    "register_model",
]

#: Preset translating a 128³ volume in well under 10 s on 2 CPU cores.
DEFAULT_CPU_PRESET = "small"

_REGISTRY: dict[str, type[nn.Module]] = {}
_PRESETS: dict[str, dict[str, Mapping[str, Any]]] = {}


def register_model(
    name: str,
    cls: type[nn.Module],
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Register an architecture under ``name``.

    Parameters
    ----------
    name : str
        Registry name, stored in checkpoints.
    cls : type
        ``nn.Module`` subclass whose instances expose ``config``, a JSON-serialisable dict of
        the keyword arguments that rebuild them.
    presets : mapping, optional
        Preset name → constructor keyword arguments.

    Raises
    ------
    ValueError
        If ``name`` is already registered to another class.
    TypeError
        If ``cls`` is not an ``nn.Module`` subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{name!r}: expected an nn.Module subclass, got {cls!r}")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"architecture {name!r} is already registered to {_REGISTRY[name]}")
    _REGISTRY[name] = cls
    _PRESETS[name] = {
        preset: MappingProxyType(dict(kwargs)) for preset, kwargs in (presets or {}).items()
    }


def list_models() -> list[str]:
    """Return the registered architecture names, sorted."""
    return sorted(_REGISTRY)


def list_presets(name: str) -> list[str]:
    """Return the preset names of architecture ``name``."""
    _check_name(name)
    return list(_PRESETS[name])


def get_preset(name: str, preset: str) -> dict[str, Any]:
    """Return (a copy of) the constructor keyword arguments of ``preset`` for ``name``.

    Raises
    ------
    ValueError
        For an unknown architecture or preset.
    """
    _check_name(name)
    if preset not in _PRESETS[name]:
        raise ValueError(
            f"unknown preset {preset!r} for {name!r}; choose one of {list_presets(name)}"
        )
    return copy.deepcopy(dict(_PRESETS[name][preset]))


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` with constructor keyword arguments ``kwargs``.

    Raises
    ------
    ValueError
        For an unknown architecture, an argument its constructor does not take, or an
        argument value the constructor rejects.
    """
    _check_name(name)
    cls = _REGISTRY[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"{name!r} takes no argument(s) {unknown}; it takes {sorted(accepted)}")
    return cls(**kwargs)


def build_preset(name: str, preset: str, **overrides: Any) -> nn.Module:
    """Build architecture ``name`` with the keyword arguments of ``preset``, then ``overrides``.

    Raises
    ------
    ValueError
        For an unknown architecture or preset, or invalid overrides.
    """
    kwargs = get_preset(name, preset)
    kwargs.update(overrides)
    return build_model(name, **kwargs)


def architecture_name(model: nn.Module) -> str:
    """Return the registry name of ``model``'s class.

    Raises
    ------
    ValueError
        If the class is not registered.
    """
    for name, cls in _REGISTRY.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered architecture")


def model_config(model: nn.Module) -> dict[str, Any]:
    """Return the constructor keyword arguments that rebuild ``model`` (a copy).

    Raises
    ------
    ValueError
        If the model does not record its ``config``.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{type(model).__name__} does not record its constructor arguments")
    return copy.deepcopy(config)


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Return the number of parameters of ``model`` (works on the ``meta`` device too)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; choose one of {list_models()}")


register_model(
    "res_unet",
    ResUNet,
    {
        "paper": {"base_channels": 64, "depth": 5},
        "small": {"base_channels": 8, "depth": 5},
        "tiny": {"base_channels": 4, "depth": 5},
    },
)
register_model(
    "att_unet",
    AttUNet,
    {
        "paper": {"base_channels": 64, "depth": 5},
        "small": {"base_channels": 8, "depth": 5},
        "tiny": {"base_channels": 4, "depth": 5},
    },
)
register_model(
    "trans_unet",
    TransUNet,
    {
        "paper": {
            "base_channels": 16,
            "depth": 4,
            "embed_dim": 512,
            "num_layers": 4,
            "num_heads": 8,
            "mlp_dim": 4096,
        },
        "small": {
            "base_channels": 8,
            "depth": 4,
            "embed_dim": 128,
            "num_layers": 4,
            "num_heads": 4,
            "mlp_dim": 512,
        },
        "tiny": {
            "base_channels": 4,
            "depth": 4,
            "embed_dim": 32,
            "num_layers": 2,
            "num_heads": 2,
            "mlp_dim": 64,
        },
    },
)
register_model(
    "patch_discriminator",
    PatchDiscriminator,
    {
        "paper": {"base_channels": 64, "depth": 3},
        "small": {"base_channels": 16, "depth": 3},
        "tiny": {"base_channels": 4, "depth": 3},
    },
)

#: Architectures that translate images (all but the discriminator).
GENERATORS: tuple[str, ...] = ("att_unet", "res_unet", "trans_unet")
