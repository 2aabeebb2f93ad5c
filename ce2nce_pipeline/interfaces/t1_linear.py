"""Thin nipype adapters around :mod:`ce2nce_pipeline.science.t1_linear`."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from ..image_checks import load_t1w


def _read_ants(path: str):
    import ants

    return ants.image_read(path)


class _SingleImageInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="input image")


class _SingleImageOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="output image")


class N4BiasCorrection(SimpleInterface):
    """Check a raw T1w image, then correct its bias field as Clinica's t1-linear does."""

    input_spec = _SingleImageInputSpec
    output_spec = _SingleImageOutputSpec

    def _run_interface(self, runtime):
        import ants

        from ..image_checks import check_stack_extent
        from ..science.t1_linear import n4_bias_correction

        image = load_t1w(self.inputs.in_file)  # one-line InvalidInputError for bad files
        check_stack_extent(image, self.inputs.in_file)
        source = self.inputs.in_file
        if image.ndim != len(nib.load(source).shape):  # a 4D file with one volume
            source = str(Path(runtime.cwd) / "t1w_3d.nii.gz")
            nib.save(image, source)
        out_file = str(Path(runtime.cwd) / "t1w_n4.nii.gz")
        ants.image_write(n4_bias_correction(_read_ants(source)), out_file)
        self._results["out_file"] = out_file
        return runtime


class _AffineRegistrationOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="image registered to the 193x229x193 template grid")
    out_matrix = File(exists=True, desc="ANTs affine transform (ITK .mat)")
    qc = traits.Dict(desc="registration quality, as the sidecars record it")


def _quality_record(n4_file: str, transform: Path, consistency: float | None = None) -> dict:
    from ..science.registration_quality import (
        PAIR_CONSISTENCY_THRESHOLD_MM,
        REGISTRATION_QUALITY_THRESHOLD,
        registration_quality,
    )

    score = round(registration_quality(n4_file, transform), 4)
    record: dict = {
        "RegistrationQuality": score,
        "RegistrationQualityThreshold": REGISTRATION_QUALITY_THRESHOLD,
        "RegistrationFlagged": bool(score < REGISTRATION_QUALITY_THRESHOLD),
    }
    if consistency is not None:
        record["PairConsistencyMM"] = round(float(consistency), 3)
        record["PairConsistencyThresholdMM"] = PAIR_CONSISTENCY_THRESHOLD_MM
        record["RegistrationFlagged"] |= bool(consistency > PAIR_CONSISTENCY_THRESHOLD_MM)
    return record


class _AffineRegistrationInputSpec(_SingleImageInputSpec):
    seed = traits.Int(20240315, usedefault=True, desc="seed of ANTs' metric sampling")
    schedule = traits.Enum(
        "fast",
        "clinica",
        usedefault=True,
        desc="'fast' (the stages on fewer levels) or 'clinica' (antsRegistrationSyNQuick[a])",
    )


class AffineRegistration(SimpleInterface):
    """Affine registration to MNI152NLin2009cSym (antsRegistrationSyNQuick.sh -t a's stages)."""

    input_spec = _AffineRegistrationInputSpec
    output_spec = _AffineRegistrationOutputSpec

    def _run_interface(self, runtime):
        from ..science.t1_linear import register_to_template

        registered, out_matrix = register_to_template(
            Path(self.inputs.in_file),
            Path(runtime.cwd),
            seed=self.inputs.seed,
            schedule=self.inputs.schedule,
        )
        out_file = str(Path(runtime.cwd) / "t1w_registered.nii.gz")
        nib.save(registered, out_file)
        self._results["out_file"] = out_file
        self._results["out_matrix"] = str(out_matrix)
        self._results["qc"] = _quality_record(self.inputs.in_file, out_matrix)
        return runtime


class _PairRegistrationInputSpec(_SingleImageInputSpec):
    reference_n4 = File(exists=True, mandatory=True, desc="the session's bias-corrected T1w-nce")
    reference_affine = File(exists=True, mandatory=True, desc="the T1w-nce's template affine")
    seed = traits.Int(20240315, usedefault=True, desc="seed of ANTs' metric sampling")


class PairRegistration(SimpleInterface):
    """Register a T1w-ce through its session's T1w-nce (rigid in native space, composed)."""

    input_spec = _PairRegistrationInputSpec
    output_spec = _AffineRegistrationOutputSpec

    def _run_interface(self, runtime):
        from ..science.t1_linear import align_to_pair_reference

        registered, out_matrix, consistency = align_to_pair_reference(
            Path(self.inputs.in_file),
            Path(self.inputs.reference_n4),
            Path(self.inputs.reference_affine),
            Path(runtime.cwd),
            seed=self.inputs.seed,
        )
        out_file = str(Path(runtime.cwd) / "t1w_registered.nii.gz")
        nib.save(registered, out_file)
        self._results["out_file"] = out_file
        self._results["out_matrix"] = str(out_matrix)
        self._results["qc"] = _quality_record(self.inputs.in_file, out_matrix, consistency)
        return runtime


class CropToClinicaBox(SimpleInterface):
    """Crop a registered image to Clinica's 169x208x179 box."""

    input_spec = _SingleImageInputSpec
    output_spec = _SingleImageOutputSpec

    def _run_interface(self, runtime):
        from ..science.t1_linear import crop_to_clinica_box

        out_file = str(Path(runtime.cwd) / "t1w_crop.nii.gz")
        nib.save(crop_to_clinica_box(nib.load(self.inputs.in_file)), out_file)
        self._results["out_file"] = out_file
        return runtime
