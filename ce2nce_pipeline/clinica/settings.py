"""The pipeline's parameters, and the run's settings of a CAPS run, found once before any work."""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig

#: Pipeline parameters and their defaults (the command line's options), from ``RunConfig``.
DEFAULT_PARAMETERS: dict[str, object] = {
    "model": "default",  # a checkpoint folder, "default" (the shipped model) or None (none)
    "output_resampling": RunConfig.output_resampling,
    "enhancement_opening": RunConfig.enhancement_opening,
    "mask_backend": RunConfig.mask_backend,
    "seg_backend": RunConfig.seg_backend,
    "registration": RunConfig.registration,  # t1-linear's affine schedule
    "device": RunConfig.device,
    "omp_nthreads": RunConfig.omp_nthreads,
    # A JSON file choosing the T1w images (fMRIPrep's format, queries t1w and t1w_ce), or None.
    "bids_filter_file": None,
}


def run_config(bids_dir: Path, caps_dir: Path, parameters: dict) -> RunConfig:
    """The run settings ce2nce's participant level would have for these pipeline parameters
    (at the CAPS's output level)."""
    from ..models.default import default_model_path
    from .graph import CAPS_OUTPUT_LEVEL

    model = parameters["model"]
    if model == "default":
        model = default_model_path()
    return RunConfig(
        bids_dir=Path(bids_dir),
        output_dir=Path(caps_dir),
        analysis_level="participant",
        model=Path(model).expanduser().resolve() if model is not None else None,
        output_resampling=parameters["output_resampling"],
        enhancement_opening=bool(parameters["enhancement_opening"]),
        mask_backend=parameters["mask_backend"],
        seg_backend=parameters["seg_backend"],
        registration=parameters["registration"],
        device=parameters["device"],
        omp_nthreads=int(parameters["omp_nthreads"]),
        output_level=CAPS_OUTPUT_LEVEL,
    )
