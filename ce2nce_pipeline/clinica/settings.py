"""The translation model and the machine's tools of a CAPS run, found once before any work."""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig, TranslationModel
from ..workflows.base import RunEnvironment


def run_config(bids_dir: Path, caps_dir: Path, parameters: dict) -> RunConfig:
    """The run settings ce2nce's participant level would have for these pipeline parameters."""
    from ..models.default import default_model_path

    model = parameters["model"]
    if model == "default":
        model = default_model_path()
    return RunConfig(
        bids_dir=Path(bids_dir),
        output_dir=Path(caps_dir),
        analysis_level="participant",
        model=Path(model).expanduser().resolve() if model is not None else None,
        output_resampling=parameters["output_resampling"],
        mask_backend=parameters["mask_backend"],
        seg_backend=parameters["seg_backend"],
        registration=parameters["registration"],
        device=parameters["device"],
        omp_nthreads=int(parameters["omp_nthreads"]),
    )


def translation_model(config: RunConfig, n_ce: int) -> TranslationModel | None:
    """The checked checkpoint, or ``None`` without one (as ``ce2nce ... participant``)."""
    from ..cli.participant import check_translation_model

    return check_translation_model(config, n_ce)


def environment(config: RunConfig) -> RunEnvironment:
    """Backends, SPM and the networks' device, checked (one line when missing)."""
    from ..cli.participant import resolve_environment

    return resolve_environment(config)
