"""How good is the search? Samplers x schedulers on a tabular benchmark, scored by hypervolume.

    python3 benchmarks/bench_search.py                                   # the README's table
    python3 benchmarks/bench_search.py --seeds 2 --budgets 20 --samplers random --schedulers none

Every run is a real `run_search` (Ray Tune + Optuna, concurrency 1 so that every sampler sees
every result before it proposes again) whose trials are answered by the table (`--evaluator
table:FILE`); with `--in-process` (no scheduler), the same searches without Ray
(bench_constants.drive, tested to propose what run_search proposes). One Ray session serves
all runs. A budget's figures are read from the first trials
of the longest run whose sampler settings are the same (see `sampler_key`), so a 30-trial search
and the first 30 trials of a 100-trial search with the same seed are the same search.

Noise: where the table holds several seeds of an architecture, each trial is answered by the
seed its trial seed picks (t2tsearch.engine.evaluator), so the sampler sees noisy accuracies. The score
does not: the true front is built from each architecture's mean final accuracy over the table's
seeds, and a search is credited with the mean of every architecture it completed, not with the
draw it was served (`true_front`, `curve_of`). The share therefore measures which architectures
a search found, on the same scale as the true front.

The score's reference point is not the run's. A run's reference (chance-level accuracy, 1.1 x
the largest cost) keeps every model that learned anything inside the box, which is what the
sampler's expected improvement needs; but scored against it, every front above 80% accuracy
already holds most of the area, so all samplers crowd near 100% and the share cannot tell a
good one from a mediocre one. The score's reference sits where the table's architectures
differ: each maximised objective at the worst mean of the table's complete architectures, each
minimised one at 1.1 x its largest (`scoring_reference`). The sampler still uses the run's.
Figures are mean ± standard deviation over the search seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench_constants, for --in-process
DEFAULT_TABLE = ROOT / "tabular" / "t2t_mnist5k_32px_v2.json.gz"
DEFAULT_SPACE = ROOT / "tabular" / "space.yaml"
SAMPLERS = ("random", "nsga2", "tpe", "gp", "ehvi")
SCHEDULERS = ("none", "asha", "pareto_asha")
BUDGETS = (10, 20, 30, 50, 100)
TARGET_SHARE = 0.98
REGRET_AT = 30
# How the JSON names the score's reference point (scoring_reference).
SCORED_AT = "the table's worst mean accuracy and 1.1 x its largest cost"


def sampler_key(sampler: str, trials: int) -> int:
    """What of the trial budget the sampler uses (its start-up trials or NSGA-II population,
    t2tsearch.engine.search.startup_trials). Budgets with one key share one run (prefixes)."""
    from t2tsearch.engine.search import startup_trials

    return startup_trials(sampler, trials)


@dataclass
class TrueFront:
    """The table's own best: every architecture at its full budget, at its mean accuracy."""

    frame: pd.DataFrame  # one row per architecture: config_id, status, accuracy (mean), costs
    reference: dict[str, float]  # the score's (scoring_reference), not the run's
    hypervolume: float
    # config id -> mean final accuracy over the table's complete seeds of it
    mean_accuracy: dict[str, float] = field(default_factory=dict)
    seeds: int = 1  # the most seeds any architecture has in the table
    run_reference: dict[str, float] = field(default_factory=dict)  # what a run of it would use


def scoring_reference(frame: pd.DataFrame, specs: Sequence[Any]) -> dict[str, float]:
    """The score's reference point, where the table's architectures differ: each maximised
    objective at the worst value among the complete architectures (their mean accuracies),
    each minimised one at 1.1 x its largest. The worst architecture then adds no area, and the
    share rewards what separates a front from the bulk of the table."""
    done = frame[frame["status"] == "complete"]
    if done.empty:
        raise SystemExit("the table has no complete architecture to score against")
    return {spec.column: float(done[spec.column].min()) if spec.maximize
            else 1.1 * float(done[spec.column].max()) for spec in specs}


def true_front(table_path: Path, space: Any) -> TrueFront:
    """Hypervolume of every architecture of the table at its mean final accuracy over the
    table's complete seeds of it (a seed that diverged or failed is left out of the mean; an
    architecture with no complete seed is not complete), under the score's reference
    (`scoring_reference`). The reference a run of `space` would choose
    (t2tsearch.results.reference.run_reference: chance-level accuracy, each cost at the space's
    constraint or 1.1 x its largest) is kept beside it. A one-seed table gives its seed-0 rows."""
    from t2tsearch.arch import recorded_id
    from t2tsearch.engine.evaluator import read_table
    from t2tsearch.pareto import hypervolume, objective_specs
    from t2tsearch.results.reference import run_reference

    specs, epochs = objective_specs(space.objectives), space.train.epochs

    _, rows = read_table(table_path)
    # Ids recomputed from each row's arch, as the table evaluator does: a search's trials carry
    # canonical ids, and tables built before ids were canonical stored others for the same
    # models (with the stored ids, no trial would be credited its architecture's mean).
    records = [{"config_id": recorded_id(r.get("arch"), r["id"]), "seed": int(r["seed"]),
                "status": r["status"],
                "accuracy": r["accuracy"][epochs - 1] if len(r["accuracy"]) >= epochs else None,
                "macs": r["macs"], "params": r["params"]}
               for r in rows]
    per_seed = pd.DataFrame(records)
    per_seed["usable"] = (per_seed["status"] == "complete") & per_seed["accuracy"].notna()
    usable = per_seed[per_seed["usable"]]
    means = usable.groupby("config_id")["accuracy"].mean()
    frame = per_seed.groupby("config_id", sort=False).agg(
        macs=("macs", "first"), params=("params", "first"), usable=("usable", "any"))
    frame = frame.reset_index()
    frame["status"] = frame["usable"].map({True: "complete", False: "failed"})
    frame["accuracy"] = frame["config_id"].map(means)
    frame = frame.drop(columns="usable")
    done = frame[frame["status"] == "complete"]
    pool = list(done[["macs", "params"]].astype(float).itertuples(index=False))
    reference = scoring_reference(frame, specs)
    seeds = int(per_seed.groupby("config_id")["seed"].nunique().max()) if len(per_seed) else 0
    return TrueFront(frame, reference, hypervolume(frame, specs, reference),
                     {str(k): float(v) for k, v in means.items()}, seeds,
                     run_reference(space, pool))


def credited(table: pd.DataFrame, front: TrueFront) -> pd.DataFrame:
    """A search's trials with every completed architecture credited its mean accuracy over the
    table's seeds (the true front's scale) instead of the seed draw the search was served."""
    out = table.copy()
    done = out["status"] == "complete"
    means = out.loc[done, "config_id"].map(front.mean_accuracy)
    out.loc[done, "accuracy"] = means.fillna(out.loc[done, "accuracy"])
    return out


@dataclass
class RunCurve:
    """One search's anytime figures: after n consumed trials (index n-1)."""

    sampler: str
    scheduler: str
    seed: int
    trials_run: int  # the run's budget (its sampler settings)
    share: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)


def curve_of(table: pd.DataFrame, specs: Sequence[Any], front: TrueFront, started: float,
             run: RunCurve) -> RunCurve:
    """Hypervolume share (of the architectures found, at their mean accuracies), epochs trained
    and wall time after each consumed trial, in order."""
    from t2tsearch.pareto import REJECTED, hypervolume

    table = credited(table, front)
    consumed = table[~table["status"].isin(REJECTED)].sort_values("trial")
    epochs_spent = 0
    for n in range(1, len(consumed) + 1):
        prefix = consumed.iloc[:n]
        last = prefix.iloc[-1]
        if pd.isna(last.get("reused_from")):  # a reused result trains nothing
            epochs_spent += int(last["epochs"] or 0)
        run.share.append(min(1.0, hypervolume(prefix, specs, front.reference) / front.hypervolume))
        run.epochs.append(epochs_spent)
        finished = pd.Timestamp(last["finished"]).timestamp() if last.get("finished") else math.nan
        run.wall_s.append(finished - started)
    return run


def search_once(space: Path, table: Path, sampler: str, scheduler: str, seed: int, trials: int,
                out: Path, specs: Sequence[Any], front: TrueFront) -> RunCurve:
    from t2tsearch.engine.search import SearchOptions, run_search

    # The score is the overall front's hypervolume: the space's groups must not claim trials.
    options = SearchOptions(trials=trials, concurrency=1, sampler=sampler, scheduler=scheduler,
                            seed=seed, goal="front", evaluator=f"table:{table}",
                            echo=lambda line: None,
                            command=["bench_search", sampler, scheduler, str(seed)])
    name = f"{sampler}-{scheduler}-s{seed}-t{trials}"
    started = time.time()
    summary = run_search(space, out=str(out), name=name, options=options)
    run = curve_of(summary.table, specs, front, started,
                   RunCurve(sampler, scheduler, seed, trials))
    shutil.rmtree(summary.run.path, ignore_errors=True)  # the figures are all we keep
    return run


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation over the search seeds (0 for one seed)."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def at_budget(curves: list[RunCurve], budget: int, attr: str) -> list[float]:
    """Each run's figure after `budget` trials, from the run that holds that budget."""
    values = []
    for run in curves:
        key = sampler_key(run.sampler, budget)
        if sampler_key(run.sampler, run.trials_run) != key or run.trials_run < budget:
            continue
        series = getattr(run, attr)
        # A run that stopped early (grid used up) keeps its last value.
        values.append(float(series[min(budget, len(series)) - 1]) if series else math.nan)
    return values


def trials_to_target(run: RunCurve, target: float = TARGET_SHARE) -> float:
    return next((n for n, share in enumerate(run.share, start=1) if share >= target), math.inf)


def summarise(curves: list[RunCurve], budgets: Sequence[int]) -> list[dict[str, Any]]:
    """One row per (sampler, scheduler): mean ± s.d. share, epochs, wall time per budget."""
    rows = []
    combos = sorted({(c.sampler, c.scheduler) for c in curves},
                    key=lambda k: (SAMPLERS.index(k[0]) if k[0] in SAMPLERS else 99,
                                   SCHEDULERS.index(k[1]) if k[1] in SCHEDULERS else 99))
    longest = max(budgets)
    for sampler, scheduler in combos:
        runs = [c for c in curves if (c.sampler, c.scheduler) == (sampler, scheduler)]
        row: dict[str, Any] = {"sampler": sampler, "scheduler": scheduler,
                               "seeds": len({c.seed for c in runs})}
        for budget in budgets:
            row[f"share@{budget}"] = _mean_sd(at_budget(runs, budget, "share"))
            row[f"epochs@{budget}"] = _mean_sd(at_budget(runs, budget, "epochs"))
            row[f"wall@{budget}"] = _mean_sd(at_budget(runs, budget, "wall_s"))
        long_runs = [c for c in runs if c.trials_run == longest]
        reached = [trials_to_target(c) for c in long_runs]
        row["trials_to_98"] = statistics.median(reached) if reached else math.nan
        row["reached_98"] = sum(math.isfinite(r) for r in reached)
        # Epochs trained until then: what the trials cost in GPU time.
        spent = [float(c.epochs[int(r) - 1]) if math.isfinite(r) else math.inf
                 for c, r in zip(long_runs, reached, strict=True)]
        row["epochs_to_98"] = statistics.median(spent) if spent else math.nan
        if REGRET_AT in budgets:
            mean, sd = row[f"share@{REGRET_AT}"]
            row[f"regret@{REGRET_AT}"] = (1.0 - mean, sd)
        rows.append(row)
    return rows


def format_summary(rows: list[dict[str, Any]], budgets: Sequence[int]) -> str:
    """A markdown table: HV share (mean ± s.d., %) per budget, epochs and wall time at the
    largest, the median trials to 98% and the regret at 30 trials."""
    longest = max(budgets)
    head = (["sampler", "scheduler"] + [f"HV {b}" for b in budgets]
            + [f"epochs {longest}", f"wall s {longest}", "trials to 98%", "epochs to 98%"]
            + ([f"regret {REGRET_AT}"] if REGRET_AT in budgets else []))
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row["sampler"], row["scheduler"]]
        cells += [_pm(row[f"share@{b}"], 100) for b in budgets]
        cells += [_pm(row[f"epochs@{longest}"], 1, 0), _pm(row[f"wall@{longest}"], 1, 1)]
        median = row["trials_to_98"]
        cells.append(f">{longest}" if math.isinf(median) else
                     f"{median:g} ({row['reached_98']}/{row['seeds']})")
        epochs = row["epochs_to_98"]
        cells.append(f">{row[f'epochs@{longest}'][0]:.0f}" if math.isinf(epochs) else f"{epochs:g}")
        if REGRET_AT in budgets:
            cells.append(_pm(row[f"regret@{REGRET_AT}"], 100))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(value: tuple[float, float], scale: float, digits: int = 1) -> str:
    mean, sd = value
    if math.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def figure(curves: list[RunCurve], budgets: Sequence[int]):
    """Mean hypervolume share against trials and against epochs, one line per combination."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True,
                        subplot_titles=("against trials", "against epochs trained"))
    longest = max(budgets)
    combos = sorted({(c.sampler, c.scheduler) for c in curves})
    for index, (sampler, scheduler) in enumerate(combos):
        runs = [c for c in curves if (c.sampler, c.scheduler) == (sampler, scheduler)
                and c.trials_run == longest and c.share]
        if not runs:
            continue
        length = min(len(c.share) for c in runs)
        trials = list(range(1, length + 1))
        share = [100 * statistics.fmean(c.share[n] for c in runs) for n in range(length)]
        epochs = [statistics.fmean(c.epochs[n] for c in runs) for n in range(length)]
        name = f"{sampler} + {scheduler}"
        color = f"hsl({int(360 * index / max(len(combos), 1))},65%,45%)"
        dash = {"none": "solid", "asha": "dot", "pareto_asha": "dash"}.get(scheduler, "solid")
        line = {"color": color, "dash": dash}
        fig.add_trace(go.Scatter(x=trials, y=share, name=name, legendgroup=name, line=line),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=epochs, y=share, name=name, legendgroup=name, line=line,
                                 showlegend=False), row=1, col=2)
    fig.update_yaxes(title_text="hypervolume, % of the table's true front", row=1, col=1)
    fig.update_xaxes(title_text="trials", row=1, col=1)
    fig.update_xaxes(title_text="epochs trained", row=1, col=2)
    fig.update_layout(title="Search quality on the tabular T2T benchmark (mean over seeds)",
                      height=520, width=1100, template="plotly_white")
    return fig


def _quiet_optuna() -> None:
    """Keep Optuna's errors only: GPSampler warns once per trial that it samples a conditional
    parameter (backbone.block) independently, hundreds of lines in a benchmark."""
    import logging

    import optuna

    optuna.logging.get_logger("optuna")  # makes sure Optuna's own handler exists
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(lambda record: record.levelno >= logging.ERROR)


def search_in_process(space: Path, table: Path, sampler: str, seed: int, trials: int) -> RunCurve:
    """One search without Ray (bench_constants.drive: the sampler told the table's answers as a
    run at concurrency 1 is; tests/test_bench_constants.py checks it proposes what run_search
    does), scored like `search_once`. No early stopping, and no wall time."""
    import bench_constants  # beside this file (ROOT is on sys.path)

    bench = bench_constants.bench_for(table, space)
    consumed = bench_constants.drive(bench, bench_constants.DEFAULTS, trials, seed,
                                     sampler=sampler)
    run = RunCurve(sampler, "none", seed, trials)
    run.share = bench_constants.shares(bench, consumed)
    spent = 0
    for trial in consumed:
        spent += trial.epochs
        run.epochs.append(spent)
    run.wall_s = [math.nan] * len(consumed)
    return run


def run_benchmark(table: Path, space: Path, samplers: Sequence[str], schedulers: Sequence[str],
                  seeds: Sequence[int], budgets: Sequence[int], out: Path,
                  echo=print, in_process: bool = False) -> tuple[list[RunCurve], TrueFront]:
    """Every (sampler, scheduler, seed), one run per distinct sampler setting of the budgets;
    `in_process`: without Ray (scheduler none only)."""
    from t2tsearch.engine.search import start_ray
    from t2tsearch.pareto import objective_specs
    from t2tsearch.space import load_space

    _quiet_optuna()
    loaded = load_space(space)
    specs = objective_specs(loaded.objectives)
    front = true_front(table, loaded)
    if front.hypervolume <= 0:
        raise SystemExit(f"{table}: its rows span no hypervolume; is the table empty?")

    def runs_needed(sampler: str) -> list[int]:
        return sorted({max(b for b in budgets
                           if sampler_key(sampler, b) == sampler_key(sampler, budget))
                       for budget in budgets})

    if in_process and set(schedulers) != {"none"}:
        raise SystemExit("--in-process runs no scheduler: give --schedulers none")
    if not in_process:
        start_ray(None, verbose=False)  # one Ray session for every run
    curves = []
    total = sum(len(runs_needed(s)) for s in samplers) * len(schedulers) * len(seeds)
    started = time.perf_counter()
    for sampler in samplers:
        for scheduler in schedulers:
            for seed in seeds:
                for trials in runs_needed(sampler):
                    run_started = time.perf_counter()
                    if in_process:
                        curve = search_in_process(space, table, sampler, seed, trials)
                    else:
                        curve = search_once(space, table, sampler, scheduler, seed, trials, out,
                                            specs, front)
                    curves.append(curve)
                    echo(f"[{len(curves)}/{total}] {sampler} + {scheduler} seed {seed}, "
                         f"{trials} trials: HV {100 * curve.share[-1]:.1f}% with "
                         f"{curve.epochs[-1]} epochs in {time.perf_counter() - run_started:.1f}s "
                         f"(total {time.perf_counter() - started:.0f}s)")
    return curves, front


def _noise_note(table_seeds: int) -> str:
    if table_seeds <= 1:
        return "one seed per architecture: no evaluation noise"
    return (f"up to {table_seeds} seeds per architecture: trials served the seed their trial "
            f"seed picks, scored at per-architecture mean accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE)
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS))
    parser.add_argument("--seeds", type=int, default=10,
                        help="search seeds 0..N-1 (the run seeds, not the table's)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--html", type=Path, default=None, help="write the plotly page here")
    parser.add_argument("--png", type=Path, default=None, help="and a PNG (needs a Chrome)")
    parser.add_argument("--json", type=Path, default=None, help="every run's curves")
    parser.add_argument("--in-process", action="store_true",
                        help="drive the samplers without Ray (no scheduler): the same proposals "
                             "and scores, without Ray's start and per-trial overhead")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="JSON",
                        help="summarise the curves of earlier --json files (merged) instead of "
                             "running; split a long benchmark over processes this way")
    args = parser.parse_args(argv)
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    samplers = [s for s in args.samplers.split(",") if s]
    schedulers = [s for s in args.schedulers.split(",") if s]
    command = ["bench_search.py", *(argv if argv is not None else sys.argv[1:])]
    if args.from_json:
        saved = [json.loads(path.read_text()) for path in args.from_json]
        curves = [RunCurve(**run) for data in saved for run in data["runs"]]
        reference, true_hv = saved[0]["reference"], saved[0]["true_hypervolume"]
        table_seeds = saved[0].get("table_seeds", 1)  # files before noisy tables: seed 0 only
        # Files from before the scoring reference were scored at the run's reference.
        scored = {data.get("scored_at", "the run's reference (chance level)") for data in saved}
        if len(scored) > 1:
            raise SystemExit("--from-json: these files were scored against different references")
        tables = {data.get("table") for data in saved}  # None: files from before it was stored
        if len(tables) > 1:
            raise SystemExit("--from-json: these files come from different tables: "
                             + ", ".join(sorted(map(str, tables))))
        table = tables.pop() or "(not stored in these files)"
        scored_at, run_ref = scored.pop(), saved[0].get("run_reference")
        seeds = len({c.seed for c in curves})
        command = [part for data in saved for part in (*data["command"], ";")][:-1]
    else:
        out = Path(tempfile.mkdtemp(prefix="bench-search-"))
        try:
            curves, front = run_benchmark(args.table.resolve(), args.space, samplers, schedulers,
                                          list(range(args.seeds)), budgets, out,
                                          in_process=args.in_process)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        reference, true_hv, seeds = front.reference, front.hypervolume, args.seeds
        table_seeds = front.seeds
        scored_at, run_ref = SCORED_AT, front.run_reference
        from bench_constants import repo_relative  # beside this file

        table = repo_relative(args.table)
    rows = summarise(curves, budgets)
    print(f"\ntable {table}: true-front hypervolume {true_hv:.4g} (scored at "
          f"{scored_at}: accuracy {reference['accuracy']:.2f}%, MACs "
          f"{reference.get('macs', math.nan) / 1e6:.2f}M); concurrency 1, {seeds} seeds; HV as % "
          f"of the true front, mean ± standard deviation over seeds; "
          f"{_noise_note(table_seeds)}\n")
    print(format_summary(rows, budgets))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, "table": table, "reference": reference,
                                         "scored_at": scored_at, "run_reference": run_ref,
                                         "true_hypervolume": true_hv,
                                         "table_seeds": table_seeds,
                                         "runs": [asdict(c) for c in curves]}))
    if args.html or args.png:
        fig = figure(curves, budgets)
        if args.html:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            fig.write_html(args.html, include_plotlyjs="cdn")
        if args.png:
            try:
                fig.write_image(args.png, scale=2)
            except Exception as err:  # kaleido without a Chrome: the page still stands
                print(f"no PNG ({type(err).__name__}: {err})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
