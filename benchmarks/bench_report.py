"""How long does `t2tsearch report RUN` take, before and after the reading side stood alone?

The command runs as a user types it (`python3 -m t2tsearch.cli report RUN`), in a fresh process
each time, once with the code of a baseline git ref (default: the last commit before report.py
stopped importing torch through confirm.py and space.py) and once with this checkout, alternately
(baseline, this, baseline, this, ...) so that both meet the same load on the machine. Each report
is written to a temporary folder, so the run directory is only read. `--no-images` leaves out the
PNG export (a Chrome started by kaleido), which is the same work for both.

Without --run the run is made first: a 12-trial search of the tabular benchmark's space
(benchmarks/tabular), answered from the table as `t2tsearch run --evaluator table:FILE` does,
the size of the smoke run (spaces/smoke.yaml, 12 trials) without training.

Usage: python3 benchmarks/bench_report.py [--run RUN] [--repeats N] [--baseline REF] [--no-images]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABULAR = ROOT / "benchmarks" / "tabular"
# The last commit before the split: report.py reached confirm.py, space.py imported train.py.
BASELINE_REF = "776e613"


def checkout(ref: str, folder: Path) -> Path:
    """The package as of `ref`, extracted into `folder` (git archive)."""
    archive = folder / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--output", str(archive), ref,
                    "t2tsearch"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline"


def make_run(folder: Path) -> Path:
    """A 12-trial run of the tabular space, every trial answered from the table."""
    table = TABULAR / "t2t_mnist5k_32px_v1.json.gz"
    command = [sys.executable, "-m", "t2tsearch.cli", "run", str(TABULAR / "space.yaml"),
               "--out", str(folder), "--name", "smoke12", "--trials", "12", "--sampler",
               "random", "--scheduler", "none", "--evaluator", f"table:{table}"]
    done = subprocess.run(command, capture_output=True, text=True, env=with_path(ROOT))
    if done.returncode != 0:
        sys.exit(f"bench_report: making the run failed:\n{done.stdout[-2000:]}{done.stderr}")
    return folder / "smoke12"


def with_path(code: Path) -> dict[str, str]:
    """The environment that makes `code`'s t2tsearch the one imported (the editable install
    points elsewhere)."""
    return {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1",
            "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def time_report(code: Path, run: Path, out: Path, images: bool) -> float:
    """Seconds from process start to exit of one `t2tsearch report`."""
    command = [sys.executable, "-m", "t2tsearch.cli", "report", str(run),
               "--out", str(out / "report.html")] + ([] if images else ["--no-images"])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=with_path(code),
                          cwd=code)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_report: {' '.join(command)} ({code}) exited {done.returncode}:\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--run", type=Path, help="run directory (default: make a 12-trial one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref of the 'before' code")
    parser.add_argument("--no-images", dest="images", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        baseline = checkout(args.baseline, folder)
        run = args.run or make_run(folder)
        codes = {f"before ({args.baseline})": baseline, "after (this checkout)": ROOT}
        seconds: dict[str, list[float]] = {name: [] for name in codes}
        for repeat in range(args.repeats):
            for side, (name, code) in enumerate(codes.items()):
                out = folder / f"report-{side}-{repeat}"
                seconds[name].append(time_report(code, run, out, args.images))
    print(f"t2tsearch report {run}{'' if args.images else ' --no-images'}: wall seconds per "
          f"call, fresh process, {args.repeats} calls each, interleaved")
    print(f"{'code':<28} {'median':>7} {'min':>7} {'max':>7}")
    for name, values in seconds.items():
        print(f"{name:<28} {statistics.median(values):>7.2f} {min(values):>7.2f} "
              f"{max(values):>7.2f}")
    before, after = (statistics.median(values) for values in seconds.values())
    print(f"median after / before: {after / before:.2f} ({before - after:+.2f} s saved)")


if __name__ == "__main__":
    main()
