"""The nipype graph of one participant written into a CAPS, from ce2nce's own sub-workflows.

Per image: t1-linear (or the cropped image a previous ``t1-linear`` left in the CAPS), brain
mask, tissue segmentation; per T1w-ce: translation, the synthetic image's own mask and tissues;
per ce/nce pair: the union mask. t1-linear outputs go to ``t1_linear/`` with Clinica's names,
everything else to ``ce2nce/`` (:mod:`.caps`). No Clinica import: the graph runs without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..bids import pair_images
from ..config import TranslationModel
from ..workflows.base import RunEnvironment, _tissue_connections, image_stem
from ..workflows.brain_mask import init_brain_mask_wf, init_union_mask_wf
from ..workflows.outputs import (
    init_ds_synthetic_wf,
    init_ds_t1_linear_wf,
    init_ds_tissues_wf,
    init_ds_union_mask_wf,
    source_uri,
)
from ..workflows.segmentation import init_tissue_segmentation_wf
from ..workflows.t1_linear import init_t1_linear_wf
from ..workflows.translate import init_model_translate_wf
from .caps import CE2NCE, CapsImage, subjects_dir

#: A CAPS is written at the ``full`` output level: Clinica's t1-linear writes the uncropped
#: image and float32 images, and later pipelines (and a re-run reusing ``t1_linear/``) read them.
CAPS_OUTPUT_LEVEL = "full"


@dataclass(frozen=True)
class CapsSettings:
    """What every branch of a CAPS run shares."""

    caps_dir: str
    software_versions: dict[str, str]
    translation: TranslationModel | None = None
    mask_backend: str = "hdbet"
    seg_backend: str = "ants"
    registration: str = "fast"
    environment: RunEnvironment = RunEnvironment()
    omp_nthreads: int = 1

    @property
    def subjects(self) -> str:
        return str(subjects_dir(self.caps_dir))

    def brain_mask_wf(self, name: str) -> pe.Workflow:
        device = None if self.environment.device == "auto" else self.environment.device
        return init_brain_mask_wf(
            backend=self.mask_backend, device=device, omp_nthreads=self.omp_nthreads, name=name
        )

    def segmentation_wf(self, name: str) -> pe.Workflow:
        return init_tissue_segmentation_wf(
            backend=self.seg_backend,
            spm_installation=self.environment.spm,
            omp_nthreads=self.omp_nthreads,
            name=name,
        )


def _crop_source(workflow: pe.Workflow, item: CapsImage, settings: CapsSettings):
    """The node and field giving the image's cropped t1-linear image: reused or computed."""
    image, stem = item.image, image_stem(item.image)
    if item.reused_crop is not None:
        reused = pe.Node(niu.IdentityInterface(fields=["t1w_crop"]), name=f"reused_crop_{stem}")
        reused.inputs.t1w_crop = str(item.reused_crop)
        workflow.add_nodes([reused])
        return reused, "t1w_crop"
    t1_linear_wf = init_t1_linear_wf(
        omp_nthreads=settings.omp_nthreads,
        registration=settings.registration,
        name=f"t1_linear_{stem}_wf",
    )
    t1_linear_wf.inputs.inputnode.t1w = str(image.path)
    ds_t1_linear_wf = init_ds_t1_linear_wf(
        output_dir=settings.subjects,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        software_versions=settings.software_versions,
        output_level=CAPS_OUTPUT_LEVEL,
        caps=True,
        name=f"ds_t1_linear_{stem}_wf",
    )
    workflow.connect([
        (t1_linear_wf, ds_t1_linear_wf, [
            (f"outputnode.{field}", f"inputnode.{field}")
            for field in ("t1w_registered", "t1w_crop", "affine")
        ]),
    ])  # fmt: skip
    return t1_linear_wf, "outputnode.t1w_crop"


def _add_tissues(workflow, source, field, *, item, settings, desc=None) -> pe.Workflow:
    """Brain mask and tissues of one t1-linear (or synthetic) image; returns the mask graph."""
    image = item.image
    stem = (f"{desc}_" if desc else "") + image_stem(image)
    mask_wf = settings.brain_mask_wf(f"brain_mask_{stem}_wf")
    segmentation_wf = settings.segmentation_wf(f"segmentation_{stem}_wf")
    ds_tissues_wf = init_ds_tissues_wf(
        output_dir=settings.subjects,
        source_entities=image.output_entities,
        sources=[source_uri(image.relative_path)],
        output_level=CAPS_OUTPUT_LEVEL,
        desc=desc,
        datatype=CE2NCE,
        name=f"ds_tissues_{stem}_wf",
    )
    workflow.connect([
        (source, mask_wf, [(field, "inputnode.t1w")]),
        (source, segmentation_wf, [(field, "inputnode.t1w")]),
        (mask_wf, segmentation_wf, [("outputnode.mask", "inputnode.mask")]),
        (mask_wf, ds_tissues_wf, [("outputnode.mask", "inputnode.mask")]),
        _tissue_connections(segmentation_wf, ds_tissues_wf),
    ])  # fmt: skip
    return mask_wf


def _add_translation(workflow, source, field, *, item, settings) -> None:
    """Translate a T1w-ce; write the synthetic image, its own mask and its tissues."""
    model, image, stem = settings.translation, item.image, image_stem(item.image)
    translate_wf = init_model_translate_wf(
        model,
        device=settings.environment.device,
        num_threads=settings.omp_nthreads,
        name=f"translate_{stem}_wf",
    )
    ds_synthetic_wf = init_ds_synthetic_wf(
        output_dir=settings.subjects,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        model=model.sidecar(),
        software_versions=settings.software_versions,
        output_level=CAPS_OUTPUT_LEVEL,
        datatype=CE2NCE,
        clinica_order=True,
        name=f"ds_synthetic_{stem}_wf",
    )
    workflow.connect([
        (source, translate_wf, [(field, "inputnode.t1w_crop")]),
        (translate_wf, ds_synthetic_wf, [
            ("outputnode.t1w_synthetic", "inputnode.t1w_synthetic"),
            ("outputnode.device", "inputnode.device"),
            ("outputnode.t1w_flip_sd", "inputnode.t1w_flip_sd"),
        ]),
    ])  # fmt: skip
    _add_tissues(
        workflow, translate_wf, "outputnode.t1w_synthetic",
        item=item, settings=settings, desc="synthetic",
    )  # fmt: skip


def init_caps_subject_wf(
    *, subject: str, images: Sequence[CapsImage], settings: CapsSettings, name: str | None = None
) -> pe.Workflow:
    """Process every T1w image of one participant into the CAPS.

    Each image has its own branch, so a failing image leaves the others running. An image
    whose cropped t1-linear image is already in the CAPS starts from it (nothing recomputed,
    nothing rewritten in ``t1_linear/``).
    """
    workflow = pe.Workflow(name=name or f"sub_{subject}_wf")
    masks: dict[str, pe.Workflow] = {}
    for item in images:
        source, field = _crop_source(workflow, item, settings)
        masks[str(item.image.path)] = _add_tissues(
            workflow, source, field, item=item, settings=settings
        )
        if settings.translation is not None and item.image.is_contrast_enhanced:
            _add_translation(workflow, source, field, item=item, settings=settings)
    for pair in pair_images(item.image for item in images):
        stem = image_stem(pair.ce)
        union_mask_wf = init_union_mask_wf(name=f"union_mask_{stem}_wf")
        ds_union_mask_wf = init_ds_union_mask_wf(
            output_dir=settings.subjects,
            source_entities=pair.ce.output_entities,
            sources=[source_uri(pair.nce.relative_path), source_uri(pair.ce.relative_path)],
            datatype=CE2NCE,
            name=f"ds_union_mask_{stem}_wf",
        )
        mask_nce, mask_ce = masks[str(pair.nce.path)], masks[str(pair.ce.path)]
        workflow.connect([
            (mask_nce, union_mask_wf, [("outputnode.mask", "inputnode.mask_nce")]),
            (mask_ce, union_mask_wf, [("outputnode.mask", "inputnode.mask_ce")]),
            (union_mask_wf, ds_union_mask_wf, [("outputnode.mask", "inputnode.mask")]),
        ])  # fmt: skip
    return workflow
