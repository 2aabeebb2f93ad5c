"""The default translation model shipped in the package, and how it is packaged.

The default model is trained on *simulated* gadolinium enhancement (docs/default_model.md):
it is what ``ce2nce`` runs on T1w-ce images when no ``--model`` is given. It lives in
``ce2nce_pipeline/data/default_model/`` as an ordinary checkpoint directory (safetensors
weights + ``metadata.json`` with their sha256, verified on every load) with its ``MODEL_CARD.md``.
:func:`package_default_model` writes that folder from a training run and its held-out
evaluation (``make default-model`` runs the whole recipe).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .checkpoint import (
    TrainingMetadata,
    checkpoint_normalisation,
    load_checkpoint,
    save_checkpoint,
    write_model_card,
)

#: Name under which the default model appears in sidecars and logs.
DEFAULT_MODEL_NAME = "ce2nce-default-simulated"

#: Size limit of the shipped folder (the issue's 50 MB).
MAX_SHIPPED_BYTES = 50 * 1024 * 1024

#: What the model card says first, and the sidecars repeat.
SIMULATED_WARNING = (
    "Trained on simulated gadolinium enhancement only: this model has never seen a real "
    "contrast-enhanced image. Train your own model on real pairs (docs/training.md) before "
    "trusting its output on clinical data."
)


def default_model_dir() -> Path:
    """Where the default model lives inside the installed package."""
    return Path(__file__).resolve().parent.parent / "data" / "default_model"


def default_model_path() -> Path | None:
    """The shipped default checkpoint directory, or ``None`` when this build ships none."""
    folder = default_model_dir()
    return folder if (folder / "metadata.json").is_file() else None


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _evaluation_section(evaluations: dict[str, Path]) -> list[str]:
    """Markdown tables of ``ce2nce-evaluate`` summaries (mean ± sd) per held-out set."""
    lines = ["## Held-out evaluation", ""]
    lines.append(
        "Measured by `ce2nce-evaluate` on simulated pairs whose base image (MNI152 2009a, "
        "another anatomy than the training's Colin27) and seeds were never used in training; "
        "metrics within the brain mask, as in the paper. `ce` is the baseline (T1w-ce against "
        "T1w-nce)."
    )
    lines.append("")
    for label, folder in evaluations.items():
        per_pair = pd.read_csv(Path(folder) / "per_pair.tsv", sep="\t")
        lines += [f"### {label} ({per_pair['pair_id'].nunique()} pairs)", ""]
        lines.append(
            "| Metric | T1w-ce (baseline) | synthetic T1w-nce | change | pairs improved |"
        )
        lines.append("|---|---|---|---|---|")
        wide = per_pair.pivot(
            index="pair_id", columns="comparison", values=["mae_percent", "psnr_db", "ssim"]
        )
        models = [m for m in per_pair["comparison"].unique() if m != "ce"]
        for metric, better in (("mae_percent", -1), ("psnr_db", 1), ("ssim", 1)):
            base = wide[(metric, "ce")]
            for model in models:
                synth = wide[(metric, model)]
                improved = int(((synth - base) * better > 0).sum())
                if metric == "mae_percent":
                    change = f"{100 * (synth.mean() - base.mean()) / base.mean():+.1f} %"
                elif metric == "psnr_db":
                    change = f"{synth.mean() - base.mean():+.2f} dB"
                else:
                    change = f"{synth.mean() - base.mean():+.3f}"
                lines.append(
                    f"| {metric} | {base.mean():.3f} ± {base.std():.3f} | "
                    f"{synth.mean():.3f} ± {synth.std():.3f} | {change} | "
                    f"{improved}/{len(base)} |"
                )
        lines.append("")
    return lines


def package_default_model(
    best_checkpoint: str | os.PathLike[str],
    evaluations: dict[str, str | os.PathLike[str]],
    *,
    data_description: str,
    notes: str = "",
    target: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the shipped default model from a training run's ``best/`` checkpoint.

    Parameters
    ----------
    best_checkpoint
        The run's selected checkpoint (verified by its sha256 while loading).
    evaluations
        Label (e.g. ``"Test_good"``) -> a ``ce2nce-evaluate`` output folder on held-out pairs;
        their summaries go into the model card.
    data_description
        What the model was trained on (recorded in the metadata).
    notes
        Training run facts for the metadata (duration, hardware).
    target
        Destination folder (default: :func:`default_model_dir`); replaced atomically.

    Returns
    -------
    pathlib.Path
        The destination folder.

    Raises
    ------
    ValueError
        If the packaged folder exceeds :data:`MAX_SHIPPED_BYTES`.
    """
    model, metadata = load_checkpoint(best_checkpoint)
    training = dict(metadata.get("training", {}))
    training["data"] = data_description
    training["notes"] = " ".join(part for part in (SIMULATED_WARNING, notes) if part)
    network_shape = tuple(metadata["preprocessing"]["network_grid"]["shape"])
    destination = Path(target) if target is not None else default_model_dir()
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default_model.", dir=destination.parent))
    try:
        checkpoint = save_checkpoint(
            model,
            staging / "checkpoint",
            TrainingMetadata.from_mapping(training),
            network_shape=network_shape,
            # The Predictor scales inputs as the checkpoint records: a re-save must keep it.
            normalisation=checkpoint_normalisation(metadata),
        )
        card = write_model_card(checkpoint, checkpoint / "MODEL_CARD.md")
        text = card.read_text(encoding="utf-8")
        title, _, rest = text.partition("\n")
        extra = [
            f"**{SIMULATED_WARNING}**",
            "",
            *_evaluation_section({label: Path(folder) for label, folder in evaluations.items()}),
        ]
        card.write_text(
            f"# Model card: {DEFAULT_MODEL_NAME}\n\n" + "\n".join(extra) + rest, encoding="utf-8"
        )
        size = _folder_bytes(checkpoint)
        if size > MAX_SHIPPED_BYTES:
            raise ValueError(f"default model is {size / 2**20:.1f} MiB, above the 50 MB limit")
        for path in [checkpoint, *checkpoint.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        old = destination.with_name(f".{destination.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if destination.exists():
            destination.rename(old)
        checkpoint.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination
