"""Thin nipype adapters around :mod:`ce2nce_pipeline.science.segmentation`."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)
from nipype.interfaces.spm import NewSegment


class _TissueOutputSpec(TraitedSpec):
    gm_probseg = File(exists=True, desc="GM probability map (float32)")
    wm_probseg = File(exists=True, desc="WM probability map (float32)")
    csf_probseg = File(exists=True, desc="CSF probability map (float32)")
    dseg = File(exists=True, desc="maximum-probability labels: 1 GM, 2 WM, 3 CSF")
    dseg_tsv = File(exists=True, desc="BIDS lookup table of the dseg labels")
    volumes_tsv = File(exists=True, desc="GM, WM, CSF volumes and TIV in cm3")


def _write_outputs(maps, cwd: Path, results: dict) -> None:
    from ..science.segmentation import dseg_tsv, volumes_tsv
    from ..science.volumes import tissue_volumes

    images = maps.images()
    for key, name in (("gm_probseg", "GM"), ("wm_probseg", "WM"), ("csf_probseg", "CSF")):
        path = cwd / f"{name.lower()}_probseg.nii.gz"
        nib.save(images[name], path)
        results[key] = str(path)
    results["dseg"] = str(cwd / "dseg.nii.gz")
    nib.save(images["dseg"], results["dseg"])
    results["dseg_tsv"] = str(cwd / "dseg.tsv")
    Path(results["dseg_tsv"]).write_text(dseg_tsv(), encoding="utf-8")
    results["volumes_tsv"] = str(cwd / "volumes.tsv")
    # The labels once: their volumes are those of the dseg image just written.
    labels = np.asarray(images["dseg"].dataobj)
    volumes = tissue_volumes(labels, affine=maps.affine)
    Path(results["volumes_tsv"]).write_text(volumes_tsv(volumes), encoding="utf-8")


class _AntsSegmentationInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="T1w image in t1-linear space")
    mask_file = File(exists=True, desc="brain mask (default: the template mask)")
    prior_weight = traits.Float(0.25, usedefault=True, desc="Atropos prior weight")
    mrf_smoothing = traits.Float(0.1, usedefault=True, desc="Atropos MRF smoothing")
    iterations = traits.Int(3, usedefault=True, desc="Atropos EM iterations")
    refine_priors = traits.Bool(False, usedefault=True, desc="SyN of the priors to the image")


class AntsTissueSegmentation(SimpleInterface):
    """GM/WM/CSF maps, labels and volumes of a t1-linear image with Atropos."""

    input_spec = _AntsSegmentationInputSpec
    output_spec = _TissueOutputSpec

    def _run_interface(self, runtime):
        from ..image_checks import load_t1w
        from ..science.segmentation import AtroposSettings, segment_ants

        inputs = self.inputs
        mask = nib.load(inputs.mask_file) if isdefined(inputs.mask_file) else None
        settings = AtroposSettings(
            prior_weight=inputs.prior_weight,
            mrf_smoothing=inputs.mrf_smoothing,
            iterations=inputs.iterations,
            refine_priors=inputs.refine_priors,
        )
        maps = segment_ants(load_t1w(inputs.in_file), mask, settings)
        _write_outputs(maps, Path(runtime.cwd), self._results)
        return runtime


class _SpmTissueOutputsInputSpec(BaseInterfaceInputSpec):
    native_class_images = traits.List(
        InputMultiObject(File(exists=True)),
        mandatory=True,
        desc="NewSegment's native class images (c1, c2, c3 first)",
    )


class SpmTissueOutputs(SimpleInterface):
    """Turn SPM's c1/c2/c3 maps into ce2nce's probability maps, labels and volumes."""

    input_spec = _SpmTissueOutputsInputSpec
    output_spec = _TissueOutputSpec

    def _run_interface(self, runtime):
        from ..science.segmentation import tissue_maps_from_files

        classes = self.inputs.native_class_images
        if len(classes) < 3 or not all(classes[k] for k in range(3)):
            raise ValueError("SPM wrote no native c1/c2/c3 maps: check the NewSegment tissues")
        maps = tissue_maps_from_files(classes[0][0], classes[1][0], classes[2][0], backend="spm")
        _write_outputs(maps, Path(runtime.cwd), self._results)
        return runtime


class Spm12NewSegment(NewSegment):
    """nipype's NewSegment, always writing the SPM12 batch (``spm.spatial.preproc``).

    nipype picks the SPM8 batch (``spm.tools.preproc8``) whenever it cannot ask MATLAB for the
    SPM version at construction time, e.g. when SPM is reached through per-node ``matlab_cmd``
    rather than environment variables; ce2nce requires SPM12 (as Clinica does).
    """

    def __init__(self, **inputs):
        super().__init__(**inputs)
        self._jobtype = "spatial"
        self._jobname = "preproc"
