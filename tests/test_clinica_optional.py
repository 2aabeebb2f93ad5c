"""ce2nce without the ``clinica`` extra: nothing but the Clinica pipeline needs Clinica."""

from __future__ import annotations

import subprocess
import sys

WITHOUT_CLINICA = "import sys; sys.modules['clinica'] = None; "  # any `import clinica` fails


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_CLINICA + code],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_ce2nce_and_the_caps_graph_work_without_clinica():
    done = _python(
        "import ce2nce_pipeline.clinica, ce2nce_pipeline.clinica.caps, "
        "ce2nce_pipeline.clinica.graph, ce2nce_pipeline.cli.run, ce2nce_pipeline.workflows.base"
    )
    assert done.returncode == 0, done.stderr


def test_ce2nce_clinica_says_in_one_line_that_clinica_is_missing():
    done = _python("from ce2nce_pipeline.clinica import main; main()")
    assert done.returncode == 1
    assert done.stderr == (
        "ce2nce-clinica: Clinica is not installed; pip install 'ce2nce[clinica]'\n"
    )


def test_t1_linear_outputs_in_a_caps_are_reused_only_on_the_t1_linear_grid(tmp_path):
    import nibabel as nib
    import numpy as np
    import pytest

    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.clinica.caps import reusable_crop, t1_linear_crop
    from ce2nce_pipeline.errors import InvalidInputError
    from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE

    image = T1wImage(
        tmp_path / "x.nii.gz",
        "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz",
        {"subject": "01", "session": "M000"},
    )
    crop = t1_linear_crop(tmp_path, image)
    assert crop == tmp_path / "subjects/sub-01/ses-M000/t1_linear" / (
        "sub-01_ses-M000_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz"
    )
    assert reusable_crop(tmp_path, image) is None
    crop.parent.mkdir(parents=True)
    data = np.ones(CROP_SHAPE, np.float32)
    nib.save(nib.Nifti1Image(data, CROP_AFFINE), crop)
    assert reusable_crop(tmp_path, image) == crop
    shifted = CROP_AFFINE.copy()
    shifted[2, 3] += 8
    nib.save(nib.Nifti1Image(data, shifted), crop)
    with pytest.raises(InvalidInputError, match="not on the t1-linear grid.*delete it"):
        reusable_crop(tmp_path, image)
    nib.save(nib.Nifti1Image(data[:-1], CROP_AFFINE), crop)
    with pytest.raises(InvalidInputError, match="has shape .168, 208, 179."):
        reusable_crop(tmp_path, image)
