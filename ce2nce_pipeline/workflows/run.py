"""A participant-level run: the images it takes, its graph run, and the lines it reports.

The command line (``cli/participant.py``) calls :func:`usable_images` inside
:func:`participant_run_guard`, prepares the run once (:func:`~.prepare.prepare_run`: the checked
model, the machine's device and SPM), then calls :func:`run_participant_level`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..bids import T1wImage
from ..bids_validation import ValidatorIssue
from ..config import RunConfig
from ..console import progress, say
from ..errors import Ce2nceError, InvalidInputError
from .prepare import PreparedRun

LOGGER = logging.getLogger("ce2nce")

#: Errors of ce2nce whose message is the reason an image failed.
_OWN_ERRORS = {"InvalidInput", "DiskFull", "Ce2nce", "BackendUnavailable"}


@contextlib.contextmanager
def participant_run_guard(config: RunConfig) -> Iterator[None]:
    """Lock the work folder (a second run on it is refused) and stop every worker on a signal.

    SIGTERM, SIGINT or SIGHUP stop the workers before the run exits. Every temporary file of
    the run goes to one folder, removed when the run ends (``ce2nce_pipeline.scratch``).
    """
    from ..scratch import run_scratch
    from ..work_lock import work_dir_lock
    from ..workers import stop_workers_on_signals

    with contextlib.ExitStack() as stack:
        if config.work_dir is not None:
            stack.enter_context(work_dir_lock(config.work_dir))
        stack.enter_context(run_scratch(config.work_dir))
        stack.enter_context(
            stop_workers_on_signals(
                "ce2nce: stopped by {signal}; its workers are stopped: run again with the same "
                "--work-dir to resume"
            )
        )
        yield


def _validate_input_dataset(config: RunConfig) -> list[ValidatorIssue]:
    """Run the validator; refuse the run on dataset-level errors.

    Returns
    -------
    list of ValidatorIssue
        The errors tied to one file of a participant (``sub-*/...``): they reject that file
        only.
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


def usable_images(config: RunConfig) -> tuple[list[T1wImage], list[str]]:
    """Images to process, and one line per image rejected by the validator or the checks.

    Raises
    ------
    InvalidInputError
        When no image is usable (each rejection is printed first).
    """
    from ..bids import collect_t1w_images
    from ..bids_validation import applies_to, rejected_by_validator
    from ..image_checks import check_t1w

    file_errors = [] if config.skip_bids_validation else _validate_input_dataset(config)
    images = collect_t1w_images(
        config.bids_dir,
        config.participant_labels or None,
        config.session_labels or None,
        excluded={issue.location.lstrip("/") for issue in file_errors},
        bids_filters=config.bids_filters,
        filter_source=f"--bids-filter-file {config.bids_filter_file}",
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
            say(f"ce2nce: rejected: {line}")
        raise InvalidInputError(f"{config.bids_dir}: no usable T1w image (see the lines above)")
    return usable, rejections


def contrast_from_detector(config: RunConfig, images: Sequence[T1wImage]) -> list[T1wImage]:
    """The images, those the gadolinium detector turns into contrast-enhanced ones marked so.

    With ``--contrast-from both``, every image without a contrast label goes through t1-linear
    (:func:`~ce2nce_pipeline.science.t1_linear.t1_linear`, in the run's temporary folder) and
    the detector first; one the detector is confident about
    (:func:`~ce2nce_pipeline.science.gadolinium.treat_as_contrast_enhanced`) comes back with
    ``contrast_agent="detected"`` and ``contrast_detected``, so that the graph translates it.
    One line per image the detector decided or could not judge. ``labels``: unchanged.
    """
    if config.contrast_from == "labels":
        return list(images)
    import numpy as np

    from ..science.gadolinium import detect_gadolinium, treat_as_contrast_enhanced
    from ..science.t1_linear import t1_linear

    decided = []
    for image in images:
        if image.is_contrast_enhanced:
            decided.append(image)
            continue
        with tempfile.TemporaryDirectory(prefix="ce2nce_contrast_") as work:
            cropped, _ = t1_linear(image.path, Path(work))
            data = np.asarray(cropped.dataobj, dtype=np.float32)
        treat, line = treat_as_contrast_enhanced(
            False, detect_gadolinium(data), config.contrast_from
        )
        if line:
            say(f"ce2nce: {image.path.name}: {line}")
        if treat:
            image = replace(image, contrast_agent="detected", contrast_detected=True)
        decided.append(image)
    return decided


def _expected_crop(config: RunConfig, image: T1wImage) -> Path:
    from ..bids import derivative_dir, derivative_name
    from ..science.templates import TEMPLATE_SPACE
    from .outputs import RESOLUTION

    entities = image.output_entities
    name = derivative_name(entities, "T1w", ".nii.gz", TEMPLATE_SPACE, "Crop", RESOLUTION)
    return derivative_dir(config.output_dir, entities) / name


def _run_graph(workflow, config: RunConfig, images: Sequence[T1wImage]) -> bool:
    """Run the nipype graph, a progress line per finished stage; False when some node failed."""
    from ..errors import DiskFullError, disk_full_message
    from ..workers import prepare_forkserver
    from .progress import RunProgress
    from .scheduler import ensure_logname

    ensure_logname(config.plugin)
    settings = config.plugin_settings()
    if config.plugin != "SLURMGraph":  # a graph-submission plugin reports no node's status
        settings["plugin_args"].setdefault("status_callback", RunProgress(workflow, images))
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


def _write_rejections(config: RunConfig, rejections: list[str]) -> None:
    """List the rejected images under ``logs/`` (nothing is written when none was rejected)."""
    from ..io import atomic_write_text

    if rejections:
        atomic_write_text(
            "".join(f"{line}\n" for line in rejections),
            config.output_dir / "logs" / f"ce2nce_{config.run_uuid}_rejected.txt",
        )


def _prepare_output(config: RunConfig, rejections: list[str]) -> None:
    """Create the derivatives folder, clear what a stopped run left, describe the dataset."""
    from ..derivatives import write_dataset_description
    from ..workers import remove_stale_temporary_files

    config.output_dir.mkdir(parents=True, exist_ok=True)
    for path in remove_stale_temporary_files(config.output_dir):
        LOGGER.info("removed %s, left by a stopped run", path)
    write_dataset_description(config.output_dir, config.bids_dir)
    _write_rejections(config, rejections)


def _run_in_work_dir(
    config: RunConfig,
    images: Sequence[T1wImage],
    prepared: PreparedRun,
) -> tuple[bool, float]:
    """Build, record and run the graph; returns (whether every node ran, start time).

    Without a work folder the graph runs in a temporary one, which the saved settings leave
    out: they re-run as the user gave them.
    """
    from ..derivatives import citation_text, software_versions, write_run_logs
    from .base import collect_descriptions, init_ce2nce_wf

    versions = software_versions()
    with tempfile.TemporaryDirectory(prefix="ce2nce_work_") as temporary:
        run_config = config if config.work_dir else replace(config, work_dir=Path(temporary))
        workflow = init_ce2nce_wf(run_config, images, versions, prepared)
        write_run_logs(
            config.output_dir,
            config.to_toml(),
            config.run_uuid,
            citation_text(collect_descriptions(workflow)),
        )
        started = time.time()
        return _run_graph(workflow, run_config, images), started


def _failed_images(
    config: RunConfig, images: Sequence[T1wImage], started: float
) -> tuple[list[T1wImage], dict[Path, str]]:
    """Images without a fresh t1-linear output or named by a crash report; the reports' texts."""
    from .base import images_in_crash_reports

    crash_reports = {
        path: path.read_text(errors="replace")
        for path in sorted((config.output_dir / "logs").glob("crash-*.txt"))
        if path.stat().st_mtime >= started - 1
    }
    crashed = images_in_crash_reports(images, list(crash_reports.values()))
    failed = [
        image
        for image in images
        if image in crashed
        or not _expected_crop(config, image).is_file()
        or _expected_crop(config, image).stat().st_mtime < started - 1
    ]
    return failed, crash_reports


def registration_flags(crop: Path) -> str | None:
    """Why an image's t1-linear registration is flagged (from its sidecar), or ``None``."""
    from ..group.collect import read_sidecar

    sidecar = read_sidecar(crop.with_name(crop.name.removesuffix(".nii.gz") + ".json"))
    if not sidecar.get("RegistrationFlagged"):
        return None
    reasons = []
    score, threshold = (
        sidecar.get("RegistrationQuality"),
        sidecar.get("RegistrationQualityThreshold"),
    )
    if score is not None and threshold is not None and score < threshold:
        reasons.append(f"registration quality {score} below {threshold}")
    rms, limit = sidecar.get("PairConsistencyMM"), sidecar.get("PairConsistencyThresholdMM")
    if rms is not None and limit is not None and rms > limit:
        reasons.append(f"{rms} mm from its T1w-nce (more than {limit} mm)")
    return "; ".join(reasons) or "registration flagged"


def contrast_checks(
    config: RunConfig, images: Sequence[T1wImage]
) -> tuple[list[T1wImage], list[str]]:
    """Images whose gadolinium detection contradicts their label, and one line per such image
    and per image the detector could not judge (read from the t1-linear sidecars)."""
    mismatched: list[T1wImage] = []
    lines: list[str] = []
    for image in images:
        sidecar = _expected_crop(config, image).with_suffix("").with_suffix(".json")
        try:
            content = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        probability = content.get("GadoliniumProbability")
        detection = content.get("GadoliniumDetection") or {}
        if probability == "n/a":
            lines.append(
                f"ce2nce: gadolinium n/a: {image.path}: {detection.get('Reason', 'not judged')}"
            )
        elif detection.get("ContrastMismatch") is True:
            mismatched.append(image)
            labelled = image.is_contrast_enhanced and not image.contrast_detected
            label = "contrast-enhanced" if labelled else "non-contrast"
            lines.append(
                f"ce2nce: contrast mismatch: {image.path}: labelled {label}, gadolinium "
                f"probability {probability} (threshold {detection.get('Threshold')})"
                + ("; translated (--contrast-from both)" if image.contrast_detected else "")
            )
    return mismatched, lines


def _report(
    config: RunConfig,
    n_images: int,
    failed: list[T1wImage],
    rejections: list[str],
    crash_reports: dict[Path, str],
    flagged: dict[Path, str] | None = None,
    contrast: tuple[list[T1wImage], list[str]] = ([], []),
) -> None:
    """The summary line, then one line per rejected, failed and flagged image, on stderr.

    Each failed image's line names its crash files. A flagged image was written, but its
    registration most likely failed: look at it before using it. The summary names the images
    whose contrast label the gadolinium detector contradicts (``contrast``, from
    :func:`contrast_checks`), each then gets a line, as does each image the detector could not
    judge. A run without a problem shows its summary as a progress line (``-q`` leaves it out).
    """
    from .base import images_in_crash_reports

    flagged = flagged or {}
    mismatched, contrast_lines = contrast
    (say if failed or rejections or flagged or contrast_lines else progress)(
        f"ce2nce: {n_images - len(failed)} of {n_images + len(rejections)} T1w image(s) "
        f"processed; {len(failed)} failed, {len(rejections)} rejected, {len(flagged)} flagged "
        f"(registration); outputs in {config.output_dir}"
        + (f"; crash files in {config.output_dir / 'logs'}" if failed else "")
        + (
            "; contrast label contradicted by the gadolinium detector (qc_contrast_mismatch): "
            + ", ".join(image.path.name for image in mismatched)
            if mismatched
            else ""
        )
    )
    for line in contrast_lines:
        say(line)
    for line in rejections:
        say(f"ce2nce: rejected: {line}")
    for path, reason in flagged.items():
        say(
            f"ce2nce: flagged: {path}: {reason}; written, but kept out of the group statistics "
            "(look at its report; --include-flagged keeps it)"
        )
    for image in failed:
        reports = {
            path: report
            for path, report in crash_reports.items()
            if images_in_crash_reports([image], [report])
        }
        reason = next(filter(None, map(_failure_reason, reports.values())), None)
        crash_files = ", ".join(map(str, reports))
        say(
            f"ce2nce: failed: {image.path}"
            + (f": {reason}" if reason else "")
            + (f"; crash file(s): {crash_files}" if crash_files else "")
        )


def run_participant_level(
    config: RunConfig,
    images: Sequence[T1wImage],
    rejections: list[str],
    prepared: PreparedRun,
) -> int:
    """Run the participant graph on checked images; return the exit code.

    Parameters
    ----------
    config
        The run's settings.
    images, rejections
        What :func:`usable_images` returned.
    prepared
        The checked translation model (or none), the device and SPM installation found on
        the machine (:func:`~.prepare.prepare_run`).

    Returns
    -------
    int
        0 when every image was processed and none rejected, else 1.
    """
    _prepare_output(config, rejections)
    graph_ran, started = _run_in_work_dir(config, images, prepared)
    failed, crash_reports = _failed_images(config, images, started)
    if not graph_ran and not failed:  # a crash no image could be held responsible for
        say("ce2nce: error: some steps failed; see the crash files in logs/")
        return 1
    from ..reports.build import reports_after_run

    reports_after_run(
        config.output_dir,
        prefix="ce2nce",
        participant_labels=sorted({image.subject for image in images}),
        session_labels=config.session_labels,
        group=False,
    )
    processed = [image for image in images if image not in failed]
    flagged = {
        image.path: reason
        for image in processed
        if (reason := registration_flags(_expected_crop(config, image)))
    }
    contrast = contrast_checks(config, processed)
    # The summary comes last.
    _report(config, len(images), failed, rejections, crash_reports, flagged, contrast)
    return 0 if not failed and not rejections else 1
