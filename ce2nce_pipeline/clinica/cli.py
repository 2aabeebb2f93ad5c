"""``ce2nce-clinica run ce2nce BIDS_DIRECTORY CAPS_DIRECTORY``: Clinica's command line with ce2nce.

Clinica's ``run`` group lists a fixed set of pipelines; importing this module adds ``ce2nce`` to
it (Clinica's ``clinica_pipeline`` decorator), and :func:`ce2nce_pipeline.clinica.main` then
runs Clinica's own command line, so every other Clinica command keeps working through
``ce2nce-clinica``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from clinica import option
from clinica.pipelines import cli_param
from clinica.pipelines.engine import clinica_pipeline

from ..config import RunConfig
from ..science.brain_mask import MASK_BACKENDS
from ..science.grids import OUTPUT_RESAMPLINGS
from ..science.segmentation import SEG_BACKENDS
from ..science.t1_linear import REGISTRATION_SCHEDULES

PIPELINE_NAME = "ce2nce"


@clinica_pipeline
@click.command(name=PIPELINE_NAME)
@cli_param.argument.bids_directory
@cli_param.argument.caps_directory
@cli_param.option_group.pipeline_specific_options
@cli_param.option_group.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="Translation checkpoint folder (T1w-ce -> T1w-nce). Default: the shipped model.",
)
@cli_param.option_group.option(
    "--no-translation", is_flag=True, help="Do not translate T1w-ce images (still processed)."
)
@cli_param.option_group.option(
    "--output-resampling",
    type=click.Choice(OUTPUT_RESAMPLINGS),
    help="How a network on a coarser grid returns its output. Default: the checkpoint's.",
)
@cli_param.option_group.option(
    "--enhancement-opening/--no-enhancement-opening", default=RunConfig.enhancement_opening,
    show_default=True,
    help="After the network, subtract the enhancement a grey-level opening finds in its output.",
)  # fmt: skip
@cli_param.option_group.option(
    "--mask-backend", type=click.Choice(MASK_BACKENDS), default=RunConfig.mask_backend,
    show_default=True,
    help="Brain masking.",
)  # fmt: skip
@cli_param.option_group.option(
    "--seg-backend", type=click.Choice(SEG_BACKENDS), default=RunConfig.seg_backend,
    show_default=True,
    help="Tissue segmentation (spm needs SPM12 and the MCR).",
)  # fmt: skip
@cli_param.option_group.option(
    "--registration", type=click.Choice(REGISTRATION_SCHEDULES),
    default=RunConfig.registration, show_default=True,
    help="t1-linear's affine registration: fast (Clinica's stages on fewer levels) or "
    "clinica (antsRegistrationSyNQuick[a] exactly).",
)  # fmt: skip
@cli_param.option_group.option(
    "--device", default=RunConfig.device, show_default=True, help="Where the translation runs: "
    "auto, cpu, cuda or cuda:N.",
)  # fmt: skip
@cli_param.option_group.option(
    "--bids-filter-file", type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="JSON file choosing the T1w images (fMRIPrep's format): query t1w (non-contrast) or "
    "t1w_ce (contrast-enhanced) -> pybids entities.",
)  # fmt: skip
@cli_param.option_group.common_pipelines_options
@cli_param.option.subjects_sessions_tsv
@cli_param.option.working_directory
@option.global_option_group
@option.n_procs
@cli_param.option.caps_name
def cli(
    bids_directory: str,
    caps_directory: str,
    model: str | None = None,
    no_translation: bool = False,
    output_resampling: str | None = None,
    enhancement_opening: bool = RunConfig.enhancement_opening,
    mask_backend: str = RunConfig.mask_backend,
    seg_backend: str = RunConfig.seg_backend,
    registration: str = RunConfig.registration,
    device: str = RunConfig.device,
    bids_filter_file: str | None = None,
    subjects_sessions_tsv: str | None = None,
    working_directory: str | None = None,
    n_procs: int | None = None,
    caps_name: str | None = None,
) -> None:
    """T1w-ce to T1w-nce translation (Bottani et al. 2024) with t1-linear, brain masks and
    tissue volumes, written to a CAPS.

    Existing t1-linear outputs of the CAPS are reused; visits already done are skipped.
    """
    from ..errors import Ce2nceError
    from .pipeline import Ce2nce

    if model and no_translation:
        raise click.UsageError("--model and --no-translation exclude each other")
    parameters = {
        "model": None if no_translation else (model or "default"),
        "output_resampling": output_resampling,
        "enhancement_opening": enhancement_opening,
        "mask_backend": mask_backend,
        "seg_backend": seg_backend,
        "registration": registration,
        "device": device,
        "bids_filter_file": bids_filter_file,
    }
    try:
        pipeline = Ce2nce(
            bids_directory=bids_directory,
            caps_directory=caps_directory,
            tsv_file=subjects_sessions_tsv,
            base_dir=working_directory,
            parameters=parameters,
            caps_name=caps_name,
        )
        pipeline.run(plugin="MultiProc", plugin_args={"n_procs": n_procs} if n_procs else None)
    except Ce2nceError as error:
        raise click.ClickException(str(error)) from None
    failed = pipeline.failed_visits()
    if failed:
        click.echo(
            f"ce2nce: {len(failed)} visit(s) not done: {', '.join(failed)} (reasons above; "
            f"crash files, if any, in {Path(pipeline.base_dir) / 'crashes'})",
            err=True,
        )
        sys.exit(1)
