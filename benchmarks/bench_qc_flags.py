"""How well each QC flag ranks the simulated held-out pairs whose synthetic image came out worst.

Simulates held-out ce/nce pairs on the MNI152 base (held-out seeds, good and low quality, half
with lesions, exactly as the default model's test sets), translates each T1w-ce with the shipped
default model and its left-right mirror (flip sd), segments the real nce and the synthetic
image with the default Atropos backend, and computes the three QC flags of docs/qc.md.
"Worst" = the quarter of the pairs with the largest MAE of synthetic against the real nce within
the brain, both min-max scaled to [0, 1] (percent). For each flag it prints the Spearman
correlation with the MAE, the ROC AUC of the flag for the worst quarter, and how many of the
worst quarter are among the same number of highest flag values; and how many pairs each flag
raises at its threshold.

    python benchmarks/bench_qc_flags.py [--pairs 12] [--work /tmp/ce2nce_qc_bench]
                                        [--only I J ...]   # fill the cache, e.g. in parallel

Everything is cached in --work (bases, pairs, translations, segmentations): a second run only
recomputes the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import stats

from ce2nce_pipeline.models import Predictor
from ce2nce_pipeline.models.default import default_model_path
from ce2nce_pipeline.science import qc
from ce2nce_pipeline.science.segmentation import segment_ants
from ce2nce_pipeline.science.templates import tissue_priors
from ce2nce_pipeline.science.volumes import tissue_volumes
from ce2nce_pipeline.simulation.base_images import HELD_OUT_BASE, HELD_OUT_SEEDS
from ce2nce_pipeline.simulation.training_set import PairSpec, simulate_pair, t1_linear_base


def _array(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj, dtype=np.float32)


def _labels(image_path: Path, mask_path: Path, target: Path) -> np.ndarray:
    if not target.exists():
        labels = segment_ants(nib.load(image_path), nib.load(mask_path)).labels()
        nib.save(nib.Nifti1Image(labels.astype(np.uint8), nib.load(image_path).affine), target)
    return np.asanyarray(nib.load(target).dataobj)


def _volumes(labels: np.ndarray) -> list[float]:
    v = tissue_volumes(labels, zooms=(1.0, 1.0, 1.0))
    return [v.gm, v.wm, v.csf, v.tiv]


def _pair(spec: PairSpec, base: Path, work: Path, predictor: Predictor) -> dict:
    files = simulate_pair(spec, base, work / "pairs")
    synthetic_path = work / "pairs" / f"{spec.pair_id}_synthetic.nii.gz"
    sd_path = work / "pairs" / f"{spec.pair_id}_flipsd.nii.gz"
    if not sd_path.exists():
        synthetic, sd = predictor.predict_with_flip_sd(nib.load(files["ce"]))
        nib.save(synthetic, synthetic_path)
        nib.save(sd, sd_path)
    ce, nce, synthetic = _array(files["ce"]), _array(files["nce"]), _array(synthetic_path)
    brain = _array(files["mask"]) > 0
    gm, wm, _ = tissue_priors()
    parenchyma = qc.parenchyma_mask(brain, None, gm + wm)

    def unit(array: np.ndarray) -> np.ndarray:  # min-max to [0, 1], as the paper compares
        return (array - array.min()) / max(float(array.max() - array.min()), 1e-6)

    pairs = work / "pairs"
    nce_labels = _labels(files["nce"], files["mask"], pairs / f"{spec.pair_id}_nce_dseg.nii.gz")
    syn_labels = _labels(synthetic_path, files["mask"], pairs / f"{spec.pair_id}_syn_dseg.nii.gz")
    return {
        "pair": spec.pair_id,
        "quality": spec.quality,
        "mae_percent": 100 * float(np.abs(unit(synthetic) - unit(nce))[brain].mean()),
        "unexpected_removal": qc.unexpected_removal_fraction(ce, synthetic, parenchyma),
        "flip_uncertainty": qc.flip_uncertainty(_array(sd_path), synthetic, brain),
        "synthetic_volumes": _volumes(syn_labels),
        "nce_volumes": _volumes(nce_labels),
    }


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    finite = np.isfinite(scores)
    pos, neg = scores[finite & positive], scores[finite & ~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ce2nce_qc_bench"))
    parser.add_argument(
        "--only", type=int, nargs="+", help="only compute (and cache) these pair indices"
    )
    args = parser.parse_args()
    base = t1_linear_base(HELD_OUT_BASE, args.work / "bases")
    (args.work / "pairs").mkdir(parents=True, exist_ok=True)
    predictor = Predictor.from_checkpoint(default_model_path(), device="cpu", num_threads=2)
    specs = [
        PairSpec(f"qc{index:03d}", HELD_OUT_BASE, HELD_OUT_SEEDS[index],
                 "low" if index % 3 == 2 else "good", "test", 0.5)
        for index in range(args.pairs)
    ]  # fmt: skip
    if args.only:  # fill the cache from a second process; the table comes from a full run
        for index in args.only:
            _pair(specs[index], base, args.work, predictor)
        return
    rows = [_pair(spec, base, args.work, predictor) for spec in specs]
    group = np.array([r["nce_volumes"] for r in rows] + [r["synthetic_volumes"] for r in rows])
    for row in rows:
        scores = qc.robust_zscores(qc.tissue_fractions([row["synthetic_volumes"]]),
                                   qc.tissue_fractions(group))  # fmt: skip
        row["volume_max_abs_z"] = float(np.nanmax(np.abs(scores)))
    mae = np.array([r["mae_percent"] for r in rows])
    worst = mae >= np.quantile(mae, 0.75)
    print(f"{len(rows)} held-out pairs; MAE (%, min-max scaled) median {np.median(mae):.2f}, "
          f"worst quarter >= {np.quantile(mae, 0.75):.2f} ({worst.sum()} pairs)")  # fmt: skip
    print(f"{'flag':<22}{'threshold':>10}{'raised':>8}{'spearman':>10}{'AUC worst':>11}"
          f"{'top-k hits':>12}")  # fmt: skip
    thresholds = {
        "unexpected_removal": qc.UNEXPECTED_REMOVAL_THRESHOLD,
        "volume_max_abs_z": qc.VOLUME_Z_THRESHOLD,
        "flip_uncertainty": qc.FLIP_UNCERTAINTY_THRESHOLD,
    }
    for name, threshold in thresholds.items():
        values = np.array([r[name] for r in rows], dtype=float)
        finite = np.isfinite(values)
        enough = finite.sum() > 2
        rho = stats.spearmanr(values[finite], mae[finite]).statistic if enough else np.nan
        k = int(worst.sum())
        top = np.argsort(np.where(finite, values, -np.inf))[::-1][:k]
        print(f"{name:<22}{threshold:>10g}{int((values > threshold).sum()):>8}{rho:>10.2f}"
              f"{_auc(values, worst):>11.2f}{f'{int(worst[top].sum())}/{k}':>12}")  # fmt: skip
    for row in rows:
        print(f"  {row['pair']} {row['quality']:<4} MAE {row['mae_percent']:.2f} "
              f"removal {row['unexpected_removal']:.3f} z {row['volume_max_abs_z']:.2f} "
              f"flip {row['flip_uncertainty']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
