"""The simulator: determinism, where each component acts, presets, parameters and sidecar."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

from ce2nce_pipeline.simulation.anatomy import build_anatomy
from ce2nce_pipeline.simulation.simulator import (
    ACQUISITION_COMPONENTS,
    ANATOMICAL_COMPONENTS,
    BRAIN_COMPONENTS,
    LOW_QUALITY_RANGES,
    PARAMETER_RANGES,
    SimulationParameters,
    sample_parameters,
    simulate_ce,
)

from . import colin27, mni152

ALL_ANATOMICAL = ANATOMICAL_COMPONENTS  # lesions included


@pytest.fixture(scope="module")
def head():
    return colin27(3.0)


@pytest.fixture(scope="module")
def head_anatomy(head):
    return build_anatomy(head, "mni")


def _only(*names: str, **values) -> SimulationParameters:
    return SimulationParameters(space="mni", **values).with_components(list(names))


def test_same_seed_same_image_different_seed_different(head, head_anatomy):
    params = SimulationParameters(space="mni", ring_lesion=True, nodular_lesions=True)
    a, info_a = simulate_ce(head, params, seed=7, anatomy=head_anatomy)
    b, info_b = simulate_ce(head, params, seed=7, anatomy=head_anatomy)
    c, _ = simulate_ce(head, params, seed=8, anatomy=head_anatomy)
    assert np.array_equal(a.get_fdata(), b.get_fdata())
    assert np.array_equal(info_a.enhancement, info_b.enhancement)
    assert not np.array_equal(a.get_fdata(), c.get_fdata())


def test_same_seed_same_image_with_anatomy_built_inside(head):
    params = SimulationParameters(space="mni")
    a, _ = simulate_ce(head, params, seed=3)
    b, _ = simulate_ce(head, params, seed=3)
    assert np.array_equal(a.get_fdata(), b.get_fdata())


def test_output_on_input_grid_and_input_untouched(head, head_anatomy):
    before = head.get_fdata().copy()
    ce, info = simulate_ce(head, SimulationParameters(space="mni"), seed=1, anatomy=head_anatomy)
    assert ce.shape == head.shape and info.nce_image.shape == head.shape
    assert np.allclose(ce.affine, head.affine) and np.allclose(info.nce_image.affine, head.affine)
    assert ce.get_data_dtype() == np.float32
    assert ce.header.get_xyzt_units() == head.header.get_xyzt_units()
    assert np.array_equal(head.get_fdata(), before)
    assert np.isfinite(ce.get_fdata()).all() and ce.get_fdata().min() >= 0


@pytest.mark.parametrize("name", ALL_ANATOMICAL)
def test_component_acts_only_inside_its_mask(head, head_anatomy, name):
    """Alone and without acquisition effects, ce = nce + enhancement, and the enhancement is
    > 0 exactly where ce is brighter than nce, and zero outside the component's mask."""
    ce, info = simulate_ce(head, _only(name), seed=11, anatomy=head_anatomy)
    ce_data = ce.get_fdata(dtype=np.float32)
    nce_data = info.nce_image.get_fdata(dtype=np.float32)
    mask = info.masks[name]
    assert mask.any(), f"{name} placed nothing on Colin27"
    assert np.all(info.enhancement[~mask] == 0)
    assert np.all(info.enhancement >= 0)
    assert np.allclose(ce_data, nce_data + info.enhancement, atol=1e-4)
    brighter = ce_data > nce_data
    assert np.array_equal(brighter, info.enhancement > 0)
    assert info.enhancement.max() > 0.05 * head_anatomy.intensities.wm


def test_extracranial_alone_leaves_the_brain_unchanged(head, head_anatomy):
    ce, info = simulate_ce(head, _only("extracranial"), seed=2, anatomy=head_anatomy)
    changed = ce.get_fdata() != head.get_fdata()
    assert changed.any()
    assert not (changed & head_anatomy.brain).any()


def test_brain_components_change_nothing_on_the_scalp_far_from_the_brain(head, head_anatomy):
    params = _only(*[c for c in BRAIN_COMPONENTS if "lesion" not in c])
    ce, _ = simulate_ce(head, params, seed=2, anatomy=head_anatomy)
    changed = ce.get_fdata() != head.get_fdata()
    far = head_anatomy.outside > 25.0
    assert changed.any() and not (changed & far & (head_anatomy.outside > 0)).any()


def test_skull_stripped_image_gets_no_extracranial_enhancement():
    image = mni152(3.0)
    anatomy = build_anatomy(image, "mni")
    assert not anatomy.has_head
    ce, info = simulate_ce(image, _only("extracranial"), seed=0, anatomy=anatomy)
    assert not info.masks["extracranial"].any()
    assert np.array_equal(ce.get_fdata(), image.get_fdata())


def test_nothing_is_painted_on_the_background_of_a_skull_stripped_image():
    image = mni152(3.0)
    anatomy = build_anatomy(image, "mni")
    params = _only(*ANATOMICAL_COMPONENTS)
    _, info = simulate_ce(image, params, seed=4, anatomy=anatomy)
    assert not (info.enhanced & ~anatomy.head).any()


def test_choroid_plexus_stays_in_the_ventricles(head, head_anatomy):
    _, info = simulate_ce(head, _only("choroid_plexus"), seed=5, anatomy=head_anatomy)
    assert not (info.masks["choroid_plexus"] & ~head_anatomy.ventricle_region).any()


def test_lesions_are_placed_inside_the_brain(head, head_anatomy):
    params = _only("ring_lesion", "nodular_lesions", ring_radius_mm=12.0, nodule_count=5)
    for seed in (0, 1, 2):
        _, info = simulate_ce(head, params, seed=seed, anatomy=head_anatomy)
        for name in ("ring_lesion", "nodular_lesions"):
            assert info.masks[name].any()
            assert not (info.masks[name] & ~head_anatomy.brain).any()
        changed = info.nce_image.get_fdata() != head.get_fdata()
        assert changed.any() and not (changed & ~head_anatomy.brain).any()


def test_ring_lesion_has_a_dark_core_and_a_bright_rim(head, head_anatomy):
    centre = (28.0, -20.0, 25.0)
    params = _only("ring_lesion", ring_centre_mni=centre, ring_radius_mm=15.0)
    ce, info = simulate_ce(head, params, seed=0, anatomy=head_anatomy)
    ijk = np.round(head_anatomy.mni_to_voxel(np.array(centre))[0]).astype(int)
    nce = info.nce_image.get_fdata()
    levels = head_anatomy.intensities
    assert nce[tuple(ijk)] < levels.csf_threshold  # necrosis, dark before contrast
    assert ce.get_fdata()[tuple(ijk)] == pytest.approx(nce[tuple(ijk)])  # core not enhanced
    rim = info.masks["ring_lesion"]
    assert ce.get_fdata()[rim].mean() > levels.wm


def test_switching_a_component_off_keeps_the_others_draws(head, head_anatomy):
    both = _only("venous_sinuses", "cortical_veins")
    one = _only("venous_sinuses")
    _, info_both = simulate_ce(head, both, seed=9, anatomy=head_anatomy)
    _, info_one = simulate_ce(head, one, seed=9, anatomy=head_anatomy)
    assert np.array_equal(info_both.masks["venous_sinuses"], info_one.masks["venous_sinuses"])


def _brain_psnr(ce: np.ndarray, nce: np.ndarray, brain: np.ndarray) -> float:
    peak = float(nce[brain].max())
    mse = float(np.mean((ce[brain] - nce[brain]) ** 2))
    return 10 * np.log10(peak**2 / mse)


def test_low_quality_preset_degrades_more_than_good(head, head_anatomy):
    psnr = {"good": [], "low": []}
    for quality in psnr:
        for seed in range(3):
            params = sample_parameters(
                np.random.default_rng(seed), quality, lesion_probability=0.0, space="mni"
            )
            ce, info = simulate_ce(head, params, seed=seed, anatomy=head_anatomy)
            psnr[quality].append(
                _brain_psnr(ce.get_fdata(), info.nce_image.get_fdata(), head_anatomy.brain)
            )
    assert max(psnr["low"]) < min(psnr["good"])


def test_acquisition_effects_change_the_whole_image_not_the_enhancement(head, head_anatomy):
    params = _only("noise", "blur", "bias_field", "contrast_change")
    ce, info = simulate_ce(head, params, seed=0, anatomy=head_anatomy)
    assert not info.enhanced.any()
    assert np.mean(ce.get_fdata() != head.get_fdata()) > 0.9


def test_sample_parameters_deterministic_and_in_range():
    a = sample_parameters(np.random.default_rng(5), "good")
    b = sample_parameters(np.random.default_rng(5), "good")
    assert a == b
    for quality, ranges in (
        ("good", PARAMETER_RANGES),
        ("low", {**PARAMETER_RANGES, **LOW_QUALITY_RANGES}),
    ):
        for seed in range(10):
            p = sample_parameters(np.random.default_rng(seed), quality)
            assert p.quality == quality
            for name, (lo, hi) in ranges.items():
                assert lo <= getattr(p, name) <= hi, name


def test_low_preset_ranges_are_worse():
    assert LOW_QUALITY_RANGES["noise_sigma"][0] >= PARAMETER_RANGES["noise_sigma"][1]
    assert LOW_QUALITY_RANGES["blur_fwhm_mm"][0] >= PARAMETER_RANGES["blur_fwhm_mm"][1]


def test_parameters_validate_and_round_trip():
    params = SimulationParameters(ring_centre_mni=(1.0, 2.0, 3.0))
    assert SimulationParameters.from_dict(json.loads(json.dumps(params.to_dict()))) == params
    with pytest.raises(ValueError, match="quality"):
        SimulationParameters(quality="medium")
    with pytest.raises(ValueError, match="noise_sigma"):
        SimulationParameters(noise_sigma=-1.0)
    with pytest.raises(ValueError, match="unknown components"):
        SimulationParameters().with_components(["sinus"])
    with pytest.raises(ValueError, match="unknown simulation parameters"):
        SimulationParameters.from_dict({"noise_sigmaa": 0.1})
    assert set(SimulationParameters().with_components(["noise"]).enabled) == {"noise"}


def test_sidecar_records_every_parameter_and_the_seed(head, head_anatomy):
    params = SimulationParameters(space="mni", ring_lesion=True)
    _, info = simulate_ce(head, params, seed=123, anatomy=head_anatomy)
    sidecar = json.loads(json.dumps(info.sidecar()))
    assert sidecar["SimulationSeed"] == 123
    recorded = sidecar["SimulationParameters"]
    assert set(recorded) == {f.name for f in fields(SimulationParameters)}
    assert SimulationParameters.from_dict(recorded) == params
    assert set(sidecar["SimulationComponents"]) == {
        c for c in ANATOMICAL_COMPONENTS if getattr(params, c)
    }


def test_bad_inputs_raise_clear_errors(head, head_anatomy):
    with pytest.raises(ValueError, match="seed"):
        simulate_ce(head, SimulationParameters(space="mni"), seed=-1, anatomy=head_anatomy)
    other = colin27(4.0)
    with pytest.raises(ValueError, match="another grid"):
        simulate_ce(other, SimulationParameters(space="mni"), seed=0, anatomy=head_anatomy)


def test_acquisition_components_are_listed():
    assert set(ACQUISITION_COMPONENTS) <= {f.name for f in fields(SimulationParameters)}
