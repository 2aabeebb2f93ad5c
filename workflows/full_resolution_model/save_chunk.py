"""Keep a chunk of training in the repository, so that the next chunk starts from it.

    python save_chunk.py RUN_DIR DEST [--output-resampling keep-detail|round-trip] [--which last]

Writes into DEST (a folder under workflows/full_resolution_model/runs/) the run's ``best``
checkpoint with float16 weights (half the size; loading casts them back), its training log
(``log.tsv``: steps, seconds and validation measures of every epoch) and its recipe
(``config.toml``). A run folder under work/ is lost with the checkout; the next chunk sets
``[model] initial_checkpoint = DEST/best`` in its recipe and trains on from those weights (with
a fresh optimiser). ``--which last`` keeps the run's last generator instead (as ``DEST/last``):
for a chunk whose validation never beat its start, so that the next one can go on from where it
stopped. docs/full_resolution_model.md lists the chunks kept.
"""

import argparse
import shutil
from pathlib import Path

from ce2nce_pipeline.models.checkpoint import (
    TrainingMetadata,
    checkpoint_normalisation,
    load_checkpoint,
    save_checkpoint,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--output-resampling", default="keep-detail")
    parser.add_argument("--which", choices=("best", "last"), default="best")
    args = parser.parse_args()
    source = args.run_dir / ("best" if args.which == "best" else "last/generator")
    model, metadata = load_checkpoint(source)
    args.dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        model,
        args.dest / args.which,
        TrainingMetadata.from_mapping(metadata.get("training", {})),
        network_shape=tuple(metadata["preprocessing"]["network_grid"]["shape"]),
        normalisation=checkpoint_normalisation(metadata),
        output_resampling=args.output_resampling,
        overwrite=True,
        half_precision=True,
    )
    for name in ("log.tsv", "config.toml", "split.tsv"):
        if (args.run_dir / name).exists():
            shutil.copyfile(args.run_dir / name, args.dest / name)
    print(f"kept {source} as {args.dest / args.which} (float16 weights)")


if __name__ == "__main__":
    main()
