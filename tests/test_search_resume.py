"""Resume and extension: a resumed run proposes new work; statuses, counts and exit codes."""

from __future__ import annotations

import gzip
import json
import os
import signal
from pathlib import Path

import pandas as pd
import pytest

import t2tsearch.engine.search as search
import t2tsearch.engine.search.tune_loop as tune_loop
from t2tsearch.cli import main
from t2tsearch.results import CONSUMED, RunDir, load_trials, open_run, status_counts
from t2tsearch.space import build_config, load_space
from tests.test_search import write_space

TABULAR = Path(__file__).resolve().parents[1] / "benchmarks" / "tabular"
TABLE = f"table:{TABULAR / 't2t_mnist5k_32px_v1.json.gz'}"


# The session's Ray (conftest): a module of its own would start and stop one more on 2 cores.
pytestmark = pytest.mark.usefixtures("ray_session")


def interrupt_after(monkeypatch, finished: int) -> None:
    """The next run gets Ctrl-C (SIGINT to this process, as a terminal sends it) once `finished`
    of its trials have a result; Tune's own handler then stops it, as it stops a real run."""

    class Interrupted(search.StudySearcher):
        results = 0

        def _finish(self, trial, state, status, reason="", values=None):
            super()._finish(trial, state, status, reason, values)
            if status in CONSUMED:
                Interrupted.results += 1
                if Interrupted.results == finished:
                    os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(tune_loop, "StudySearcher", Interrupted)


def tabular_run(tmp_path, *args: str) -> list[str]:
    return ["run", str(TABULAR / "space.yaml"), "--out", str(tmp_path), "--name", "r",
            "--evaluator", TABLE, "--goal", "front", "--scheduler", "none", *args]


def counted_by_hand(table: pd.DataFrame) -> dict[str, int]:
    """The categories the issue names, counted row by row without results.status_counts."""
    counts: dict[str, int] = {}
    for _, row in table.iterrows():
        status = row["status"]
        if status == "complete" and not pd.isna(row["reused_from"]):
            status = "reused"
        elif status in ("diverged", "oom"):
            status = "failed"
        counts[status] = counts.get(status, 0) + 1
    return counts


# ---- 1. a resumed run proposes new work -----------------------------------------------------------
@pytest.mark.parametrize("sampler", ["random", "nsga2", "tpe", "ehvi"])
def test_a_resumed_run_proposes_architectures_it_has_not_trained(tmp_path, monkeypatch, capsys,
                                                                 sampler):
    # 12 trials over the tabular space's 180 architectures, Ctrl-C once 2 have results: in
    # NSGA-II's first generation (4) and TPE's start-up (4), where a sampler rebuilt with the
    # run's seed draws the first session's architectures again. The resumed session is stopped
    # the same way after 3 results: its first proposals are the ones a replay would repeat.
    interrupt_after(monkeypatch, 2)
    command = tabular_run(tmp_path, "--sampler", sampler, "--seed", "3", "--trials", "12")
    assert main(command) == 130
    run = open_run(tmp_path / "r")
    before = load_trials(run.path)
    done_before = set(before.loc[before["status"] == "complete", "config_id"])
    assert len(done_before) == 2
    monkeypatch.undo()
    interrupt_after(monkeypatch, 3)
    assert main(["run", "--resume", str(run.path)]) == 130
    table = load_trials(run.path)
    later = table[table["trial"] > before["trial"].max()]
    assert later["status"].isin(CONSUMED).sum() >= 3
    # The space has 178 untried architectures: none trained before the resume is proposed again.
    assert not later["config_id"].isin(done_before).any(), later[["trial", "config_id"]]
    # The second session's sampler had a seed of its own, recorded; the first had the run's.
    seeds = [s["sampler_seed"] for s in run.read_meta()["sessions"]]
    assert seeds[0] == 3 and len(set(seeds)) == 2
    capsys.readouterr()


def test_a_run_answered_by_a_table_is_answered_by_it_on_resume(tmp_path, monkeypatch, capsys):
    # The resumed session is given no --evaluator: its trials must still come from the table
    # (every accuracy one of the table's rows for that architecture), not from training, and
    # another evaluator on resume is refused in one line.
    from t2tsearch.engine.evaluator import TableEvaluator

    interrupt_after(monkeypatch, 2)
    assert main(tabular_run(tmp_path, "--sampler", "random", "--seed", "5", "--trials", "5")) == 130
    monkeypatch.undo()
    run_path = tmp_path / "r"
    assert main(["run", "--resume", str(run_path)]) == 0
    table = load_trials(run_path)
    done = table[table["status"] == "complete"]
    assert len(done) == 5
    rows = TableEvaluator(TABLE.removeprefix("table:"))
    for _, row in done.iterrows():
        held = {round(rows.lookup(row["config_id"], seed)["accuracy"][-1], 6)
                for seed in rows.seeds[row["config_id"]]}
        assert round(row["accuracy"], 6) in held, row[["trial", "config_id", "accuracy"]]
    sessions = open_run(run_path).read_meta()["sessions"]
    assert [s["evaluator"] for s in sessions] == [TABLE, TABLE]
    capsys.readouterr()
    files = {name: (run_path / name).read_bytes() for name in ("space.yaml", "run.json")}
    assert main(["run", "--resume", str(run_path), "--trials", "6", "--evaluator", "train"]) == 2
    err = capsys.readouterr().err
    assert "--evaluator cannot change on resume" in err and err.count("\n") == 1
    # Refused before anything is written: not the new budget, not a session.
    assert all((run_path / name).read_bytes() == data for name, data in files.items())


def test_a_resumed_run_may_find_its_table_at_a_new_place_and_nothing_else(tmp_path):
    # Ray-free: which evaluator a resumed session gets, from what run.json records.
    import shutil

    from t2tsearch.engine.search import resume_evaluator
    from t2tsearch.errors import UserError

    table = tmp_path / "a" / "table.json.gz"
    table.parent.mkdir()
    shutil.copy(TABLE.removeprefix("table:"), table)
    run = RunDir.create(tmp_path, "r")
    run.write_meta({"sessions": []})
    assert resume_evaluator(run, None) is None  # no session yet: nothing to keep to
    run.write_meta({"sessions": [{"evaluator": f"table:{table}"}, {"evaluator": "train"}]})
    # A run trained on resume by an older version: the table its first trials came from wins.
    assert resume_evaluator(run, None) == f"table:{table}"
    with pytest.raises(UserError, match="cannot change on resume"):
        resume_evaluator(run, "train")
    other = tmp_path / "other.json.gz"
    shutil.copy(TABULAR / "t2t_mnist5k_32px_v2.json.gz", other)
    with pytest.raises(UserError, match="cannot change on resume"):
        resume_evaluator(run, f"table:{other}")  # another table, while the run's is there
    moved = tmp_path / "b" / "table.json.gz"
    moved.parent.mkdir()
    shutil.copy(table, moved)
    assert resume_evaluator(run, f"table:{moved}") == f"table:{moved}"  # the same bytes
    table.unlink()
    with pytest.raises(UserError, match="is gone; give its new place with --evaluator"):
        resume_evaluator(run, None)
    assert resume_evaluator(run, f"table:{moved}") == f"table:{moved}"


# ---- 2. exit status and counts that mean one thing ----------------------------------------------
def test_ctrl_c_resume_extend_exit_statuses_and_counts(tmp_path, monkeypatch, capsys):
    from t2tsearch.results.run import partial_reason

    interrupt_after(monkeypatch, 2)
    command = tabular_run(tmp_path, "--sampler", "random", "--seed", "4", "--trials", "6",
                          "--concurrency", "2")
    assert main(command) == 130
    monkeypatch.undo()
    out = capsys.readouterr()
    run = open_run(tmp_path / "r")
    space = load_space(run.space_file)
    assert f"t2tsearch run --resume {run.path}" in out.err
    table = load_trials(run.path)
    # Trials cut off are `interrupted` at once (no trial is left `running` after Ctrl-C), never
    # failed, and not counted against the budget.
    assert not table["status"].isin(["running", "failed"]).any()
    # Ctrl-C came with the second result; at concurrency 2 the other trial in flight (a table
    # answers at once) may still finish before Tune stops.
    done = int(table["status"].isin(CONSUMED).sum())
    assert 2 <= done < 6
    assert run.read_meta()["sessions"][0]["outcome"] == "interrupted"
    assert f"{done} of 6 trials done: the last session was interrupted" in partial_reason(
        table, space, run.read_meta())

    # Resumed and interrupted again: 130 again. (Whether a table's instant answers leave a
    # trial in flight for Ctrl-C to cut is down to timing, so that cut trials are trained again
    # first is checked where a real training is always cut: test_search.py's
    # test_interrupted_run_resumes_where_it_stopped.)
    interrupt_after(monkeypatch, 1)
    assert main(["run", "--resume", str(run.path)]) == 130
    monkeypatch.undo()
    table = load_trials(run.path)
    assert int(table["status"].isin(CONSUMED).sum()) > done  # the second session added results
    assert not table["status"].isin(["running", "failed"]).any()

    # Resumed to the end, from a run.json as runs wrote it before sessions recorded their
    # sampler seed and outcome: exit 0, interrupted trials not counted as failed.
    meta = run.read_meta()
    for session in meta["sessions"]:
        for key in ("sampler_seed", "outcome", "counts"):
            del session[key]
    run.write_meta(meta)
    capsys.readouterr()
    assert main(["run", "--resume", str(run.path)]) == 0
    out = capsys.readouterr()
    table = load_trials(run.path)
    assert table["status"].isin(CONSUMED).sum() == 6
    # One count: the summary line, trials.csv read back and a count by hand agree.
    by_hand = counted_by_hand(table)
    assert status_counts(pd.read_csv(run.trials_csv)) == by_hand
    summary = next(line for line in out.out.splitlines() if " proposals: " in line)
    for name, count in by_hand.items():
        assert f"{count} {name.replace('_', ' ')}" in summary
    assert "failed" not in summary and "trial(s) failed" not in out.err
    # The progress line counts the run's budget: the last one reads 6 of 6.
    progress = [line for line in out.out.splitlines() if line.startswith("[")]
    assert progress[-1].startswith("[  6/6]")
    assert partial_reason(table, space, run.read_meta()) == ""

    # A finished run resumed: nothing to train, exit 0; extended by 2 trials: exit 0.
    assert main(["run", "--resume", str(run.path)]) == 0
    assert main(["run", "--resume", str(run.path), "--trials", "8"]) == 0
    table = load_trials(run.path)
    assert table["status"].isin(CONSUMED).sum() == 8
    assert [s.get("outcome") for s in run.read_meta()["sessions"]] == [
        None, None, "finished", "finished", "finished"]
    capsys.readouterr()


def test_invalid_results_use_the_budget_and_are_counted_as_invalid(tmp_path, capsys):
    # A table without half of the space's architectures: the trainer answers those `invalid`.
    space_path = write_space(tmp_path, name="holes", search={
        "trials": 4, "concurrency": 1, "scheduler": "none", "sampler": "random", "seed": 0,
        "goal": "front"})
    space = load_space(space_path)
    rows = []
    for head_dim in (8, 16):
        cfg = build_config(space, {"backbone.depth": 1, "backbone.head_dim": head_dim})
        rows.append({"id": cfg.id, "seed": 0, "status": "complete", "reason": "",
                     "seconds": 0.1, "accuracy": [50.0 + head_dim],
                     "arch": json.loads(cfg.to_json())})
    table_path = tmp_path / "holes.json.gz"
    with gzip.open(table_path, "wt") as out:
        json.dump({"header": {"name": "holes"}, "rows": rows}, out)
    assert main(["run", str(space_path), "--out", str(tmp_path / "runs"), "--name", "r",
                 "--evaluator", f"table:{table_path}"]) == 0
    out = capsys.readouterr().out
    table = load_trials(tmp_path / "runs" / "r")
    invalid = table[table["status"] == "invalid"]
    depths = [json.loads(arch)["backbone"]["depth"] for arch in invalid["arch"]]
    assert len(invalid) >= 1 and set(depths) == {2}  # exactly the ones the table lacks
    assert invalid["reason"].str.contains("not in the table").all()
    # Each took a trial of the budget, and every count says so.
    assert table["status"].isin(CONSUMED).sum() == 4
    progress = [line for line in out.splitlines() if line.startswith("[")]
    assert progress[-1].startswith("[  4/4]")
    assert f"{len(invalid)} invalid" in out


# ---- a run killed while a trial's node is lost -------------------------------------------------
# The driver of the first session: a table answers the trials (3 epochs each); the second trial
# trained loses its node at its first epoch (Ray's own error, as Tune hands it over), and the
# driver is killed with SIGKILL before anything else happens.
KILLED_WHILE_LOST = """
import os, signal, sys
sys.path.insert(0, {root!r})
import t2tsearch.engine.search.tune_loop as tune_loop
from t2tsearch.cli import main
from tests.ray_errors import NODE_LOST


class LosesANodeThenDies(tune_loop.StudySearcher):
    def on_trial_result(self, trial_id, result):
        super().on_trial_result(trial_id, result)
        trial = self.live.get(trial_id)
        if trial is not None and trial.number == 1 and not result.get("final"):
            self.on_trial_complete(trial_id, None, error=True)
            self.trial_errored(trial_id, NODE_LOST)
            os.kill(os.getpid(), signal.SIGKILL)


tune_loop.StudySearcher = LosesANodeThenDies
sys.exit(main({args!r}))
"""


def test_a_run_killed_while_a_trial_s_node_is_lost_trains_it_again_first(tmp_path, ray_address):
    # Before: the trial was recorded `failed` the moment its node was lost, so the resumed run
    # never trained it again and exited 65.
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    args = tabular_run(tmp_path, "--sampler", "random", "--seed", "2", "--trials", "3",
                       "--concurrency", "1", "--address", ray_address)
    script = KILLED_WHILE_LOST.format(root=root, args=args)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=root)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    run_path = tmp_path / "r"
    before = load_trials(run_path)
    assert before.set_index("trial")["status"].to_dict() == {0: "complete", 1: "running"}
    lost_id = before.loc[before["trial"] == 1, "config_id"].item()

    assert main(["run", "--resume", str(run_path)]) == 0
    table = load_trials(run_path)
    row = table[table["trial"] == 1].iloc[0]
    assert row["status"] == "interrupted"
    assert row["reason"] == ("its node was lost (node fe68cd53), then the run was cut off before "
                             "its retry; trained again first on resume")
    # The resumed session's first trial is that architecture, trained to the end.
    first = table[table["trial"] > 1].sort_values("trial").iloc[0]
    assert first["config_id"] == lost_id and first["status"] == "complete"
    assert status_counts(table) == {"complete": 3, "interrupted": 1}
