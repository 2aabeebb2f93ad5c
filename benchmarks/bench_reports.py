"""CPU cost of one participant's HTML report: per figure and in all.

Builds ``sub-X.html`` from the participant-level outputs already in OUTPUT_DIR (nothing is
recomputed; the report is written into a copy of OUTPUT_DIR) and prints, per figure, the CPU
seconds of its drawing and its size, then the whole report's CPU seconds and size. The first
build pays the imports (nireports, skimage, PIL); the table is the median of the builds after it.

    python benchmarks/bench_reports.py OUTPUT_DIR [--participant sub-01] [--repeats 3]

OUTPUT_DIR is a participant-level output folder, e.g. the one that
``python benchmarks/bench_throughput.py --pairs 1 --nprocs 1 --keep DIR`` leaves in
``DIR/out_1`` (a simulated Colin27 ce/nce pair: 8 figures). Run it with another checkout on
``PYTHONPATH`` to compare versions. Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ce2nce_pipeline.group.collect import collect_sessions
from ce2nce_pipeline.group.qc import all_synthetic_qc
from ce2nce_pipeline.reports import subject


def _timed_figures(seconds: dict[str, list[float]], sizes: dict[str, int]):
    """``_Builder.figure`` that also records each figure's CPU time and size."""
    original = subject._Builder.figure

    def figure(self, stem, desc, suffix, draw):
        start = time.process_time()
        done = original(self, stem, desc, suffix, draw)
        name = f"{stem.split('_space-')[0]} {desc}"
        seconds[name].append(time.process_time() - start)
        path = self.figures / f"{stem}_{subject.SPACE}_desc-{desc}_{suffix}.svg"
        sizes[name] = path.stat().st_size if path.is_file() else 0
        return done

    return original, figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--participant", default="sub-01")
    parser.add_argument("--repeats", type=int, default=3, help="builds after the first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ce2nce_bench_reports_") as folder:
        out = Path(folder) / "out"
        shutil.copytree(args.output_dir, out, ignore=shutil.ignore_patterns("*.html", "figures"))
        sessions, _ = collect_sessions(out, participant_labels=[args.participant[4:]])
        qcs = all_synthetic_qc(sessions)
        seconds: dict[str, list[float]] = defaultdict(list)
        sizes: dict[str, int] = {}
        original, timed = _timed_figures(seconds, sizes)
        subject._Builder.figure = timed
        totals = []
        try:
            for _ in range(args.repeats + 1):
                start = time.process_time()
                subject.build_subject_report(out, args.participant, sessions, qcs)
                totals.append(time.process_time() - start)
        finally:
            subject._Builder.figure = original
        report_size = (out / f"{args.participant}.html").stat().st_size
    print(f"| figure | CPU s (median of {args.repeats}) | KiB |")
    print("|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values[1:] or values)
        print(f"| {name} | {median:.2f} | {sizes[name] / 1024:.0f} |")
    figures = sum(statistics.median(v[1:] or v) for v in seconds.values())
    print(f"| all figures | {figures:.2f} | {sum(sizes.values()) / 1024:.0f} |")
    print(f"| whole report (figures, tables, page) | {statistics.median(totals[1:] or totals):.2f}"
          f" | {(report_size + sum(sizes.values())) / 1024:.0f} |")  # fmt: skip
    print(f"first build, imports included: {totals[0]:.2f} CPU s")


if __name__ == "__main__":
    main()
