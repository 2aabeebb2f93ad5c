"""Image tables, features and scores shared by fit.py and score.py."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.science.gadolinium import (
    GadoliniumDetector,
    gadolinium_features,
    placement_problem,
)

COLUMNS = ("image", "source", "split", "label")


def real_pair_images(pairs_tsv: Path, splits: set[str], source: str = "real") -> list[dict]:
    """Both images of every pair of ``splits`` (columns ce, nce, split of pairs.tsv)."""
    rows = []
    with open(pairs_tsv) as handle:
        for pair in csv.DictReader(handle, delimiter="\t"):
            if pair["split"] not in splits:
                continue
            for kind, label in (("ce", 1), ("nce", 0)):
                rows.append({
                    "image": f"{pair['participant_id']}_{kind}", "source": source,
                    "split": pair["split"], "label": label,
                    "path": pairs_tsv.parent / pair[kind],
                })  # fmt: skip
    return rows


def simulated_images(images_tsv: Path, splits: set[str]) -> list[dict]:
    """Images of simulate_images.py's images.tsv in ``splits``."""
    rows = []
    with open(images_tsv) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["split"] not in splits:
                continue
            rows.append({
                "image": row["image"], "source": f"sim-{row['base']}-{row['quality']}",
                "split": row["split"], "label": int(row["label"]),
                "path": images_tsv.parent / row["path"],
            })  # fmt: skip
    return rows


def with_features(rows: list[dict]) -> list[dict]:
    """Each row with its features (None and a reason where the image cannot be judged)."""
    for row in rows:
        start = time.perf_counter()
        data = np.asarray(nib.load(row["path"]).dataobj, dtype=np.float32)
        row["reason"] = placement_problem(data)
        row["features"] = None if row["reason"] else gadolinium_features(data)
        row["seconds"] = time.perf_counter() - start
    return rows


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    if not len(positive) or not len(negative):
        return float("nan")
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (
        positive[:, None] == negative[None, :]
    ).sum()
    return float(wins) / (len(positive) * len(negative))


def score_rows(rows: list[dict], detector: GadoliniumDetector) -> list[dict]:
    """Each row with ``probability`` (None if not judged) and ``call`` (1, 0 or None)."""
    for row in rows:
        if row["features"] is None:
            row["probability"], row["call"] = None, None
        else:
            row["probability"] = detector.probability(row["features"])
            row["call"] = int(row["probability"] >= detector.threshold)
    return rows


def confusion_lines(rows: list[dict], title: str) -> list[str]:
    """A Markdown table: per group of sources, n, AUC, true/false positives/negatives, n/a."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["source"].split("-")[0], []).append(row)
    if len(groups) > 1:
        groups["all"] = rows
    lines = [
        f"{title}",
        "",
        "| images | n | AUC | ce called ce | ce called nce | nce called nce | nce called ce "
        "| n/a |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, group in groups.items():
        judged = [r for r in group if r["probability"] is not None]
        p = np.array([r["probability"] for r in judged])
        y = np.array([r["label"] for r in judged])
        c = np.array([r["call"] for r in judged])
        counts = [int(((y == 1) & (c == 1)).sum()), int(((y == 1) & (c == 0)).sum()),
                  int(((y == 0) & (c == 0)).sum()), int(((y == 0) & (c == 1)).sum())]  # fmt: skip
        lines.append(
            f"| {name} | {len(group)} | {auc(p, y):.3f} | "
            + " | ".join(map(str, counts))
            + f" | {len(group) - len(judged)} |"
        )
    return lines


def write_rows(rows: list[dict], path: Path, feature_names: tuple[str, ...]) -> None:
    """Per-image table: image, source, split, label, features, probability, call, reason."""
    header = [*COLUMNS, *feature_names, "probability", "call", "reason"]
    lines = ["\t".join(header)]
    for row in rows:
        features = row["features"] or {}
        values = [str(row[c]) for c in COLUMNS]
        values += [f"{features[n]:.4f}" if n in features else "n/a" for n in feature_names]
        values.append("n/a" if row.get("probability") is None else f"{row['probability']:.4f}")
        values.append("n/a" if row.get("call") is None else str(row["call"]))
        values.append(row["reason"] or "")
        lines.append("\t".join(values))
    path.write_text("\n".join(lines) + "\n")
