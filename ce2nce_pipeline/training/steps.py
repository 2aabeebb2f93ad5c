"""One optimisation step of each protocol, and the validation of the generator.

Generator protocol: L1 (plus the gain supervision of a generator with a global gain). cGAN
protocol: the discriminator is first pre-trained on real and fake patches, the fake images
coming from the frozen generator in eval mode; then, per step, the discriminator loss updates
the discriminator and the generator loss (L1 + LSGAN against the updated discriminator) updates
the generator (Bottani et al. 2024, §2.3).

A step takes a batch ``(ce, nce)`` on the run's device and returns its losses by log column.
"""

from __future__ import annotations

import numpy as np
import torch

from ..science.metrics import image_similarity
from ..science.resampling import run_padded
from .config import TrainingConfig
from .datasets import PairedVolumeDataset
from .losses import (
    SoftLabels,
    discriminator_loss,
    gain_loss,
    gain_target,
    generator_adversarial_loss,
    l1_loss,
)
from .networks import Networks

__all__ = ["cgan_step", "generator_step", "pretrain_step", "validate"]


def _gain_supervision(
    nets: Networks, config: TrainingConfig, ce: torch.Tensor, nce: torch.Tensor
) -> torch.Tensor | None:
    """Weighted gain supervision of the generator, or None when it has no gain."""
    if not nets.gain_supervised:
        return None
    predicted = nets.generator.predict_gain(ce)
    return config.gain_loss_weight * gain_loss(predicted, gain_target(ce, nce))


def generator_step(
    nets: Networks,
    config: TrainingConfig,
    labels: SoftLabels,
    ce: torch.Tensor,
    nce: torch.Tensor,
) -> dict[str, float]:
    """One step of the generator protocol: L1 (and gain supervision) updates the generator."""
    nets.generator.train()
    l1 = l1_loss(nets.generator(ce), nce)
    supervision = _gain_supervision(nets, config, ce, nce)
    loss = l1 if supervision is None else l1 + supervision
    nets.optimizer_g.zero_grad(set_to_none=True)
    loss.backward()
    nets.optimizer_g.step()
    return {"train_loss": float(loss.detach()), "train_l1": float(l1.detach())}


def pretrain_step(
    nets: Networks,
    config: TrainingConfig,
    labels: SoftLabels,
    ce: torch.Tensor,
    nce: torch.Tensor,
) -> dict[str, float]:
    """One step of discriminator pre-training, against the frozen generator in eval mode."""
    nets.generator.eval()
    with torch.no_grad():
        fake = nets.generator(ce)
    nets.discriminator.train()
    condition = nets.grid.extract(ce)
    real_scores = nets.discriminator(nets.grid.extract(nce), condition)
    fake_scores = nets.discriminator(nets.grid.extract(fake), condition)
    loss = discriminator_loss(real_scores, fake_scores, labels)
    nets.optimizer_d.zero_grad(set_to_none=True)
    loss.backward()
    nets.optimizer_d.step()
    value = float(loss.detach())
    return {"train_loss": value, "train_discriminator": value}


def _discriminator_update(
    nets: Networks,
    labels: SoftLabels,
    fake: torch.Tensor,
    nce: torch.Tensor,
    condition: torch.Tensor,
) -> torch.Tensor:
    """Update the discriminator on real and (detached) fake patches; return its loss."""
    real_scores = nets.discriminator(nets.grid.extract(nce), condition)
    fake_scores = nets.discriminator(nets.grid.extract(fake.detach()), condition)
    loss_d = discriminator_loss(real_scores, fake_scores, labels)
    nets.optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    nets.optimizer_d.step()
    return loss_d


def _generator_update(
    nets: Networks,
    config: TrainingConfig,
    labels: SoftLabels,
    fake: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    condition: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Update the generator against the discriminator, whose weights stay fixed here.

    Returns the generator loss, its L1 and its adversarial term.
    """
    ce, nce = batch
    nets.discriminator.requires_grad_(False)
    try:
        scores = nets.discriminator(nets.grid.extract(fake), condition)
        adversarial = generator_adversarial_loss(scores, labels)
        l1 = l1_loss(fake, nce)
        loss_g = config.l1_weight * l1 + config.adversarial_weight * adversarial
        supervision = _gain_supervision(nets, config, ce, nce)
        if supervision is not None:
            loss_g = loss_g + supervision
        nets.optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        nets.optimizer_g.step()
    finally:
        nets.discriminator.requires_grad_(True)
    return loss_g, l1, adversarial


def cgan_step(
    nets: Networks,
    config: TrainingConfig,
    labels: SoftLabels,
    ce: torch.Tensor,
    nce: torch.Tensor,
) -> dict[str, float]:
    """One joint cGAN step: the discriminator update, then the generator update."""
    nets.generator.train()
    nets.discriminator.train()
    fake = nets.generator(ce)
    condition = nets.grid.extract(ce)
    loss_d = _discriminator_update(nets, labels, fake, nce, condition)
    loss_g, l1, adversarial = _generator_update(nets, config, labels, fake, (ce, nce), condition)
    return {
        "train_loss": float(loss_g.detach()),
        "train_l1": float(l1.detach()),
        "train_adversarial": float(adversarial.detach()),
        "train_discriminator": float(loss_d.detach()),
    }


def _mean_metrics(metrics: list) -> dict[str, float]:
    return {
        "val_mae_percent": float(np.mean([m.mae_percent for m in metrics])),
        "val_psnr_db": float(np.mean([m.psnr_db for m in metrics])),
        "val_ssim": float(np.mean([m.ssim for m in metrics])),
    }


@torch.no_grad()
def validate(
    nets: Networks, config: TrainingConfig, val_set: PairedVolumeDataset, device: torch.device
) -> dict[str, float]:
    """Validation L1 (and MAE/PSNR/SSIM) of the generator on the network grid."""
    generator = nets.generator
    generator.eval()
    losses, metrics = [], []
    for index in range(len(val_set)):
        item = val_set[index]
        ce = item["ce"][None].to(device)
        nce = item["nce"][None].to(device)
        # Cube-trained networks see whole volumes, padded as the Predictor pads them.
        if config.training_patch is None:
            prediction = generator(ce)
        else:
            prediction = run_padded(generator, ce)
        losses.append(float(l1_loss(prediction, nce)))
        if config.validation_metrics:
            metrics.append(
                image_similarity(
                    item["nce"][0].numpy(),
                    prediction[0, 0].clamp(0.0, 1.0).float().cpu().numpy(),
                    item["mask"].numpy(),
                    scale=False,
                )
            )
    generator.train()
    result = {"val_loss": float(np.mean(losses))}
    if config.validation_metrics:
        result.update(_mean_metrics(metrics))
    return result
