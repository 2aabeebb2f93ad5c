"""The one way ce2nce writes a derivative: entity-aware names, atomic writes."""

from __future__ import annotations

from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from ..bids import derivative_dir, derivative_name
from ..io import STORAGES, atomic_copy, atomic_write_json, atomic_write_nifti, quantised


def _extension(path: str) -> str:
    name = Path(path).name
    for extension in (".nii.gz", ".tsv", ".json", ".mat", ".nii"):
        if name.endswith(extension):
            return extension
    return Path(path).suffix


class _DerivativesDataSinkInputSpec(BaseInterfaceInputSpec):
    base_directory = traits.Str(mandatory=True, desc="root of the derivatives dataset")
    source_entities = traits.Dict(mandatory=True, desc="naming entities of the source image")
    in_file = File(exists=True, mandatory=True, desc="file to store")
    suffix = traits.Str(mandatory=True)
    space = traits.Str()
    desc = traits.Str()
    res = traits.Str()
    label = traits.Str()
    clinica_order = traits.Bool(False, usedefault=True, desc="desc before res, as Clinica")
    datatype = traits.Str("anat", usedefault=True)
    metadata = traits.Dict(desc="JSON sidecar content (written when not empty)")
    extra_metadata = traits.Dict(
        desc="sidecar fields computed in the graph (e.g. GadoliniumProbability), added to metadata"
    )
    storage = traits.Enum(
        *STORAGES,
        usedefault=True,
        desc="a NIfTI image as computed (as-is), or as integers with a scale factor: int16 "
        "(intensities), uint8 (probabilities in [0, 1])",
    )
    compute_device = traits.Str(
        desc="device a network computed the file on ('cpu', 'cuda:0'), added to the sidecar as "
        "ComputeDevice; empty when no network ran"
    )


class _DerivativesDataSinkOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    out_meta = File(desc="JSON sidecar")


class DerivativesDataSink(SimpleInterface):
    """Store ``in_file`` in the derivatives dataset under a name built from BIDS entities."""

    input_spec = _DerivativesDataSinkInputSpec
    output_spec = _DerivativesDataSinkOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        optional = {key: getattr(inputs, key) or None for key in ("space", "desc", "res", "label")}
        extension = _extension(inputs.in_file)
        name = derivative_name(
            inputs.source_entities,
            inputs.suffix,
            extension,
            **optional,
            clinica_order=inputs.clinica_order,
        )
        folder = derivative_dir(
            Path(inputs.base_directory), inputs.source_entities, inputs.datatype
        )
        destination = folder / name
        if inputs.storage != "as-is" and extension in (".nii.gz", ".nii"):
            import nibabel as nib

            atomic_write_nifti(quantised(nib.load(inputs.in_file), inputs.storage), destination)
        else:
            atomic_copy(Path(inputs.in_file), destination)
        self._results["out_file"] = str(destination)
        metadata = dict(inputs.metadata) if isdefined(inputs.metadata) else {}
        if isdefined(inputs.extra_metadata):
            metadata |= inputs.extra_metadata
        if isdefined(inputs.compute_device) and inputs.compute_device:
            metadata["ComputeDevice"] = inputs.compute_device
        if metadata:
            sidecar = destination.with_name(name[: -len(extension)] + ".json")
            atomic_write_json(metadata, sidecar)
            self._results["out_meta"] = str(sidecar)
        return runtime
