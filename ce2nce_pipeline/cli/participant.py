"""The participant level of ``ce2nce``: check the model, find the machine's tools, run."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..config import RunConfig, TranslationModel
from ..console import progress, say
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..workflows.base import RunEnvironment


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
    from ..models import CheckpointError, load_checkpoint
    from ..models.checkpoint import checkpoint_normalisation, checkpoint_output_resampling
    from ..models.default import DEFAULT_MODEL_NAME, default_model_path

    try:
        _, metadata = load_checkpoint(config.model)
    except CheckpointError as error:
        raise InvalidInputError(str(error)) from None
    return TranslationModel(
        checkpoint=config.model,
        architecture=metadata["architecture"]["name"],
        weights_sha256=metadata["weights"]["sha256"],
        normalisation=checkpoint_normalisation(metadata),
        network_grid="x".join(map(str, metadata["preprocessing"]["network_grid"]["shape"])),
        output_resampling=config.output_resampling or checkpoint_output_resampling(metadata),
        name=DEFAULT_MODEL_NAME if config.model == default_model_path() else None,
    )


def resolve_environment(config: RunConfig) -> RunEnvironment:
    """Find, once and before any work, the chosen backends, SPM and the networks' device.

    Returns
    -------
    RunEnvironment
        Passed down to every graph of the run.

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
    from ..workflows.base import RunEnvironment

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


def run_participant(config: RunConfig) -> int:
    """Run the participant level; return the exit code (0 when every image succeeded).

    The work folder is locked for the run (a second run on it is refused), and SIGTERM, SIGINT
    or SIGHUP stop every worker before the run exits.
    """
    from ..workflows.run import (
        contrast_from_detector,
        participant_run_guard,
        run_participant_level,
        usable_images,
    )

    with participant_run_guard(config):
        images, rejections = usable_images(config)
        images = contrast_from_detector(config, images)
        n_ce = sum(image.is_contrast_enhanced for image in images)
        translation = check_translation_model(config, n_ce)
        environment = resolve_environment(config)
        progress(f"ce2nce: {len(images)} T1w images to process ({n_ce} contrast-enhanced)")
        return run_participant_level(config, images, rejections, translation, environment)
