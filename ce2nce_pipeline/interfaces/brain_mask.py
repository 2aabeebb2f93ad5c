"""Thin nipype adapters around :mod:`ce2nce_pipeline.science.brain_mask`."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from ..science.brain_mask import MASK_BACKENDS


class _BrainMaskInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="T1w image (t1-linear space)")
    backend = traits.Enum(*MASK_BACKENDS, mandatory=True, desc="masking backend")
    device = traits.Str(desc="'cpu' or 'cuda[:N]' for deepbet and HD-BET (default: auto)")
    hdbet_mode = traits.Enum("fast", "accurate", desc="HD-BET mode (default: by device)")
    hdbet_tta = traits.Bool(desc="HD-BET test-time augmentation (default: on GPU only)")
    num_threads = traits.Int(1, usedefault=True, desc="CPU threads of torch (deepbet, HD-BET)")


class _BrainMaskOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="uint8 brain mask on the input grid")


class _NetworkMaskOutputSpec(_BrainMaskOutputSpec):
    device = traits.Str(desc="the device the network ran on ('cpu', 'cuda:0'); empty: none ran")


class BrainMask(SimpleInterface):
    """Brain mask of one image with the chosen backend."""

    input_spec = _BrainMaskInputSpec
    output_spec = _NetworkMaskOutputSpec

    def _run_interface(self, runtime):
        from ..image_checks import load_t1w
        from ..science.brain_mask import compute_brain_mask
        from ..science.devices import resolve_device

        inputs = self.inputs
        options = {
            key: getattr(inputs, key) if isdefined(getattr(inputs, key)) else None
            for key in ("device", "hdbet_mode", "hdbet_tta")
        }
        # The template backend runs no network; the others run where the device resolves.
        device = ""
        if inputs.backend != "template":
            import torch

            device = str(resolve_device(options["device"] or "auto"))
            torch.set_num_threads(inputs.num_threads)
        mask = compute_brain_mask(
            load_t1w(inputs.in_file),
            inputs.backend,
            device=device or None,
            hdbet_mode=options["hdbet_mode"],
            hdbet_tta=options["hdbet_tta"],
        )
        out_file = str(Path(runtime.cwd) / "brain_mask.nii.gz")
        nib.save(mask, out_file)
        self._results["out_file"] = out_file
        self._results["device"] = device
        return runtime


class _UnionMaskInputSpec(BaseInterfaceInputSpec):
    mask_nce = File(exists=True, mandatory=True, desc="brain mask of the T1w-nce")
    mask_ce = File(exists=True, mandatory=True, desc="brain mask of the T1w-ce")


class UnionMask(SimpleInterface):
    """Union of the brain masks of a ce/nce pair (the paper's evaluation mask)."""

    input_spec = _UnionMaskInputSpec
    output_spec = _BrainMaskOutputSpec

    def _run_interface(self, runtime):
        from ..science.brain_mask import union_mask_image

        union = union_mask_image(nib.load(self.inputs.mask_nce), nib.load(self.inputs.mask_ce))
        out_file = str(Path(runtime.cwd) / "union_mask.nii.gz")
        nib.save(union, out_file)
        self._results["out_file"] = out_file
        return runtime
