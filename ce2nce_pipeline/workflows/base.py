"""Top of the participant graph: one sub-workflow per participant, one branch per image.

The same :func:`init_single_subject_wf` writes a BIDS derivatives dataset (``ce2nce ...
participant``, :func:`init_ce2nce_wf`) and a CAPS (the Clinica pipeline): only the
:class:`~.outputs.OutputLayout` differs, and the Clinica pipeline passes the cropped images
already in the CAPS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..bids import T1wImage, pair_images
from ..config import RunConfig
from ..models.translation import TranslationModel
from .brain_mask import init_brain_mask_wf, init_union_mask_wf
from .gadolinium import init_gadolinium_wf
from .outputs import (
    OutputLayout,
    init_ds_synthetic_wf,
    init_ds_t1_linear_wf,
    init_ds_tissues_wf,
    init_ds_union_mask_wf,
    source_uri,
)
from .prepare import PreparedRun, RunEnvironment
from .scheduler import apply_scheduler_hints
from .segmentation import init_tissue_segmentation_wf
from .t1_linear import init_t1_linear_wf
from .translate import init_model_translate_wf

_TISSUE_FIELDS = ("gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv")


def node_safe(text: str) -> str:
    """A nipype-safe identifier from a name stem (``ses-M000_ce-gd`` -> ``ses_M000_ce_gd``)."""
    return re.sub(r"\W", "_", text)


def image_stem(image: T1wImage) -> str:
    """The part of an image's sub-workflow names that identifies it (``ses_M000_ce_gd``)."""
    return node_safe(image.image_id.removeprefix(f"sub-{image.subject}").lstrip("_")) or "t1w"


#: The sub-workflows of one image's branch, each named ``<prefix>_<image stem>_wf`` (the ce
#: image's stem for a pair's union mask).
BRANCH_PREFIXES = (
    "t1_linear", "gadolinium", "ds_t1_linear", "brain_mask", "segmentation", "ds_tissues",
    "translate", "ds_synthetic", "brain_mask_synthetic", "segmentation_synthetic",
    "ds_tissues_synthetic", "union_mask", "ds_union_mask",
)  # fmt: skip


def branch_name(prefix: str, image: T1wImage) -> str:
    """The name of one sub-workflow of an image's branch (``t1_linear_ses_M000_ce_gd_wf``)."""
    if prefix not in BRANCH_PREFIXES:
        raise ValueError(f"{prefix!r} is not one of {BRANCH_PREFIXES}")
    return f"{prefix}_{image_stem(image)}_wf"


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


@dataclass(frozen=True)
class SubjectSettings:
    """What every branch of a participant's graph shares.

    Attributes
    ----------
    layout
        Where the outputs go and how they are named (BIDS derivatives or CAPS).
    software_versions
        Versions recorded in the sidecars.
    translation
        The checked translation model; ``None`` leaves contrast-enhanced images untranslated.
    mask_backend, seg_backend
        Brain masking (``template``, ``deepbet``, ``hdbet``) and segmentation (``ants``,
        ``spm``) backends.
    environment
        The device the networks run on and the SPM installation (default: each step chooses
        its device; no SPM).
    omp_nthreads
        CPU threads of the networks.
    registration
        t1-linear's affine registration schedule, ``fast`` or ``clinica`` (docs/t1_linear.md).
    output_level
        What is written of each image: ``minimal``, ``standard`` or ``full``
        (:data:`~.outputs.OUTPUT_POLICIES`, docs/outputs.md#output-levels).
    """

    layout: OutputLayout
    software_versions: dict[str, str]
    translation: TranslationModel | None = None
    mask_backend: str = RunConfig.mask_backend
    seg_backend: str = RunConfig.seg_backend
    environment: RunEnvironment = RunEnvironment()
    omp_nthreads: int = RunConfig.omp_nthreads
    registration: str = RunConfig.registration
    output_level: str = RunConfig.output_level

    @classmethod
    def from_config(
        cls,
        config: RunConfig,
        *,
        layout: OutputLayout,
        software_versions: dict[str, str],
        prepared: PreparedRun | None = None,
    ) -> SubjectSettings:
        """A run's settings and what :func:`~.prepare.prepare_run` found (default: no model,
        the device as ``config`` says it)."""
        prepared = prepared or PreparedRun(None, RunEnvironment(device=config.device))
        return cls(
            layout=layout,
            software_versions=software_versions,
            translation=prepared.translation,
            mask_backend=config.mask_backend,
            seg_backend=config.seg_backend,
            environment=prepared.environment,
            omp_nthreads=config.omp_nthreads,
            registration=config.registration,
            output_level=config.output_level,
        )

    def brain_mask_wf(self, name: str) -> pe.Workflow:
        return init_brain_mask_wf(
            backend=self.mask_backend,
            device=self.environment.device,
            omp_nthreads=self.omp_nthreads,
            name=name,
        )

    def segmentation_wf(self, name: str) -> pe.Workflow:
        return init_tissue_segmentation_wf(
            backend=self.seg_backend,
            spm_installation=self.environment.spm,
            omp_nthreads=self.omp_nthreads,
            name=name,
        )

    def tissues_sink(self, image: T1wImage, name: str, desc: str | None = None) -> pe.Workflow:
        return init_ds_tissues_wf(
            layout=self.layout,
            source_entities=image.output_entities,
            sources=[source_uri(image.relative_path)],
            output_level=self.output_level,
            desc=desc,
            name=name,
        )


def _add_t1_linear(
    workflow: pe.Workflow, image: T1wImage, settings: SubjectSettings, paired: bool
) -> pe.Workflow:
    """t1-linear of one image, its outputs and (with sidecars) its gadolinium record.

    ``paired``: a T1w-ce registered through its session's T1w-nce (connected by the caller).
    """
    t1_linear_wf = init_t1_linear_wf(
        omp_nthreads=settings.omp_nthreads,
        registration=settings.registration,
        paired=paired,
        name=branch_name("t1_linear", image),
    )
    t1_linear_wf.inputs.inputnode.t1w = str(image.path)
    ds_t1_linear_wf = init_ds_t1_linear_wf(
        layout=settings.layout,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        software_versions=settings.software_versions,
        output_level=settings.output_level,
        name=branch_name("ds_t1_linear", image),
    )
    workflow.connect([
        (t1_linear_wf, ds_t1_linear_wf, [
            (f"outputnode.{field}", f"inputnode.{field}")
            for field in ("t1w_registered", "t1w_crop", "affine", "qc")
        ]),
    ])  # fmt: skip
    if not settings.layout.clinica_t1_linear:  # the record goes into the t1-linear sidecars
        gadolinium_wf = init_gadolinium_wf(
            labelled_ce=image.is_contrast_enhanced and not image.contrast_detected,
            detected_ce=image.contrast_detected,
            name=branch_name("gadolinium", image),
        )
        workflow.connect([
            (t1_linear_wf, gadolinium_wf, [("outputnode.t1w_crop", "inputnode.t1w_crop")]),
            (gadolinium_wf, ds_t1_linear_wf, [("outputnode.metadata", "inputnode.gadolinium")]),
        ])  # fmt: skip
    return t1_linear_wf


def _reused_crop(workflow: pe.Workflow, image: T1wImage, crop: Path) -> pe.Node:
    """The cropped t1-linear image already in the output folder, in place of t1-linear."""
    reused = pe.Node(
        niu.IdentityInterface(fields=["t1w_crop"]), name=f"reused_crop_{image_stem(image)}"
    )
    reused.inputs.t1w_crop = str(crop)
    workflow.add_nodes([reused])
    return reused


def _add_tissues(
    workflow: pe.Workflow,
    source: tuple[pe.Workflow | pe.Node, str],
    image: T1wImage,
    settings: SubjectSettings,
    desc: str | None = None,
) -> pe.Workflow:
    """Brain mask and tissues of a t1-linear (or, ``desc`` ``synthetic``, a synthetic) image,
    given as ``(node, field)``; returns the brain mask graph."""
    suffix = f"_{desc}" if desc else ""
    brain_mask_wf = settings.brain_mask_wf(branch_name(f"brain_mask{suffix}", image))
    segmentation_wf = settings.segmentation_wf(branch_name(f"segmentation{suffix}", image))
    ds_tissues_wf = settings.tissues_sink(image, branch_name(f"ds_tissues{suffix}", image), desc)
    node, field = source
    workflow.connect([
        (node, brain_mask_wf, [(field, "inputnode.t1w")]),
        (node, segmentation_wf, [(field, "inputnode.t1w")]),
        (brain_mask_wf, segmentation_wf, [("outputnode.mask", "inputnode.mask")]),
        (brain_mask_wf, ds_tissues_wf, [
            ("outputnode.mask", "inputnode.mask"),
            ("outputnode.device", "inputnode.mask_device"),
        ]),
        _tissue_connections(segmentation_wf, ds_tissues_wf),
    ])  # fmt: skip
    return brain_mask_wf


def _add_translation(
    workflow: pe.Workflow,
    source: tuple[pe.Workflow | pe.Node, str],
    image: T1wImage,
    settings: SubjectSettings,
    model: TranslationModel,
) -> None:
    """Translation of a T1w-ce, the synthetic image's own brain mask and its tissues.

    The synthetic image gets its own mask: enhanced dura and sinuses that the T1w-ce's mask took
    in must not stay in the synthetic image's TIV and CSF.
    """
    translate_wf = init_model_translate_wf(
        model,
        device=settings.environment.device,
        num_threads=settings.omp_nthreads,
        name=branch_name("translate", image),
    )
    ds_synthetic_wf = init_ds_synthetic_wf(
        layout=settings.layout,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        model=model.sidecar(),
        software_versions=settings.software_versions,
        output_level=settings.output_level,
        name=branch_name("ds_synthetic", image),
    )
    node, field = source
    workflow.connect([
        (node, translate_wf, [(field, "inputnode.t1w_crop")]),
        (translate_wf, ds_synthetic_wf, [
            ("outputnode.t1w_synthetic", "inputnode.t1w_synthetic"),
            ("outputnode.device", "inputnode.device"),
            ("outputnode.t1w_flip_sd", "inputnode.t1w_flip_sd"),
        ]),
    ])  # fmt: skip
    _add_tissues(
        workflow, (translate_wf, "outputnode.t1w_synthetic"), image, settings, desc="synthetic"
    )


def _add_union_masks(
    workflow: pe.Workflow,
    images: Sequence[T1wImage],
    masks: dict[str, pe.Workflow],
    layout: OutputLayout,
) -> None:
    """The union of the brain masks of each ce/nce pair of a session."""
    for pair in pair_images(images):
        union_mask_wf = init_union_mask_wf(name=branch_name("union_mask", pair.ce))
        ds_union_mask_wf = init_ds_union_mask_wf(
            layout=layout,
            source_entities=pair.ce.output_entities,
            sources=[source_uri(pair.nce.relative_path), source_uri(pair.ce.relative_path)],
            name=branch_name("ds_union_mask", pair.ce),
        )
        mask_nce, mask_ce = masks[str(pair.nce.path)], masks[str(pair.ce.path)]
        workflow.connect([
            (mask_nce, union_mask_wf, [("outputnode.mask", "inputnode.mask_nce")]),
            (mask_ce, union_mask_wf, [("outputnode.mask", "inputnode.mask_ce")]),
            (union_mask_wf, ds_union_mask_wf, [("outputnode.mask", "inputnode.mask")]),
        ])  # fmt: skip


def _pair_references(
    images: Sequence[T1wImage], reused: Mapping[str, Path]
) -> dict[str, T1wImage]:
    """The T1w-nce each T1w-ce is registered through (both computed here). In a CAPS too:
    Clinica's own t1-linear registers each image on its own, but a pair registered apart is
    compared at two places of the head; the names and files stay Clinica's."""
    return {
        str(pair.ce.path): pair.nce
        for pair in pair_images(images)
        if str(pair.ce.path) not in reused and str(pair.nce.path) not in reused
    }


def init_single_subject_wf(
    *,
    subject: str,
    images: Sequence[T1wImage],
    settings: SubjectSettings,
    reused_crops: Mapping[str, Path] | None = None,
    name: str | None = None,
) -> pe.Workflow:
    """Process every T1w image of one participant.

    Each image gets its own branch — t1-linear, brain mask, tissue segmentation, and for a
    contrast-enhanced image its translation, the synthetic image's own brain mask and its
    segmentation — so that a failing image leaves the other branches running. Each ce/nce pair
    of a session also gets the union of the two brain masks (the mask of the paper's image
    metrics).

    .. workflow::

        from pathlib import Path
        from ce2nce_pipeline.bids import T1wImage
        from ce2nce_pipeline.workflows.base import SubjectSettings, init_single_subject_wf
        from ce2nce_pipeline.workflows.outputs import OutputLayout
        images = [
            T1wImage(Path(f"sub-01_ses-M000{ce}_T1w.nii.gz"),
                     f"sub-01/ses-M000/anat/sub-01_ses-M000{ce}_T1w.nii.gz",
                     {"subject": "01", "session": "M000"} | entities, agent)
            for ce, entities, agent in (("", {}, None),
                                        ("_ce-gd", {"ceagent": "gd"}, "gadolinium"))
        ]
        settings = SubjectSettings(layout=OutputLayout("."), software_versions={},
                                   mask_backend="template")
        wf = init_single_subject_wf(subject="01", images=images, settings=settings)

    Parameters
    ----------
    subject
        Participant label (without ``sub-``).
    images
        The participant's T1w images (contrast-enhanced or not).
    settings
        What every branch shares, the output layout included (:class:`SubjectSettings`).
    reused_crops
        Cropped t1-linear images already in the output folder, by source image path: such an
        image's branch starts from it (no t1-linear run, nothing rewritten in its folder).
    name
        Workflow name (default ``sub_<label>_wf``).
    """
    workflow = pe.Workflow(name=name or f"sub_{subject}_wf")
    reused = {str(path): Path(crop) for path, crop in (reused_crops or {}).items()}
    masks: dict[str, pe.Workflow] = {}
    t1_linear: dict[str, pe.Workflow] = {}
    references = _pair_references(images, reused)
    for image in images:
        key = str(image.path)
        if key in reused:
            source = (_reused_crop(workflow, image, reused[key]), "t1w_crop")
        else:
            t1_linear[key] = _add_t1_linear(workflow, image, settings, key in references)
            source = (t1_linear[key], "outputnode.t1w_crop")
        masks[key] = _add_tissues(workflow, source, image, settings)
        if settings.translation is not None and image.is_contrast_enhanced:
            _add_translation(workflow, source, image, settings, settings.translation)
    # A T1w-ce is registered through its session's T1w-nce, so that the pair stays in register.
    for ce_path, nce in references.items():
        workflow.connect([
            (t1_linear[str(nce.path)], t1_linear[ce_path], [
                ("outputnode.t1w_n4", "inputnode.pair_n4"),
                ("outputnode.affine", "inputnode.pair_affine"),
            ]),
        ])  # fmt: skip
    _add_union_masks(workflow, images, masks, settings.layout)
    return workflow


def init_ce2nce_wf(
    config: RunConfig,
    images: Sequence[T1wImage],
    software_versions: dict[str, str],
    prepared: PreparedRun | None = None,
) -> pe.Workflow:
    """The whole participant-level graph of a run, written as a BIDS derivatives dataset.

    .. workflow::

        from pathlib import Path
        from ce2nce_pipeline.bids import T1wImage
        from ce2nce_pipeline.config import RunConfig
        from ce2nce_pipeline.workflows.base import init_ce2nce_wf
        image = T1wImage(Path("sub-01_T1w.nii.gz"), "sub-01/anat/sub-01_T1w.nii.gz",
                         {"subject": "01"}, None)
        config = RunConfig(Path("bids"), Path("out"), "participant", mask_backend="template")
        wf = init_ce2nce_wf(config, [image], {})

    Parameters
    ----------
    config
        The run's settings (the only place they are read).
    images
        Discovered, checked T1w images to process.
    software_versions
        Versions recorded in the sidecars.
    prepared
        The checked model and the machine's tools (:func:`~.prepare.prepare_run`; default: no
        model, ``config.device``, no SPM).
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
    settings = SubjectSettings.from_config(
        config,
        layout=OutputLayout(output_dir=str(config.output_dir)),
        software_versions=software_versions,
        prepared=prepared,
    )
    for subject in sorted({image.subject for image in images}):
        subject_images = [image for image in images if image.subject == subject]
        workflow.add_nodes([
            init_single_subject_wf(subject=subject, images=subject_images, settings=settings)
        ])  # fmt: skip
    # nipype's SLURM and SGE plugins submit each node as a job: give it the node's hints.
    apply_scheduler_hints(workflow, config.plugin)
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
