"""The search end to end on Ray Tune: run directory, statuses, constraints, reuse, resume, CLI."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from t2tsearch.arch import ArchConfig
from t2tsearch.cli import main
from t2tsearch.engine.search import QUOTA_PATIENCE, SearchOptions, apply_overrides, run_search
from t2tsearch.errors import UserError
from t2tsearch.results import RunDir, load_trials, open_run
from t2tsearch.space import load_space

TINY_SPACE = {
    "name": "tiny",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2, "mlp_ratio": 1.0}},
    "parameters": {"backbone.depth": {"int": {"low": 1, "high": 2}},
                   "backbone.head_dim": {"choice": [8, 16]}},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 1, "batch_size": 100,
              "lr": 0.003, "measure_latency": False, "train_subset": 300, "val_subset": 100},
    "search": {"trials": 3, "concurrency": 2, "scheduler": "none"},
}


def write_space(folder: Path, **changes) -> Path:
    data = {**TINY_SPACE, **changes}
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# The session's Ray (conftest): a module of its own would start and stop one more on 2 cores.
pytestmark = pytest.mark.usefixtures("ray_session")


def quiet(evaluator: str = "train") -> SearchOptions:
    return SearchOptions(echo=lambda line: None, command=["test"], evaluator=evaluator)


def grid_table(space_path: Path, folder: Path, curve=None) -> str:
    """The evaluator spec of a table answering every architecture of `space_path`'s grid, for a
    search whose point is not training: `curve(depth, head_dim, epochs)` is each one's accuracy
    per epoch (default: climbing to 60 + depth x head_dim / 5)."""
    import gzip
    import itertools
    import json

    from t2tsearch.space import build_config, grid_space

    def climbing(depth: int, head_dim: int, epochs: int) -> list[float]:
        return [60.0 + depth * head_dim / 5 - 2 * (epochs - epoch) for epoch in range(1, epochs
                                                                                     + 1)]

    space = load_space(space_path)
    grid = grid_space(space)
    rows = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        cfg = build_config(space, params)
        accuracy = (curve or climbing)(params["backbone.depth"], params["backbone.head_dim"],
                                       space.train.epochs)
        rows.append({"id": cfg.id, "seed": 0, "status": "complete", "reason": "",
                     "seconds": 0.3, "accuracy": accuracy, "arch": json.loads(cfg.to_json())})
    path = folder / f"{space.name}_table.json.gz"
    with gzip.open(path, "wt") as out:
        json.dump({"header": {"name": space.name}, "rows": rows}, out)
    return f"table:{path}"


def test_run_writes_the_run_directory_and_a_full_table(tmp_path):
    lines = []
    options = SearchOptions(echo=lines.append, command=["t2tsearch", "run", "tiny.yaml"])
    summary = run_search(write_space(tmp_path), out=str(tmp_path / "results"), name="r1",
                         options=options)
    run = summary.run
    for item in ("space.yaml", "run.json", "study.db", "trials.csv", "ray", "cost_cache"):
        assert (run.path / item).exists(), item
    meta = run.read_meta()
    assert meta["command"] == ["t2tsearch", "run", "tiny.yaml"] and meta["torch"]
    assert meta["sessions"][0]["end"] >= meta["sessions"][0]["start"]
    # The run's reference point, chosen as it started: chance accuracy on 10 digits and, with
    # no MAC limit, 1.1 x the largest MACs of the first pool (here every one of its 4
    # architectures, counted independently).
    from t2tsearch.cost import count_cost
    from t2tsearch.space import random_draws

    loaded = load_space(run.space_file)
    largest = max(count_cost(cfg).macs for _, cfg in random_draws(loaded, 100, 0))
    assert meta["reference"] == {"accuracy": 10.0, "macs": pytest.approx(1.1 * largest)}

    table = pd.read_csv(run.trials_csv)
    assert len(table) == 3
    assert set(table["status"]) <= {"complete", "stopped_early"}
    for column in ("trial", "config_id", "accuracy", "macs", "params", "epochs", "status",
                   "reason", "seconds", "images_per_s", "backbone.depth", "backbone.embed_dim",
                   "t2t.soft_splits.1.kernel", "t2t.mixer", "img_size"):
        assert column in table.columns, column
    complete = table[table["status"] == "complete"]
    assert (complete["epochs"] == 1).all() and (complete["accuracy"] > 0).all()
    # The Optuna study is the record: it opens with optuna and agrees with the table.
    study = optuna.load_study(study_name="t2tsearch", storage=run.storage_url)
    assert [t.number for t in study.trials] == sorted(table["trial"])
    assert load_trials(run.path)["config_id"].tolist() == summary.table["config_id"].tolist()
    # One progress line per finished trial, then the front is built from complete trials only.
    assert sum(line.startswith("[") for line in lines) == 3
    assert set(summary.front["status"]) == {"complete"}


def test_constraint_breakers_are_recorded_and_never_trained(tmp_path):
    space = write_space(tmp_path, name="limited", constraints={"max_macs": "200K"},
                        search={"trials": 2, "concurrency": 2, "scheduler": "none",
                                "sampler": "random", "seed": 3})
    # The constraint's bookkeeping is what is tested: a table answers the trials that fit.
    summary = run_search(space, out=str(tmp_path), name="r",
                         options=quiet(grid_table(space, tmp_path)))
    table = summary.table
    trained = table[table["status"] != "infeasible"]
    rejected = table[table["status"] == "infeasible"]
    assert len(rejected) >= 1
    assert rejected["reason"].str.contains("max_macs").all()
    assert (rejected["epochs"] == 0).all() and (rejected["macs"] > 200_000).all()
    assert (trained["macs"] <= 200_000).all()
    study = summary.run.load_study()
    states = {t.number: t.state for t in study.trials}
    assert all(states[n] == optuna.trial.TrialState.FAIL for n in rejected["trial"])
    # The reference stands at the limit: the rejected giants never move it.
    assert summary.run.read_meta()["reference"] == {"accuracy": 10.0, "macs": 200_000.0}


def test_same_architecture_is_not_trained_twice(tmp_path):
    one_arch = {"backbone.depth": {"choice": [1]}, "backbone.head_dim": {"choice": [8]}}
    space = write_space(tmp_path, name="single", parameters=one_arch,
                        search={"trials": 3, "concurrency": 1, "scheduler": "none"})
    # Reuse is bookkeeping: a table answers the one architecture (no training needed).
    table = run_search(space, out=str(tmp_path), name="r",
                       options=quiet(grid_table(space, tmp_path))).table
    assert table["config_id"].nunique() == 1
    trained = table[table["reused_from"].isna()]
    reused = table[table["reused_from"].notna()]
    assert len(trained) == 1 and len(reused) == 2
    assert (reused["accuracy"] == trained["accuracy"].iloc[0]).all()
    assert (reused["status"] == "complete").all()


def test_diverging_trials_are_results_and_the_exit_status_counts_them(tmp_path, capsys):
    train = {**TINY_SPACE["train"], "lr": 1.0e6, "warmup_epochs": 0}
    space = write_space(tmp_path, name="diverge", train=train,
                        search={"trials": 2, "concurrency": 2, "scheduler": "none"})
    assert main(["run", str(space), "--out", str(tmp_path), "--name", "r"]) == 64 + 2
    assert "2 trial(s) failed" in capsys.readouterr().err
    table = load_trials(tmp_path / "r")
    assert len(table) == 2
    assert set(table["status"]) == {"diverged"}
    assert table["reason"].str.contains("epoch").all()


def test_command_line_overrides_the_search_section(tmp_path):
    space = load_space(write_space(tmp_path))
    changed = apply_overrides(space, {"trials": 7, "sampler": "tpe", "gpus_per_trial": 0.25},
                              "tiny.yaml")
    assert (changed.search.trials, changed.search.sampler, changed.search.gpus_per_trial) == (
        7, "tpe", 0.25)
    assert changed.parameters == space.parameters


def test_cli_run_bad_input_is_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    space = write_space(tmp_path)
    assert main(["run", str(space), "--sampler", "annealing", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "search.sampler" in err and "Traceback" not in err and err.count("\n") == 1
    (tmp_path / "taken").mkdir()
    assert main(["run", str(space), "--out", str(tmp_path), "--name", "taken"]) == 2
    assert "exists" in capsys.readouterr().err


def done_and_in_flight(run_path: Path) -> tuple[int, int]:
    """Trials of the run's study complete, and running and handed to Tune to train (marked
    `consumed`), read with sqlite3: milliseconds, where loading the study takes a tenth of a
    second. (0, 0) before the study's tables exist."""
    try:
        connection = sqlite3.connect(f"file:{run_path / 'study.db'}?mode=ro", uri=True)
    except sqlite3.OperationalError:  # not created yet
        return 0, 0
    try:
        (done,), = connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'")
        (in_flight,), = connection.execute(
            "SELECT COUNT(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = "
            "t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'consumed'")
        return done, in_flight
    except sqlite3.OperationalError:  # the study's tables are not there yet
        return 0, 0
    finally:
        connection.close()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_run_resumes_where_it_stopped(tmp_path, request, how):
    # Three trials, one at a time: one done, one cut off, one never started. The signal is sent
    # the moment the second is handed to Tune; its training (four epochs of 2,000 images) takes over
    # a second on an idle machine, more on a loaded one, so the signal lands while it is in
    # flight, whether its training has begun or not.
    train = {**TINY_SPACE["train"], "epochs": 4, "train_subset": 2000}
    space = write_space(tmp_path, name="resumable", train=train,
                        search={"trials": 3, "concurrency": 1, "scheduler": "none", "seed": 5})
    run_path = tmp_path / "runs" / "r"
    command = [sys.executable, "-c", "import sys; from t2tsearch.cli import main; sys.exit(main())",
               "run", str(space), "--out", str(tmp_path / "runs"), "--name", "r"]
    if how == signal.SIGKILL:
        # A killed driver leaves the same run directory on any Ray: this one attaches to the
        # worker's (seconds of CPU saved). Ctrl-C starts its own, as a user's run does, so that
        # the signal reaches Ray's processes too.
        command += ["--address", request.getfixturevalue("ray_address")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    try:
        while not all(counts := done_and_in_flight(run_path)):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"the run never had one trial done and the next in flight: "
                            f"(done, in flight) = {counts}")
            time.sleep(0.02)
        os.killpg(process.pid, how)  # Ctrl-C reaches the whole foreground group, as here
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    before = load_trials(run_path)
    if how == signal.SIGINT:
        assert process.returncode == 130, output
        assert f"t2tsearch run --resume {run_path}" in output
        # Ctrl-C marks the trial it cut off at once: interrupted, not running, never failed.
        assert (before["status"] == "interrupted").sum() >= 1 and "running" not in set(
            before["status"])
    else:  # a killed run cannot: its trial stays running until the resume marks it
        assert (before["status"] == "running").sum() >= 1
    assert not before["status"].isin(["failed", "diverged"]).any()
    reference_before = open_run(run_path).read_meta()["reference"]
    finished_before = set(before.loc[before["status"] == "complete", "trial"])
    assert finished_before and len(finished_before) < 3

    # A clean resume exits 0: the interrupted trials, trained again, are not failures.
    assert main(["run", "--resume", str(run_path)]) == 0
    table = load_trials(run_path)
    consumed = table[table["status"].isin(["complete", "stopped_early", "diverged"])]
    assert len(consumed) == 3  # the budget, no more, no less
    assert not table["status"].isin(["running", "failed"]).any()
    # Finished trials were kept as they were, not trained again.
    kept = table[table["trial"].isin(finished_before)]
    assert (kept["status"] == "complete").all()
    assert kept["accuracy"].tolist() == before[before["trial"].isin(finished_before)][
        "accuracy"].tolist()
    interrupted = table[table["status"] == "interrupted"]
    assert len(interrupted) >= 1
    for _, row in interrupted.iterrows():  # re-queued: the same architecture trained again
        retrained = table[(table["config_id"] == row["config_id"]) & (table["status"] == "complete")]
        assert len(retrained) >= 1
    # ... and first: the resumed session's first trials are the cut-off architectures, in order
    # (the signal above always cuts one off, so this cannot hold vacuously). A killed run's
    # are still `running` in `before`: the resume marks them.
    cut = before[before["status"].isin(["interrupted", "running"])]
    assert len(cut) >= 1
    resumed = table[table["trial"] > before["trial"].max()]
    assert resumed["config_id"].head(len(cut)).tolist() == cut["config_id"].tolist()
    meta = open_run(run_path).read_meta()
    sessions = meta["sessions"]
    assert len(sessions) == 2
    # The reference the run started with is kept, never recomputed.
    assert meta["reference"] == reference_before
    # The same sampler, seeded as before, goes on with the study; neither may change on resume.
    assert [(s["sampler"], s["seed"]) for s in sessions] == [("ehvi", 5), ("ehvi", 5)]
    with pytest.raises(UserError, match="cannot change on resume"):
        run_search(None, resume=str(run_path), options=SearchOptions(seed=6, echo=print))


def test_searcher_records_a_trial_that_raised_as_failed(tmp_path):
    # Ray-free: drive the searcher by hand as Tune would.
    from t2tsearch.engine.search import Progress, StudySearcher, open_study

    space = load_space(write_space(tmp_path))
    run = RunDir.create(tmp_path, "r")
    run.space_file.write_text(space.to_yaml())
    study = open_study(run, space, create=True)
    lines = []
    searcher = StudySearcher(space, study, run, budget_left=2, progress=Progress(2, lines.append))
    config = searcher.suggest("ray-1")
    assert set(config) >= {"arch", "budget", "macs", "params"}
    searcher.on_trial_result("ray-1", {"epoch": 1, "accuracy": 40.0, "epoch_seconds": 1.5,
                                       "final": False})
    searcher.on_trial_complete("ray-1", None, error=True)
    searcher.trial_errored("ray-1", "Traceback (most recent call last):\n  ...\nValueError: boom\n")
    row = load_trials(run.path).iloc[0]
    assert row["status"] == "failed" and row["reason"] == "raised ValueError: boom"
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert len(lines) == 1 and "failed" in lines[0]
    # Ctrl-C reaches the workers as KeyboardInterrupt: that trial is left for --resume.
    searcher.suggest("ray-2")
    searcher.on_trial_complete("ray-2", None, error=True)
    searcher.trial_errored("ray-2", "Traceback ...\nKeyboardInterrupt\n")
    searcher.flush_errors()
    assert study.trials[1].state == optuna.trial.TrialState.RUNNING
    assert "ray-2" in searcher.live and len(lines) == 1


def test_a_trial_stopped_at_its_first_rung_keeps_its_accuracy(tmp_path):
    # Ray-free: Tune hands the result a scheduler stops on to on_trial_complete only.
    from t2tsearch.engine.search import Progress, StudySearcher, open_study

    space = load_space(write_space(tmp_path))
    run = RunDir.create(tmp_path, "r")
    run.space_file.write_text(space.to_yaml())
    study = open_study(run, space, create=True)
    searcher = StudySearcher(space, study, run, budget_left=2, progress=Progress(2, print))
    searcher.suggest("ray-1")
    searcher.on_trial_complete("ray-1", {"epoch": 1, "accuracy": 41.5, "epoch_seconds": 1.0,
                                         "final": False}, error=False)
    searcher.suggest("ray-2")
    searcher.on_trial_result("ray-2", {"epoch": 1, "accuracy": 30.0, "epoch_seconds": 1.0,
                                       "final": False})
    searcher.on_trial_complete("ray-2", {"epoch": 2, "accuracy": 35.0, "epoch_seconds": 1.0,
                                         "final": False}, error=False)
    first, second = study.trials
    assert first.state == second.state == optuna.trial.TrialState.PRUNED
    assert first.user_attrs["accuracy_curve"] == [41.5] and first.user_attrs["epochs"] == 1
    assert second.user_attrs["accuracy_curve"] == [30.0, 35.0]


def test_missing_dataset_is_one_line_before_anything_runs(tmp_path, capsys):
    train = {**TINY_SPACE["train"], "dataset": "cifar10", "data_dir": str(tmp_path / "nowhere")}
    space = write_space(tmp_path, name="nodata", train=train)
    assert main(["run", str(space), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "cifar10" in err and "expected" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # nothing half-made


def test_ctrl_c_between_two_trials_still_asks_to_resume(tmp_path, monkeypatch, capsys):
    # Tune stopped with budget left but no trial in flight: the run is not finished, so the
    # command says how to go on and exits 130, as with trials in flight.
    import t2tsearch.engine.search as search

    space = write_space(tmp_path)
    run = RunDir.create(tmp_path, "cut")
    summary = search.RunSummary(run=run, table=pd.DataFrame(), front=pd.DataFrame(),
                                interrupted=0, unstarted=2)
    monkeypatch.setattr(search, "run_search", lambda *args, **kwargs: summary)
    assert main(["run", str(space), "--out", str(tmp_path), "--name", "cut"]) == 130
    err = capsys.readouterr().err
    assert "0 trial(s) in flight and 2 not started" in err
    assert f"t2tsearch run --resume {run.path}" in err


# ---- goal: compare_groups: every group gets its quota -------------------------------------------
GROUPED_SPACE = {**TINY_SPACE, "name": "grouped",
                 "groups": {"common": "backbone.depth == 1",
                            "rare": "backbone.depth == 2 and backbone.head_dim == 16"},
                 "search": {"trials": 4, "concurrency": 1, "scheduler": "none"}}


def drive_by_hand(tmp_path, space, name: str, fixed: dict, trials: int):
    """A searcher over `space` whose sampler proposes `fixed` every time, driven by hand as Tune
    would (no Ray), each trial completing at once: (searcher, configs, table, progress lines)."""
    from t2tsearch.engine.search import Progress, StudySearcher, open_study

    run = RunDir.create(tmp_path, name)
    run.space_file.write_text(space.to_yaml())
    study = open_study(run, space, create=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.PartialFixedSampler(
            fixed, optuna.samplers.RandomSampler(seed=0))
    lines: list[str] = []
    searcher = StudySearcher(space, study, run, budget_left=trials,
                             progress=Progress(trials, lines.append))
    configs = []
    for number in range(trials):
        config = searcher.suggest(f"ray-{number}")
        if not isinstance(config, dict):
            break
        configs.append(config)
        searcher.on_trial_complete(f"ray-{number}", {
            "final": True, "status": "complete", "epoch": 1, "accuracy": 50.0 + number,
            "accuracy_curve": [50.0 + number], "seconds": 1.0}, error=False)
    return searcher, configs, load_trials(run.path), lines


def stubborn_searcher(tmp_path, goal: str, trials: int = 4):
    """Proposes the same 'common' architecture every time."""
    space = load_space(write_space(tmp_path, **{**GROUPED_SPACE, "search": {
        **GROUPED_SPACE["search"], "goal": goal, "trials": trials}}))
    return drive_by_hand(tmp_path, space, f"r-{goal}",
                         {"backbone.depth": 1, "backbone.head_dim": 8}, trials)


def test_quota_rejects_off_quota_proposals_and_queues_a_member_of_the_short_group(tmp_path):
    searcher, configs, table, lines = stubborn_searcher(tmp_path, "compare_groups", trials=2)
    # Quota 1 each (2 trials, 2 groups: all the budget can give each): the first trial fills
    # 'common'; the budget left (1) is what 'rare' needs, so proposals of 'common' are rejected
    # without using the budget, until the searcher queues a member of 'rare' itself.
    assert [c["groups"] for c in configs] == [["common"], ["rare"]]
    assert [c["fills_quota"] for c in configs] == [True, True]
    rejected = table[table["status"] == "quota"]
    assert len(rejected) == QUOTA_PATIENCE
    assert rejected["reason"].str.contains("rare needs 1 more of its 1 with 1 trial").all()
    complete = table[table["status"] == "complete"]
    assert len(complete) == 2 and searcher.budget_left == 0
    assert complete.drop_duplicates("config_id")["groups"].tolist() == ["common", "rare"]
    # Rejections are not counted as the budget's trials in the progress lines.
    assert sum("quota" in line for line in lines) == QUOTA_PATIENCE
    assert lines[-1].startswith("[  2/2]")


def test_a_failed_quota_trial_reopens_its_quota_from_the_reserve(tmp_path):
    # Quota 3 each (7 trials, 2 groups of 3 architectures: depth 1 or 2 x head_dim 8/16/24).
    # While a quota trial trains, the budget it might need again is held back; it fails, and
    # its group gets another trial from that reserve.
    from t2tsearch.engine.search import Progress, StudySearcher, open_study

    space = load_space(write_space(tmp_path, **{**GROUPED_SPACE, "groups": {
        "shallow": "backbone.depth == 1", "deep": "backbone.depth == 2"},
        "parameters": {"backbone.depth": {"int": {"low": 1, "high": 2}},
                       "backbone.head_dim": {"choice": [8, 16, 24]}},
        "search": {"trials": 7, "concurrency": 2, "scheduler": "none"}}))
    assert space.group_quota == 3
    run = RunDir.create(tmp_path, "reserve")
    run.space_file.write_text(space.to_yaml())
    study = open_study(run, space, create=True)
    searcher = StudySearcher(space, study, run, budget_left=7, progress=Progress(7, print))

    def finish(ray_id: str, ok: bool) -> None:
        if ok:
            searcher.on_trial_complete(ray_id, {"final": True, "status": "complete", "epoch": 1,
                                                "accuracy": 50.0, "accuracy_curve": [50.0],
                                                "seconds": 1.0}, error=False)
        else:
            searcher.on_trial_complete(ray_id, None, error=True)
            searcher.trial_errored(ray_id, "Traceback ...\nValueError: diverged\n")

    configs = {f"ray-{n}": searcher.suggest(f"ray-{n}") for n in range(6)}
    assert all(isinstance(c, dict) and c["fills_quota"] for c in configs.values())
    for ray_id in list(configs)[:5]:
        finish(ray_id, ok=True)
    # One quota trial still training, one trial of the budget left: it is held back for it.
    assert searcher.suggest("ray-6") is None and searcher.budget_left == 1
    finish("ray-5", ok=False)
    retry = searcher.suggest("ray-6")
    assert retry["fills_quota"] and retry["groups"] == configs["ray-5"]["groups"]
    finish("ray-6", ok=True)
    table = load_trials(run.path)
    done = table[table["status"] == "complete"]
    assert sorted(done["groups"].value_counts().tolist()) == [3, 3]


def test_goal_front_trains_what_the_sampler_proposes(tmp_path):
    _, configs, table, _ = stubborn_searcher(tmp_path, "front")
    assert [c["groups"] for c in configs] == [["common"]]  # then reused three times
    assert set(table["status"]) == {"complete"} and len(table) == 4
    assert not configs[0]["fills_quota"]


TABULAR = Path(__file__).resolve().parents[1] / "benchmarks" / "tabular"


@pytest.mark.parametrize("sampler", ["ehvi", "random"])
def test_tabular_benchmark_every_group_gets_its_quota(tmp_path, sampler):
    # The tabular space's five groups (performer, transformer, convolution, se, ghost), its
    # pareto_asha early stopping, answered from the table through the real Ray path.
    space = load_space(TABULAR / "space.yaml")
    options = SearchOptions(trials=20, sampler=sampler, seed=1, echo=lambda line: None,
                            command=["test"],
                            evaluator=f"table:{TABULAR / 't2t_mnist5k_32px_v1.json.gz'}")
    summary = run_search(TABULAR / "space.yaml", out=str(tmp_path), name=sampler,
                         options=options)
    # ceil(20 / 10) = 2, raised to the verdict's minimum of 3
    assert space.effective_goal == "compare_groups" and summary.quota == 3
    # Counted here from the architectures themselves, not from the run's own group column.
    done = summary.table[summary.table["status"] == "complete"].drop_duplicates("config_id")
    archs = [ArchConfig.from_json(text) for text in done["arch"]]
    counts = {"performer": sum(a.t2t.mixer == "performer" for a in archs),
              "transformer": sum(a.t2t.mixer == "transformer" for a in archs),
              "convolution": sum(a.t2t.mixer == "convolution" for a in archs),
              "se": sum(a.backbone.block == "se" for a in archs),
              "ghost": sum(a.backbone.block == "ghost" for a in archs)}
    assert min(counts.values()) >= 3, counts
    assert summary.group_counts == counts
    consumed = summary.table["status"].isin(["complete", "stopped_early", "diverged", "failed"])
    assert consumed.sum() == 20


def test_a_group_that_learns_slower_gets_its_quota_under_early_stopping(tmp_path):
    # A synthetic table: 'slow' architectures trail 'fast' ones by 40 points after one epoch
    # and end 1 point behind; random proposals, pareto_asha stopping after epoch 1.
    space_data = {**TINY_SPACE, "name": "slow_group",
                  "parameters": {"backbone.depth": {"choice": [1, 2, 3, 4, 5, 6]},
                                 "backbone.head_dim": {"choice": [8, 16, 24]}},
                  "groups": {"fast": "backbone.depth <= 2", "slow": "backbone.depth >= 3"},
                  "train": {**TINY_SPACE["train"], "epochs": 3},
                  "search": {"trials": 16, "concurrency": 2, "sampler": "random",
                             "scheduler": "pareto_asha", "seed": 2}}
    space_path = write_space(tmp_path, **space_data)

    def curve(depth: int, head_dim: int, epochs: int) -> list[float]:
        final = 60.0 + depth * head_dim / 5
        return [final - 5, final - 2, final] if depth <= 2 else [final - 40, final - 20,
                                                                 final - 1]

    options = SearchOptions(echo=lambda line: None, command=["test"],
                            evaluator=grid_table(space_path, tmp_path, curve))
    summary = run_search(space_path, out=str(tmp_path / "runs"), name="slow", options=options)
    done = summary.table[summary.table["status"] == "complete"].drop_duplicates("config_id")
    depths = [ArchConfig.from_json(text).backbone.depth for text in done["arch"]]
    quota = 4  # ceil(16 / (2 x 2))
    assert sum(d <= 2 for d in depths) >= quota and sum(d >= 3 for d in depths) >= quota
    # Early stopping still ran, within each group.
    assert (summary.table["status"] == "stopped_early").any()


# Every sampler the README lists, through the real Ray Tune path (Tune pickles its search
# algorithm when it builds the Tuner: Optuna 5.1's NSGA-II sampler cannot be pickled).
@pytest.mark.parametrize("sampler", ["ehvi", "nsga2", "tpe", "gp", "random", "grid"])
def test_every_sampler_runs_a_search_through_ray_tune(tmp_path, sampler):
    from t2tsearch.engine.evaluator import TableEvaluator

    table_file = TABULAR / "t2t_mnist5k_32px_v1.json.gz"
    options = SearchOptions(trials=5, sampler=sampler, seed=4, goal="front", scheduler="none",
                            echo=lambda line: None, command=["test"],
                            evaluator=f"table:{table_file}")
    summary = run_search(TABULAR / "space.yaml", out=str(tmp_path), name=sampler,
                         options=options)
    table = summary.table
    assert table["status"].isin(["complete"]).sum() == 5, table[["trial", "status", "reason"]]
    # Each accuracy is one of the table's own rows for that architecture: nothing was made up.
    rows = TableEvaluator(str(table_file))
    for _, row in table[table["status"] == "complete"].iterrows():
        held = {round(rows.lookup(row["config_id"], seed)["accuracy"][-1], 6)
                for seed in rows.seeds[row["config_id"]]}
        assert round(row["accuracy"], 6) in held
    assert summary.run.read_meta()["sessions"][0]["sampler"] == sampler
