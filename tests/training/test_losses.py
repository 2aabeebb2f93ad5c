"""Tests of the L1 and LSGAN losses with soft labels."""

from __future__ import annotations

import pytest
import torch

from ce2nce_pipeline.training.losses import (
    SoftLabels,
    discriminator_loss,
    gain_loss,
    gain_target,
    generator_adversarial_loss,
    l1_loss,
    lsgan_loss,
)


def test_soft_labels_are_uniform_in_the_papers_ranges():
    labels = SoftLabels(generator=torch.Generator().manual_seed(1))
    like = torch.zeros(20000, 1)
    real, fake = labels.real(like), labels.fake(like)
    assert real.shape == like.shape and fake.shape == like.shape
    assert 0.0 <= real.min() and real.max() <= 0.3
    assert 0.7 <= fake.min() and fake.max() <= 1.0
    # Uniform: mean at the centre, spread over the whole range.
    assert abs(real.mean().item() - 0.15) < 0.01 and abs(fake.mean().item() - 0.85) < 0.01
    assert real.max() - real.min() > 0.29 and fake.max() - fake.min() > 0.29


def test_labels_are_reproducible_from_the_generator_seed():
    a = SoftLabels(generator=torch.Generator().manual_seed(5)).real(torch.zeros(8, 1))
    b = SoftLabels(generator=torch.Generator().manual_seed(5)).real(torch.zeros(8, 1))
    assert torch.equal(a, b)


def test_lsgan_and_l1_definitions():
    scores = torch.tensor([[0.5], [2.0]])
    labels = torch.tensor([[0.0], [1.0]])
    assert lsgan_loss(scores, labels).item() == pytest.approx((0.25 + 1.0) / 2)
    assert l1_loss(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0])).item() == 2.0
    with pytest.raises(ValueError):
        lsgan_loss(scores, labels[:1])


def test_gain_target_is_the_tissue_ratio_whatever_the_enhancement_and_background():
    generator = torch.Generator().manual_seed(0)
    tissue = 0.3 + 0.5 * torch.rand(2, 1, 16, 16, 16, generator=generator)
    tissue[:, :, :4] = 0.0  # background, left out
    nce = tissue * torch.tensor([2.2, 1.1])[:, None, None, None, None]
    ce = tissue.clone()
    ce[:, :, 8:10] *= 3.0  # enhanced slab (1/8 of the voxels): brighter in the ce only
    torch.testing.assert_close(gain_target(ce, nce), torch.tensor([[2.2], [1.1]]))
    # Not the least-squares or mean ratio, which the enhanced voxels would pull down.
    assert float((nce / ce.clamp(min=1e-6))[0][ce[0] > 0].mean()) < 2.1
    assert gain_loss(torch.tensor([[2.0], [1.0]]), torch.tensor([[2.2], [1.1]])).item() == (
        pytest.approx(0.15)
    )
    with pytest.raises(ValueError, match="differ"):
        gain_loss(torch.ones(2, 1), torch.ones(1, 1))
    with pytest.raises(ValueError, match="alike"):
        gain_target(ce, nce[:1])


def test_discriminator_and_generator_losses_use_the_right_labels():
    real_scores = torch.tensor([[0.1], [0.2]])
    fake_scores = torch.tensor([[0.9], [0.6]])
    labels = SoftLabels(generator=torch.Generator().manual_seed(3))
    replay = SoftLabels(generator=torch.Generator().manual_seed(3))
    expected = 0.5 * (
        ((real_scores - replay.real(real_scores)) ** 2).mean()
        + ((fake_scores - replay.fake(fake_scores)) ** 2).mean()
    )
    assert discriminator_loss(real_scores, fake_scores, labels).item() == pytest.approx(
        expected.item()
    )
    # The generator wants its fakes scored with the *real* label.
    expected_g = ((fake_scores - replay.real(fake_scores)) ** 2).mean()
    assert generator_adversarial_loss(fake_scores, labels).item() == pytest.approx(
        expected_g.item()
    )


def test_bad_label_ranges_are_refused():
    with pytest.raises(ValueError):
        SoftLabels(real_range=(0.3, 0.0))
    with pytest.raises(ValueError):
        SoftLabels(fake_range=(0.7, 1.2))
