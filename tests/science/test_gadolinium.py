"""The gadolinium detector on the real template, on its simulated T1w-ce, and on a real pair."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.science.gadolinium import (
    FEATURES,
    GadoliniumDetector,
    default_detector,
    detect_gadolinium,
    gadolinium_features,
    placement_problem,
    template_correlation,
)
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, template_on_grid

SHARED = Path(__file__).resolve().parents[3] / "shared"
REAL_PAIRS = SHARED / "data" / "brats18-pairs"


@pytest.fixture(scope="module")
def template() -> np.ndarray:
    """The ICBM 2009a brain on the t1-linear grid: a real, non-contrast T1w, placed exactly."""
    return template_on_grid(CROP_SHAPE, CROP_AFFINE).copy()


@pytest.fixture(scope="module")
def simulated_ce(template) -> np.ndarray:
    """The simulator's gadolinium-enhanced copy of the template (good-quality series)."""
    from ce2nce_pipeline.simulation.simulator import sample_parameters, simulate_ce

    image = nib.Nifti1Image(template, CROP_AFFINE)
    params = sample_parameters(
        np.random.default_rng(3), quality="good", lesion_probability=0.0, space="mni"
    )
    ce, _ = simulate_ce(image, params, seed=3)
    return np.asarray(ce.dataobj, dtype=np.float32)


def test_shipped_parameters_are_complete():
    detector = default_detector()
    assert detector.features == tuple(FEATURES)
    assert 0.0 < detector.threshold < 1.0
    assert detector.provenance["fitted_by"] == "workflows/gadolinium_detector/fit.py"


def test_template_is_non_contrast_and_its_simulated_ce_is_enhanced(template, simulated_ce):
    plain = detect_gadolinium(template)
    enhanced = detect_gadolinium(simulated_ce)
    assert plain.reason is None and enhanced.reason is None
    assert plain.probability < plain.threshold <= enhanced.probability
    assert plain.enhanced is False and enhanced.enhanced is True
    # More enhanced voxels in the ventricles, brighter vessels in the deep brain.
    for name in FEATURES:
        assert enhanced.features[name] > plain.features[name], name


def test_features_ignore_the_intensity_scale(simulated_ce):
    scaled = gadolinium_features(simulated_ce * 37.0 + 5.0)
    for name, value in gadolinium_features(simulated_ce).items():
        assert scaled[name] == pytest.approx(value, abs=1e-3)


def test_a_bright_scalp_is_no_gadolinium(template):
    """Fat outside the brain (3x white matter) must not look like contrast."""
    from scipy import ndimage

    from ce2nce_pipeline.science.templates import template_brain_and_priors

    brain, _, _ = template_brain_and_priors()
    outside = ~ndimage.binary_dilation(brain, iterations=2)
    shell = ndimage.binary_dilation(brain, iterations=8) & outside
    head = template.copy()
    wm = np.median(template[template > np.percentile(template[brain], 80)])
    head[shell] = 3.0 * wm
    result = detect_gadolinium(head)
    assert result.reason is None
    assert result.probability < result.threshold


@pytest.mark.parametrize(
    "misplace",
    [lambda d: d[:, :, ::-1], lambda d: np.roll(d, 20, axis=1)],
    ids=["upside-down", "shifted-20mm"],
)
def test_an_image_t1_linear_did_not_place_gets_no_probability(template, simulated_ce, misplace):
    assert template_correlation(template) > 0.9
    for image in (template, simulated_ce):
        result = detect_gadolinium(np.ascontiguousarray(misplace(image)))
        assert result.probability is None and result.enhanced is None
        assert "did not place" in result.reason


def test_wrong_grid_and_empty_images_are_refused_with_a_reason(template):
    assert "not on the t1-linear grid" in placement_problem(template[:-1])
    assert "no signal" in placement_problem(np.zeros(CROP_SHAPE, np.float32))
    broken = template.copy()
    broken[50, 50, 50] = np.nan
    assert "NaN" in detect_gadolinium(broken).reason
    with pytest.raises(ValueError, match="t1-linear grid"):
        gadolinium_features(template[:-1])


def test_parameters_round_trip_and_bad_files_fail_in_one_line(tmp_path):
    detector = default_detector()
    path = tmp_path / "detector.json"
    path.write_text(detector.to_json())
    assert GadoliniumDetector.from_json(path) == detector
    broken = json.loads(detector.to_json())
    del broken["threshold"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="not gadolinium detector parameters") as error:
        GadoliniumDetector.from_json(path)
    assert "\n" not in str(error.value)


def test_probability_follows_the_logistic_formula():
    detector = GadoliniumDetector(("bright_ventricles",), (-3.0,), (1.0,), (2.0,), 0.5, 0.5, {})
    expected = 1.0 / (1.0 + np.exp(-(0.5 + 2.0 * (-2.0 + 3.0))))
    assert detector.probability({"bright_ventricles": -2.0}) == pytest.approx(expected)


@pytest.mark.slow
def test_a_real_pair_through_t1_linear(tmp_path):
    """A BraTS pre/post-gadolinium pair of the training split, t1-linear as the app runs it."""
    from ce2nce_pipeline.science.t1_linear import t1_linear

    anat = REAL_PAIRS / "sub-TCIA01425" / "ses-M000" / "anat"
    if not anat.is_dir():
        pytest.fail(f"{anat} missing: the real pairs live in ../shared/data/brats18-pairs")
    results = {}
    for kind, name in (("ce", "ce-gadolinium_T1w"), ("nce", "T1w")):
        work = tmp_path / kind
        work.mkdir()
        image, _ = t1_linear(anat / f"sub-TCIA01425_ses-M000_{name}.nii.gz", work)
        results[kind] = detect_gadolinium(np.asarray(image.dataobj, dtype=np.float32))
    assert results["ce"].enhanced is True and results["nce"].enhanced is False
    assert results["ce"].probability > 0.9 and results["nce"].probability < 0.1


def _result(probability, reason=None):
    from ce2nce_pipeline.science.gadolinium import GadoliniumResult

    enhanced = None if probability is None else probability >= 0.5
    return GadoliniumResult(probability, enhanced, 0.5, {}, reason)


def test_contrast_from_labels_never_listens_to_the_detector():
    from ce2nce_pipeline.science.gadolinium import treat_as_contrast_enhanced

    assert treat_as_contrast_enhanced(False, _result(0.999), "labels") == (False, None)
    assert treat_as_contrast_enhanced(True, _result(0.001), "labels") == (True, None)


def test_contrast_from_both_translates_only_confident_unlabelled_images():
    from ce2nce_pipeline.science.gadolinium import (
        CONFIDENT_PROBABILITY,
        treat_as_contrast_enhanced,
    )

    treat, line = treat_as_contrast_enhanced(False, _result(0.97), "both")
    assert treat is True and "treated as contrast-enhanced" in line and "0.970" in line
    # Above the detector's threshold but not confident: left alone, no line.
    assert treat_as_contrast_enhanced(False, _result(CONFIDENT_PROBABILITY - 0.2), "both") == (
        False,
        None,
    )
    # A labelled image stays contrast-enhanced whatever the detector says.
    assert treat_as_contrast_enhanced(True, _result(0.01), "both") == (True, None)
    # An image the detector could not judge is not translated, and the line says why.
    treat, line = treat_as_contrast_enhanced(False, _result(None, "correlation 0.41"), "both")
    assert treat is False and "correlation 0.41" in line
    with pytest.raises(ValueError, match="not one of"):
        treat_as_contrast_enhanced(False, _result(0.97), "detector")


def test_a_detected_image_is_recorded_in_its_sidecar_fields():
    from ce2nce_pipeline.science.gadolinium import detection_metadata

    fields = detection_metadata(_result(0.97), labelled_ce=False, detected_ce=True)
    detection = fields["GadoliniumDetection"]
    assert detection["Label"] == "nce" and detection["TreatedAs"] == "ce"
    assert "--contrast-from both" in detection["ContrastFrom"]
    assert detection["ContrastMismatch"] is True
    assert "TreatedAs" not in detection_metadata(_result(0.97), False)["GadoliniumDetection"]


@pytest.mark.slow
def test_contrast_from_both_turns_an_unlabelled_enhanced_image_into_a_ce(
    tmp_path, template, simulated_ce, capsys
):
    """The pre-pass of the participant level: t1-linear and the detector on real files."""
    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.config import RunConfig
    from ce2nce_pipeline.workflows.run import contrast_from_detector

    images = []
    for stem, data in (("sub-01_acq-a_T1w", template), ("sub-01_acq-b_T1w", simulated_ce)):
        relative = f"sub-01/anat/{stem}.nii.gz"
        path = tmp_path / "bids" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, CROP_AFFINE), path)
        images.append(T1wImage(path, relative, {"subject": "01", "acquisition": stem[11]}))
    config = RunConfig(tmp_path / "bids", tmp_path / "out", "participant", contrast_from="both")
    plain, enhanced = contrast_from_detector(config, images)
    assert plain == images[0] and not plain.is_contrast_enhanced
    assert enhanced.is_contrast_enhanced and enhanced.contrast_detected
    assert enhanced.output_entities["ceagent"] == "detected"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ce2nce: sub-01_acq-b_T1w.nii.gz: no contrast")
    labels = RunConfig(tmp_path / "bids", tmp_path / "out", "participant")
    assert contrast_from_detector(labels, images) == images
