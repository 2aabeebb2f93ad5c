"""Merge the pairs.tsv files of `ce2nce real-pairs` into the recipe's training and test lists.

    python merge_pairs.py WORK_DIR real_pairs/pairs.tsv sim_pairs/pairs.tsv

writes WORK_DIR/pairs.tsv (train and validation rows of every input, paths made relative to
WORK_DIR) and WORK_DIR/test_<folder>.tsv for the test rows of each input that has some.
Pair ids must be unique across inputs.
"""

import csv
import os
import sys
from pathlib import Path

from ce2nce_pipeline.training.real_pairs import write_pairs_tsv


def read(tsv: Path) -> list[dict[str, str]]:
    with open(tsv, newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def main(work: Path, inputs: list[Path]) -> None:
    training, seen = [], set()
    for tsv in inputs:
        tests = []
        for row in read(tsv):
            if row["pair_id"] in seen:
                sys.exit(f"{tsv}: pair id {row['pair_id']} already taken by another input")
            seen.add(row["pair_id"])
            for column in ("ce", "nce"):
                row[column] = os.path.relpath(tsv.parent / row[column], work)
            (tests if row["split"] == "test" else training).append(row)
        if tests:
            write_pairs_tsv(tests, work / f"test_{tsv.parent.name}.tsv")
    write_pairs_tsv(training, work / "pairs.tsv")
    print(f"{len(training)} training/validation pairs -> {work / 'pairs.tsv'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
