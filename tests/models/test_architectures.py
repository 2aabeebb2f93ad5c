"""Tests of the architectures and their registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ce2nce_pipeline.models import (
    GENERATORS,
    AttUNet,
    PatchDiscriminator,
    ResUNet,
    TransUNet,
    build_model,
    build_preset,
    count_parameters,
    get_preset,
    list_models,
    list_presets,
    model_config,
)
from ce2nce_pipeline.models.res_unet import ENHANCEMENT_START, GAIN_SCALE

#: Parameter counts documented in docs/models.md.
DOCUMENTED_PARAMETERS = {
    ("res_unet", "paper"): 126_842_945,
    ("res_unet", "small"): 1_983_497,
    ("res_unet", "tiny"): 496_325,
    ("att_unet", "paper"): 103_876_325,
    ("att_unet", "small"): 1_624_609,
    ("att_unet", "tiny"): 406_595,
    ("trans_unet", "paper"): 29_676_081,
    ("trans_unet", "small"): 2_519_321,
    ("trans_unet", "tiny"): 393_933,
    ("patch_discriminator", "paper"): 1_126_209,
    ("patch_discriminator", "small"): 74_193,
    ("patch_discriminator", "tiny"): 5_589,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registry_lists_the_four_architectures_and_three_presets():
    assert list_models() == ["att_unet", "patch_discriminator", "res_unet", "trans_unet"]
    assert set(GENERATORS) == {"att_unet", "res_unet", "trans_unet"}
    for name in list_models():
        assert list_presets(name) == ["paper", "small", "tiny"]
    assert {key for key in DOCUMENTED_PARAMETERS} == {
        (name, preset) for name in list_models() for preset in list_presets(name)
    }


@pytest.mark.parametrize(("name", "preset"), sorted(DOCUMENTED_PARAMETERS))
def test_every_preset_builds_with_its_documented_size_and_shapes(name, preset):
    """Built on the meta device: shapes and sizes without allocating the paper-size nets."""
    with torch.device("meta"):
        model = build_preset(name, preset)
        if name == "patch_discriminator":
            patches = torch.empty(8, 1, 64, 64, 64)
            output = model(patches, patches)
            expected = (8, 1)
        else:
            output = model(torch.empty(1, 1, 128, 128, 128))
            expected = (1, 1, 128, 128, 128)
    assert tuple(output.shape) == expected
    assert count_parameters(model) == DOCUMENTED_PARAMETERS[(name, preset)]


@pytest.mark.parametrize("name", GENERATORS)
def test_tiny_generators_translate_128_cubed_deterministically(name):
    torch.manual_seed(0)
    model = build_preset(name, "tiny").eval()
    x = torch.rand(1, 1, 128, 128, 128)
    with torch.inference_mode():
        first = model(x)
        second = model(x)
    assert first.shape == (1, 1, 128, 128, 128)
    assert first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert first.min() >= -1.0 and first.max() <= 1.0  # tanh
    assert torch.equal(first, second)


def test_trans_unet_dropout_is_off_in_eval_and_on_in_training():
    torch.manual_seed(0)
    model = build_preset("trans_unet", "tiny", input_size=32, dropout=0.5)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 1 + 3 * model.config["num_layers"]
    x = torch.rand(2, 1, 32, 32, 32)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    ("name", "kwargs", "size"),
    [
        ("res_unet", {"base_channels": 2, "depth": 3}, 16),
        ("att_unet", {"base_channels": 2, "depth": 3}, 16),
        (
            "trans_unet",
            {
                "base_channels": 2,
                "depth": 3,
                "embed_dim": 8,
                "num_heads": 2,
                "mlp_dim": 8,
                "num_layers": 1,
                "input_size": 16,
            },
            16,
        ),
    ],
)
def test_every_parameter_of_the_generators_gets_a_gradient(name, kwargs, size):
    torch.manual_seed(0)
    model = build_model(name, **kwargs).train()
    x = torch.rand(2, 1, size, size, size)
    loss = (model(x) - x).abs().mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_width_and_depth_are_arguments():
    shallow = AttUNet(base_channels=4, depth=3)
    deep = AttUNet(base_channels=4, depth=5)
    wide = AttUNet(base_channels=8, depth=3)
    assert count_parameters(shallow) < count_parameters(deep)
    assert count_parameters(shallow) < count_parameters(wide)
    with torch.no_grad():
        assert shallow.eval()(torch.rand(1, 1, 12, 12, 12)).shape == (1, 1, 12, 12, 12)


def test_patch_discriminator_scores_each_pair():
    torch.manual_seed(0)
    model = build_preset("patch_discriminator", "tiny").eval()
    candidate, condition = torch.rand(2, 3, 1, 64, 64, 64)
    with torch.no_grad():
        scores = model(candidate, condition)
        swapped = model(condition, candidate)
    assert scores.shape == (3, 1)
    assert not torch.equal(scores, swapped)  # the order of the pair matters
    with pytest.raises(ValueError, match="channels together"):
        model(torch.rand(1, 2, 64, 64, 64), torch.rand(1, 1, 64, 64, 64))
    with pytest.raises(ValueError, match="share batch and spatial"):
        model(torch.rand(1, 1, 64, 64, 64), torch.rand(1, 1, 32, 64, 64))
    with pytest.raises(ValueError, match=">= 25"):
        model(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16))


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (ResUNet, {"base_channels": 0}),
        (ResUNet, {"depth": 1}),
        (ResUNet, {"residual_convs": [1, 2]}),
        (ResUNet, {"residual_convs": [1, 2, 4, 1, 1]}),
        (ResUNet, {"final_activation": "softmax"}),
        (AttUNet, {"base_channels": 2.5}),
        (AttUNet, {"in_channels": True}),
        (AttUNet, {"depth": 0}),
        (TransUNet, {"embed_dim": 30, "num_heads": 4}),
        (TransUNet, {"dropout": 1.0}),
        (TransUNet, {"input_size": 100}),
        (TransUNet, {"encoder_units": [1, 2, 3]}),
        (TransUNet, {"decoder_units": [3, 1, 1, 1]}),
        (PatchDiscriminator, {"in_channels": 1}),
        (PatchDiscriminator, {"negative_slope": -0.2}),
        (PatchDiscriminator, {"depth": 0}),
    ],
)
def test_constructors_reject_bad_arguments(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_forward_rejects_wrong_input_shapes():
    with pytest.raises(ValueError, match="divisible by 32"):
        ResUNet(base_channels=2)(torch.rand(1, 1, 48, 48, 40))
    with pytest.raises(ValueError, match="divisible by 4"):
        AttUNet(base_channels=2, depth=3)(torch.rand(1, 1, 16, 16, 18))
    with pytest.raises(ValueError, match="input_size=32"):
        build_preset("trans_unet", "tiny", input_size=32)(torch.rand(1, 1, 16, 16, 16))


def test_build_model_errors_and_config_round_trip():
    with pytest.raises(ValueError, match="unknown architecture 'unet'"):
        build_model("unet")
    with pytest.raises(ValueError, match="takes no argument"):
        build_model("att_unet", base_width=8)
    with pytest.raises(ValueError, match="unknown preset"):
        build_preset("att_unet", "huge")
    preset = get_preset("trans_unet", "small")
    preset["embed_dim"] = 7
    assert get_preset("trans_unet", "small")["embed_dim"] == 128  # a copy was returned
    for name in list_models():
        model = build_preset(name, "tiny")
        rebuilt = build_model(name, **model_config(model))
        assert model_config(rebuilt) == model_config(model)
        assert count_parameters(rebuilt) == count_parameters(model)
    with pytest.raises(ValueError, match="not a registered architecture"):
        from ce2nce_pipeline.models import architecture_name

        architecture_name(nn.Identity())


def test_res_unet_global_residual_starts_as_identity_and_learns_a_correction():
    torch.manual_seed(0)
    model = build_model("res_unet", base_channels=4, depth=3, global_residual=True)
    x = torch.rand(2, 1, 32, 32, 32)
    assert torch.equal(model.eval()(x), x)  # zero-initialised last convolution
    assert model_config(model)["global_residual"] is True
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = 0.5 * x
    for _ in range(5):
        optimiser.zero_grad()
        loss = (model.train()(x) - target).abs().mean()
        loss.backward()
        optimiser.step()
    assert not torch.equal(model.eval()(x), x)
    assert (model(x) - target).abs().mean() < (x - target).abs().mean()
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        build_model("res_unet", in_channels=2, out_channels=1, global_residual=True)
    with pytest.raises(ValueError, match="bool"):
        build_model("res_unet", global_residual="yes")


def test_res_unet_global_gain_multiplies_the_input_by_a_gain_per_image():
    torch.manual_seed(0)
    model = build_model(
        "res_unet", base_channels=4, depth=3, global_residual=True, global_gain=True
    ).eval()
    # Two images of different brightness.
    x = torch.rand(2, 1, 32, 32, 32) * torch.tensor([0.3, 1.0])[:, None, None, None, None]
    assert torch.equal(model(x), x)  # gain 1 and a zero body at first
    assert model_config(model)["global_gain"] is True
    with torch.no_grad():
        model.gain.head[-1].bias.fill_(1.0 / GAIN_SCALE)
    torch.testing.assert_close(model(x), 2.0 * x)  # the body is still zero: gain 2 exactly
    with torch.no_grad():
        model.gain.head[-1].weight.fill_(0.1)
    with torch.no_grad():
        ratio = model(x) / x
    gains = [float(ratio[i].mean()) for i in range(2)]
    for i in range(2):  # one gain per image, read from its whole content
        torch.testing.assert_close(ratio[i], torch.full_like(ratio[i], gains[i]))
    assert abs(gains[0] - gains[1]) > 0.01
    with torch.no_grad():  # predict_gain is the gain forward applies
        torch.testing.assert_close(model.predict_gain(x)[:, 0], torch.tensor(gains))
    assert build_model("res_unet", base_channels=4, depth=3).predict_gain(x) is None
    with pytest.raises(ValueError, match="global_gain needs global_residual"):
        build_model("res_unet", global_gain=True)
    with pytest.raises(ValueError, match="bool"):
        build_model("res_unet", global_residual=True, global_gain=1)


def test_res_unet_enhancement_map_only_darkens_and_learns_where_the_ce_is_brighter():
    torch.manual_seed(0)
    model = build_model(
        "res_unet",
        base_channels=4,
        depth=3,
        global_residual=True,
        normalisation="none",
        enhancement_map=True,
    )
    nce = 0.25 + 0.05 * torch.rand(2, 1, 32, 32, 32)
    ce = nce.clone()
    ce[:, :, 12:20, 12:20, 12:20] += 0.5  # an enhanced blob: gadolinium only brightens
    with torch.no_grad():  # untrained: the input less ENHANCEMENT_START everywhere
        torch.testing.assert_close(model.eval()(ce), ce - ENHANCEMENT_START)
    assert model_config(model)["enhancement_map"] is True
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        optimiser.zero_grad()
        loss = (model.train()(ce) - nce).abs().mean()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        out = model.eval()(ce)
        # Whatever the weights, the output never exceeds the input ...
        assert float((out - ce).max()) <= 0.0
        # ... and training took most of the blob's 0.5 away while the rest barely moved.
        blob = (slice(None), slice(None), slice(13, 19), slice(13, 19), slice(13, 19))
        assert float((ce - out)[blob].mean()) > 0.25
        assert float((ce - out)[:, :, :8].mean()) < 0.05
    with pytest.raises(ValueError, match="enhancement_map needs"):
        build_model("res_unet", enhancement_map=True)
    with pytest.raises(ValueError, match="enhancement_map needs"):
        build_model("res_unet", global_residual=True, global_gain=True, enhancement_map=True)
