"""Training of the translation networks: datasets, losses, patches and the two protocols.

``train(load_training_config("workflows/train_att_unet.toml"))`` trains a generator (Adam, L1,
best model on a held-out validation split); the ``cgan`` protocol fine-tunes a trained
generator against the 3D patch discriminator (Bottani et al. 2024, §2.3). See
``docs/training.md``.
"""

from .config import ConfigError, TrainingConfig, load_training_config
from .datasets import PairedVolumeDataset, fallback_head_mask, load_brain_mask
from .losses import (
    SoftLabels,
    discriminator_loss,
    generator_adversarial_loss,
    l1_loss,
    lsgan_loss,
)
from .pairs import ImagePair, find_dataset_pairs, load_pairs, read_pairs_tsv, split_pairs
from .patches import PatchGrid, axis_offsets, make_patch_grid
from .trainer import LOG_COLUMNS, TrainingResult, build_generator, read_log, train

__all__ = [
    "LOG_COLUMNS",
    "ConfigError",
    "ImagePair",
    "PairedVolumeDataset",
    "PatchGrid",
    "SoftLabels",
    "TrainingConfig",
    "TrainingResult",
    "axis_offsets",
    "build_generator",
    "discriminator_loss",
    "fallback_head_mask",
    "find_dataset_pairs",
    "generator_adversarial_loss",
    "l1_loss",
    "load_brain_mask",
    "load_pairs",
    "load_training_config",
    "lsgan_loss",
    "make_patch_grid",
    "read_log",
    "read_pairs_tsv",
    "split_pairs",
    "train",
]
