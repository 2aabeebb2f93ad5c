"""Pictures of the shipped default model on held-out pairs, for docs/default_model.md.

    .venv/bin/python workflows/default_model/figures.py \
        work/default_model/data/test_good.tsv testgood000 testgood004 --output-dir docs/images

For each pair, one PNG (``default_model_<pair>.png``): columns are an axial, a coronal and a
sagittal slice through the brain mask's centre; rows are the T1w-ce, the synthetic T1w-nce,
the real T1w-nce, then the errors |T1w-ce - T1w-nce| and |synthetic - T1w-nce|. Every image is
min-max scaled over its volume, as the evaluation's metrics are, and the title gives the
pair's MAE/PSNR/SSIM in the brain mask for the T1w-ce and the synthetic image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from ce2nce_pipeline.errors import Ce2nceError  # noqa: E402
from ce2nce_pipeline.io import atomic_write_bytes  # noqa: E402
from ce2nce_pipeline.models import Predictor  # noqa: E402
from ce2nce_pipeline.models.default import default_model_path  # noqa: E402
from ce2nce_pipeline.science.metrics import image_similarity, minmax_scale  # noqa: E402
from ce2nce_pipeline.training import read_pairs_tsv  # noqa: E402

ERROR_LIMIT = 0.3  # colour scale of the error rows (fraction of the intensity range)


def orthogonal_slices(volume: np.ndarray, centre: tuple[int, int, int]) -> list[np.ndarray]:
    """Axial, coronal and sagittal slices through ``centre``, rotated for display."""
    x, y, z = centre
    return [np.rot90(volume[:, :, z]), np.rot90(volume[:, y, :]), np.rot90(volume[x, :, :])]


def pair_figure(
    ce: np.ndarray, synthetic: np.ndarray, nce: np.ndarray, mask: np.ndarray, title: str
):
    centre = tuple(int(round(c)) for c in np.argwhere(mask).mean(axis=0))
    ce_s, syn_s, nce_s = (minmax_scale(v) for v in (ce, synthetic, nce))
    rows = [
        ("T1w-ce", ce_s, "gray", (0, 1)),
        ("synthetic T1w-nce", syn_s, "gray", (0, 1)),
        ("real T1w-nce", nce_s, "gray", (0, 1)),
        ("|T1w-ce - T1w-nce|", np.abs(ce_s - nce_s), "inferno", (0, ERROR_LIMIT)),
        ("|synthetic - T1w-nce|", np.abs(syn_s - nce_s), "inferno", (0, ERROR_LIMIT)),
    ]
    figure, axes = plt.subplots(len(rows), 3, figsize=(7.5, 12.5))
    for row, (label, volume, cmap, limits) in zip(axes, rows, strict=True):
        for axis, image in zip(row, orthogonal_slices(volume, centre), strict=True):
            axis.imshow(image, cmap=cmap, vmin=limits[0], vmax=limits[1], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
        row[0].set_ylabel(label, fontsize=9)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs_tsv", type=Path, help="test_good.tsv or test_low.tsv")
    parser.add_argument("pair_ids", nargs="+", help="pair_id values of the TSV to draw")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/images"))
    args = parser.parse_args(argv)
    try:
        pairs = {pair.pair_id: pair for pair in read_pairs_tsv(args.pairs_tsv)}
        missing = sorted(set(args.pair_ids) - set(pairs))
        if missing:
            raise Ce2nceError(f"{args.pairs_tsv}: no pair(s) {missing}")
        checkpoint = args.model or default_model_path()
        if checkpoint is None:
            raise Ce2nceError("this build ships no default model: pass --model CHECKPOINT")
        predictor = Predictor.from_checkpoint(checkpoint)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for pair_id in args.pair_ids:
            pair = pairs[pair_id]
            ce_image = nib.load(pair.ce)
            ce = np.asarray(ce_image.get_fdata(), dtype=np.float32)
            synthetic = np.asarray(predictor.predict(ce_image).get_fdata(), dtype=np.float32)
            nce = np.asarray(nib.load(pair.nce).get_fdata(), dtype=np.float32)
            mask = np.asarray(nib.load(pair.mask).get_fdata()) > 0
            before = image_similarity(nce, ce, mask)
            after = image_similarity(nce, synthetic, mask)
            title = (
                f"{pair_id}: T1w-ce MAE {before.mae_percent:.2f} %, PSNR {before.psnr_db:.2f} dB, "
                f"SSIM {before.ssim:.3f}\nsynthetic MAE {after.mae_percent:.2f} %, "
                f"PSNR {after.psnr_db:.2f} dB, SSIM {after.ssim:.3f}"
            )
            figure = pair_figure(ce, synthetic, nce, mask, title)
            buffer = _png_bytes(figure)
            path = args.output_dir / f"default_model_{pair_id}.png"
            atomic_write_bytes(buffer, path)
            print(f"{path}  ({title.replace(chr(10), '; ')})")
    except Ce2nceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _png_bytes(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.exit(main())
