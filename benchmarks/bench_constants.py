"""Constants chosen across tables: each constant of the default `ehvi` sampler is chosen on one
tabular benchmark and judged on the other, both ways.

    python3 benchmarks/bench_constants.py --tune mnist5k --judge fashion --json out.json
    python3 benchmarks/bench_constants.py --tune fashion --judge mnist5k --json out.json
    python3 benchmarks/bench_constants.py --judge fashion --constants default   # no tuning
    python3 benchmarks/bench_constants.py --chosen tuned.json --judge fashion   # a saved choice

The constants (`Constants`): the start-up rule (trials spread over the cost range before the
surrogate takes over: a fraction of the budget, clamped), the Gaussian process's noise floor and
the lower bound of its length scales, whether the surrogate has its linear trend in the log
costs, and the margin that places the reference's cost above the first pool's largest cost
(which a space with a MAC limit does not use: its reference stands at the limit).

How a constant is chosen, on the tuning table alone: greedy, one constant at a time in the order
of `CANDIDATES`, starting from the defaults; a value replaces the current one only when it
raises the criterion (the hypervolume share at 10, 20 and 30 trials, averaged) by more than two
standard errors of the paired difference over the selection seeds (`CHOICE_MARGIN`), so that
seed noise seldom picks a value: with 20 seeds a value that changes nothing passes about 3% of
its tries (Student's t, 19 degrees of freedom), a constant with two such values changes about 6%
of the time, and one of the five changes by chance about a quarter of the time. Constants that
change nothing on the tuning table's space are not tried (`idle_constants`). The held-out
figures say whether a change holds: the chosen set against the defaults on the other table,
paired over its seeds. The chosen set is then run on the other table, beside the defaults, and only those
figures are reported as held-out.

Each search is the sampler driven in-process (an Optuna study told the table's answers, no Ray),
as `run_search` drives it at concurrency 1: the same trial seeds pick which of an
architecture's rows answers, an architecture proposed twice reuses its result and uses up a
trial, and a proposal the space rejects uses none. The score is bench_search's: the share of the
table's true front (mean accuracy per architecture, scored at the table's worst mean accuracy and
1.1 x its largest cost). A run's start-up count depends on its budget, so 10, 20 and 30 trials
are separate runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench_search, for the true front and its score

# The public tables: name -> (table, its space).
TABLES = {
    "mnist5k": (ROOT / "tabular" / "t2t_mnist5k_32px_v2.json.gz", ROOT / "tabular" / "space.yaml"),
    "fashion": (ROOT / "tabular" / "t2t_fashion_mnist_28px_v2.json.gz",
                ROOT / "tabular" / "fashion_space.yaml"),
}
COST_CACHE = ROOT / "tabular" / "cost_cache"
BUDGETS = (10, 20, 30)
GOAL_SHARE = 0.97  # the goal: 97% of the front within 20 trials
# A value replaces the current one when its paired gain exceeds this many standard errors.
CHOICE_MARGIN = 2.0


@dataclass(frozen=True)
class Constants:
    """The default sampler's constants (the defaults are the sampler's own; a test keeps them
    equal to t2tsearch's)."""

    startup: tuple[int, int, int] = (5, 2, 5)  # budget // divisor, clamped to [fewest, most]
    noise_floor: float = 0.1
    length_scale_low: float = 0.1
    trend: bool = True
    cost_margin: float = 1.1

    def startup_for(self, trials: int) -> int:
        divisor, fewest, most = self.startup
        return max(fewest, min(most, trials // divisor))

    def surrogate(self):
        from t2tsearch.engine.sampler.surrogate import LENGTH_SCALE_BOUNDS, SurrogateSettings

        return SurrogateSettings(noise_floor=self.noise_floor,
                                 length_scale_bounds=(self.length_scale_low,
                                                      LENGTH_SCALE_BOUNDS[1]),
                                 trend=self.trend)

    def label(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                   if getattr(self, f.name) != getattr(DEFAULTS, f.name)]
        return ", ".join(changed) or "defaults"


DEFAULTS = Constants()
# The values tried for each constant, in the order they are chosen (the default first).
CANDIDATES: dict[str, list[Any]] = {
    "startup": [(5, 2, 5), (10, 2, 3), (3, 3, 10)],
    "noise_floor": [0.1, 0.01, 0.3],
    "length_scale_low": [0.1, 0.03, 0.5],
    "trend": [True, False],
    "cost_margin": [1.1, 1.02, 1.3],
}


@dataclass
class Bench:
    """One table and its space, loaded once per process."""

    name: str
    table: Path
    space_path: Path
    space: Any = None
    specs: Any = None
    front: Any = None
    answers: Any = None  # the table evaluator (rows by canonical id and seed)

    def load(self) -> Bench:
        from bench_search import true_front

        from t2tsearch.engine.evaluator import TableEvaluator
        from t2tsearch.pareto import objective_specs
        from t2tsearch.space import load_space

        self.space = load_space(self.space_path)
        self.specs = objective_specs(self.space.objectives)
        self.front = true_front(self.table, self.space)
        self.answers = TableEvaluator(self.table)
        return self


_loaded: dict[tuple[str, str], Bench] = {}


def bench_for(table: Path, space: Path, name: str = "") -> Bench:
    key = (str(table), str(space))
    if key not in _loaded:
        _loaded[key] = Bench(name or table.name, table, space).load()
    return _loaded[key]


@dataclass(frozen=True)
class Consumed:
    """A consumed trial: its architecture and the costs the run counted, the epochs it trained
    (0: a reused result) and whether it completed (a diverged, failed or invalid one did not)."""

    config_id: str
    macs: int
    params: int
    epochs: int
    complete: bool
    served: float | None = None  # the accuracy the run was told


def table_answer(bench: Bench, config_id: str, row_seed: int | None,
                 epochs: int) -> tuple[str, list[float]]:
    """(status, per-epoch accuracies served) for an architecture, as the table evaluator answers
    it (t2tsearch.engine.evaluator.TableEvaluator.evaluate) and the trainable reports it: not in
    the table, or a complete row shorter than the budget, is `invalid` and trains nothing; a
    `stopped` row is complete; each accuracy goes through val_acc (percent / 100) and back."""
    row = bench.answers.rows.get((config_id, row_seed)) if row_seed is not None else None
    if row is None:
        return "invalid", []
    curve = list(row["accuracy"])
    if row["status"] == "complete" and len(curve) < epochs:
        return "invalid", []
    status = row["status"] if row["status"] != "stopped" else "complete"
    return status, [100.0 * (float(a) / 100.0) for a in curve[:epochs]]


def drive(bench: Bench, constants: Constants, trials: int, seed: int,
          cost_cache: Path | None = COST_CACHE, sampler: str = "ehvi") -> list[Consumed]:
    """A search's consumed trials in order (`Consumed`): `sampler` (the cost-aware one with `constants`, or another of make_sampler's)
    seeded `seed`, answered by the table as a run at concurrency 1 is."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    from t2tsearch.cost import count_cost
    from t2tsearch.engine.evaluator import trial_seed
    from t2tsearch.engine.sampler import CostAwareSampler
    from t2tsearch.engine.search import apply_overrides, make_sampler
    from t2tsearch.engine.search.rejections import (
        INFEASIBLE_PATIENCE,
        MAX_REJECTED_IN_A_ROW,
        needs_fallback,
        queue_fallback,
    )
    from t2tsearch.results.reference import COST_LIMITS, COST_MARGIN, reference_costs
    from t2tsearch.space.feasibility import check_candidate
    from t2tsearch.space.sampling import suggest

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # What bench_search's runs override: the score is the overall front's, so the space's
    # groups claim no trials (goal: front).
    space = apply_overrides(bench.space, {"trials": trials, "seed": seed, "goal": "front",
                                          "sampler": sampler, "scheduler": "none",
                                          "concurrency": 1}, str(bench.space_path))
    epochs = space.train.epochs
    if sampler == "ehvi":
        chooser: optuna.samplers.BaseSampler = CostAwareSampler(
            space, lambda cfg: count_cost(cfg, cost_cache),
            lambda cfg, cost: check_candidate(cfg, space, cost), seed=seed,
            n_startup_trials=constants.startup_for(trials), surrogate=constants.surrogate())
        chooser.warm()  # places the run's reference from the first pool, as a run does
        if chooser.reference is not None and constants.cost_margin != COST_MARGIN:
            for cost in reference_costs(space):
                if getattr(space.constraints, COST_LIMITS[cost]) is None:
                    chooser.reference[cost] *= constants.cost_margin / COST_MARGIN
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings (GPSampler)
            chooser = make_sampler(space, cost_cache, None, seed)
    study = optuna.create_study(directions=[o.direction for o in space.objectives],
                                sampler=chooser)
    consumed: list[Consumed] = []
    accuracy_at = [o.metric for o in space.objectives].index("accuracy")
    done: dict[str, list[float]] = {}  # complete results, reused when proposed again
    rejected = broken = 0
    fallback = needs_fallback(chooser)  # until a fallback finds nothing to queue
    while len(consumed) < trials and rejected < MAX_REJECTED_IN_A_ROW:
        if isinstance(chooser, optuna.samplers.GridSampler) and chooser.is_exhausted(study):
            break  # a run stops here too: every point of the grid tried
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GPSampler: a conditional parameter sampled alone
            trial = study.ask()
            cfg = suggest(trial, space)
        trial.set_user_attr("config_id", cfg.id)
        trial.set_user_attr("arch", cfg.to_json())
        trial.set_user_attr("max_epochs", epochs)
        cost = count_cost(cfg, cost_cache) if cfg.feasible else None
        reason = check_candidate(cfg, space, cost)
        if reason is not None:
            trial.set_user_attr("status", "infeasible")
            study.tell(trial, state=TrialState.FAIL)
            rejected += 1
            broken += 1
            # As the searcher does (StudySearcher._propose): an Optuna sampler learns nothing
            # from a rejection, so a random feasible architecture is queued now and then.
            if broken >= INFEASIBLE_PATIENCE and rejected < MAX_REJECTED_IN_A_ROW and fallback:
                broken = 0
                fallback = queue_fallback(study, space, set(), cost_cache)
            continue
        assert cost is not None
        trial.set_user_attr("params", cost.params)
        trial.set_user_attr("macs", cost.macs)
        trial.set_user_attr("consumed", True)
        if cfg.id in done:  # a repeat reuses the first complete result, as a run does
            consumed.append(Consumed(cfg.id, cost.macs, cost.params, 0, True,
                                     done[cfg.id][accuracy_at]))
            trial.set_user_attr("status", "complete")
            study.tell(trial, done[cfg.id])
            continue
        rejected = broken = 0  # a run's proposal ends with a trial to train
        status, served = table_answer(
            bench, cfg.id, bench.answers.seed_for(cfg.id, trial_seed(seed, trial.number)), epochs)
        complete = status == "complete" and bool(served)
        consumed.append(Consumed(cfg.id, cost.macs, cost.params, len(served), complete,
                                 served[-1] if complete else None))
        if complete:
            metrics = {"accuracy": served[-1], "macs": cost.macs, "params": cost.params}
            done[cfg.id] = [float(metrics[o.metric]) for o in space.objectives]
            trial.set_user_attr("status", "complete")
            study.tell(trial, done[cfg.id])
        else:
            trial.set_user_attr("status", status)
            study.tell(trial, state=TrialState.FAIL)
    return consumed


def shares(bench: Bench, consumed: Sequence[Consumed]) -> list[float]:
    """The share of the true front held after each consumed trial, every completed
    architecture credited its mean accuracy over the table's seeds at the costs the run counted
    (bench_search's `curve_of` and `credited`)."""
    import pandas as pd

    from t2tsearch.pareto import hypervolume

    found: dict[str, dict[str, Any]] = {}  # completed architectures so far, in order
    out: list[float] = []
    for trial in consumed:
        if trial.complete and trial.config_id not in found:
            found[trial.config_id] = {
                "config_id": trial.config_id, "status": "complete", "macs": trial.macs,
                "params": trial.params,
                "accuracy": bench.front.mean_accuracy.get(trial.config_id, trial.served)}
        if not found:
            out.append(0.0)
            continue
        value = hypervolume(pd.DataFrame(list(found.values())), bench.specs,
                            bench.front.reference)
        out.append(min(1.0, value / bench.front.hypervolume))
    return out


def _one_run(task: tuple[str, str, str, Constants, int, int]) -> tuple[Constants, int, int,
                                                                       list[float]]:
    name, table, space, constants, trials, seed = task
    bench = bench_for(Path(table), Path(space), name)
    return constants, trials, seed, shares(bench, drive(bench, constants, trials, seed))


@dataclass
class Evaluation:
    """A set of constants on one table: each (budget, seed) run's share curve."""

    constants: Constants
    curves: dict[tuple[int, int], list[float]]  # (budget, seed) -> share after each trial

    def share_at(self, budget: int) -> list[float]:
        return [self.curves[(b, s)][-1] for (b, s) in sorted(self.curves) if b == budget]

    def criterion(self) -> list[float]:
        """Per seed: the mean of its shares at the budgets."""
        seeds = sorted({s for (_, s) in self.curves})
        budgets = sorted({b for (b, _) in self.curves})
        return [statistics.fmean(self.curves[(b, s)][-1] for b in budgets) for s in seeds]

    def reached(self, budget: int, goal: float = GOAL_SHARE) -> int:
        """Seeds whose `budget`-trial run held `goal` of the front by its end."""
        return sum(share >= goal for share in self.share_at(budget))


class Runner:
    """Runs (constants, budget, seed) searches on a table, in `workers` processes, each once."""

    def __init__(self, name: str, table: Path, space: Path, workers: int,
                 echo: Callable[[str], None] = print) -> None:
        self.name, self.table, self.space = name, table, space
        self.workers, self.echo = workers, echo
        self.cache: dict[tuple[Constants, int, int], list[float]] = {}
        self.started = time.perf_counter()
        # One pool for the runner's life: each worker loads the table (and imports torch) once,
        # not once per set of constants.
        self.pool = ProcessPoolExecutor(workers) if workers > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def evaluate(self, constants: Constants, seeds: Sequence[int],
                 budgets: Sequence[int] = BUDGETS) -> Evaluation:
        tasks = [(self.name, str(self.table), str(self.space), constants, budget, seed)
                 for budget in budgets for seed in seeds
                 if (constants, budget, seed) not in self.cache]
        if self.pool is not None and len(tasks) > 1:
            results = list(self.pool.map(_one_run, tasks))
        else:
            results = [_one_run(task) for task in tasks]
        for c, budget, seed, curve in results:
            self.cache[(c, budget, seed)] = curve
        evaluation = Evaluation(constants, {(b, s): self.cache[(constants, b, s)]
                                            for b in budgets for s in seeds})
        mean, sd = _mean_sd(evaluation.criterion())
        self.echo(f"  {self.name}: {constants.label()}: criterion {100 * mean:.2f} "
                  f"(sd {100 * sd:.2f}) [{time.perf_counter() - self.started:.0f}s]")
        return evaluation


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_gain(new: Evaluation, old: Evaluation) -> tuple[float, float]:
    """Mean per-seed gain of `new` over `old` in the criterion, and its standard error."""
    diffs = [a - b for a, b in zip(new.criterion(), old.criterion(), strict=True)]
    mean, sd = _mean_sd(diffs)
    return mean, sd / math.sqrt(len(diffs))


def idle_constants(space_path: Path) -> dict[str, str]:
    """Constants that change nothing on this space, each with why: they are not tried there."""
    from t2tsearch.results.reference import needs_pool
    from t2tsearch.space import load_space

    if needs_pool(load_space(space_path)):
        return {}
    return {"cost_margin": "every reference cost stands at the space's limit"}


def choose(runner: Runner, seeds: Sequence[int],
           candidates: dict[str, list[Any]] = CANDIDATES,
           start: Constants = DEFAULTS, budgets: Sequence[int] = BUDGETS,
           idle: dict[str, str] | None = None) -> tuple[Constants, list[dict[str, Any]]]:
    """Greedy choice on `runner`'s table: each constant in turn, the value with the largest
    gain over the current set if that gain exceeds CHOICE_MARGIN standard errors; (chosen, the
    log of every value tried). Constants in `idle` (idle_constants) are kept untried."""
    current = start
    current_eval = runner.evaluate(current, seeds, budgets)
    log: list[dict[str, Any]] = []
    for name, values in candidates.items():
        if name in (idle or {}):
            log.append({"constant": name, "skipped": idle[name]})
            runner.echo(f"{name}: {getattr(current, name)!r} (not tried: {idle[name]})")
            continue
        best, best_eval, best_gain = None, None, 0.0
        for value in values:
            if value == getattr(current, name):
                continue
            trial = dataclasses.replace(current, **{name: value})
            evaluation = runner.evaluate(trial, seeds, budgets)
            gain, error = paired_gain(evaluation, current_eval)
            log.append({"constant": name, "value": value, "against": getattr(current, name),
                        "gain": gain, "standard_error": error,
                        "criterion": _mean_sd(evaluation.criterion())})
            if gain > CHOICE_MARGIN * error and gain > best_gain:
                best, best_eval, best_gain = value, evaluation, gain
        if best is not None:
            current, current_eval = dataclasses.replace(current, **{name: best}), best_eval
        runner.echo(f"{name}: {getattr(current, name)!r}"
                    f"{' (changed)' if best is not None else ' (kept)'}")
    return current, log


def summary_row(label: str, evaluation: Evaluation) -> dict[str, Any]:
    row: dict[str, Any] = {"constants": label}
    for budget in sorted({b for (b, _) in evaluation.curves}):
        row[f"share@{budget}"] = _mean_sd(evaluation.share_at(budget))
    if 20 in {b for (b, _) in evaluation.curves}:
        row["reached_97_in_20"] = evaluation.reached(20)
    row["seeds"] = len({s for (_, s) in evaluation.curves})
    return row


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    budgets = sorted(int(k.split("@")[1]) for k in rows[0] if k.startswith("share@"))
    head = ["constants", *(f"HV {b}" for b in budgets), "97% within 20"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row["constants"]]
        cells += [f"{100 * row[f'share@{b}'][0]:.1f} ± {100 * row[f'share@{b}'][1]:.1f}"
                  for b in budgets]
        cells.append(f"{row.get('reached_97_in_20', '-')}/{row['seeds']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _table_arg(text: str) -> tuple[str, Path, Path]:
    """NAME (a public table) or TABLE:SPACE."""
    if text in TABLES:
        return (text, *TABLES[text])
    table, _, space = text.partition(":")
    if not space:
        raise argparse.ArgumentTypeError(f"{text}: not one of {', '.join(TABLES)} nor TABLE:SPACE")
    return Path(table).name, Path(table), Path(space)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--tune", type=_table_arg, default=None,
                        help="choose the constants on this table (a name or TABLE:SPACE)")
    parser.add_argument("--judge", type=_table_arg, default=None,
                        help="report the chosen constants, and the defaults, on this table "
                             "(without it, only choose)")
    parser.add_argument("--constants", choices=["default"], default=None,
                        help="judge the defaults only (no --tune)")
    parser.add_argument("--chosen", type=Path, default=None,
                        help="judge the constants a --tune run saved in this JSON, without "
                             "choosing again (the choice takes about an hour)")
    parser.add_argument("--select-seeds", type=int, default=20, help="seeds 0..N-1 to choose on")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 to judge on")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if sum(x is not None for x in (args.tune, args.constants, args.chosen)) != 1:
        parser.error("give one of --tune TABLE, --chosen JSON, --constants default")
    saved = None
    if args.chosen is not None:
        if args.judge is None:
            parser.error("--chosen needs --judge TABLE")
        saved = read_choice(args.chosen)
    if args.judge is None and args.tune is None:
        parser.error("give --judge TABLE (and --tune TABLE to choose first)")
    # One rule for a choice made now (--tune) or saved (--chosen): never judged where it was made.
    tuned = ((args.tune[0], args.tune[1].resolve()) if args.tune is not None else
             (saved["tuned_on"], saved["table"]) if saved is not None else None)
    if tuned is not None and args.judge is not None and (
            tuned[0] == args.judge[0] or tuned[1] == args.judge[1].resolve()):
        parser.error(f"the constants are chosen on {tuned[0]}: a constant is never judged on "
                     "the table it was chosen on")
    for _, table, space in [x for x in (args.judge, args.tune) if x is not None]:
        for path in (table, space):
            if not path.is_file():
                raise SystemExit(f"{path}: no such file"
                                 + (" (build it with benchmarks/tabular/build.py)"
                                    if path == table else ""))
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    command = ["bench_constants.py", *(argv if argv is not None else sys.argv[1:])]
    chosen, log = DEFAULTS, []
    tuned_on = args.tune[0] if args.tune else None
    if saved is not None:
        chosen, log, tuned_on = saved["constants"], saved["selection"], saved["tuned_on"]
        print(f"chosen on {tuned_on} ({args.chosen}): {chosen.label()}")
    if args.tune is not None:
        print(f"choosing on {args.tune[0]} ({args.select_seeds} seeds, budgets {budgets})")
        tuner = Runner(*args.tune, workers=args.workers)
        try:
            chosen, log = choose(tuner, list(range(args.select_seeds)), budgets=budgets,
                                 idle=idle_constants(args.tune[2]))
        finally:
            tuner.close()
        print(f"chosen on {args.tune[0]}: {chosen.label()}")
    if args.judge is None:
        if args.json:
            _write(args.json, {"command": command, "tuned_on": args.tune[0],
                               "tuned_table": repo_relative(args.tune[1]),
                               "chosen": dataclasses.asdict(chosen),
                               "defaults": dataclasses.asdict(DEFAULTS), "selection": log})
        return 0
    print(f"judging on {args.judge[0]} ({args.seeds} seeds)")
    judge = Runner(*args.judge, workers=args.workers)
    seeds = list(range(args.seeds))
    try:
        judged = judge.evaluate(chosen, seeds, budgets)
        rows = [summary_row(f"chosen on {tuned_on}: {chosen.label()}" if tuned_on else
                            "defaults", judged)]
        gains: dict[str, tuple[float, float]] = {}
        if chosen != DEFAULTS:
            baseline = judge.evaluate(DEFAULTS, seeds, budgets)
            rows.append(summary_row("defaults", baseline))
            for budget in budgets:  # paired over the seeds: the same seed, both sets
                diffs = [a - b for a, b in zip(judged.share_at(budget),
                                               baseline.share_at(budget), strict=True)]
                mean, sd = _mean_sd(diffs)
                gains[f"share@{budget}"] = (mean, sd / math.sqrt(len(diffs)))
    finally:
        judge.close()
    print(f"\non {args.judge[0]}, held out; hypervolume share of the true front, mean ± sd over "
          f"{args.seeds} seeds; each budget its own run\n")
    print(format_rows(rows))
    if gains:
        print("\nchosen minus defaults, paired over seeds (mean ± standard error, points): "
              + ", ".join(f"{key.split('@')[1]} trials {100 * m:+.1f} ± {100 * e:.1f}"
                          for key, (m, e) in gains.items()))
    if args.json:
        _write(args.json, {
            "command": command, "tuned_on": tuned_on,
            "judged_on": args.judge[0], "chosen": dataclasses.asdict(chosen),
            "defaults": dataclasses.asdict(DEFAULTS), "selection": log, "rows": rows,
            "held_out_gain": gains,
            "runs": [{"constants": dataclasses.asdict(c), "budget": b, "seed": s, "share": v}
                     for (c, b, s), v in judge.cache.items()]})
    return 0


def repo_relative(path: Path) -> str:
    """A path as the repository names it (the JSON is committed), else absolute."""
    path = path.resolve()
    return str(path.relative_to(ROOT.parent)) if path.is_relative_to(ROOT.parent) else str(path)


def read_choice(path: Path) -> dict[str, Any]:
    """The constants, the selection log and the table a `--tune ... --json` run saved."""
    try:
        document = json.loads(path.read_text())
        fields = dict(document["chosen"])
        fields["startup"] = tuple(fields["startup"])
        name = document["tuned_on"]
        # Saved before the table's path was: a public table's name says which it was.
        table = (ROOT.parent / document["tuned_table"] if "tuned_table" in document
                 else TABLES[name][0] if name in TABLES else None)
        return {"constants": Constants(**fields), "selection": document.get("selection", []),
                "tuned_on": name, "table": table.resolve() if table else None}
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such file") from None
    except (ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"{path}: not a choice saved by --tune ... --json ({error})") from None


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
