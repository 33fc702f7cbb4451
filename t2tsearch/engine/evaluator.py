"""Evaluators: what answers a trial — proxy training, or a lookup in a pre-computed table.

An evaluator takes an architecture and a training budget and returns a `TrainResult`, reporting
each epoch through `on_epoch` as training would (True from `on_epoch` stops it). The search sees
no difference, so samplers and schedulers can be benchmarked on a table in seconds. Each trial
also carries a trial seed (`trial_seed`, from the run's seed and the trial number): training
ignores it (it trains with `budget.seed`), a table with several seeds of an architecture uses it
to pick which seed's row answers, so a search on the table meets the seed noise training has.
Like train.py, this module must never import from t2tsearch.engine.search.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from t2tsearch.arch import ArchConfig, recorded_id
from t2tsearch.budget import TrainBudget
from t2tsearch.errors import UserError
from t2tsearch.outcome import EpochCallback, EpochMetrics, StateCallback, TrainResult


def trial_seed(run_seed: int, trial_number: int) -> int:
    """A trial's own seed, the same for the same (run seed, trial number) on every machine and
    Python (no `hash()`, which is salted per process): a 32-bit draw of NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(run_seed), int(trial_number)]).generate_state(1)[0])


class Evaluator(Protocol):
    """Answers one trial: `cfg` under `budget`, each epoch to `on_epoch` (True = stop).

    `trial_seed` (see `trial_seed`) is the trial's own seed; None outside a search. `test`
    asks for the accuracy on the dataset's own test set too (`confirm` does; a search never
    does), as the result's test_acc: None where there is none."""

    # How `evaluator_from_spec` names it; absolute, since Ray workers run in other folders.
    spec: str

    def evaluate(self, cfg: ArchConfig, budget: TrainBudget,
                 on_epoch: EpochCallback | None = None,
                 trial_seed: int | None = None, test: bool = False) -> TrainResult: ...


class TrainerEvaluator:
    """Trains the architecture with `train_proxy` (the default)."""

    spec = "train"

    def evaluate(self, cfg: ArchConfig, budget: TrainBudget,
                 on_epoch: EpochCallback | None = None,
                 trial_seed: int | None = None, test: bool = False,
                 on_state: StateCallback | None = None,
                 resume: dict[str, Any] | None = None) -> TrainResult:
        """`on_state` receives the training's state after each epoch but the last, and
        `resume` (such a state) makes the training go on from its epoch (search.checkpoint: a
        retried trial); a table has neither, so only training takes them."""
        # Training is seeded by budget.seed alone (the run's train.seed, or confirm's extra
        # seeds): the trial seed exists for tables, which have no other source of noise.
        from t2tsearch.engine.data import load_test_data
        from t2tsearch.engine.train import train_proxy

        # None for a dataset without a test set of its own (mnist5k, imagefolder).
        test_images = (load_test_data(budget.dataset, budget.img_size, budget.data_dir)
                       if test else None)
        return train_proxy(cfg, None, budget, on_epoch, test=test_images, on_state=on_state,
                           resume=resume)


class TableEvaluator:
    """Answers from a table of trained architectures (benchmarks/tabular/build.py writes one).

    Which row answers: in a search, each trial comes with a trial seed, and among the seeds the
    table holds for the architecture (sorted) the one at `trial_seed % count` answers, so
    different trials of one architecture meet different seeds, as trainings would, and the same
    (run seed, trial number) always meets the same one. An architecture with one row always gets
    it (a one-seed table answers as it did before trial seeds). Without a trial seed (a direct
    call) the row is looked up by `budget.seed`, falling back to seed 0's row, or any row of the
    architecture. An architecture not in the table comes back "invalid" with the
    reason "not in the table FILE", so the search records it as invalid and goes on.
    The table's own budget holds: a space asking for more epochs than it has gets "invalid".
    Accepts the versioned table (`.json.gz` or `.json`: {"header", "rows"}) or a build's work
    file (`.jsonl`, one row per line), so a partial build can already be searched.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec = f"table:{self.path.resolve()}"
        self.header, rows = read_table(self.path)
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        seeds: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            # Ids recomputed from the stored arch: tables built before ids were canonical
            # (ArchConfig.canonical) hold other ids for some of the same models.
            config_id = recorded_id(row.get("arch"), row["id"])
            self.rows[(config_id, int(row["seed"]))] = row
            seeds[config_id].add(int(row["seed"]))
        # Each architecture's seeds, sorted, for the trial seed to pick from.
        self.seeds: dict[str, list[int]] = {cid: sorted(held) for cid, held in seeds.items()}

    def seed_for(self, config_id: str, trial_seed: int) -> int | None:
        """The table seed a trial with `trial_seed` is answered by; None when not in the table."""
        held = self.seeds.get(config_id)
        return held[trial_seed % len(held)] if held else None

    def lookup(self, config_id: str, seed: int = 0) -> dict[str, Any] | None:
        """The row answering (config_id, seed): that seed's, else seed 0's, else any; or None."""
        row = self.rows.get((config_id, seed)) or self.rows.get((config_id, 0))
        if row is None:
            row = next((r for (cid, _), r in self.rows.items() if cid == config_id), None)
        return row

    def evaluate(self, cfg: ArchConfig, budget: TrainBudget,
                 on_epoch: EpochCallback | None = None,
                 trial_seed: int | None = None, test: bool = False) -> TrainResult:
        # A table holds validation accuracies only: `test` is answered with no test_acc.
        if trial_seed is None:
            row = self.lookup(cfg.id, budget.seed)
        else:
            seed = self.seed_for(cfg.id, trial_seed)
            row = None if seed is None else self.rows[(cfg.id, seed)]
        if row is None:
            return TrainResult("invalid", f"not in the table {self.path}")
        accuracy = list(row["accuracy"])
        if row["status"] == "complete" and len(accuracy) < budget.epochs:
            return TrainResult("invalid", f"the table {self.path} has {len(accuracy)} epochs of "
                                          f"{cfg.id}, the budget asks for {budget.epochs}")
        losses = list(row.get("val_loss") or [math.nan] * len(accuracy))
        # The table keeps a training's total time: spread it evenly over its epochs.
        epoch_seconds = float(row.get("seconds", 0.0)) / max(len(accuracy), 1)
        history: list[EpochMetrics] = []
        for index, acc in enumerate(accuracy[: budget.epochs]):
            metrics = EpochMetrics(epoch=index + 1, val_acc=acc / 100.0, val_loss=losses[index],
                                   train_loss=math.nan, images_per_s=0.0, seconds=epoch_seconds)
            history.append(metrics)
            if on_epoch is not None and on_epoch(metrics):
                return TrainResult("stopped", epochs=history,
                                   seconds=epoch_seconds * len(history))
        status = row["status"] if row["status"] != "stopped" else "complete"
        return TrainResult(status, row.get("reason", ""), epochs=history,
                           seconds=epoch_seconds * len(history))


def read_table(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, rows) of a table file: .json.gz / .json ({"header", "rows"}) or .jsonl rows."""
    if not path.is_file():
        raise UserError(f"--evaluator table:{path}: no such file; build one with "
                        f"benchmarks/tabular/build.py")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        text = handle.read()
    try:
        if path.name.endswith(".jsonl"):
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            return {}, rows
        data = json.loads(text)
        return data.get("header", {}), list(data["rows"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(f"--evaluator table:{path}: not a table file ({err})") from None


_tables: dict[str, TableEvaluator] = {}


def evaluator_from_spec(spec: str) -> Evaluator:
    """"train" (proxy training) or "table:FILE" (lookup); tables are loaded once per process."""
    if spec == "train":
        return TrainerEvaluator()
    kind, _, argument = spec.partition(":")
    if kind == "table" and argument:
        key = str(Path(argument).resolve())
        if key not in _tables:
            _tables[key] = TableEvaluator(key)
        return _tables[key]
    raise UserError(f"--evaluator {spec}: expected 'train' or 'table:FILE'")
