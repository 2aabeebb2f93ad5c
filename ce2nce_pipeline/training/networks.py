"""The networks and optimisers of a training run (generator; cGAN discriminator and patches).

The generator protocol builds a generator from ``[model]``; the cGAN protocol starts from a
trained generator checkpoint and builds the patch discriminator. On a resume both networks come
from ``last/`` instead. The generator's global gain, when supervised, gets its own Adam group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import Ce2nceError
from ..models.checkpoint import CheckpointError, checkpoint_normalisation, load_checkpoint
from ..models.registry import build_model, get_preset
from ..science.resampling import NETWORK_SHAPE, SIZE_MULTIPLE
from .config import ConfigError, TrainingConfig
from .patches import PatchGrid, make_patch_grid

__all__ = [
    "GAIN_LEARNING_RATE_FACTOR",
    "Networks",
    "build_generator",
    "build_networks",
]

LOGGER = logging.getLogger(__name__)

#: Learning rate of a supervised global-gain branch (Res-U-Net ``global_gain``), as a multiple
#: of the generator's: at the paper's rate its input-dependent part would need thousands of steps
#: to move the gain by 1 (measured: 1.05 after 880 steps where 2.2 was needed).
GAIN_LEARNING_RATE_FACTOR = 10.0


@dataclass
class Networks:
    """The networks of a run, their optimisers and what the cGAN protocol adds.

    Attributes
    ----------
    generator, optimizer_g
        The generator (on the run's device, in training mode) and its Adam optimiser.
    network_shape : tuple of int
        The network grid.
    gain_supervised : bool
        Whether the generator has a global gain that training supervises.
    discriminator, optimizer_d
        The patch discriminator and its optimiser (cGAN), else ``None``.
    grid : PatchGrid or None
        The discriminator's patches (cGAN).
    source_sha : str or None
        sha256 of the generator checkpoint the cGAN run started from.
    """

    generator: nn.Module
    optimizer_g: torch.optim.Optimizer
    network_shape: tuple[int, ...]
    gain_supervised: bool
    discriminator: nn.Module | None = None
    optimizer_d: torch.optim.Optimizer | None = None
    grid: PatchGrid | None = None
    source_sha: str | None = None


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


def _load_generator_source(
    checkpoint: Path, key: str, config: TrainingConfig, device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """A trained generator (``key``: the recipe key naming it) and its checkpoint metadata."""
    try:
        model, metadata = load_checkpoint(checkpoint, device=device)
    except CheckpointError as error:
        raise Ce2nceError(str(error)) from None
    name = metadata["architecture"]["name"]
    if name == "patch_discriminator":
        raise ConfigError(f"{key} {checkpoint} is a discriminator")
    if config.architecture not in (None, name):
        raise ConfigError(
            f"model.architecture {config.architecture!r} differs from the "
            f"{key} checkpoint's {name!r}"
        )
    return model, metadata


def _check_generator_source(
    checkpoint: Path,
    key: str,
    config: TrainingConfig,
    metadata: dict[str, Any],
    recorded: str | None,
) -> tuple[int, ...]:
    """Check a generator checkpoint a run starts from against the run; return its grid."""
    if recorded not in (None, metadata["weights"]["sha256"]):
        raise ConfigError(
            f"{key} {checkpoint} is not the checkpoint the run started from (sha256 {recorded})"
        )
    shape = tuple(metadata["preprocessing"]["network_grid"]["shape"])
    if config.network_shape is not None and tuple(config.network_shape) != shape:
        raise ConfigError(
            f"data.network_shape {list(config.network_shape)} differs from the grid "
            f"{list(shape)} the {key} checkpoint was trained on"
        )
    normalisation = checkpoint_normalisation(metadata)
    if config.intensity_normalisation != normalisation:
        raise ConfigError(
            f"data.intensity_normalisation {config.intensity_normalisation!r} differs "
            f"from the {normalisation!r} the {key} checkpoint was trained with"
        )
    return shape


def _warm_start(
    generator: nn.Module, config: TrainingConfig, state: dict[str, Any], device: torch.device
) -> str:
    """Copy the weights of ``model.initial_checkpoint`` into ``generator``; return its sha256.

    The checkpoint's architecture, grid and normalisation must be the run's; its weights may be
    stored in half precision (a committed chunk of training): they are cast to the generator's.
    The optimiser starts afresh.
    """
    key = "model.initial_checkpoint"
    trained, metadata = _load_generator_source(config.initial_checkpoint, key, config, device)
    recorded = state.get("initial_checkpoint_sha256")
    _check_generator_source(config.initial_checkpoint, key, config, metadata, recorded)
    try:
        generator.load_state_dict(trained.state_dict())
    except RuntimeError as error:
        raise ConfigError(
            f"{key} {config.initial_checkpoint} does not fit model.kwargs/preset: "
            f"{str(error).splitlines()[0]}"
        ) from None
    sha = state["initial_checkpoint_sha256"] = metadata["weights"]["sha256"]
    return sha


def _build_discriminator(
    config: TrainingConfig, shape: tuple[int, ...]
) -> tuple[nn.Module, PatchGrid]:
    """The patch discriminator of ``[cgan]`` and the patches it sees on the grid ``shape``."""
    kwargs = get_preset("patch_discriminator", config.discriminator_preset)
    kwargs.update(config.discriminator_kwargs)
    try:
        discriminator = build_model("patch_discriminator", **kwargs)
        grid = make_patch_grid(shape, config.patch_size, config.patch_stride, config.patches)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"cgan: {error}") from None
    if config.patch_size < discriminator.min_patch_size:
        raise ConfigError(
            f"cgan.patch_size {config.patch_size} is too small for a discriminator of "
            f"depth {discriminator.config['depth']} (at least "
            f"{discriminator.min_patch_size})"
        )
    LOGGER.info("Discriminator patches: %s", grid.describe())
    return discriminator, grid


def _load_last(folder: Path, device: torch.device) -> nn.Module:
    """A network of the resume point ``last/``."""
    try:
        model, _ = load_checkpoint(folder, device=device)
    except CheckpointError as error:
        raise Ce2nceError(f"cannot resume: {error}") from None
    return model


def _is_gain_supervised(generator: nn.Module, config: TrainingConfig) -> bool:
    gain = getattr(generator, "gain", None)
    return isinstance(gain, nn.Module) and config.gain_loss_weight > 0


def _generator_parameter_groups(generator: nn.Module, supervised: bool) -> list[dict[str, Any]]:
    """One Adam group, or two when the global gain is supervised (its own rate)."""
    if not supervised:
        return [{"params": list(generator.parameters()), "lr_scale": 1.0}]
    gain_ids = {id(p) for p in generator.gain.parameters()}
    body = [p for p in generator.parameters() if id(p) not in gain_ids]
    return [
        {"params": body, "lr_scale": 1.0},
        {"params": list(generator.gain.parameters()), "lr_scale": GAIN_LEARNING_RATE_FACTOR},
    ]


def _adam(params: Any, lr: float, config: TrainingConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=config.betas, weight_decay=config.weight_decay)


def build_networks(
    config: TrainingConfig,
    state: dict[str, Any],
    device: torch.device,
    resume_from: Path | None,
) -> Networks:
    """Build (or, resuming, load) the run's networks and their optimisers.

    Seeds torch with ``run.seed`` first, so the initial weights are the seed's. A cGAN run
    records the sha256 of its generator checkpoint in ``state`` and refuses another one.

    Raises
    ------
    ConfigError
        If the settings do not fit the architecture or the generator checkpoint.
    Ce2nceError
        If a checkpoint does not load.
    """
    torch.manual_seed(config.seed)
    discriminator, grid, source_sha = None, None, None
    if config.protocol == "cgan":
        checkpoint, key = config.generator_checkpoint, "cgan.generator_checkpoint"
        generator, metadata = _load_generator_source(checkpoint, key, config, device)
        recorded = state.get("generator_source_sha256")
        shape = _check_generator_source(checkpoint, key, config, metadata, recorded)
        source_sha = state["generator_source_sha256"] = metadata["weights"]["sha256"]
        discriminator, grid = _build_discriminator(config, shape)
    else:
        generator = build_generator(config)
        shape = tuple(config.network_shape or NETWORK_SHAPE)
        if config.initial_checkpoint is not None and resume_from is None:
            _warm_start(generator, config, state, device)
    if resume_from is not None:
        generator = _load_last(resume_from / "generator", device)
        if discriminator is not None:
            discriminator = _load_last(resume_from / "discriminator", device)
    generator = generator.to(device).train()
    supervised = _is_gain_supervised(generator, config)
    networks = Networks(
        generator=generator,
        optimizer_g=_adam(
            _generator_parameter_groups(generator, supervised), config.learning_rate, config
        ),
        network_shape=shape,
        gain_supervised=supervised,
        grid=grid,
        source_sha=source_sha,
    )
    if discriminator is not None:
        networks.discriminator = discriminator.to(device).train()
        networks.optimizer_d = _adam(
            networks.discriminator.parameters(), config.discriminator_learning_rate, config
        )
    return networks
