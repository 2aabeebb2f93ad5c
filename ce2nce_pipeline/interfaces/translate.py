"""Nipype adapter of the :class:`~ce2nce_pipeline.models.Predictor` (T1w-ce -> T1w-nce)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from ..science.change_region import CHANGE_REGIONS


class _TranslateInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="T1w-ce in t1-linear space (169x208x179)")
    checkpoint = Directory(exists=True, mandatory=True, desc="ce2nce checkpoint directory")
    device = traits.Str("auto", usedefault=True, desc="'auto', 'cpu' or 'cuda[:N]'")
    num_threads = traits.Int(1, usedefault=True, desc="CPU threads of torch")
    output_resampling = traits.Enum(
        "round-trip",
        "keep-detail",
        usedefault=True,
        desc="how a coarser network grid's output returns to the t1-linear grid",
    )
    enhancement_opening = traits.Bool(
        False, usedefault=True, desc="subtract the enhancement an opening finds in the output"
    )
    change_region = traits.Enum(
        *CHANGE_REGIONS,
        desc="where the network's change is kept, the input elsewhere (default: what the "
        "checkpoint records)",
    )
    flip_uncertainty = traits.Bool(
        True, usedefault=True, desc="also run on the left-right mirror and write the sd map"
    )


class _TranslateOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="synthetic T1w-nce, same grid and affine as the input")
    device = traits.Str(desc="the device the network ran on ('cpu', 'cuda:0')")
    sd_file = File(desc="sd of the outputs on the image and on its mirror (flip uncertainty)")


class TranslateCeToNce(SimpleInterface):
    """Translate a t1-linear T1w-ce into a synthetic T1w-nce with a trained network."""

    input_spec = _TranslateInputSpec
    output_spec = _TranslateOutputSpec

    def _run_interface(self, runtime):
        from ..models import Predictor

        predictor = Predictor.from_checkpoint(
            self.inputs.checkpoint,
            device=self.inputs.device,
            num_threads=self.inputs.num_threads,
            output_resampling=self.inputs.output_resampling,
            enhancement_opening=self.inputs.enhancement_opening,
            change_region=(
                self.inputs.change_region if isdefined(self.inputs.change_region) else None
            ),
        )
        image = nib.load(self.inputs.in_file)
        out_file = str(Path(runtime.cwd) / "t1w_synthetic.nii.gz")
        if self.inputs.flip_uncertainty:
            synthetic, sd = predictor.predict_with_flip_sd(image)
            sd_file = str(Path(runtime.cwd) / "t1w_synthetic_flipsd.nii.gz")
            nib.save(sd, sd_file)
            self._results["sd_file"] = sd_file
        else:
            synthetic = predictor.predict(image)
        nib.save(synthetic, out_file)
        self._results["out_file"] = out_file
        self._results["device"] = str(predictor.device)
        return runtime
