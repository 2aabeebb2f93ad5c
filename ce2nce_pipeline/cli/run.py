"""``ce2nce BIDS_DIR OUTPUT_DIR participant|group``: the BIDS-app entry point."""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..bids_validation import ValidatorIssue
from ..config import RunConfig
from ..errors import Ce2nceError, InvalidInputError
from .parser import parse_args

LOGGER = logging.getLogger("ce2nce")


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("ce2nce").setLevel(min(level, logging.INFO))
    nipype_level = "INFO" if verbosity >= 2 else "WARNING"
    # Worker processes (forkserver) read nipype's configuration afresh from NIPYPE_CONFIG_DIR:
    # give them one with the chosen log level, or they log every node at INFO.
    config_dir = Path(tempfile.mkdtemp(prefix="ce2nce_nipype_"))
    (config_dir / "nipype.cfg").write_text(
        f"[logging]\nworkflow_level = {nipype_level}\ninterface_level = {nipype_level}\n"
        f"utils_level = {nipype_level}\n"
    )
    atexit.register(shutil.rmtree, config_dir, ignore_errors=True)
    os.environ["NIPYPE_CONFIG_DIR"] = str(config_dir)
    from nipype import config as nipype_config
    from nipype import logging as nipype_logging

    nipype_config.update_config(
        {"logging": {"workflow_level": nipype_level, "interface_level": nipype_level}}
    )
    nipype_logging.update_logging(nipype_config)


def _validate_input_dataset(config: RunConfig) -> list[ValidatorIssue]:
    """Run the validator; refuse the run on dataset-level errors.

    Returns
    -------
    list of ValidatorIssue
        The errors tied to one file of a participant (``sub-*/...``): they reject that file
        only (:func:`_rejected_by_validator`).
    """
    from ..bids_validation import split_file_errors, validate_dataset

    try:
        errors = validate_dataset(config.bids_dir)
    except FileNotFoundError as error:
        raise Ce2nceError(str(error)) from None
    file_errors, dataset_errors = split_file_errors(errors)
    if dataset_errors:
        first = dataset_errors[0]
        raise InvalidInputError(
            f"{config.bids_dir} is not valid BIDS ({len(dataset_errors)} dataset error(s); "
            f"first: {first.code} at {first.location or 'dataset root'}): fix the dataset, or "
            "pass --skip-bids-validation"
        )
    return file_errors


def _expected_crop(config: RunConfig, image) -> Path:
    from ..bids import derivative_dir, derivative_name
    from ..science.templates import TEMPLATE_SPACE
    from ..workflows.outputs import RESOLUTION

    entities = image.output_entities
    name = derivative_name(
        entities, "T1w", ".nii.gz", TEMPLATE_SPACE, "Crop", RESOLUTION, clinica_order=True
    )
    return derivative_dir(config.output_dir, entities) / name


def _check_translation_model(config: RunConfig, n_ce: int) -> dict[str, str] | None:
    """Load and verify the checkpoint once, before any work; ``None`` when there is none."""
    if config.model is None:
        if n_ce:
            print(
                f"ce2nce: {n_ce} contrast-enhanced image(s) found and translation is off "
                "(--no-translation, or no default model in this build): they are processed, "
                "not translated",
                file=sys.stderr,
            )
        return None
    from ..models import CheckpointError, load_checkpoint
    from ..models.checkpoint import checkpoint_normalisation, checkpoint_output_resampling

    try:
        _, metadata = load_checkpoint(config.model)
    except CheckpointError as error:
        raise InvalidInputError(str(error)) from None
    from ..models.default import DEFAULT_MODEL_NAME, default_model_path

    described = {"Model": DEFAULT_MODEL_NAME} if config.model == default_model_path() else {}
    return described | {
        "Checkpoint": str(config.model),
        "Architecture": metadata["architecture"]["name"],
        "WeightsSha256": metadata["weights"]["sha256"],
        "IntensityNormalisation": checkpoint_normalisation(metadata),
        "NetworkGrid": "x".join(map(str, metadata["preprocessing"]["network_grid"]["shape"])),
        "OutputResampling": config.output_resampling or checkpoint_output_resampling(metadata),
    }


def _check_backends(config: RunConfig) -> None:
    """Fail in one line, before any work, when a chosen backend is not installed."""
    from ..science.brain_mask import require_backend
    from ..science.segmentation import find_spm

    require_backend(config.mask_backend)
    if config.seg_backend == "spm":
        find_spm()


def run_participant(config: RunConfig) -> int:
    """Run the participant level; return the exit code (0 when every image succeeded).

    The work folder is locked for the run (a second run on it is refused), and SIGTERM, SIGINT
    or SIGHUP stop every worker before the run exits.
    """
    from ..work_lock import work_dir_lock
    from ..workers import stop_workers_on_signals

    with contextlib.ExitStack() as stack:
        if config.work_dir is not None:
            stack.enter_context(work_dir_lock(config.work_dir))
        stack.enter_context(
            stop_workers_on_signals(
                "ce2nce: stopped by {signal}; its workers are stopped: run again with the same "
                "--work-dir to resume"
            )
        )
        return _process_dataset(config)


def _usable_images(config: RunConfig) -> tuple[list, list[str]]:
    """Images to process, and one line per image rejected by the validator or the checks."""
    from ..bids import collect_t1w_images
    from ..bids_validation import applies_to, rejected_by_validator
    from ..image_checks import check_t1w

    file_errors = [] if config.skip_bids_validation else _validate_input_dataset(config)
    images = collect_t1w_images(
        config.bids_dir,
        config.participant_labels or None,
        config.session_labels or None,
        excluded={issue.location.lstrip("/") for issue in file_errors},
    )
    rejections = rejected_by_validator(file_errors, images)
    images = [
        image
        for image in images
        if not any(applies_to(issue.location, image.relative_path) for issue in file_errors)
    ]
    usable = []
    for image in images:
        try:
            check_t1w(image.path)
        except InvalidInputError as error:
            rejections.append(str(error))
        else:
            usable.append(image)
    if not usable:
        for line in rejections:
            print(f"ce2nce: rejected: {line}", file=sys.stderr)
        raise InvalidInputError(f"{config.bids_dir}: no usable T1w image (see the lines above)")
    return usable, rejections


def _run_graph(workflow, config: RunConfig) -> bool:
    """Run the nipype graph; return False when some node failed."""
    from ..errors import DiskFullError, disk_full_message
    from ..workers import prepare_forkserver

    settings = config.plugin_settings()
    if settings["plugin_args"].get("mp_context") == "forkserver":
        prepare_forkserver()
    try:
        workflow.run(**settings)
    except RuntimeError as error:  # nipype: "Workflow did not execute cleanly"
        LOGGER.debug("nipype: %s", error)
        return False
    except OSError as error:
        if error.errno == errno.ENOSPC:
            where = error.filename or config.work_dir
            raise DiskFullError(disk_full_message(where, "--work-dir")) from None
        raise
    return True


def _failure_reason(report: str) -> str | None:
    """The one-line cause of a crash report: a ce2nce error, or a full disk."""
    from ..errors import disk_full_message

    for line in reversed(report.splitlines()):
        if "Error: " in line and line.split("Error: ")[0].rpartition(".")[2] in _OWN_ERRORS:
            return line.split("Error: ", 1)[1].strip()
        if "[Errno 28]" in line:
            path = line.rpartition(": ")[2].strip(" '\"")
            return disk_full_message(path, "--work-dir")
    return None


#: Errors of ce2nce whose message is the reason an image failed.
_OWN_ERRORS = {"InvalidInput", "DiskFull", "Ce2nce", "BackendUnavailable"}


def _write_rejections(config: RunConfig, rejections: list[str]) -> None:
    """List the rejected images under ``logs/`` (nothing is written when none was rejected)."""
    from ..io import atomic_write_text

    if rejections:
        atomic_write_text(
            "".join(f"{line}\n" for line in rejections),
            config.output_dir / "logs" / f"ce2nce_{config.run_uuid}_rejected.txt",
        )


def _process_dataset(config: RunConfig) -> int:
    from ..derivatives import (
        citation_text,
        software_versions,
        write_dataset_description,
        write_run_logs,
    )
    from ..workers import remove_stale_temporary_files
    from ..workflows.base import (
        collect_descriptions,
        images_in_crash_reports,
        init_ce2nce_wf,
    )

    usable, rejections = _usable_images(config)
    n_ce = sum(image.is_contrast_enhanced for image in usable)
    LOGGER.info("%d T1w images to process (%d contrast-enhanced)", len(usable), n_ce)

    translation = _check_translation_model(config, n_ce)
    _check_backends(config)

    config.output_dir.mkdir(parents=True, exist_ok=True)
    for path in remove_stale_temporary_files(config.output_dir):
        LOGGER.info("removed %s, left by a stopped run", path)
    write_dataset_description(config.output_dir, config.bids_dir)
    _write_rejections(config, rejections)
    versions = software_versions()
    with tempfile.TemporaryDirectory(prefix="ce2nce_work_") as default_work:
        if config.work_dir is None:
            config.work_dir = Path(default_work)
        workflow = init_ce2nce_wf(config, usable, versions, translation)
        write_run_logs(
            config.output_dir,
            config.to_toml(),
            config.run_uuid,
            citation_text(collect_descriptions(workflow)),
        )
        started = time.time()
        graph_failed = not _run_graph(workflow, config)
    crash_reports = [
        path.read_text(errors="replace")
        for path in (config.output_dir / "logs").glob("crash-*.txt")
        if path.stat().st_mtime >= started - 1
    ]
    crashed = images_in_crash_reports(usable, crash_reports)
    failed = [
        image
        for image in usable
        if image in crashed
        or not _expected_crop(config, image).is_file()
        or _expected_crop(config, image).stat().st_mtime < started - 1
    ]
    if graph_failed and not failed:  # a crash no image could be held responsible for
        print("ce2nce: error: some steps failed; see the crash files in logs/", file=sys.stderr)
        return 1
    done = len(usable) - len(failed)
    print(
        f"ce2nce: {done} of {len(usable) + len(rejections)} T1w image(s) processed; "
        f"{len(failed)} failed, {len(rejections)} rejected; outputs in {config.output_dir}"
        + (f"; crash files in {config.output_dir / 'logs'}" if failed else ""),
        file=sys.stderr,
    )
    for line in rejections:
        print(f"ce2nce: rejected: {line}", file=sys.stderr)
    for image in failed:
        reasons = [
            _failure_reason(report)
            for report in crash_reports
            if images_in_crash_reports([image], [report])
        ]
        reason = next((reason for reason in reasons if reason), None)
        print(f"ce2nce: failed: {image.path}" + (f": {reason}" if reason else ""), file=sys.stderr)
    return 0 if not failed and not rejections else 1


#: Subcommands of ``ce2nce`` besides the BIDS-app levels (a dataset folder literally named so
#: must be given as ``./simulate``).
SUBCOMMANDS = {
    "simulate": "ce2nce_pipeline.cli.simulate",
    "training-set": "ce2nce_pipeline.cli.training_set",
    "real-pairs": "ce2nce_pipeline.cli.real_pairs",
    "package-default-model": "ce2nce_pipeline.cli.package_model",
}


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``ce2nce``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    config = parse_args(argv)
    # ITK reads its thread count when first used: set it before ANTs is imported anywhere.
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(config.omp_nthreads)
    _configure_logging(config.verbosity)
    try:
        if config.analysis_level == "group":
            from .group import run_group

            return run_group(config, group_by=config.group_by)
        return run_participant(config)
    except Ce2nceError as error:
        print(f"ce2nce: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
