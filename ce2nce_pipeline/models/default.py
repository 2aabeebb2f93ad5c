"""The default translation model shipped in the package, and how it is packaged.

The default model is a 2 mm enhancement map trained on real BraTS 2018 pre/post-gadolinium pairs
and simulated ones (docs/default_model.md): it is what ``ce2nce`` runs on T1w-ce images when no
``--model`` is given. It lives in
``ce2nce_pipeline/data/default_model/`` as an ordinary checkpoint directory (safetensors
weights + ``metadata.json`` with their sha256, verified on every load) with its ``MODEL_CARD.md``.
:func:`package_default_model` writes that folder from a training run and its held-out
evaluation (``make full-resolution-model`` trains the recipe; docs/default_model.md gives the
packaging command).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .checkpoint import (
    TrainingMetadata,
    checkpoint_change_region,
    checkpoint_normalisation,
    checkpoint_output_resampling,
    load_checkpoint,
    save_checkpoint,
)
from .model_card import write_model_card

#: Name under which the default model appears in sidecars and logs.
DEFAULT_MODEL_NAME = "ce2nce-default-enhancement-map"

#: Size limit of the shipped folder (50 MB, so that the package stays small to install).
MAX_SHIPPED_BYTES = 50 * 1024 * 1024

#: What the model card says first, and the sidecars repeat.
DEFAULT_MODEL_WARNING = (
    "Trained on six real pre/post-gadolinium pairs (BraTS 2018 gliomas, skull-stripped, 1 mm) "
    "and simulated pairs: it has never seen a clinical warehouse image. Read its QC flags, "
    "and train a model on your own pairs (docs/training.md) before trusting its volumes."
)
#: Name of the held-out real-pair scores copied beside the shipped weights.
REAL_PAIRS_FILE = "test_real_pairs.tsv"


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


#: What a shipped model must reach on held-out real pairs (means over the pairs), besides a
#: MAE below the T1w-ce's on every pair: against the T1w-ce, and against a Gaussian-blurred
#: T1w-ce so that blur alone cannot explain the gain; enhancement removed in white-matter units
#: (ce2nce_pipeline.science.enhancement_removal), also well above what blur alone scores; tissue
#: volumes brought to the T1w-nce's.
REAL_PAIR_TARGETS = {
    "mae_vs_ce": 0.6,
    "mae_vs_blurred_ce": 0.8,
    "removed_percent": 60.0,
    "removed_above_blurred_points": 30.0,
    "volume_error_vs_ce": 0.4,
    "csf_error_cm3": 15.0,
}

#: Columns of a held-out real-pairs table (workflows/full_resolution_model/score_derivatives.py).
REAL_PAIR_COLUMNS = {
    "mae_ce": "MAE ce",
    "mae_blurred_ce": "MAE blurred ce",
    "mae_synthetic": "MAE synthetic",
    "removed_blurred_ce": "removed, blurred ce (%)",
    "removed_synthetic": "removed, synthetic (%)",
    "dv_ce": "volume error ce",
    "dv_synthetic": "volume error synthetic",
    "dcsf_ce": "CSF error ce",
    "dcsf_synthetic": "CSF error synthetic",
}


def _real_pair_checks(table: pd.DataFrame) -> list[tuple[str, bool]]:
    """Each target of :data:`REAL_PAIR_TARGETS` as (text with the measured value, met)."""
    mean = table.mean(numeric_only=True)
    targets = REAL_PAIR_TARGETS
    better = int((table["mae_synthetic"] < table["mae_ce"]).sum())
    removed, removed_blur = mean["removed_synthetic"], mean["removed_blurred_ce"]
    return [
        (f"MAE below the T1w-ce's on every pair ({better}/{len(table)})", better == len(table)),
        (
            f"mean MAE ≤ {targets['mae_vs_ce']} × the T1w-ce's "
            f"({mean['mae_synthetic'] / mean['mae_ce']:.2f} ×)",
            mean["mae_synthetic"] <= targets["mae_vs_ce"] * mean["mae_ce"],
        ),
        (
            f"mean MAE ≤ {targets['mae_vs_blurred_ce']} × the blurred T1w-ce's "
            f"({mean['mae_synthetic'] / mean['mae_blurred_ce']:.2f} ×)",
            mean["mae_synthetic"] <= targets["mae_vs_blurred_ce"] * mean["mae_blurred_ce"],
        ),
        (
            f"at least {targets['removed_percent']:g} % of the enhancement removed, and "
            f"{targets['removed_above_blurred_points']:g} points more than the blurred T1w-ce "
            f"({removed:.1f} % against {removed_blur:.1f} %)",
            removed >= targets["removed_percent"]
            and removed >= removed_blur + targets["removed_above_blurred_points"],
        ),
        (
            f"volume error ≤ {targets['volume_error_vs_ce']} × the T1w-ce's "
            f"({mean['dv_synthetic'] / mean['dv_ce']:.2f} ×)",
            mean["dv_synthetic"] <= targets["volume_error_vs_ce"] * mean["dv_ce"],
        ),
        (
            f"mean signed CSF error within ±{targets['csf_error_cm3']:g} cm³ "
            f"({mean['dcsf_synthetic']:+.1f} cm³, T1w-ce {mean['dcsf_ce']:+.1f})",
            abs(mean["dcsf_synthetic"]) <= targets["csf_error_cm3"],
        ),
    ]


def _real_pairs_section(scores: Path) -> list[str]:
    """Markdown of the participant-level scores of held-out real pairs (score_derivatives.py)."""
    table = pd.read_csv(scores, sep="\t")
    missing = [c for c in ("subject", *REAL_PAIR_COLUMNS) if c not in table]
    if missing:
        raise ValueError(
            f"{scores}: columns {', '.join(missing)} missing; score the derivatives with "
            "workflows/full_resolution_model/score_derivatives.py"
        )
    mean = table.mean(numeric_only=True)
    columns = list(REAL_PAIR_COLUMNS)
    lines = [
        f"## Held-out real pairs ({len(table)} BraTS 2018 subjects, never seen in training or "
        "in any choice)",
        "",
        "Each image through the whole participant level (its own t1-linear, the translation, "
        "its own HD-BET mask, segmentation). MAE (%) against the real T1w-nce after robust "
        "min-max scaling in the brain (0.5-99.5 percentiles); removed: share of the T1w-ce's "
        "excess over the T1w-nce, in white-matter units, that the image no longer has "
        "(ce2nce_pipeline.science.enhancement_removal); volume error: sum over GM, WM, CSF of "
        "|V - V_nce| (cm³); CSF error: V - V_nce (cm³).",
        "",
        "| subject | " + " | ".join(REAL_PAIR_COLUMNS[c] for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for _, row in table.iterrows():
        lines.append(
            f"| {row['subject']} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |"
        )
    lines.append("| **mean** | " + " | ".join(f"**{mean[c]:.2f}**" for c in columns) + " |")
    lines += ["", "Targets:", ""]
    lines += [
        f"- {'met' if ok else '**not met**'}: {text}" for text, ok in _real_pair_checks(table)
    ]
    lines += ["", f"Per pair: `{REAL_PAIRS_FILE}` beside the weights.", ""]
    return lines


def package_default_model(
    best_checkpoint: str | os.PathLike[str],
    evaluations: dict[str, str | os.PathLike[str]],
    *,
    data_description: str,
    notes: str = "",
    target: str | os.PathLike[str] | None = None,
    real_pairs: str | os.PathLike[str] | None = None,
    output_resampling: str | None = None,
    change_region: str | None = None,
    warning: str = DEFAULT_MODEL_WARNING,
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
    real_pairs
        Scores of held-out real pairs through the participant level (a
        ``workflows/default_model/score_derivatives.py`` TSV): tabulated in the model card
        against :data:`REAL_PAIR_TARGETS` and copied beside the weights.
    output_resampling
        How the Predictor returns the outputs of a network on a coarser grid by default
        (``"keep-detail"`` or ``"round-trip"``); default: what the checkpoint records.
    change_region
        Where the Predictor keeps the network's change (``"everywhere"`` or
        ``"intracranial"``, :mod:`~ce2nce_pipeline.science.change_region`); default: what the
        checkpoint records.
    warning
        What the model card says first and the metadata's notes repeat: what the model was
        trained on and how far to trust it.

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
    training["notes"] = " ".join(part for part in (warning, notes) if part)
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
            output_resampling=output_resampling or checkpoint_output_resampling(metadata),
            change_region=change_region or checkpoint_change_region(metadata),
        )
        card = write_model_card(checkpoint, checkpoint / "MODEL_CARD.md")
        text = card.read_text(encoding="utf-8")
        title, _, rest = text.partition("\n")
        extra = [f"**{warning}**", ""]
        if real_pairs is not None:
            extra += _real_pairs_section(Path(real_pairs))
            shutil.copyfile(real_pairs, checkpoint / REAL_PAIRS_FILE)
        if evaluations:
            extra += _evaluation_section(
                {label: Path(folder) for label, folder in evaluations.items()}
            )
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
