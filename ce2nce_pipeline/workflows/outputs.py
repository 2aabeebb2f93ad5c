"""Every derivative leaves the graph through the sinks built here, named by an output layout."""

from __future__ import annotations

from dataclasses import dataclass

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.bids_sink import DerivativesDataSink
from ..science.templates import TEMPLATE_SPACE

#: Spatial resolution entity of Clinica's t1-linear outputs.
RESOLUTION = "1x1x1"
RESOLUTION_DESCRIPTION = "1 mm isotropic voxels (Clinica t1-linear grid)"


@dataclass(frozen=True)
class OutputLayout:
    """Where a run's derivatives go and how they are named (a BIDS derivatives dataset or a CAPS).

    Attributes
    ----------
    output_dir
        The folder holding the ``sub-X/[ses-Y/]<datatype>/`` folders (a CAPS's ``subjects/``).
    datatype
        The folder of ce2nce's own outputs under each session (``anat``; ``ce2nce`` in a CAPS).
    t1_linear_datatype
        The folder of the t1-linear outputs (``anat``; ``t1_linear`` in a CAPS).
    desc_before_res
        Entity order of the t1-linear images and the synthetic image: ``desc`` before ``res``,
        as Clinica names its cropped image (BIDS order otherwise).
    clinica_t1_linear
        The t1-linear folder is Clinica's own: each image registered on its own as Clinica's
        ``t1-linear`` does, and no JSON sidecar there (so no registration or gadolinium record).
    """

    output_dir: str
    datatype: str = "anat"
    t1_linear_datatype: str = "anat"
    desc_before_res: bool = False
    clinica_t1_linear: bool = False

    def common(self, source_entities: dict[str, str], datatype: str | None = None) -> dict:
        """The sink arguments every derivative of one source image shares."""
        return {
            "base_directory": self.output_dir,
            "source_entities": source_entities,
            "datatype": datatype or self.datatype,
        }


@dataclass(frozen=True)
class OutputPolicy:
    """What one output level writes (docs/outputs.md#output-levels).

    Attributes
    ----------
    uncropped
        Whether the t1-linear image before the crop (193x229x193) is written.
    intensity
        Storage of the T1w images (cropped, synthetic, flip sd): ``as-is`` (float32) or
        ``int16`` (16-bit integers with a scale factor).
    probseg
        Storage of the tissue probability maps (``as-is`` or ``uint8``); ``None``: not written.
    """

    uncropped: bool
    intensity: str
    probseg: str | None


#: Output levels by name. Every level writes what the group level and the reports read: the
#: cropped and synthetic T1w, the flip sd map, brain and union masks, label maps and tables.
OUTPUT_POLICIES: dict[str, OutputPolicy] = {
    "minimal": OutputPolicy(uncropped=False, intensity="int16", probseg=None),
    "standard": OutputPolicy(uncropped=False, intensity="int16", probseg="uint8"),
    "full": OutputPolicy(uncropped=True, intensity="as-is", probseg="as-is"),
}


def output_policy(level: str) -> OutputPolicy:
    """The policy of an output level; ``ValueError`` naming the levels on an unknown one."""
    try:
        return OUTPUT_POLICIES[level]
    except KeyError:
        raise ValueError(
            f"output level {level!r} is not one of {', '.join(OUTPUT_POLICIES)}"
        ) from None


def source_uri(relative_path: str) -> str:
    """BIDS URI of an input file, through the ``raw`` link of ``dataset_description.json``."""
    return f"bids:raw:{relative_path}"


def _t1_linear_metadata(source_relpath: str, software_versions: dict[str, str]) -> dict:
    """The sidecar fields shared by the t1-linear images of one source T1w."""
    return {
        "Sources": [source_uri(source_relpath)],
        "SpatialReference": TEMPLATE_SPACE,
        "SkullStripped": False,
        "Resolution": RESOLUTION_DESCRIPTION,
        "ProcessingSoftwareVersions": software_versions,
    }


def with_registration_qc(metadata: dict, qc: dict) -> dict:
    """A sidecar's fields with the registration's quality record added (nipype function)."""
    return {**metadata, **qc}


def _t1_linear_sinks(
    *,
    layout: OutputLayout,
    source_entities: dict[str, str],
    metadata: dict | None,
    policy: OutputPolicy,
) -> tuple[pe.Node, pe.Node | None, pe.Node]:
    """The sinks of the cropped image, the registered image and the affine, in that order.

    ``metadata`` ``None``: no JSON sidecars (a CAPS ``t1_linear`` folder, as Clinica writes it).
    The registered image's sink is ``None`` where ``policy`` leaves it out.
    """
    common = {
        **layout.common(source_entities, layout.t1_linear_datatype),
        "clinica_order": layout.desc_before_res,
    }
    ds_t1w_crop = pe.Node(
        DerivativesDataSink(
            suffix="T1w",
            space=TEMPLATE_SPACE,
            desc="Crop",
            res=RESOLUTION,
            metadata={
                **metadata,
                "Description": "Bias-corrected T1w, affinely registered to MNI152NLin2009cSym "
                "and cropped to 169x208x179 (Clinica t1-linear).",
            }
            if metadata is not None
            else {},
            storage=policy.intensity,
            **common,
        ),
        name="ds_t1w_crop",
        run_without_submitting=True,
    )
    ds_t1w_registered = None
    if policy.uncropped:
        ds_t1w_registered = pe.Node(
            DerivativesDataSink(
                suffix="T1w",
                space=TEMPLATE_SPACE,
                res=RESOLUTION,
                metadata={
                    **metadata,
                    "Description": "Bias-corrected T1w, affinely registered to "
                    "MNI152NLin2009cSym (193x229x193, Clinica t1-linear).",
                }
                if metadata is not None
                else {},
                storage=policy.intensity,
                **common,
            ),
            name="ds_t1w_registered",
            run_without_submitting=True,
        )
    ds_affine = pe.Node(
        DerivativesDataSink(suffix="affine", space=TEMPLATE_SPACE, res=RESOLUTION, **common),
        name="ds_affine",
        run_without_submitting=True,
    )
    # Sinks are cheap: re-run them so a deleted output is restored from the cache.
    for sink in (ds_t1w_crop, ds_t1w_registered, ds_affine):
        if sink is not None:
            sink.overwrite = True
    return ds_t1w_crop, ds_t1w_registered, ds_affine


def init_ds_t1_linear_wf(
    *,
    layout: OutputLayout,
    source_entities: dict[str, str],
    source_relpath: str,
    software_versions: dict[str, str],
    output_level: str,
    name: str = "ds_t1_linear_wf",
) -> pe.Workflow:
    """Write the t1-linear outputs of one image into ``layout``'s t1-linear folder.

    A layout with Clinica's t1-linear folder (a CAPS) gets Clinica's names and no JSON sidecar.

    .. workflow::

        from ce2nce_pipeline.workflows.outputs import OutputLayout, init_ds_t1_linear_wf
        wf = init_ds_t1_linear_wf(
            layout=OutputLayout("."), source_entities={"subject": "01"},
            source_relpath="sub-01/anat/sub-01_T1w.nii.gz", software_versions={},
            output_level="standard",
        )

    Parameters
    ----------
    layout
        Where the outputs go and how they are named (:class:`OutputLayout`).
    source_entities
        Naming entities of the source T1w (pybids names).
    source_relpath
        Path of the source T1w relative to the input dataset root.
    software_versions
        Versions recorded in every sidecar.
    output_level
        ``minimal``, ``standard`` or ``full`` (:data:`OUTPUT_POLICIES`): below ``full``, the
        cropped image as 16-bit integers and no registered (uncropped) image.
    name
        Workflow name.

    Inputs
    ------
    t1w_registered, t1w_crop, affine, qc
        The outputs of :func:`~.t1_linear.init_t1_linear_wf` (``qc``, the registration's
        quality, goes into the JSON sidecars; a CAPS folder has none).
    gadolinium
        Sidecar fields of the gadolinium detector (:func:`~.gadolinium.init_gadolinium_wf`),
        added to both images' sidecars; optional (no sidecar in the CAPS layout).

    Outputs
    -------
    t1w_crop
        Path of the stored cropped image.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w_registered", "t1w_crop", "affine", "qc", "gadolinium"]),
        name="inputnode",
    )
    outputnode = pe.Node(niu.IdentityInterface(fields=["t1w_crop"]), name="outputnode")
    sidecars = not layout.clinica_t1_linear
    ds_t1w_crop, ds_t1w_registered, ds_affine = _t1_linear_sinks(
        layout=layout,
        source_entities=source_entities,
        metadata=_t1_linear_metadata(source_relpath, software_versions) if sidecars else None,
        policy=output_policy(output_level),
    )

    workflow.connect([
        (inputnode, ds_t1w_crop, [("t1w_crop", "in_file")]),
        (inputnode, ds_affine, [("affine", "in_file")]),
        (ds_t1w_crop, outputnode, [("out_file", "t1w_crop")]),
    ])  # fmt: skip
    sinks = [ds_t1w_crop]
    if ds_t1w_registered is not None:
        workflow.connect(inputnode, "t1w_registered", ds_t1w_registered, "in_file")
        sinks.append(ds_t1w_registered)
    if sidecars:
        for sink in sinks:
            merge = pe.Node(
                niu.Function(
                    function=with_registration_qc,
                    input_names=["metadata", "qc"],
                    output_names=["metadata"],
                ),
                name=f"{sink.name}_metadata",
                run_without_submitting=True,
            )
            merge.inputs.metadata = sink.inputs.metadata
            workflow.connect([
                (inputnode, merge, [("qc", "qc")]),
                (merge, sink, [("metadata", "metadata")]),
                (inputnode, sink, [("gadolinium", "extra_metadata")]),
            ])  # fmt: skip
    return workflow


def init_ds_synthetic_wf(
    *,
    layout: OutputLayout,
    source_entities: dict[str, str],
    source_relpath: str,
    model: dict[str, str],
    software_versions: dict[str, str],
    output_level: str,
    name: str = "ds_synthetic_wf",
) -> pe.Workflow:
    """Write the synthetic T1w-nce of one T1w-ce (``desc-synthetic`` in place of ``desc-Crop``).

    It is named in ``layout``'s entity order for the t1-linear images; the flip sd map, in BIDS
    order, as the other derivatives of ``layout.datatype``.

    .. workflow::

        from ce2nce_pipeline.workflows.outputs import OutputLayout, init_ds_synthetic_wf
        wf = init_ds_synthetic_wf(
            layout=OutputLayout("."), source_entities={"subject": "01"},
            source_relpath="sub-01/anat/sub-01_ce-gd_T1w.nii.gz", model={},
            software_versions={}, output_level="standard",
        )

    Parameters
    ----------
    layout, source_entities, source_relpath, software_versions
        As :func:`init_ds_t1_linear_wf`; the entities are the T1w-ce's (``ce-`` kept).
    model
        The translation model as the sidecar records it (:meth:`.TranslationModel.sidecar`).
    output_level
        As :func:`init_ds_t1_linear_wf`: below ``full``, both images as 16-bit integers.
    name
        Workflow name.

    Inputs
    ------
    t1w_synthetic
        The synthetic image.
    device
        The device the translation ran on (``ComputeDevice`` of the sidecar).
    t1w_flip_sd
        The sd of the network's outputs on the image and on its mirror
        (``res-1x1x1_desc-flipsd_T1w``).
    """
    workflow = pe.Workflow(name=name)
    storage = output_policy(output_level).intensity
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w_synthetic", "device", "t1w_flip_sd"]),
        name="inputnode",
    )
    ds_t1w_synthetic = pe.Node(
        DerivativesDataSink(
            **layout.common(source_entities),
            suffix="T1w",
            space=TEMPLATE_SPACE,
            desc="synthetic",
            res=RESOLUTION,
            clinica_order=layout.desc_before_res,
            metadata={
                "Description": "Synthetic non-contrast-enhanced T1w translated from the "
                "contrast-enhanced T1w (Bottani et al. 2024), t1-linear space.",
                "Sources": [source_uri(source_relpath)],
                "SpatialReference": TEMPLATE_SPACE,
                "SkullStripped": False,
                "Resolution": RESOLUTION_DESCRIPTION,
                "TranslationModel": model,
                "ProcessingSoftwareVersions": software_versions,
            },
            storage=storage,
        ),
        name="ds_t1w_synthetic",
        run_without_submitting=True,
    )
    ds_t1w_synthetic.overwrite = True
    ds_flip_sd = _sink(
        "ds_flip_sd",
        common=layout.common(source_entities),
        metadata={
            "Description": "Voxel-wise standard deviation of the translation network's outputs "
            "on the contrast-enhanced T1w and on its left-right mirror (flip test-time "
            "augmentation), in the image's intensity units: the translation's uncertainty.",
            "Sources": [source_uri(source_relpath)],
            "SpatialReference": TEMPLATE_SPACE,
            "SkullStripped": False,
            "Resolution": RESOLUTION_DESCRIPTION,
            "TranslationModel": model,
        },
        desc="flipsd",
        suffix="T1w",
        storage=storage,
    )
    workflow.connect([
        (inputnode, ds_t1w_synthetic, [
            ("t1w_synthetic", "in_file"), ("device", "compute_device"),
        ]),
        (inputnode, ds_flip_sd, [("t1w_flip_sd", "in_file")]),
    ])  # fmt: skip
    return workflow


def _sink(name: str, *, common: dict, metadata: dict | None = None, **entities) -> pe.Node:
    node = pe.Node(
        DerivativesDataSink(space=TEMPLATE_SPACE, res=RESOLUTION, **common, **entities),
        name=name,
        run_without_submitting=True,
    )
    if metadata:
        node.inputs.metadata = metadata
    node.overwrite = True
    return node


def init_ds_tissues_wf(
    *,
    layout: OutputLayout,
    source_entities: dict[str, str],
    sources: list[str],
    output_level: str,
    desc: str | None = None,
    with_mask: bool = True,
    name: str = "ds_tissues_wf",
) -> pe.Workflow:
    """Write the brain mask and tissue segmentation of one t1-linear image (BIDS entity order).

    .. workflow::

        from ce2nce_pipeline.workflows.outputs import OutputLayout, init_ds_tissues_wf
        wf = init_ds_tissues_wf(
            layout=OutputLayout("."), source_entities={"subject": "01"},
            sources=[], output_level="standard",
        )

    Parameters
    ----------
    layout
        Where the outputs go (:class:`OutputLayout`, its ``datatype`` folder).
    source_entities
        Naming entities of the image's source T1w.
    sources
        BIDS URIs recorded as ``Sources`` in the sidecars.
    output_level
        As :func:`init_ds_t1_linear_wf`: ``standard`` writes the probability maps as 8-bit
        integers, ``minimal`` none (the label map and the volumes are always written).
    desc
        ``None`` for a real image, ``"synthetic"`` for a synthetic T1w-nce (its maps are named
        ``..._label-GM_desc-synthetic_probseg``).
    with_mask
        Whether a brain mask of this image is written (``desc-brain_mask``, or
        ``desc-<desc>brain_mask`` for a synthetic image, which gets its own mask).
    name
        Workflow name.

    Inputs
    ------
    mask, gm_probseg, wm_probseg, csf_probseg, dseg, dseg_tsv, volumes_tsv
        Outputs of the brain mask and tissue segmentation workflows.
    mask_device
        The device the brain mask's network ran on (``ComputeDevice`` of its sidecar).
    """
    workflow = pe.Workflow(name=name)
    fields = ["mask", "gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv"]
    fields.append("mask_device")
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    common = layout.common(source_entities)
    metadata = {"Sources": sources, "SpatialReference": TEMPLATE_SPACE}
    metadata["Resolution"] = RESOLUTION_DESCRIPTION
    connections = []
    if with_mask:
        ds_mask = _sink(
            "ds_mask", common=common, metadata={**metadata, "Type": "Brain"},
            desc=f"{desc or ''}brain", suffix="mask",
        )  # fmt: skip
        connections.append(
            (inputnode, ds_mask, [("mask", "in_file"), ("mask_device", "compute_device")])
        )
    probseg_storage = output_policy(output_level).probseg
    for tissue in ("GM", "WM", "CSF") if probseg_storage is not None else ():
        ds_probseg = _sink(
            f"ds_{tissue.lower()}_probseg", common=common, metadata=metadata, label=tissue,
            desc=desc or "", suffix="probseg", storage=probseg_storage,
        )  # fmt: skip
        connections.append((inputnode, ds_probseg, [(f"{tissue.lower()}_probseg", "in_file")]))
    ds_dseg = _sink("ds_dseg", common=common, metadata=metadata, desc=desc or "", suffix="dseg")
    ds_dseg_tsv = _sink("ds_dseg_tsv", common=common, desc=desc or "", suffix="dseg")
    ds_volumes = _sink("ds_volumes", common=common, desc=desc or "", suffix="volumes")
    connections += [
        (inputnode, ds_dseg, [("dseg", "in_file")]),
        (inputnode, ds_dseg_tsv, [("dseg_tsv", "in_file")]),
        (inputnode, ds_volumes, [("volumes_tsv", "in_file")]),
    ]
    workflow.connect(connections)
    return workflow


def init_ds_union_mask_wf(
    *,
    layout: OutputLayout,
    source_entities: dict[str, str],
    sources: list[str],
    name: str = "ds_union_mask_wf",
) -> pe.Workflow:
    """Write the union brain mask of a ce/nce pair next to the ce image (``desc-union_mask``).

    ``layout``: where it goes (:class:`OutputLayout`, its ``datatype`` folder).

    .. workflow::

        from ce2nce_pipeline.workflows.outputs import OutputLayout, init_ds_union_mask_wf
        wf = init_ds_union_mask_wf(
            layout=OutputLayout("."), source_entities={"subject": "01"},
            sources=[],
        )

    Inputs
    ------
    mask
        The union of the two images' brain masks.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["mask"]), name="inputnode")
    ds_union_mask = _sink(
        "ds_union_mask",
        common=layout.common(source_entities),
        metadata={"Sources": sources, "Type": "Brain", "SpatialReference": TEMPLATE_SPACE,
                  "Resolution": RESOLUTION_DESCRIPTION},
        desc="union",
        suffix="mask",
    )  # fmt: skip
    workflow.connect([(inputnode, ds_union_mask, [("mask", "in_file")])])
    return workflow
