"""Check a containerised run against the same run outside the container.

``python containers/compare_outputs.py REFERENCE CONTAINER --owner UID:GID``: the two derivatives
folders hold the same files (run logs aside), every tissue volume agrees to 0.1 cm3, every file
of the container's run belongs to the user who ran it, and its sidecars name the container.
Prints one line per difference and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

#: Largest difference of a tissue volume between the two runs (cm3).
VOLUME_TOLERANCE_CM3 = 0.1


def _files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] != "logs"
    }


def _volumes(path: Path) -> dict[str, float]:
    with path.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle, delimiter="\t"))
    return {column: float(value) for column, value in row.items()}


def compare(reference: Path, container: Path, owner: tuple[int, int]) -> list[str]:
    """Differences between the two derivatives folders, one line each (none: the same run)."""
    problems = []
    expected, found = _files(reference), _files(container)
    problems += [f"missing from the container's run: {name}" for name in sorted(expected - found)]
    problems += [f"only in the container's run: {name}" for name in sorted(found - expected)]
    tables = sorted(name for name in expected & found if name.endswith("_volumes.tsv"))
    if not tables:
        problems.append("no *_volumes.tsv in either run")
    for name in tables:
        ours, theirs = _volumes(reference / name), _volumes(container / name)
        for column, value in ours.items():
            if abs(value - theirs.get(column, float("nan"))) <= VOLUME_TOLERANCE_CM3:
                continue
            problems.append(f"{name} {column}: {value} outside, {theirs.get(column)} inside")
    for path in [container, *container.rglob("*")]:
        stat = path.lstat()
        if (stat.st_uid, stat.st_gid) != owner:
            problems.append(f"{path} belongs to {stat.st_uid}:{stat.st_gid}, not {owner}")
    description = json.loads((container / "dataset_description.json").read_text())
    if "Container" not in description["GeneratedBy"][0]:
        problems.append("dataset_description.json of the container's run names no container")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="derivatives of the run outside")
    parser.add_argument("container", type=Path, help="derivatives of the containerised run")
    parser.add_argument("--owner", required=True, help="UID:GID that must own every output")
    args = parser.parse_args(argv)
    uid, _, gid = args.owner.partition(":")
    problems = compare(args.reference, args.container, (int(uid), int(gid)))
    for line in problems:
        print(f"compare: {line}", file=sys.stderr)
    n_tables = len([name for name in _files(args.reference) if name.endswith("_volumes.tsv")])
    if not problems:
        print(
            f"compare: same {len(_files(args.reference))} files, {n_tables} volume tables equal "
            f"to {VOLUME_TOLERANCE_CM3} cm3, every output owned by {args.owner}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
