"""Fit the gadolinium detector on training images, its threshold on train + validation images.

    python fit.py REAL_PAIRS_TSV SIM_IMAGES_TSV [--out JSON] [--table TSV]

REAL_PAIRS_TSV is the real pairs' table (columns participant_id, ce, nce, split: both images of
every train and validation pair are used, the test pairs never); SIM_IMAGES_TSV the table of
simulate_images.py (train and validation images). The logistic regression (L2 penalty
:data:`PENALTY` on standardised features, no penalty on the intercept) is fitted on the train
images. The threshold is the one with the fewest errors on the train and validation images
together, the nearest to 0.5 of those (mid-way between two of their probabilities): on the
validation images alone (12), one low-quality simulated T1w-ce set it to 0.07, where half the
real training T1w-nce were called enhanced. The test pairs are never read here (score.py scores
them). Prints the confusion tables of both splits; writes the parameters (``--out``, shipped as
``ce2nce_pipeline/data/gadolinium_detector.json``) and the per-image table (``--table``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from common import (
    confusion_lines,
    real_pair_images,
    score_rows,
    simulated_images,
    with_features,
    write_rows,
)

from ce2nce_pipeline.science.gadolinium import FEATURES, GadoliniumDetector

#: L2 penalty of the logistic regression (on standardised features).
PENALTY = 0.1
#: The fitted probability threshold is kept within these bounds.
THRESHOLD_RANGE = (0.05, 0.95)


def fit_logistic(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
    """Penalised logistic regression by Newton's method: (coefficients, intercept)."""
    n, k = x.shape
    design = np.hstack([np.ones((n, 1)), x])
    weights = np.zeros(k + 1)
    ridge = np.diag([0.0] + [penalty] * k)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (p - y) + ridge @ weights
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return weights[1:], float(weights[0])


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the fewest errors; of those, the nearest to 0.5 (in logit).

    Candidates are the mid-points (in logit) between consecutive validation probabilities and
    0.5 itself, within :data:`THRESHOLD_RANGE`.
    """
    logit = np.log(np.clip(probabilities, 1e-12, 1 - 1e-12) / np.clip(1 - probabilities, 1e-12, 1))
    low, high = (math.log(t / (1 - t)) for t in THRESHOLD_RANGE)
    points = np.unique(np.clip(logit, low, high))
    candidates = np.concatenate([[0.0], (points[:-1] + points[1:]) / 2])
    errors = np.array([int(((logit >= c) != (labels == 1)).sum()) for c in candidates])
    best = candidates[errors == errors.min()]
    chosen = float(best[np.argmin(np.abs(best))])
    return 1.0 / (1.0 + math.exp(-chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real_pairs", type=Path)
    parser.add_argument("sim_images", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("gadolinium_detector.json"))
    parser.add_argument("--table", type=Path)
    args = parser.parse_args()
    splits = {"train", "validation"}
    rows = real_pair_images(args.real_pairs, splits)
    for table in args.sim_images:
        rows += simulated_images(table, splits)
    rows = with_features(rows)
    names = tuple(FEATURES)
    unjudged = [r for r in rows if r["features"] is None]
    for row in unjudged:
        print(f"{row['image']}: not judged ({row['reason']})", file=sys.stderr)
    train = [r for r in rows if r["split"] == "train" and r["features"]]
    x = np.array([[r["features"][n] for n in names] for r in train])
    y = np.array([r["label"] for r in train], dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    coefficients, intercept = fit_logistic((x - mean) / scale, y, PENALTY)
    provisional = GadoliniumDetector(
        names, tuple(mean), tuple(scale), tuple(coefficients), intercept, 0.5, {}
    )
    validation = [r for r in rows if r["split"] == "validation" and r["features"]]
    # The 12 validation images alone are too few: one low-quality simulated T1w-ce among them
    # pulled the threshold to 0.07, where half the real training T1w-nce were called enhanced.
    chosen_on = train + validation
    p = np.array([provisional.probability(r["features"]) for r in chosen_on])
    labels = np.array([r["label"] for r in chosen_on])
    threshold = choose_threshold(p, labels)
    sources = sorted({r["source"] for r in rows})
    detector = GadoliniumDetector(
        names, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
        tuple(float(v) for v in coefficients), intercept, threshold,
        {
            "fitted_by": "workflows/gadolinium_detector/fit.py",
            "train_images": len(train), "validation_images": len(validation),
            "sources": sources, "penalty": PENALTY,
            "threshold_chosen_on": "train and validation images (fewest errors, nearest 0.5)",
        },
    )  # fmt: skip
    args.out.write_text(detector.to_json())
    rows = score_rows(rows, detector)
    print(f"threshold {threshold:.3f}; parameters in {args.out}")
    for split in ("train", "validation"):
        print("\n".join(confusion_lines([r for r in rows if r["split"] == split], split)))
        print()
    seconds = [r["seconds"] for r in rows]
    print(f"features: {np.median(seconds):.2f} s per image (median, max {max(seconds):.2f})")
    if args.table:
        write_rows(rows, args.table, names)


if __name__ == "__main__":
    main()
