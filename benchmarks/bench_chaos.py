"""Chaos: a search whose trial workers are killed (SIGKILL) every N seconds, against the same
search left alone.

Both runs are `t2tsearch run` as a user types it (its own local Ray), on the same space and seed
(spaces/smoke.yaml by default: tiny models on mnist5k, trained for real). During the second, a
thread picks one of the run's Ray Tune trial workers at random every `--every` seconds, among
those running a trial (process title `ray::ImplicitFunc.train`, descendants of the run's own
driver: other Ray jobs on the machine are never touched), and kills it with SIGKILL. It prints:

- trials lost (the goal is 0): trials of the budget with no result (`lost`, `failed`,
  `running`, `interrupted`), and whether the budget was reached (trials with a result, each once);
- retries per trial, against the kills that hit a trial;
- wall time against the undisturbed run;
- whether every status and reason is true: no trial failed for another reason (nothing raised),
  each trial retried or lost says its worker process died (a lost one max_retries + 1 times),
  each retry was announced as it happened, and there are no more losses than kills.

Usage:
  python3 benchmarks/bench_chaos.py                        # 40 trials, 4 epochs, a kill every 30 s
  python3 benchmarks/bench_chaos.py --trials 12 --every 10 --checkpoint
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUSY_WORKER = "ray::ImplicitFunc.train"  # a Tune function trainable's actor, running a trial
WORKER_DIED = "its worker process died (killed: SIGKILL or the kernel's OOM killer?)"


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


class Killer(threading.Thread):
    """Every `every` seconds, SIGKILL to one random trial worker below `driver` running a trial."""

    def __init__(self, driver: int, every: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.driver, self.every, self.random = driver, every, random.Random(seed)
        self.kills: list[tuple[float, int]] = []  # (seconds since start, pid)
        self.misses = 0  # rounds with no trial running
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(self.every):
            busy = [pid for pid in descendants(self.driver) if title(pid).startswith(BUSY_WORKER)]
            if not busy:
                self.misses += 1
                continue
            pid = self.random.choice(busy)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                self.misses += 1
                continue
            self.kills.append((time.monotonic() - started, pid))


def run(space: Path, out: Path, name: str, killer_every: float | None,
        seed: int) -> tuple[int, float, Killer | None, str]:
    """(exit status, wall seconds, the killer, output) of one `t2tsearch run`."""
    command = [sys.executable, "-c", "import sys; from t2tsearch.cli import main; "
               "sys.exit(main())", "run", str(space), "--out", str(out), "--name", name]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT, start_new_session=True)
    killer = None
    if killer_every:
        killer = Killer(process.pid, killer_every, seed)
        killer.start()
    output, _ = process.communicate()
    if killer is not None:
        killer.stopped.set()
        killer.join()
    return process.returncode, time.monotonic() - started, killer, output


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--space", default=str(ROOT / "spaces" / "smoke.yaml"))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--checkpoint", action="store_true", help="search.checkpoint: true")
    args = parser.parse_args()

    from t2tsearch.results import CONSUMED, load_trials

    data = yaml.safe_load(Path(args.space).read_text())
    data["train"]["epochs"] = args.epochs
    data["search"].update(trials=args.trials, seed=args.seed, max_retries=args.max_retries,
                          checkpoint=args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="t2ts-chaos-") as folder:
        space = Path(folder) / "chaos.yaml"
        space.write_text(yaml.safe_dump(data, sort_keys=False))
        out = Path(folder) / "runs"
        calm_code, calm_wall, _, _ = run(space, out, "calm", None, args.seed)
        code, wall, killer, output = run(space, out, "chaos", args.every, args.seed)
        assert killer is not None
        calm, table = load_trials(out / "calm"), load_trials(out / "chaos")

    with_result = table[table["status"].isin(CONSUMED) & (table["status"] != "lost")]
    no_result = table[table["status"].isin(["lost", "failed", "running", "interrupted"])]
    retried = table[table["retries"] > 0]
    retries = int(table["retries"].sum())
    # The line each loss prints as it happens ("trial 7 lost: ...; trained again (retry 1 of 2)").
    announced = [line for line in output.splitlines() if " lost: " in line and "; trained again"
                 in line]
    resumed = int(table["reason"].str.contains("resumed from epoch", regex=False).sum())
    lost = table[table["status"] == "lost"]
    # What the record says, against what the benchmark did: only workers were killed, nothing
    # raised, so no trial may be failed otherwise, and there are no more losses than kills.
    truths = {
        "no trial failed otherwise (nothing raised)": not table["status"].isin(
            ["failed", "diverged", "oom"]).any(),
        "each retried or lost trial's reason says its worker died": bool(
            pd.concat([retried, lost])["reason"].str.contains(WORKER_DIED, regex=False).all()),
        "each lost trial lost its worker max_retries + 1 times": bool(
            (lost["reason"].str.count(re.escape(WORKER_DIED)) == args.max_retries + 1).all()),
        "each retry announced as it happened": len(announced) == retries and all(
            WORKER_DIED in line for line in announced),
        "no more losses than kills": retries + len(lost) <= len(killer.kills),
    }
    print(f"{args.trials} trials of {Path(args.space).name} ({args.epochs} epochs, seed "
          f"{args.seed}, max_retries {args.max_retries}, checkpoint {args.checkpoint}), a "
          f"SIGKILL every {args.every:g} s\n")
    print("| | undisturbed | with kills |")
    print("| --- | ---: | ---: |")
    print(f"| exit status | {calm_code} | {code} |")
    print(f"| workers killed | 0 | {len(killer.kills)} ({killer.misses} round(s) found no trial "
          f"running) |")
    print(f"| trials lost (goal 0) | {len(calm) - calm['status'].isin(CONSUMED).sum()} | "
          f"{len(no_result)} |")
    print(f"| budget reached (trials with a result) | "
          f"{calm['status'].isin(CONSUMED).sum()} of {args.trials} | "
          f"{len(with_result)} of {args.trials} |")
    per_trial = ", ".join(f"{n} trial(s) {r}x" for r, n in
                          sorted(retried["retries"].value_counts().items())) or "none"
    print(f"| retries per trial | none | {per_trial} ({retries} in all"
          f"{f', {resumed} from a checkpoint' if args.checkpoint else ''}) |")
    print(f"| wall time | {calm_wall:.0f} s | {wall:.0f} s ({wall / calm_wall:.2f}x) |")
    print(f"| every status and reason true | | {'yes' if all(truths.values()) else 'NO'} |")
    for claim, holds in truths.items():
        print(f"  {'ok ' if holds else 'NOT'} {claim}")


if __name__ == "__main__":
    main()
