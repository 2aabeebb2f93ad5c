"""The run's preparation, once and before any graph: the checked model and the machine's tools.

``ce2nce ... participant`` and the Clinica pipeline both call :func:`prepare_run`: the settings
become a checked :class:`~ce2nce_pipeline.models.translation.TranslationModel` (or none), the
chosen backends are found installed, SPM is found for the ``spm`` backend, and the networks'
device (``auto`` until here) is resolved once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import RunConfig
from ..console import say
from ..errors import InvalidInputError
from ..models.translation import TranslationModel
from ..science.segmentation import SpmInstallation


@dataclass(frozen=True)
class RunEnvironment:
    """What the machine offers a run, found once before any graph is built.

    Attributes
    ----------
    device
        Where the networks run: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``"auto"``: let each
        step choose, for graphs built without :func:`prepare_run`).
    spm
        The SPM12 installation, for the ``spm`` segmentation backend.
    """

    device: str = RunConfig.device
    spm: SpmInstallation | None = None


@dataclass(frozen=True)
class PreparedRun:
    """What :func:`prepare_run` found: the checked model (``None``: no translation) and the
    machine's tools."""

    translation: TranslationModel | None
    environment: RunEnvironment


def check_translation_model(config: RunConfig, n_ce: int) -> TranslationModel | None:
    """Load and verify the checkpoint once, before any work; ``None`` when there is none."""
    if config.model is None:
        if n_ce:
            say(
                f"ce2nce: {n_ce} contrast-enhanced image(s) found and translation is off "
                "(--no-translation, or no default model in this build): they are processed, "
                "not translated"
            )
        return None
    from ..models import CheckpointError

    try:
        return TranslationModel.from_checkpoint(
            config.model, config.output_resampling, config.enhancement_opening
        )
    except CheckpointError as error:
        raise InvalidInputError(str(error)) from None


def resolve_environment(config: RunConfig) -> RunEnvironment:
    """Find the chosen backends, SPM and the networks' device.

    Raises
    ------
    BackendUnavailableError
        A chosen backend is not installed (one line).
    InvalidInputError
        The device asked for is not a device, or a GPU index beyond those present. A CUDA
        device asked for on a machine without a GPU falls back to the CPU with a warning.
    """
    from ..science.brain_mask import require_backend
    from ..science.devices import resolve_device_or_cpu
    from ..science.segmentation import find_spm

    require_backend(config.mask_backend)
    spm = find_spm() if config.seg_backend == "spm" else None
    try:
        device, fallback = resolve_device_or_cpu(config.device)
    except ValueError as error:
        raise InvalidInputError(f"--device {config.device}: {error}") from None
    if fallback is not None:
        say(
            f"ce2nce: warning: --device {config.device}: no GPU ({fallback}); the translation "
            "and the brain masks run on the CPU"
        )
    logging.getLogger("ce2nce").info("networks run on %s", device)
    return RunEnvironment(device=str(device), spm=spm)


def prepare_run(config: RunConfig, n_ce: int) -> PreparedRun:
    """The checked model and the machine's tools of a run with ``n_ce`` contrast-enhanced
    images (each problem one line, before any work)."""
    return PreparedRun(check_translation_model(config, n_ce), resolve_environment(config))
