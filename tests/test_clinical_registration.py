"""t1-linear on clinical-like stacks made from real heads: thick slices, a tilted head, a ce/nce
pair kept in register, and a broken registration that does not pass silently."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.processing import resample_to_output

from ce2nce_pipeline.errors import InvalidInputError
from ce2nce_pipeline.image_checks import check_stack_extent, check_t1w
from ce2nce_pipeline.science.registration_quality import (
    REGISTRATION_QUALITY_THRESHOLD,
    affine_matrix,
    registration_quality,
    template_agreement,
    template_brain_points,
    transform_rms_mm,
    write_affine,
)
from ce2nce_pipeline.science.t1_linear import (
    align_to_pair_reference,
    n4_bias_correction,
    register_to_template,
)
from ce2nce_pipeline.simulation.clinical_stack import clinical_stack, head_pose

#: Real pre/post-gadolinium pairs the team keeps beside the project (never copied into it).
REAL_PAIRS = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats18-pairs"
#: A real test subject of the translation recipes (docs/full_resolution_model.md).
HELD_OUT_SUBJECT = "sub-TCIA10639"
POINTS_STEP = 97


def _save(data: np.ndarray, path: Path, zooms=(1.0, 1.0, 1.0)) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.diag([*zooms, 1.0])), path)
    return path


# --- the quality measure and the transforms' arithmetic (no registration) ------------------


def test_template_agreement_is_high_in_place_and_low_when_moved():
    from ce2nce_pipeline.science.templates import registration_template

    template, mask = (np.asarray(i.dataobj, np.float32) for i in registration_template())
    everywhere = np.ones(template.shape, dtype=bool)
    assert template_agreement(template, everywhere, template, mask) == pytest.approx(2.0)
    # The further the brain is moved, the lower the score (5, 15, then 40 mm forward).
    scores = [
        template_agreement(np.roll(template, s, axis=1), everywhere, template, mask)
        for s in (5, 15, 40)
    ]
    assert 2.0 > scores[0] > scores[1] > scores[2] > 1.0, scores
    # Only the field of view counts: a stack covering the top of the head is scored there.
    top = everywhere.copy()
    top[:, :, :100] = False
    cut = np.where(top, template, 0.0)
    in_view, overall = (template_agreement(cut, c, template, mask) for c in (top, everywhere))
    assert in_view > 1.8 and in_view > overall + 0.1, (in_view, overall)
    assert template_agreement(template, ~everywhere, template, mask) == 1.0  # nothing covered
    with pytest.raises(ValueError, match="shapes differ"):
        template_agreement(template[:-1], everywhere, template, mask)


def test_affines_round_trip_and_compose(tmp_path):
    rng = np.random.default_rng(3)
    matrices = []
    for _ in range(2):
        matrix = np.eye(4)
        matrix[:3, :3] += 0.1 * rng.normal(size=(3, 3))
        matrix[:3, 3] = rng.uniform(-20, 20, size=3)
        matrices.append(matrix)
    files = [write_affine(m, tmp_path / f"{i}.mat") for i, m in enumerate(matrices)]
    np.testing.assert_allclose(affine_matrix(files[0]), matrices[0], atol=1e-4)
    points = template_brain_points(POINTS_STEP)
    assert transform_rms_mm(files[0], matrices[0], points) < 1e-3
    shifted = matrices[0].copy()
    shifted[:3, 3] += [3.0, 4.0, 0.0]
    assert transform_rms_mm(files[0], shifted, points) == pytest.approx(5.0, abs=1e-3)


def test_a_stack_too_thin_to_register_is_refused_in_one_line(tmp_path):
    thin = _save(
        np.random.default_rng(0).random((200, 200, 8)),
        tmp_path / "thin.nii.gz",
        zooms=(1.0, 1.0, 5.0),
    )
    with pytest.raises(InvalidInputError, match=r"thin\.nii\.gz: too thin to register \(8 slices"):
        check_t1w(thin)
    short = _save(np.ones((200, 200, 11)), tmp_path / "short.nii.gz", zooms=(1.0, 1.0, 5.0))
    with pytest.raises(InvalidInputError, match="covering 55 mm along axis 2") as error:
        check_stack_extent(nib.load(short), short)
    assert "\n" not in str(error.value)
    enough = _save(np.ones((200, 200, 12)), tmp_path / "ok.nii.gz", zooms=(1.0, 1.0, 5.0))
    check_stack_extent(nib.load(enough), enough)  # 12 slices, 60 mm: accepted


# --- real heads as clinical stacks ---------------------------------------------------------


def _heads(colin27_2mm, tmp_path) -> dict[str, nib.Nifti1Image]:
    anat = REAL_PAIRS / HELD_OUT_SUBJECT / "ses-M000" / "anat"
    if not anat.is_dir():
        pytest.fail(f"{anat} missing: the real pairs live in ../shared/data/brats18-pairs")
    heads = {"colin27": nib.load(colin27_2mm)}
    for kind, suffix in (("nce", "T1w"), ("ce", "ce-gadolinium_T1w")):
        image = nib.load(anat / f"{HELD_OUT_SUBJECT}_ses-M000_{suffix}.nii.gz")
        heads[kind] = resample_to_output(image, voxel_sizes=(2.0, 2.0, 2.0), order=1)
    return heads


def _t1_linear(image: nib.Nifti1Image, folder: Path) -> tuple[Path, nib.Nifti1Image]:
    """N4 and registration as the participant graph runs them: (transform, registered)."""
    import ants

    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj, np.float32), image.affine),
             folder / "raw.nii.gz")  # fmt: skip
    n4 = n4_bias_correction(ants.image_read(str(folder / "raw.nii.gz")))
    ants.image_write(n4, str(folder / "t1w_n4.nii.gz"))
    registered, transform = register_to_template(folder / "t1w_n4.nii.gz", folder)
    return transform, registered


@pytest.fixture(scope="module")
def clinical_cases(colin27_2mm, tmp_path_factory):
    """Colin27 (skull on) and a BraTS pair (skull-stripped) at 2 mm, each registered as it is
    and as a 6 mm axial (Colin27) or 5 mm coronal (BraTS) stack of the head tilted in the coil."""
    work = tmp_path_factory.mktemp("clinical")
    heads = _heads(colin27_2mm, work)
    points = template_brain_points(POINTS_STEP)
    cases = {}
    for name, stack_settings, angles in (
        ("colin27", {"orientation": "axial", "slice_mm": 6.0, "coverage_mm": 130.0}, (25, 0, 0)),
        ("nce", {"orientation": "coronal", "slice_mm": 5.0, "coverage_mm": 140.0}, (0, -20, 10)),
    ):
        reference, _ = _t1_linear(heads[name], work / f"{name}_reference")
        centre = nib.affines.apply_affine(affine_matrix(reference), points).mean(axis=0)
        motion = head_pose(angles, (15.0, -20.0, 10.0), centre)
        stacks = {
            kind: clinical_stack(
                heads[kind], motion, in_plane_mm=1.5, centre=centre, **stack_settings
            )  # fmt: skip
            for kind in ((name, "ce") if name == "nce" else (name,))
        }
        transform, registered = _t1_linear(stacks[name], work / f"{name}_stack")
        cases[name] = {
            "truth": motion @ affine_matrix(reference),
            "transform": transform,
            "registered": registered,
            "stacks": stacks,
            "folder": work / f"{name}_stack",
        }
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("name", ["colin27", "nce"])
def test_a_thick_tilted_stack_lands_at_the_known_transform(clinical_cases, name):
    case = clinical_cases[name]
    assert case["stacks"][name].header.get_zooms()[2 if name == "colin27" else 1] >= 5.0
    error = transform_rms_mm(case["transform"], case["truth"], template_brain_points(POINTS_STEP))
    assert error <= 2.0, f"{name}: {error:.2f} mm from the known transform"
    quality = registration_quality(case["folder"] / "t1w_n4.nii.gz", case["transform"])
    assert quality >= REGISTRATION_QUALITY_THRESHOLD


@pytest.mark.slow
def test_the_ce_of_a_pair_stays_in_register_with_its_nce(clinical_cases, tmp_path):
    import ants

    case = clinical_cases["nce"]
    nib.save(case["stacks"]["ce"], tmp_path / "ce.nii.gz")
    n4 = n4_bias_correction(ants.image_read(str(tmp_path / "ce.nii.gz")))
    ants.image_write(n4, str(tmp_path / "t1w_n4.nii.gz"))
    registered, transform, consistency = align_to_pair_reference(
        tmp_path / "t1w_n4.nii.gz", case["folder"] / "t1w_n4.nii.gz", case["transform"], tmp_path
    )
    points = template_brain_points(POINTS_STEP)
    # BraTS' series are co-registered: the head did not move between them.
    assert consistency <= 1.0, f"the ce is {consistency:.2f} mm from its nce"
    assert consistency == pytest.approx(
        transform_rms_mm(transform, case["transform"], points), rel=1e-3
    )
    assert transform_rms_mm(transform, case["truth"], points) <= 2.0
    quality = registration_quality(tmp_path / "t1w_n4.nii.gz", transform)
    assert quality >= REGISTRATION_QUALITY_THRESHOLD
    ce_data = np.asarray(registered.dataobj)
    nce_data = np.asarray(case["registered"].dataobj)
    brain = nce_data > np.percentile(nce_data[nce_data > 0], 10)
    assert np.corrcoef(ce_data[brain], nce_data[brain])[0, 1] > 0.7


@pytest.mark.slow
def test_a_broken_registration_is_flagged(clinical_cases, tmp_path):
    from ce2nce_pipeline.simulation.clinical_stack import head_pose as pose

    case = clinical_cases["colin27"]
    n4 = case["folder"] / "t1w_n4.nii.gz"
    found = affine_matrix(case["transform"])
    centre = nib.affines.apply_affine(found, template_brain_points(POINTS_STEP)).mean(axis=0)
    # The right transform, then the head tipped by 20 degrees and 20 mm off: a failed start.
    wrong = pose((20, 0, 0), (0, 20, 0), centre) @ found
    broken = write_affine(wrong, tmp_path / "broken.mat")
    assert registration_quality(n4, broken) < REGISTRATION_QUALITY_THRESHOLD
    assert registration_quality(n4, case["transform"]) >= REGISTRATION_QUALITY_THRESHOLD


def test_a_flagged_image_is_named_with_its_reason(tmp_path):
    import json

    from ce2nce_pipeline.workflows.run import registration_flags

    crop = tmp_path / "sub-01_ce-gd_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz"
    sidecar = crop.with_name(crop.name.removesuffix(".nii.gz") + ".json")
    record = {"RegistrationQuality": 1.03, "RegistrationQualityThreshold": 1.057,
              "RegistrationFlagged": False}  # fmt: skip
    sidecar.write_text(json.dumps(record), encoding="utf-8")
    assert registration_flags(crop) is None
    record.update(
        RegistrationFlagged=True, PairConsistencyMM=12.0, PairConsistencyThresholdMM=10.0
    )
    sidecar.write_text(json.dumps(record), encoding="utf-8")
    reason = registration_flags(crop)
    assert "registration quality 1.03 below 1.057" in reason
    assert "12.0 mm from its T1w-nce" in reason
