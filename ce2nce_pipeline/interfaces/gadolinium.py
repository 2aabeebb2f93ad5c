"""Thin nipype adapter around :mod:`ce2nce_pipeline.science.gadolinium`."""

from __future__ import annotations

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)


class _DetectGadoliniumInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="t1-linear image (169x208x179)")
    labelled_ce = traits.Bool(
        mandatory=True, desc="whether the BIDS metadata call the image contrast-enhanced"
    )
    detected_ce = traits.Bool(
        False,
        usedefault=True,
        desc="unlabelled, treated as contrast-enhanced on the detector's word (recorded)",
    )


class _DetectGadoliniumOutputSpec(TraitedSpec):
    metadata = traits.Dict(desc="sidecar fields: GadoliniumProbability, GadoliniumDetection")


class DetectGadolinium(SimpleInterface):
    """Probability of gadolinium of a t1-linear image, and whether it contradicts its label."""

    input_spec = _DetectGadoliniumInputSpec
    output_spec = _DetectGadoliniumOutputSpec

    def _run_interface(self, runtime):
        from ..science.gadolinium import detect_gadolinium, detection_metadata

        data = np.asarray(nib.load(self.inputs.in_file).dataobj, dtype=np.float32)
        result = detect_gadolinium(data)
        self._results["metadata"] = detection_metadata(
            result, self.inputs.labelled_ce, self.inputs.detected_ce
        )
        return runtime
