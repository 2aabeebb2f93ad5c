"""The per-participant report ``sub-X.html`` and its figures under ``sub-X/figures/``.

The figures (flickers, contours, the enhancement overlay) are drawn by :mod:`.figures` from the
arrays, each output read once per participant; the page is nireports' assembler ``Report``
driven by a bootstrap file written here, with ce2nce's own offline template (no script or style
is fetched). What cannot be drawn is listed in the report instead of stopping it.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from ..group.collect import (
    SPACE,
    ImageOutputs,
    SessionOutputs,
    parse_source,
    read_sidecar,
    read_volumes,
)
from ..group.qc import SyntheticQC
from . import html
from .figures import contour_figure, flicker_figure, overlay_figure

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "data" / "report.tpl"
#: pybids names of the source entities (nireports' figure layout).
_ENTITY_NAMES = {
    "sub": "subject",
    "ses": "session",
    "acq": "acquisition",
    "ce": "ceagent",
    "rec": "reconstruction",
    "run": "run",
}
TISSUE_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a")  # brain mask, GM + WM, WM
TISSUE_CAPTION = (
    "Red: brain mask; blue: outer edge of GM (CSF lies between red and blue); green: GM/WM "
    "border (maximum-probability tissue map)."
)


@dataclass
class _Builder:
    """Collects the figures, fragments and sections of one report."""

    figures: Path
    participant_id: str = ""
    sections: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rated: int = 0

    def query(self, stem: str, desc: str, suffix: str, extension: str) -> dict:
        entities = parse_source(stem)
        query: dict[str, object] = {n: None for n in _ENTITY_NAMES.values() if n != "run"}
        for key, value in entities.items():
            query[_ENTITY_NAMES[key]] = int(value) if key == "run" else value
        return {**query, "datatype": "figures", "desc": desc, "suffix": suffix,
                "extension": extension}  # fmt: skip

    def figure(self, stem: str, desc: str, suffix: str, draw: Callable[[Path], object]) -> bool:
        path = self.figures / f"{stem}_{SPACE}_desc-{desc}_{suffix}.svg"
        try:
            draw(path)
        except Exception as error:  # a figure that cannot be drawn must not stop the report
            self.missing.append(
                f"{path.name}: could not be drawn ({type(error).__name__}: {error})"
            )
            logger.debug("figure %s failed", path.name, exc_info=True)
            return False
        return True

    def rating(self, image: ImageOutputs) -> dict:
        """The rating form of an image written by the participant level (its file name)."""
        desc = "rating" if image.kind != "synthetic" else "syntheticrating"
        self.fragment(
            image.source, desc, html.rating_form(self.participant_id, image.image.name, self.rated)
        )
        self.rated += 1
        kind = {"nce": "T1w-nce", "ce": "T1w-ce", "synthetic": "synthetic T1w-nce"}[image.kind]
        return {"bids": self.query(image.source, desc, "T1w", ".html"),
                "title": f"Your QC rating of the {kind}"}  # fmt: skip

    def fragment(self, stem: str, desc: str, content: str) -> None:
        path = self.figures / f"{stem}_desc-{desc}_T1w.html"
        path.write_text(content, encoding="utf-8")


@functools.lru_cache(maxsize=8)
def _image(path: Path) -> nib.Nifti1Image:
    """An output as float32, read once per report (a session's figures share their inputs)."""
    source = nib.load(path)
    return nib.Nifti1Image(np.asanyarray(source.dataobj, dtype=np.float32), source.affine)


def _binary(array: np.ndarray, like: nib.Nifti1Image) -> nib.Nifti1Image:
    return nib.Nifti1Image(array.astype(np.uint8), like.affine)


def _mask(path: Path, like: nib.Nifti1Image) -> nib.Nifti1Image:
    return _binary(np.asanyarray(_image(path).dataobj) > 0, like)


@functools.lru_cache(maxsize=2)
def _template_arrays(affine: bytes) -> tuple[np.ndarray, np.ndarray]:
    from ..science.templates import CROP_SHAPE, template_brain_and_priors, template_on_grid

    grid = np.frombuffer(affine).reshape(4, 4)
    brain, _, _ = template_brain_and_priors()
    return template_on_grid(CROP_SHAPE, grid), np.asarray(brain)


def _template(like: nib.Nifti1Image) -> tuple[nib.Nifti1Image, nib.Nifti1Image] | None:
    """The template image and brain outline on the t1-linear grid (``None`` on another grid)."""
    from ..science.templates import CROP_SHAPE

    if tuple(like.shape) != CROP_SHAPE:
        return None
    template, brain = _template_arrays(np.asarray(like.affine, dtype=np.float64).tobytes())
    return nib.Nifti1Image(template, like.affine), _binary(brain, like)


def _tissue_masks(image: ImageOutputs, like: nib.Nifti1Image) -> list[nib.Nifti1Image]:
    """Brain mask, GM + WM (its edge: the GM/CSF border) and WM (the GM/WM border).

    Each border is drawn once, so CSF lies between the brain mask's and the GM's outlines.
    """
    masks = [_mask(image.mask, like)]
    if image.dseg is not None:
        labels = np.asanyarray(_image(image.dseg).dataobj)
        masks += [_binary((labels == 1) | (labels == 2), like), _binary(labels == 2, like)]
    return masks


def _real_image_items(builder: _Builder, image: ImageOutputs, kind: str) -> list[dict]:
    """t1-linear against the template, mask and tissue contours, volumes."""
    stem, items = image.source, []
    if image.image is None:
        builder.missing.append(f"{stem}: no t1-linear output (the image failed or was skipped)")
        return items
    t1w = _image(image.image)
    bbox = _mask(image.mask, t1w) if image.mask else t1w
    template = _template(t1w)
    if template is None:
        builder.missing.append(f"{stem}: not on the t1-linear grid, no template flicker")
    elif builder.figure(stem, "t1linear", "T1w", lambda out: flicker_figure(
            t1w, template[0], bbox, out, labels=(f"t1-linear {kind}", "template"),
            contour=template[1])):  # fmt: skip
        items.append(
            _svg_item(
                builder,
                stem,
                "t1linear",
                "T1w",
                "t1-linear result and the template",
                "Hover to flicker between the image and the "
                "MNI152 template; red: the template brain's outline.",
            )
        )
    if image.mask is None:
        builder.missing.append(f"{stem}: no brain mask, no mask and tissue contours")
    elif builder.figure(stem, "tissues", "dseg", lambda out: contour_figure(
            t1w, _tissue_masks(image, t1w), TISSUE_COLOURS, bbox, out)):  # fmt: skip
        items.append(
            _svg_item(
                builder,
                stem,
                "tissues",
                "dseg",
                "Brain mask and tissues",
                TISSUE_CAPTION + ("" if image.dseg else " No tissue map."),
            )
        )
    from ..group.validation import registration_record

    builder.fragment(stem, "registration", html.registration_qc(registration_record(image)))
    items.append(
        {"bids": builder.query(stem, "registration", "T1w", ".html"),
         "title": "t1-linear registration quality"}
    )  # fmt: skip
    items.append(_gadolinium_item(builder, image))
    items.append(_volumes_item(builder, image))
    items.append(builder.rating(image))
    return items


def gadolinium_line(sidecar: dict) -> str:
    """The report's line about the gadolinium detector from a t1-linear sidecar's fields."""
    probability = sidecar.get("GadoliniumProbability")
    detection = sidecar.get("GadoliniumDetection") or {}
    if probability is None:
        return "no gadolinium probability in the sidecar (run before the detector existed)"
    if probability == "n/a":
        return f"gadolinium probability n/a: {detection.get('Reason', 'not judged')}"
    label = {"ce": "contrast-enhanced", "nce": "non-contrast"}.get(detection.get("Label"), "?")
    line = (
        f"gadolinium probability {probability} (threshold {detection.get('Threshold')}), "
        f"labelled {label}"
    )
    if detection.get("ContrastMismatch") is True:
        return line + ": the detector contradicts the label (qc_contrast_mismatch)"
    return line + ": the detector agrees"


def _gadolinium_item(builder: _Builder, image: ImageOutputs) -> dict:
    line = gadolinium_line(read_sidecar(image.sidecar))
    builder.fragment(image.source, "gadolinium", f"<p>{html.escape(line)}</p>")
    return {"bids": builder.query(image.source, "gadolinium", "T1w", ".html"),
            "title": "Gadolinium detector"}  # fmt: skip


def _svg_item(builder, stem, desc, suffix, title, caption) -> dict:
    return {"bids": builder.query(stem, desc, suffix, ".svg"), "title": title,
            "caption": caption, "static": False}  # fmt: skip


def _volumes_item(builder: _Builder, image: ImageOutputs) -> dict:
    desc = "volumes" if image.kind != "synthetic" else "syntheticvolumes"
    if image.volumes is None:
        content = html.missing([f"{image.source} ({image.kind}): no volumes table"])
    else:
        try:
            volumes = read_volumes(image.volumes)
            content = html.table([{f"{k} (cm³)": v for k, v in volumes.items()}])
        except (OSError, ValueError) as error:
            content = html.missing([str(error)])
    builder.fragment(image.source, desc, content)
    return {"bids": builder.query(image.source, desc, "T1w", ".html"),
            "title": f"Tissue volumes ({image.kind})"}  # fmt: skip


def _synthetic_items(
    builder: _Builder, session: SessionOutputs, synthetic: ImageOutputs, qc: SyntheticQC | None
) -> list[dict]:
    """Flickers against the synthetic and the real nce, the enhancement removed, flags."""
    stem = synthetic.source
    ce = next((image for image in session.ce if image.source == stem), None)
    if synthetic.image is None or ce is None or ce.image is None:
        builder.missing.append(f"{stem}: no synthetic image or no t1-linear T1w-ce")
        return []
    ce_image, synth = _image(ce.image), _image(synthetic.image)
    mask = ce.mask or synthetic.mask
    bbox = _mask(mask, ce_image) if mask else ce_image
    items = []
    if builder.figure(stem, "synthetic", "T1w", lambda out: flicker_figure(
            ce_image, synth, bbox, out, labels=("T1w-ce", "synthetic T1w-nce"))):  # fmt: skip
        items.append(
            _svg_item(
                builder,
                stem,
                "synthetic",
                "T1w",
                "T1w-ce and synthetic T1w-nce",
                "Hover to flicker between the contrast-enhanced input and its "
                "synthetic non-contrast image.",
            )
        )
    if session.nce is not None and session.nce.image is not None:
        nce = _image(session.nce.image)
        if builder.figure(stem, "realnce", "T1w", lambda out: flicker_figure(
                ce_image, nce, bbox, out, labels=("T1w-ce", "real T1w-nce"))):  # fmt: skip
            items.append(
                _svg_item(
                    builder,
                    stem,
                    "realnce",
                    "T1w",
                    "T1w-ce and real T1w-nce",
                    "Hover to flicker between the contrast-enhanced image and "
                    "the session's real non-contrast image.",
                )
            )
    removed = np.clip(
        ce_image.get_fdata(dtype=np.float32) - synth.get_fdata(dtype=np.float32), 0, None
    )
    if builder.figure(stem, "enhancement", "T1w", lambda out: overlay_figure(
            ce_image, removed, bbox, out, label="T1w-ce minus synthetic")):  # fmt: skip
        items.append(
            _svg_item(
                builder,
                stem,
                "enhancement",
                "T1w",
                "Enhancement removed",
                "T1w-ce minus synthetic (positive part) over the T1w-ce: "
                "expected in vessels, sinuses, dura, choroid plexus and scalp.",
            )
        )
    if synthetic.mask is not None:
        own = synthetic.mask.with_name(
            synthetic.mask.name.replace("desc-union_mask", "desc-syntheticbrain_mask")
        )
        shown = replace(synthetic, mask=own if own.is_file() else synthetic.mask)
        if builder.figure(stem, "synthetictissues", "dseg", lambda out: contour_figure(
                synth, _tissue_masks(shown, synth), TISSUE_COLOURS, bbox, out)):  # fmt: skip
            items.append(
                _svg_item(
                    builder,
                    stem,
                    "synthetictissues",
                    "dseg",
                    "Synthetic image: brain mask and tissues",
                    TISSUE_CAPTION,
                )
            )
    items.append(_volumes_item(builder, synthetic))
    builder.fragment(stem, "qc", html.qc_flags(qc) if qc else html.missing(["no QC flags"]))
    items.append({"bids": builder.query(stem, "qc", "T1w", ".html"), "title": "QC flags"})
    items.append(builder.rating(synthetic))
    return items


def crash_files_of(output_dir: Path, participant_id: str) -> list[Path]:
    """The crash files under ``logs/`` that name one participant."""
    found = []
    for path in sorted((Path(output_dir) / "logs").glob("crash-*")):
        text = path.read_text(errors="replace")
        if f"{participant_id}_" in text or f"{participant_id}/" in text:
            found.append(path)
    return found


def version_problem(output_dir: Path) -> str | None:
    """A line when the outputs were written by another ce2nce version (or none is recorded)."""
    from .. import __version__

    description = Path(output_dir) / "dataset_description.json"
    try:
        generated = json.loads(description.read_text(encoding="utf-8")).get("GeneratedBy", [])
    except (OSError, json.JSONDecodeError):
        return f"{description}: missing or unreadable, the outputs' version is unknown"
    versions = {str(item.get("Version")) for item in generated if item.get("Name") == "ce2nce"}
    if not versions:
        return f"{description}: not written by ce2nce"
    if versions != {__version__}:
        return (f"outputs written by ce2nce {', '.join(sorted(versions))}; this is ce2nce "
                f"{__version__}: files may be missing or named differently")  # fmt: skip
    return None


def _software(sessions: Sequence[SessionOutputs]) -> dict[str, dict[str, str]]:
    from ..group.collect import read_sidecar

    found: dict[str, dict[str, str]] = {}
    for session in sessions:
        for image in (session.nce, *session.ce, *session.synthetic.values()):
            if image is None:
                continue
            versions = read_sidecar(image.sidecar).get("ProcessingSoftwareVersions")
            if isinstance(versions, dict) and versions not in found.values():
                found[f"{image.source} ({image.kind})"] = {k: str(v) for k, v in versions.items()}
    return found


def _closing_sections(builder: _Builder, output_dir: Path, participant_id: str, sessions) -> None:
    logs = output_dir / "logs"
    builder.fragment(
        participant_id,
        "errors",
        html.crash_files(crash_files_of(output_dir, participant_id), output_dir),
    )
    about = (html.citation(logs) + "<h3>Software versions</h3>"
             + html.versions(_software(sessions)) + "<h3>Runs into this output folder</h3>"
             + html.table(html.run_settings(logs)))  # fmt: skip
    builder.fragment(participant_id, "about", about)
    builder.sections += [
        {"name": "Errors", "reportlets": [
            {"bids": builder.query(participant_id, "errors", "T1w", ".html"),
             "title": "Failed steps and their crash files"}]},
        {"name": "About", "reportlets": [
            {"bids": builder.query(participant_id, "about", "T1w", ".html"),
             "title": "Methods, versions and run settings"}]},
    ]  # fmt: skip


def _summary(builder: _Builder, participant_id: str, sessions, problems: Sequence[str]) -> None:
    rows = []
    for session in sessions:
        for image in (session.nce, *session.ce, *session.synthetic.values()):
            if image is not None:
                rows.append({"session": session.session_id, "image": image.source,
                             "kind": image.kind,
                             "missing outputs": ", ".join(image.missing()) or "none"})  # fmt: skip
    content = html.table(rows) + html.missing([*problems, *builder.missing])
    if builder.rated:
        content += html.ratings_download(participant_id)
    builder.fragment(participant_id, "summary", content)
    builder.sections.insert(0, {"name": "Summary", "reportlets": [
        {"bids": builder.query(participant_id, "summary", "T1w", ".html"),
         "title": f"{participant_id}: images and what is missing"}]})  # fmt: skip


def build_subject_report(
    output_dir: Path,
    participant_id: str,
    sessions: Sequence[SessionOutputs],
    qcs: Sequence[SyntheticQC] = (),
    *,
    problems: Sequence[str] = (),
    run_uuid: str | None = None,
) -> Path:
    """Write ``OUTPUT_DIR/sub-X.html`` and its figures under ``OUTPUT_DIR/sub-X/figures``.

    Parameters
    ----------
    output_dir : pathlib.Path
        The derivatives dataset.
    participant_id : str
        ``sub-<label>``.
    sessions : sequence of SessionOutputs
        This participant's sessions (:func:`~ce2nce_pipeline.group.collect.collect_sessions`).
    qcs : sequence of SyntheticQC
        QC flags of the synthetic images (:func:`~ce2nce_pipeline.group.qc.all_synthetic_qc`).
    problems : sequence of str
        Lines to show in the summary (e.g. a version mismatch).

    Returns
    -------
    pathlib.Path
        The report.
    """

    try:
        return _build(output_dir, participant_id, sessions, qcs, problems, run_uuid)
    finally:  # the images read for this participant's figures are not kept
        _image.cache_clear()


def _build(output_dir, participant_id, sessions, qcs, problems, run_uuid) -> Path:
    """:func:`build_subject_report`'s work: figures and fragments, then nireports' page."""
    from nireports.assembler.report import Report

    output_dir = Path(output_dir)
    qc_by_source = {(qc.session_id, qc.source): qc for qc in qcs}
    with tempfile.TemporaryDirectory(prefix="ce2nce_report_") as folder:
        figures = Path(folder) / participant_id / "figures"
        figures.mkdir(parents=True)
        builder = _Builder(figures, participant_id=participant_id)
        for session in sessions:
            for image in (session.nce, *session.ce):
                if image is None:
                    continue
                kind = "T1w-nce" if image.kind == "nce" else "T1w-ce"
                items = _real_image_items(builder, image, kind)
                if (synthetic := session.synthetic.get(image.source)) is not None:
                    qc = qc_by_source.get((session.session_id, image.source))
                    items += _synthetic_items(builder, session, synthetic, qc)
                builder.sections.append({"name": image.source, "reportlets": items})
        _closing_sections(builder, output_dir, participant_id, sessions)
        _summary(builder, participant_id, sessions, problems)
        bootstrap = Path(folder) / "bootstrap.yml"
        settings = {"title": f"ce2nce: {participant_id}", "template_path": str(TEMPLATE),
                    "sections": builder.sections}  # fmt: skip
        bootstrap.write_text(json.dumps(settings, indent=1), encoding="utf-8")
        report = Report(
            output_dir, run_uuid, bootstrap_file=bootstrap, reportlets_dir=folder,
            out_filename=f"{participant_id}.html",
        )  # fmt: skip
        report.generate_report()
    return output_dir / f"{participant_id}.html"
