"""Top of the participant graph: one sub-workflow per participant, one branch per image."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nipype.pipeline import engine as pe

from ..bids import T1wImage, pair_images
from ..config import RunConfig
from .brain_mask import init_brain_mask_wf, init_union_mask_wf
from .outputs import (
    init_ds_synthetic_wf,
    init_ds_t1_linear_wf,
    init_ds_tissues_wf,
    init_ds_union_mask_wf,
    source_uri,
)
from .segmentation import init_tissue_segmentation_wf
from .t1_linear import init_t1_linear_wf
from .translate import init_translate_wf

_TISSUE_FIELDS = ("gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv")


def node_safe(text: str) -> str:
    """A nipype-safe identifier from a name stem (``ses-M000_ce-gd`` -> ``ses_M000_ce_gd``)."""
    return re.sub(r"\W", "_", text)


def image_stem(image: T1wImage) -> str:
    """The part of an image's sub-workflow names that identifies it (``ses_M000_ce_gd``)."""
    return node_safe(image.image_id.removeprefix(f"sub-{image.subject}").lstrip("_")) or "t1w"


def images_in_crash_reports(images: Sequence[T1wImage], reports: Sequence[str]) -> list[T1wImage]:
    """The images whose branch a nipype crash report names (``sub_X_wf.<stage>_<stem>_wf.``)."""
    return [
        image
        for image in images
        if any(
            f"sub_{image.subject}_wf." in report and f"_{image_stem(image)}_wf." in report
            for report in reports
        )
    ]


def _tissue_connections(segmentation_wf: pe.Workflow, ds_wf: pe.Workflow) -> tuple:
    return (
        segmentation_wf,
        ds_wf,
        [(f"outputnode.{field}", f"inputnode.{field}") for field in _TISSUE_FIELDS],
    )


def init_single_subject_wf(
    *,
    subject: str,
    images: Sequence[T1wImage],
    output_dir: str,
    software_versions: dict[str, str],
    translation: dict[str, str] | None = None,
    mask_backend: str = "hdbet",
    seg_backend: str = "ants",
    device: str = "auto",
    omp_nthreads: int = 1,
    name: str | None = None,
) -> pe.Workflow:
    """Process every T1w image of one participant.

    Each image gets its own branch — t1-linear, brain mask, tissue segmentation, and for a
    contrast-enhanced image its translation, the synthetic image's own brain mask and its
    segmentation — so
    that a failing image leaves the other branches running. Each ce/nce pair of a session also
    gets the union of the two brain masks (the mask of the paper's image metrics).

    Parameters
    ----------
    subject
        Participant label (without ``sub-``).
    images
        The participant's T1w images (contrast-enhanced or not).
    output_dir
        Root of the derivatives dataset.
    software_versions
        Versions recorded in the sidecars.
    translation
        ``{"Checkpoint", "Architecture", "WeightsSha256", "IntensityNormalisation",
        "NetworkGrid", "OutputResampling"}`` of the
        translation model; ``None`` leaves contrast-enhanced images untranslated.
    mask_backend, seg_backend
        Brain masking (``template``, ``deepbet``, ``hdbet``) and segmentation (``ants``,
        ``spm``) backends.
    device, omp_nthreads
        Where, and with how many CPU threads, the networks run.
    name
        Workflow name (default ``sub_<label>_wf``).
    """
    workflow = pe.Workflow(name=name or f"sub_{subject}_wf")
    mask_device = None if device == "auto" else device
    masks: dict[str, pe.Workflow] = {}
    for image in images:
        stem = image_stem(image)
        sources = [source_uri(image.relative_path)]
        t1_linear_wf = init_t1_linear_wf(name=f"t1_linear_{stem}_wf")
        t1_linear_wf.inputs.inputnode.t1w = str(image.path)
        ds_t1_linear_wf = init_ds_t1_linear_wf(
            output_dir=output_dir,
            source_entities=image.output_entities,
            source_relpath=image.relative_path,
            software_versions=software_versions,
            name=f"ds_t1_linear_{stem}_wf",
        )
        brain_mask_wf = init_brain_mask_wf(
            backend=mask_backend, device=mask_device, name=f"brain_mask_{stem}_wf"
        )
        segmentation_wf = init_tissue_segmentation_wf(
            backend=seg_backend, name=f"segmentation_{stem}_wf"
        )
        ds_tissues_wf = init_ds_tissues_wf(
            output_dir=output_dir,
            source_entities=image.output_entities,
            sources=sources,
            name=f"ds_tissues_{stem}_wf",
        )
        masks[str(image.path)] = brain_mask_wf
        workflow.connect([
            (t1_linear_wf, ds_t1_linear_wf, [
                ("outputnode.t1w_registered", "inputnode.t1w_registered"),
                ("outputnode.t1w_crop", "inputnode.t1w_crop"),
                ("outputnode.affine", "inputnode.affine"),
            ]),
            (t1_linear_wf, brain_mask_wf, [("outputnode.t1w_crop", "inputnode.t1w")]),
            (t1_linear_wf, segmentation_wf, [("outputnode.t1w_crop", "inputnode.t1w")]),
            (brain_mask_wf, segmentation_wf, [("outputnode.mask", "inputnode.mask")]),
            (brain_mask_wf, ds_tissues_wf, [("outputnode.mask", "inputnode.mask")]),
            _tissue_connections(segmentation_wf, ds_tissues_wf),
        ])  # fmt: skip
        if translation is None or not image.is_contrast_enhanced:
            continue
        translate_wf = init_translate_wf(
            checkpoint=translation["Checkpoint"],
            architecture=translation["Architecture"],
            weights_sha256=translation["WeightsSha256"],
            normalisation=translation.get("IntensityNormalisation", "min-max"),
            network_grid=translation.get("NetworkGrid", "128x128x128"),
            output_resampling=translation.get("OutputResampling", "round-trip"),
            device=device,
            num_threads=omp_nthreads,
            name=f"translate_{stem}_wf",
        )
        ds_synthetic_wf = init_ds_synthetic_wf(
            output_dir=output_dir,
            source_entities=image.output_entities,
            source_relpath=image.relative_path,
            model=translation,
            software_versions=software_versions,
            name=f"ds_synthetic_{stem}_wf",
        )
        synthetic_segmentation_wf = init_tissue_segmentation_wf(
            backend=seg_backend, name=f"segmentation_synthetic_{stem}_wf"
        )
        synthetic_mask_wf = init_brain_mask_wf(
            backend=mask_backend, device=mask_device, name=f"brain_mask_synthetic_{stem}_wf"
        )
        ds_synthetic_tissues_wf = init_ds_tissues_wf(
            output_dir=output_dir,
            source_entities=image.output_entities,
            sources=sources,
            desc="synthetic",
            name=f"ds_tissues_synthetic_{stem}_wf",
        )
        workflow.connect([
            (t1_linear_wf, translate_wf, [("outputnode.t1w_crop", "inputnode.t1w_crop")]),
            (translate_wf, ds_synthetic_wf, [
                ("outputnode.t1w_synthetic", "inputnode.t1w_synthetic"),
            ]),
            (translate_wf, synthetic_segmentation_wf, [
                ("outputnode.t1w_synthetic", "inputnode.t1w"),
            ]),
            # The synthetic image gets its own mask: enhanced dura and sinuses that the T1w-ce's
            # mask took in must not stay in the synthetic image's TIV and CSF.
            (translate_wf, synthetic_mask_wf, [("outputnode.t1w_synthetic", "inputnode.t1w")]),
            (synthetic_mask_wf, synthetic_segmentation_wf, [
                ("outputnode.mask", "inputnode.mask"),
            ]),
            (synthetic_mask_wf, ds_synthetic_tissues_wf, [("outputnode.mask", "inputnode.mask")]),
            _tissue_connections(synthetic_segmentation_wf, ds_synthetic_tissues_wf),
        ])  # fmt: skip

    for pair in pair_images(images):
        stem = image_stem(pair.ce)
        union_mask_wf = init_union_mask_wf(name=f"union_mask_{stem}_wf")
        ds_union_mask_wf = init_ds_union_mask_wf(
            output_dir=output_dir,
            source_entities=pair.ce.output_entities,
            sources=[source_uri(pair.nce.relative_path), source_uri(pair.ce.relative_path)],
            name=f"ds_union_mask_{stem}_wf",
        )
        mask_nce, mask_ce = masks[str(pair.nce.path)], masks[str(pair.ce.path)]
        workflow.connect([
            (mask_nce, union_mask_wf, [("outputnode.mask", "inputnode.mask_nce")]),
            (mask_ce, union_mask_wf, [("outputnode.mask", "inputnode.mask_ce")]),
            (union_mask_wf, ds_union_mask_wf, [("outputnode.mask", "inputnode.mask")]),
        ])  # fmt: skip
    return workflow


def init_ce2nce_wf(
    config: RunConfig,
    images: Sequence[T1wImage],
    software_versions: dict[str, str],
    translation: dict[str, str] | None = None,
) -> pe.Workflow:
    """The whole participant-level graph of a run.

    Parameters
    ----------
    config
        The run's settings (the only place they are read).
    images
        Discovered, checked T1w images to process.
    software_versions
        Versions recorded in the sidecars.
    translation
        The checked translation model (see :func:`init_single_subject_wf`), or ``None``.
    """
    workflow = pe.Workflow(name="ce2nce_wf")
    if config.work_dir is not None:
        workflow.base_dir = str(config.work_dir)
    workflow.config["execution"].update(
        {
            "crashdump_dir": str(config.output_dir / "logs"),
            "crashfile_format": "txt",
            "stop_on_first_crash": config.stop_on_first_crash,
            "remove_unnecessary_outputs": False,
        }
    )
    for subject in sorted({image.subject for image in images}):
        workflow.add_nodes([
            init_single_subject_wf(
                subject=subject,
                images=[image for image in images if image.subject == subject],
                output_dir=str(config.output_dir),
                software_versions=software_versions,
                translation=translation,
                mask_backend=config.mask_backend,
                seg_backend=config.seg_backend,
                device=config.device,
                omp_nthreads=config.omp_nthreads,
            )
        ])  # fmt: skip
    return workflow


def collect_descriptions(workflow: pe.Workflow) -> list[str]:
    """Methods paragraphs (``__desc__``) of a graph and its sub-graphs, each once, in order."""
    found: list[str] = []

    def visit(current: pe.Workflow) -> None:
        description = getattr(current, "__desc__", None)
        if description and description not in found:
            found.append(description)
        for node in current._graph.nodes():  # nipype exposes sub-workflows only here
            if isinstance(node, pe.Workflow):
                visit(node)

    visit(workflow)
    return found
