"""Confirmation runs: more seeds for the front, or a longer budget for the front and a control
sample, through the same engine, resumable, in the run."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from t2tsearch.cli import main
from t2tsearch.engine.confirm import ConfirmError, confirm_budget, control_sample, run_confirm
from t2tsearch.report import build_report
from t2tsearch.results import RunDir, load_trials
from t2tsearch.results.run import read_run
from t2tsearch.results.tables import (
    CONFIRM_STUDY,
    apply_confirmation,
    confirmed_table,
    load_confirmations,
    same_budget_confirmations,
    search_split_confirmations,
    seed_summary,
)
from t2tsearch.space import load_run_space, load_space
from tests.conftest import brute_force_front, copy_run
from tests.report_data import synthetic_table
from tests.test_report import front_ids_on_page


def searched(run) -> pd.DataFrame:
    """The search's complete trials as trials.csv lists them, one row per architecture."""
    table = pd.read_csv(run / "trials.csv")
    return table[table["status"] == "complete"].drop_duplicates("config_id")


def means_over_seeds(run) -> pd.DataFrame:
    """searched(run) with each accuracy replaced by its mean over the search's seed and the
    confirmations at the run's own budget, read from the confirm study itself."""
    table = searched(run).set_index("config_id")
    budget = int(yaml.safe_load((run / "space.yaml").read_text())["train"]["epochs"])
    extra: dict[str, list[float]] = {}
    study = optuna.load_study(study_name=CONFIRM_STUDY, storage=RunDir(run).storage_url)
    for trial in study.trials:
        attrs = trial.user_attrs
        if attrs["status"] == "complete" and attrs.get("epochs_budget", budget) == budget:
            extra.setdefault(attrs["config_id"], []).append(trial.value)
    for config_id, values in extra.items():
        table.loc[config_id, "accuracy"] = float(np.mean([table.loc[config_id, "accuracy"],
                                                          *values]))
    return table.reset_index()


@pytest.fixture(scope="module")
def confirmed_run(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run, confirmed on a second seed (trained on Ray), with the
    search study as it was before and the front found by brute force on trials.csv."""
    run = copy_run(tiny_run, tmp_path_factory.mktemp("confirm"))
    before = [(t.number, t.state, t.values) for t in RunDir(run).load_study().trials]
    front = brute_force_front(searched(run))
    summary = run_confirm(run, seeds=2, echo=lambda line: None)
    return run, before, front, summary


def test_summary_and_mean_replace_single_seed_accuracies():
    table = synthetic_table([1e6, 2e6, 3e6], [50, 60, 70])
    confirmations = pd.DataFrame({
        "config_id": ["id0000", "id0000", "id0001", "id0001", "other"],
        "seed": [1, 2, 1, 2, 1], "status": ["complete"] * 3 + ["diverged", "complete"],
        "accuracy": [54.0, 58.0, 40.0, None, 1.0], "seconds": 1.0, "reason": ""})
    summary = seed_summary(table, confirmations, base_seed=0)
    by_id = summary.set_index("config_id")
    assert by_id.loc["id0000", "seeds"] == 3 and by_id.loc["id0000", "mean"] == pytest.approx(54)
    assert by_id.loc["id0000", "std"] == pytest.approx(4.0)
    assert by_id.loc["id0001", "seeds"] == 2 and by_id.loc["id0001", "mean"] == pytest.approx(50)
    assert "other" not in by_id.index and "id0002" not in by_id.index
    applied = apply_confirmation(table, summary)
    assert applied["accuracy"].tolist() == pytest.approx([54, 50, 70])
    assert applied["accuracy_single"].tolist() == [50, 60, 70]
    assert applied["seeds"].tolist() == [3, 2, 1]


def test_confirm_trains_each_front_architecture_on_the_next_seeds(confirmed_run):
    run, _, front, summary = confirmed_run
    # The tiny space has groups: beside the front, a seeded sample of the groups' other
    # architectures (up to 6; this run has fewer, so all of them) is trained on the seed too.
    others = set(searched(run)["config_id"]) - front
    assert others and set(summary.controls) == others
    assert summary.trained == len(front) + len(others) and summary.skipped == 0
    recorded = load_confirmations(RunDir(run))
    assert sorted(recorded["config_id"]) == sorted(front | others)
    assert set(recorded.loc[recorded["config_id"].isin(others), "role"]) == {"control"}
    assert set(recorded["seed"]) == {1}  # the search trained on seed 0
    assert (recorded["status"] == "complete").all() and (recorded["accuracy"] > 0).all()
    # The front after confirmation is that of the means, every architecture on two seeds.
    assert set(summary.front["config_id"]) == brute_force_front(means_over_seeds(run))
    assert (summary.front["seeds"] == 2).all()
    assert RunDir(run).read_meta()["confirm_sessions"][0]["end"]
    # Each training records what trained it, as the search's trials do.
    import optuna


    study = optuna.load_study(study_name=CONFIRM_STUDY, storage=RunDir(run).storage_url)
    assert {trial.user_attrs["device"] for trial in study.trials} == {"cpu"}


def test_the_extra_seeds_are_measured_on_the_search_split(confirmed_run):
    run = confirmed_run[0]
    split = load_run_space(RunDir(run).space_file).train.split_seed
    assert split == 0
    study = optuna.load_study(study_name=CONFIRM_STUDY, storage=RunDir(run).storage_url)
    assert {(t.user_attrs["seed"], t.user_attrs["split_seed"]) for t in study.trials} == {(1, 0)}


def test_an_old_run_confirms_on_the_split_its_search_used(tmp_path):
    # Made before split_seed: the search's split followed train.seed (here 5).
    space_file = tmp_path / "space.yaml"
    space_file.write_text("parameters: {backbone.depth: {choice: [1, 2]}}\ntrain: {seed: 5}\n")
    space = load_run_space(space_file)
    budgets = [confirm_budget(space, seed) for seed in (6, 7)]
    assert [(b.seed, b.data_seed) for b in budgets] == [(6, 5), (7, 5)]


def test_the_search_study_is_untouched(confirmed_run):
    run, before, _, _ = confirmed_run
    after = [(t.number, t.state, t.values) for t in RunDir(run).load_study().trials]
    assert after == before
    names = {s.study_name for s in optuna.get_all_study_summaries(RunDir(run).storage_url)}
    assert names == {"t2tsearch", CONFIRM_STUDY}


def test_confirm_is_resumable(confirmed_run, capsys):
    run, _, old_front, summary = confirmed_run
    front = set(summary.front["config_id"])
    assert main(["confirm", str(run), "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    # Everything asked for was trained by the first call (the front and the groups' sample,
    # which here is every other architecture): nothing to run again.
    done = old_front | set(summary.controls)
    assert front <= done
    assert f"0 trainings to run, {len(done)} already done" in out
    assert len(load_confirmations(RunDir(run))) == len(done)


def test_the_report_shows_mean_and_spread_and_the_verdict_counts_seeds(confirmed_run):
    run, _, _, _ = confirmed_run
    assert read_run(run).confirm_seeds == 2
    page = build_report(run, run.parent / "page" / "report.html", images=False).read_text()
    assert set(front_ids_on_page(page)) == brute_force_front(means_over_seeds(run))
    assert "± sd" in page and "min-max" in page
    assert "2 seeds per front architecture, mean" in page
    assert "Front confirmed on up to 2 seeds" in page


def test_confirm_needs_two_seeds_or_more(confirmed_run, capsys):
    run = confirmed_run[0]
    assert main(["confirm", str(run), "--seeds", "1"]) == 2  # click's usage error
    assert "--seeds" in capsys.readouterr().err
    with pytest.raises(ConfirmError, match="give 2 or more"):
        run_confirm(run, seeds=1)


# ---- a longer budget: the front and a control sample ---------------------------------------------
@pytest.fixture(scope="module")
def longer_run(confirmed_run, tmp_path_factory):
    """A copy of the confirmed tiny run (1 epoch), then confirmed at 2 epochs."""
    source = confirmed_run[0]
    run = copy_run(source, tmp_path_factory.mktemp("longer"))
    lines: list[str] = []
    summary = run_confirm(run, epochs=2, echo=lines.append)
    return run, summary, lines


def test_confirm_epochs_trains_the_front_and_controls_at_the_longer_budget(longer_run):
    run, summary, lines = longer_run
    space = load_space(RunDir(run).space_file)
    # The front of the seed means (the 2-epoch records are not averaged in), by brute force.
    front = brute_force_front(means_over_seeds(run))
    others = set(searched(run)["config_id"]) - front
    # 6 controls asked, fewer architectures off the front: all of them, and it says so.
    assert sorted(summary.controls) == sorted(others)
    assert any(f"only {len(others)} full-budget architectures outside the front" in line
               for line in lines)
    records = load_confirmations(RunDir(run))
    longer = records[records["epochs"] == 2]
    assert summary.trained == len(front) + len(others) == len(longer)
    assert set(longer["seed"]) == {space.train.seed}
    assert sorted(longer.loc[longer["role"] == "front", "config_id"]) == sorted(front)
    assert sorted(longer.loc[longer["role"] == "control", "config_id"]) == sorted(others)
    assert (longer["status"] == "complete").all() and (longer["accuracy"] > 0).all()
    # The earlier seed confirmations stay at the run's budget and still make the means.
    assert set(records.loc[records["seed"] == 1, "epochs"]) == {1}
    confirmed = confirmed_table(RunDir(run), space)
    confirmed = confirmed[confirmed["status"] == "complete"]  # a quota row of it has one seed
    assert (confirmed.set_index("config_id").loc[sorted(front), "seeds"] == 2).all()
    session = RunDir(run).read_meta()["confirm_sessions"][-1]
    assert session["epochs"] == 2 and session["controls"] == len(others) and session["end"]


def test_confirm_epochs_resumes_with_the_same_controls(longer_run, capsys):
    run, summary, _ = longer_run
    again = run_confirm(run, epochs=2, echo=lambda line: None)
    assert again.trained == 0 and again.skipped == summary.trained
    assert again.controls == summary.controls
    assert main(["confirm", str(run), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"0 trainings to run, {summary.trained} already done" in out
    assert "proxy fidelity: tau = " in out and "(1 vs 2 epochs)" in out


def test_confirm_epochs_must_exceed_the_run_budget(confirmed_run, capsys):
    run = confirmed_run[0]
    assert main(["confirm", str(run), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--epochs 1 is not above the run's budget" in err
    assert "train.epochs 1" in err and "space.yaml" in err
    assert main(["confirm", str(run), "--epochs", "3", "--controls", "-1"]) == 2
    assert "--controls -1" in capsys.readouterr().err


def groups_table() -> pd.DataFrame:
    """Ten architectures: five in group a, three in b, two in none; accuracy grows with MACs."""
    groups = ["a"] * 5 + ["b"] * 3 + [""] * 2
    return synthetic_table([1e6 * (i + 1) for i in range(10)], [50 + i for i in range(10)],
                           groups=groups)


def test_the_control_sample_takes_turns_over_groups_and_avoids_the_front():
    table = groups_table()
    group_of = dict(zip(table["config_id"], table["groups"], strict=True))
    front = ["id0009", "id0004"]
    for seed in range(5):
        sample = control_sample(table, front, ["a", "b"], 4, seed)
        ids = list(sample["config_id"])
        assert len(set(ids)) == 4 and not set(ids) & set(front)
        # Four picks from two groups that each hold enough: two each, never the ungrouped.
        assert sorted(group_of[i] for i in ids) == ["a", "a", "b", "b"]
        # b has 3 members, a 4 off the front: 7 picks spend both groups before the rest.
        seven = [group_of[i] for i in control_sample(table, front, ["a", "b"], 7, seed)["config_id"]]
        assert sorted(seven) == ["a"] * 4 + ["b"] * 3
        everything = control_sample(table, front, ["a", "b"], 20, seed)
        assert sorted(everything["config_id"]) == sorted(set(table["config_id"]) - set(front))


def test_the_control_sample_is_fixed_by_seed_and_table_content():
    table = groups_table()
    first = list(control_sample(table, [], ["a", "b"], 4, seed=3)["config_id"])
    shuffled = table.sample(frac=1.0, random_state=7)
    assert list(control_sample(shuffled, [], ["a", "b"], 4, seed=3)["config_id"]) == first
    others = {tuple(control_sample(table, [], ["a", "b"], 4, seed=s)["config_id"])
              for s in range(10)}
    assert len(others) > 1  # the seed draws; it is not a fixed order


def test_records_from_before_the_split_was_pinned_are_trained_again(tmp_path, monkeypatch):
    """Confirm once trained seed s on split s; the search measured on split 0. Such records
    are neither averaged with the search's results nor counted as done."""
    import t2tsearch.engine.confirm as confirm
    from tests.test_search import TINY_SPACE
    from tests.test_search_guards import drive

    data = {**TINY_SPACE, "search": {**TINY_SPACE["search"], "sampler": "random", "trials": 4}}
    searcher, space, _, table, _ = drive(tmp_path, data, {}, trials=4)
    run = searcher.run
    assert (space.train.seed, space.train.data_seed) == (0, 0)
    front_ids = sorted(brute_force_front(load_trials(run.path)))
    study = optuna.create_study(study_name=CONFIRM_STUDY, storage=run.storage_url,
                                direction="maximize")
    for config_id in front_ids:
        for value, attrs in (
                (99.0, {"seed": 1}),  # legacy, at the run's budget: seed 1 on split 1
                (97.0, {"seed": 0, "epochs_budget": 5}),  # legacy, seed 0: split 0 all along
                (60.0, {"seed": 2, "split_seed": 0, "epochs_budget": 1})):  # pinned
            study.add_trial(optuna.trial.create_trial(value=value, user_attrs={
                "config_id": config_id, "status": "complete", **attrs}))
    records = load_confirmations(run)
    assert sorted(zip(records["seed"], records["split_seed"], strict=True)) == sorted(
        [(1, 1), (0, 0), (2, 0)] * len(front_ids))
    on_split = search_split_confirmations(run, space)
    assert sorted(zip(on_split["seed"], on_split["epochs"], strict=True)) == sorted(
        [(0, 5), (2, 1)] * len(front_ids))
    assert set(same_budget_confirmations(run, space)["seed"]) == {2}
    # The report's accuracy of a front architecture: the mean of the search's and seed 2's.
    confirmed = confirmed_table(run, space).set_index("trial")
    searched = table[table["status"] == "complete"].drop_duplicates("config_id")
    for _, row in searched[searched["config_id"].isin(front_ids)].iterrows():
        assert confirmed.loc[row["trial"], "accuracy"] == pytest.approx(
            (row["accuracy"] + 60.0) / 2)
        assert confirmed.loc[row["trial"], "seeds"] == 2
    # Seed 1 is trained again, on the search's split; seed 2 is done.
    jobs = []
    monkeypatch.setattr(confirm, "_train", lambda run, space, study, todo, *rest: (
        jobs.extend(todo), 0)[1])
    summary = run_confirm(run.path, seeds=3, echo=lambda line: None)
    new_front = sorted(brute_force_front(confirmed_table(run, space)))
    expected = [(c, 1) for c in new_front] + [(c, 2) for c in new_front if c not in front_ids]
    assert sorted((job["config_id"], job["seed"]) for job in jobs) == sorted(expected)
    assert {job["budget"]["split_seed"] for job in jobs} == {0}
    assert summary.skipped == len(set(new_front) & set(front_ids))


def test_a_failed_training_counts_until_a_later_confirm_trains_it(tmp_path, monkeypatch, capsys):
    """`confirm --epochs` says how many trainings failed; the fidelity counts a job (architecture,
    seed) as failed only while no record of it completed."""
    import t2tsearch.engine.confirm as confirm
    from t2tsearch.fidelity import run_fidelity
    from tests.test_search import TINY_SPACE
    from tests.test_search_guards import drive

    data = {**TINY_SPACE, "search": {**TINY_SPACE["search"], "sampler": "random", "trials": 4}}
    searcher, space, _, _, _ = drive(tmp_path, data, {}, trials=4)
    run = searcher.run
    outcomes = iter([{"status": "diverged", "reason": "loss is nan"}] * 2)

    def fake_train(run, space, study, jobs, *rest):
        # The first two trainings of the first call diverge; every other one completes.
        recorder = confirm._Recorder(study, lambda line: None, len(jobs))
        for number, job in enumerate(jobs):
            recorder.record(job, next(outcomes, {"status": "complete", "accuracy": 80.0 + number,
                                                 "accuracy_curve": [80.0 + number]}))
        return recorder.failed

    monkeypatch.setattr(confirm, "_train", fake_train)
    assert main(["confirm", str(run.path), "--epochs", "5", "--controls", "1"]) == 0
    out = capsys.readouterr().out
    records = load_confirmations(run)
    jobs = len(records)
    assert jobs >= 2 and f"{jobs} trained, 0 already done, 2 failed at 5 epochs" in out
    [fidelity] = run_fidelity(read_run(run.path), bootstrap=10)
    assert fidelity.failed == 2
    # The next call trains the two failed jobs again, and they complete.
    assert main(["confirm", str(run.path), "--epochs", "5", "--controls", "1"]) == 0
    assert f"2 trained, {jobs - 2} already done, 0 failed at 5 epochs" in capsys.readouterr().out
    assert (load_confirmations(run)["status"] != "complete").sum() == 2  # still on record
    [fidelity] = run_fidelity(read_run(run.path), bootstrap=10)
    assert fidelity.failed == 0 and fidelity.architectures == jobs


def test_a_run_answered_from_a_table_is_not_confirmed(tmp_path, capsys):
    """Confirming a tabular benchmark's run would train for real: refused in one line, and the
    run does not suggest it."""
    from t2tsearch.cli import next_commands
    from tests.test_search import GROUPED_SPACE
    from tests.test_search_guards import drive

    searcher, _, _, _, _ = drive(tmp_path, GROUPED_SPACE, {}, trials=4)
    run = searcher.run
    run.write_meta({"sessions": [{"evaluator": "train"}]})
    assert any("t2tsearch confirm" in line for line in next_commands(run.path))
    run.write_meta({"sessions": [{"evaluator": "train"}, {"evaluator": "table:bench.json.gz"}]})
    assert [line for line in next_commands(run.path) if "confirm" in line] == []
    for args in (["--seeds", "2"], ["--epochs", "5"]):
        assert main(["confirm", str(run.path), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(run.path) in err
        assert "answered from a tabular benchmark (table:bench.json.gz)" in err
    with pytest.raises(KeyError):  # nothing was started: no confirm study
        optuna.load_study(study_name=CONFIRM_STUDY, storage=run.storage_url)


# ---- the test set: what confirm re-trains is measured on the images the search never saw -------
# The test labels' counts per class: all odd, none a tenth of the 100.
TEST_COUNTS = [19, 17, 15, 13, 11, 9, 7, 5, 3, 1]


def fashion_with_a_constant_test_set(folder) -> None:
    """Fake Fashion-MNIST (gzipped idx files): 300 training images, and 100 test images that are
    all one image, labelled per TEST_COUNTS. Any model gives every test image the same class,
    so a test accuracy is one of TEST_COUNTS (odd, in %); with 50 validation images a
    validation accuracy is even."""
    from tests.fake_datasets import make_idx_gz, write_idx

    make_idx_gz(folder, np.arange(300) % 10, np.repeat(np.arange(10), TEST_COUNTS))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.full((100, 28, 28), 90, dtype=np.uint8),
              gzipped=True)


def test_confirm_reports_test_accuracy_beside_validation_accuracy(tmp_path, ray_session, capsys):
    from tests.test_search import TINY_SPACE
    from tests.test_search_guards import drive

    fashion_with_a_constant_test_set(tmp_path / "fashion")
    train = {**TINY_SPACE["train"], "dataset": "fashion_mnist",
             "data_dir": str(tmp_path / "fashion"), "val_size": 50, "train_subset": None,
             "val_subset": None}
    data = {**TINY_SPACE, "train": train,
            "search": {**TINY_SPACE["search"], "sampler": "random", "trials": 4}}
    searcher, _, _, _, _ = drive(tmp_path, data, {}, trials=4)
    run = searcher.run
    lines: list[str] = []
    summary = run_confirm(run.path, seeds=2, echo=lines.append)
    records = load_confirmations(run)
    assert summary.trained == len(records) > 0 and (records["status"] == "complete").all()
    for _, row in records.iterrows():
        assert row["test_accuracy"] in TEST_COUNTS, row["test_accuracy"]
        assert round(row["accuracy"]) % 2 == 0 and row["accuracy"] == pytest.approx(
            round(row["accuracy"]))
    trained = [line for line in lines if "seed 1, 1 epochs" in line]
    assert len(trained) == len(records)
    assert all("val acc" in line and "test acc" in line for line in trained)
    # The command prints both, saying which is which; the report shows both, labelled.
    assert main(["confirm", str(run.path), "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "test acc: the test set it never saw" in out
    for config_id, test in zip(records["config_id"], records["test_accuracy"], strict=True):
        assert f"| test acc {test:6.2f}%" in next(line for line in out.splitlines()
                                                   if config_id in line and "trial" in line)
    page = build_report(run.path, tmp_path / "page" / "report.html", images=False).read_text()
    assert "<h2>Test accuracy</h2>" in page and "id='test-table'" in page
    assert "validation accuracy (%)" in page and "test accuracy (%)" in page
    assert "which the search never saw" in page
    assert "50 of fashion_mnist&#x27;s training images" in page  # the settings say which
    for test in records["test_accuracy"]:
        assert f"<td>{test:.2f}</td>" in page


def test_a_dataset_without_a_test_set_records_none(confirmed_run):
    run = confirmed_run[0]  # mnist5k: 1,000 of its 5,000 images validate, none are a test set
    assert load_confirmations(RunDir(run))["test_accuracy"].isna().all()
    page = build_report(run, run.parent / "page-none" / "report.html", images=False).read_text()
    assert "id='test-table'" not in page and "1,000 of mnist5k&#x27;s 5,000 images" in page


def test_a_missing_test_set_stops_confirm_before_any_training(tmp_path, ray_session, capsys):
    """The search reads only the training files; confirm also needs the test files. Without
    them it says so in one line before training, instead of failing every training after it."""
    from tests.test_search import TINY_SPACE
    from tests.test_search_guards import drive

    folder = tmp_path / "fashion"
    fashion_with_a_constant_test_set(folder)
    train = {**TINY_SPACE["train"], "dataset": "fashion_mnist", "data_dir": str(folder),
             "val_size": 50, "train_subset": None, "val_subset": None}
    data = {**TINY_SPACE, "train": train,
            "search": {**TINY_SPACE["search"], "sampler": "random", "trials": 2}}
    searcher, _, _, _, _ = drive(tmp_path, data, {}, trials=2)
    run = searcher.run
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    sessions_before = run.read_meta().get("confirm_sessions", [])
    assert main(["confirm", str(run.path), "--seeds", "2"]) == 2
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(error_lines) == 1 and "Traceback" not in captured.err
    assert "t10k-images-idx3-ubyte" in error_lines[0] and str(folder) in error_lines[0]
    assert "test set" in error_lines[0]
    # Nothing was trained or recorded as failed, and no session was started.
    assert load_confirmations(run).empty
    assert run.read_meta().get("confirm_sessions", []) == sessions_before
