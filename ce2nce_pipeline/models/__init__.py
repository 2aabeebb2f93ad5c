"""Translation networks, their registry, self-describing checkpoints and the Predictor.

Architectures (Bottani et al. 2024, §2.3): ``res_unet``, ``att_unet``, ``trans_unet`` and the
cGANs' ``patch_discriminator``; see ``docs/models.md``.
"""

from .att_unet import AttUNet
from .checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    TrainingMetadata,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    sha256_file,
)
from .model_card import write_model_card
from .patch_discriminator import PatchDiscriminator
from .predictor import Predictor, resolve_device
from .registry import (
    DEFAULT_CPU_PRESET,
    GENERATORS,
    architecture_name,
    build_model,
    build_preset,
    count_parameters,
    get_preset,
    list_models,
    list_presets,
    model_config,
    register_model,
)
from .res_unet import ResUNet
from .trans_unet import TransUNet

__all__ = [
    "DEFAULT_CPU_PRESET",
    "FORMAT_VERSION",
    "GENERATORS",
    "AttUNet",
    "CheckpointError",
    "PatchDiscriminator",
    "Predictor",
    "ResUNet",
    "TrainingMetadata",
    "TransUNet",
    "architecture_name",
    "build_model",
    "build_preset",
    "count_parameters",
    "get_preset",
    "list_models",
    "list_presets",
    "load_checkpoint",
    "model_config",
    "read_metadata",
    "register_model",
    "resolve_device",
    "save_checkpoint",
    "sha256_file",
    "write_model_card",
]
