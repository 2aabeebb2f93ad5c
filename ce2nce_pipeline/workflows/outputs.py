"""Every derivative leaves the graph through the sinks built here."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.bids_sink import DerivativesDataSink
from ..science.templates import TEMPLATE_SPACE

#: Spatial resolution entity of Clinica's t1-linear outputs.
RESOLUTION = "1x1x1"
RESOLUTION_DESCRIPTION = "1 mm isotropic voxels (Clinica t1-linear grid)"


def source_uri(relative_path: str) -> str:
    """BIDS URI of an input file, through the ``raw`` link of ``dataset_description.json``."""
    return f"bids:raw:{relative_path}"


def init_ds_t1_linear_wf(
    *,
    output_dir: str,
    source_entities: dict[str, str],
    source_relpath: str,
    software_versions: dict[str, str],
    name: str = "ds_t1_linear_wf",
) -> pe.Workflow:
    """Write the t1-linear outputs of one image with Clinica's names.

    Parameters
    ----------
    output_dir
        Root of the derivatives dataset.
    source_entities
        Naming entities of the source T1w (pybids names).
    source_relpath
        Path of the source T1w relative to the input dataset root.
    software_versions
        Versions recorded in every sidecar.
    name
        Workflow name.

    Inputs
    ------
    t1w_registered, t1w_crop, affine
        The outputs of :func:`~.t1_linear.init_t1_linear_wf`.

    Outputs
    -------
    t1w_crop
        Path of the stored cropped image.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w_registered", "t1w_crop", "affine"]), name="inputnode"
    )
    outputnode = pe.Node(niu.IdentityInterface(fields=["t1w_crop"]), name="outputnode")
    common = {"base_directory": output_dir, "source_entities": source_entities}
    metadata = {
        "Sources": [source_uri(source_relpath)],
        "SpatialReference": TEMPLATE_SPACE,
        "SkullStripped": False,
        "Resolution": RESOLUTION_DESCRIPTION,
        "ProcessingSoftwareVersions": software_versions,
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
            },
            **common,
        ),
        name="ds_t1w_crop",
        run_without_submitting=True,
    )
    ds_t1w_registered = pe.Node(
        DerivativesDataSink(
            suffix="T1w",
            space=TEMPLATE_SPACE,
            res=RESOLUTION,
            metadata={
                **metadata,
                "Description": "Bias-corrected T1w, affinely registered to MNI152NLin2009cSym "
                "(193x229x193, Clinica t1-linear).",
            },
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
        sink.overwrite = True

    workflow.connect([
        (inputnode, ds_t1w_crop, [("t1w_crop", "in_file")]),
        (inputnode, ds_t1w_registered, [("t1w_registered", "in_file")]),
        (inputnode, ds_affine, [("affine", "in_file")]),
        (ds_t1w_crop, outputnode, [("out_file", "t1w_crop")]),
    ])  # fmt: skip
    return workflow


def init_ds_synthetic_wf(
    *,
    output_dir: str,
    source_entities: dict[str, str],
    source_relpath: str,
    model: dict[str, str],
    software_versions: dict[str, str],
    name: str = "ds_synthetic_wf",
) -> pe.Workflow:
    """Write the synthetic T1w-nce of one T1w-ce (``desc-synthetic`` in place of ``desc-Crop``).

    Parameters
    ----------
    output_dir, source_entities, source_relpath, software_versions
        As :func:`init_ds_t1_linear_wf`; the entities are the T1w-ce's (``ce-`` kept).
    model
        ``{"Architecture", "Checkpoint", "WeightsSha256"}`` recorded in the sidecar.
    name
        Workflow name.

    Inputs
    ------
    t1w_synthetic
        The synthetic image.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w_synthetic"]), name="inputnode")
    ds_t1w_synthetic = pe.Node(
        DerivativesDataSink(
            base_directory=output_dir,
            source_entities=source_entities,
            suffix="T1w",
            space=TEMPLATE_SPACE,
            desc="synthetic",
            res=RESOLUTION,
            metadata={
                "Description": "Synthetic non-contrast-enhanced T1w translated from the "
                "contrast-enhanced T1w (Bottani et al. 2024), t1-linear space.",
                "Sources": [source_uri(source_relpath)],
                "SpatialReference": TEMPLATE_SPACE,
                "Resolution": RESOLUTION_DESCRIPTION,
                "TranslationModel": model,
                "ProcessingSoftwareVersions": software_versions,
            },
        ),
        name="ds_t1w_synthetic",
        run_without_submitting=True,
    )
    ds_t1w_synthetic.overwrite = True
    workflow.connect([(inputnode, ds_t1w_synthetic, [("t1w_synthetic", "in_file")])])
    return workflow
