"""How many torch threads should `t2tsearch train` (and the other commands that compute outside
Ray trials) use? Times one short training at 1 and 2 threads, on a quiet machine and beside a
CPU hog (one busy process per core but one), and prints a table: the default is the setting whose
worst case is best.

Usage: python3 benchmarks/bench_threads.py [--epochs 2] [--train-subset 1000] [--limit 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "deep_narrow.yaml"


def arch_file(folder: Path) -> Path:
    """A deep-narrow member of the shipped space (d10 w64), as a YAML file `train` reads."""
    from t2tsearch.space import build_config, load_space

    cfg = build_config(load_space(SPACE), {"backbone.depth": 10, "backbone.num_heads": 4,
                                           "backbone.head_dim": 16, "backbone.mlp_ratio": 4.0})
    path = folder / "d10_w64.yaml"
    path.write_text(cfg.to_yaml())
    return path


def timed_train(arch: Path, threads: int, args: argparse.Namespace) -> float | None:
    """Wall seconds of one `t2tsearch train`, or None past the limit."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    command = [sys.executable, "-m", "t2tsearch.cli", "train", str(arch), "--epochs",
               str(args.epochs), "--train-subset", str(args.train_subset), "--no-latency",
               "--json", "--threads", str(threads)]
    started = time.perf_counter()
    try:
        subprocess.run(command, check=True, capture_output=True, env=env, timeout=args.limit)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=300, help="seconds before a run is "
                        "called collapsed and stopped")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        arch = arch_file(Path(folder))
        results: dict[tuple[str, int], float | None] = {}
        for condition in ("quiet", "beside a hog"):
            hogs = []
            if condition != "quiet":
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(max(cores - 1, 1))]
            try:
                for threads in settings:
                    results[(condition, threads)] = timed_train(arch, threads, args)
                    print(f"  {condition:<13} {threads} thread(s): "
                          f"{results[(condition, threads)]}", flush=True)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
    print(f"\n`t2tsearch train` d10 w64 (deep_narrow), {args.epochs} epochs on "
          f"{args.train_subset} images, {cores} cores; wall seconds, ratio to 1 thread quiet")
    base = results[("quiet", settings[0])]
    print(f"{'threads':>7} {'quiet':>12} {'beside a hog':>14} {'worst':>8}")
    for threads in settings:
        cells = [results[(c, threads)] for c in ("quiet", "beside a hog")]
        shown = [f"{v:.1f}s ({v / base:.2f}x)" if v is not None and base else
                 f">{args.limit:.0f}s" for v in cells]
        worst = max((v if v is not None else float("inf")) for v in cells)
        print(f"{threads:>7} {shown[0]:>12} {shown[1]:>14} {worst:>7.1f}s")


if __name__ == "__main__":
    main()
