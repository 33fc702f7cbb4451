"""Report figures on synthetic tables; the page, compare and bad input on one tiny real run."""

from __future__ import annotations

import itertools
import json
import os
import re

import optuna
import pandas as pd
import pytest
import yaml

from t2tsearch.cli import main
from t2tsearch.pareto import ObjectiveSpec, full_budget, hypervolume
from t2tsearch.report import (
    FRONT_TRACE,
    build_report,
    hypervolume_history,
    param_importances,
    plot_accuracy_by_parameter,
    plot_front,
    plot_group_fronts,
    plot_hypervolume,
    plot_importance,
)
from t2tsearch.results import STUDY_NAME, RunDir, load_trials
from t2tsearch.results.directory import space_digest
from t2tsearch.results.run import partial_reason, read_run
from t2tsearch.results.tables import CONFIRM_STUDY, PARAM_PREFIX
from tests.conftest import brute_force_front, copy_run
from tests.report_data import synthetic_table, two_groups

SPECS = [ObjectiveSpec("accuracy", True), ObjectiveSpec("macs", False)]


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


# ---- figures on synthetic tables ---------------------------------------------------------------
def test_front_plot_draws_every_trial_and_joins_the_front():
    table = synthetic_table([1e6, 2e6, 3e6, 4e6, 5e6], [50, 70, 60, 80, 99],
                            status=["complete"] * 4 + ["stopped_early"])
    fig = plot_front(table, "macs")
    front = trace(fig, FRONT_TRACE)
    assert list(front.x) == [1e6, 2e6, 4e6] and list(front.y) == [50, 70, 80]
    assert front.mode == "lines+markers"
    assert len(trace(fig, "full budget").x) == 4
    assert list(trace(fig, "stopped early").y) == [99]  # drawn, never on the front
    assert "backbone: depth" in front.text[0] and "t2t: splits" in front.text[0]
    assert fig.layout.xaxis.type == "log"


def test_front_plot_of_params_uses_its_own_plane():
    table = synthetic_table([1e6, 2e6], [50, 70])
    table["params"] = [9e4, 1e4]  # the more accurate one is smaller: it alone is the front
    assert list(trace(plot_front(table, "params"), FRONT_TRACE).y) == [70]


def test_log_cost_axes_state_scale_unit_and_tick_format():
    table = synthetic_table([1.5e6, 3e6, 8e6, 2e7, 4e7], [50, 60, 70, 80, 90])  # 1.4 decades
    for fig, unit in ((plot_front(table, "macs"), "MACs per image"),
                      (plot_front(table, "params"), "parameters"),
                      (plot_group_fronts(table, []), "MACs per image")):
        axis = fig.layout.xaxis
        assert axis.type == "log"
        # "~s": every tick an SI value ("2M"), never plotly's bare in-between "2" and "5"
        assert axis.tickformat == "~s" and axis.dtick == "D2"
        title = axis.title.text
        assert title.startswith(unit) and "log scale" in title and "M = 10⁶" in title
    wide = synthetic_table([1e3, 1e5, 1e7, 1e9], [50, 60, 70, 80])  # six decades: decades only
    assert plot_front(wide, "macs").layout.xaxis.dtick == 1


def test_hypervolume_history_grows_to_the_final_hypervolume():
    table = synthetic_table([4e6, 1e6, 2e6, 3e6], [60, 50, 40, 90],
                            status=["complete", "complete", "stopped_early", "complete"])
    reference = {"accuracy": 0.0, "macs": 4.4e6}
    history = hypervolume_history(table, SPECS, reference)
    assert history["trials"].tolist() == [1, 2, 3, 4]
    assert history["hypervolume"].is_monotonic_increasing
    box = 100 * reference["macs"]
    assert history["hypervolume"].iloc[-1] == pytest.approx(
        hypervolume(table, SPECS, reference) / box)
    assert history["seconds"].iloc[0] == pytest.approx(8)
    fig = plot_hypervolume({"r": table}, SPECS, reference, x="seconds")
    assert len(fig.data) == 1 and len(fig.data[0].x) == 4


def test_group_fronts_plot_one_front_per_group():
    table = two_groups(gap=3.0, noise=0.5, per_group=6)
    fig = plot_group_fronts(table, ["a", "b"])
    names = [t.name for t in fig.data]
    assert names == ["a", "a front", "b", "b front"]
    assert len(trace(fig, "a").x) == 6


def test_importance_for_each_objective_with_conditional_and_constant_parameters():
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for number in range(12):
        trial = study.ask()
        depth = trial.suggest_int("depth", 1, 8)
        width = trial.suggest_categorical("width", [16, 32, 64])
        trial.suggest_categorical("fixed", [1])
        if depth > 4:
            trial.suggest_categorical("extra", [1, 2])
        trial.set_user_attr("config_id", f"c{number}")
        trial.set_user_attr("status", "complete")
        study.tell(trial, [50 + 5 * depth, width * depth * 1e4])
    result = param_importances(study, SPECS)
    assert set(result.values) == {"accuracy", "macs"}
    assert set(result.values["accuracy"]) == {"depth", "width"}
    assert result.values["accuracy"]["depth"] > result.values["accuracy"]["width"]
    notes = " ".join(result.notes)
    assert "conditional" in notes and "extra" in notes and "fixed" in notes
    assert len(plot_importance(result.values).data) == 2


def test_importance_with_too_few_trials_is_a_note():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.enqueue_trial({"depth": 2})
    trial = study.ask()
    trial.suggest_int("depth", 1, 4)
    trial.set_user_attr("status", "complete")
    study.tell(trial, [1.0, 2.0])
    result = param_importances(study, SPECS)
    assert result.values == {} and "at least" in result.notes[0]


def test_accuracy_by_parameter_skips_trials_without_a_conditional_parameter():
    table = synthetic_table([1e6, 2e6, 3e6], [50, 60, 70])
    table[PARAM_PREFIX + "depth"] = [1, 2, 3]
    table[PARAM_PREFIX + "extra"] = [None, "x", "y"]
    fig = plot_accuracy_by_parameter(table, ["depth", "extra"])
    complete = [t for t in fig.data if t.name == "full budget"]
    assert [len(t.x) for t in complete] == [3, 2]


def test_partial_reason():
    from t2tsearch.space import parse_space
    from tests.report_data import TINY_REPORT_SPACE

    space = parse_space(TINY_REPORT_SPACE, "test")  # 4 trials
    done = synthetic_table([1e6, 2e6], [50, 60])
    assert "still running" in partial_reason(
        pd.concat([done, synthetic_table([3e6], [0], status=["running"], start=2)]), space, {})
    unfinished = {"sessions": [{"start": "x"}]}
    assert "2 of 4 trials done" in partial_reason(done, space, unfinished)
    assert partial_reason(done, space, {"sessions": [{"start": "x", "end": "y"}]}) == ""


# ---- the page on a real run --------------------------------------------------------------------
def front_ids_on_page(page: str) -> list[str]:
    """The config ids in the page's front table, in its order (the id is the second cell)."""
    body = page.split("id='front-table'")[1].split("</tbody>")[0]
    return re.findall(r"<tr><td[^>]*>[^<]*</td><td>([^<]+)</td>", body)


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_report_page_of_a_real_run(tiny_run, tmp_path, capsys, monkeypatch):
    import t2tsearch.report.assets as assets

    # Without a Chrome the page is still written, and one line says the PNGs were skipped
    # (test_the_report_exports_pngs_where_a_chrome_exists covers a machine with one).
    monkeypatch.setattr(assets, "find_chrome", lambda: None)
    run = copy_run(tiny_run, tmp_path)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "PNG images skipped: no Chrome or Chromium found" in out and not list(run.glob("*.png"))
    page = (run / "report.html").read_text()
    assert (run / "plotly.min.js").stat().st_size > 1_000_000
    assert "<script src='plotly.min.js'>" in page and "cdn" not in page.lower()
    # The front table holds exactly the architectures no other complete trial beats on both
    # accuracy and MACs, found here by comparing every pair of trials.csv's rows.
    front = front_ids_on_page(page)
    assert len(front) == len(set(front)) and set(front) == brute_force_front(
        pd.read_csv(run / "trials.csv"))
    data = read_run(run)
    for part in ("id='verdict'", "Scale: measured on mnist5k (300 training images) at 28 px, "
                 "1 epoch, 1 seed per architecture", "fig-front_macs", "fig-hypervolume_trials",
                 "fig-hypervolume_seconds", "fig-groups", "fig-by_parameter", "space.yaml as run",
                 "random sampler, 4 trials", data.meta["torch"],
                 "Reference point, chosen when the run started"):
        assert part in page, part
    # The settings say what trained the trials (each trial records its device).
    settings = page.split("settings-table")[1].split("</table>")[0]
    trained = (data.search_table["device"] == "cpu").sum()
    assert trained > 0 and f"cpu: {trained} trial" in settings and "trained on" in settings
    # The run's reference is the one run.json stored when it started.
    assert {k: data.reference[k] for k in ("accuracy", "macs")} == data.meta["reference"]
    assert "Partial run" not in page
    # No longer budget confirmed: the page says so beside the verdict, with the command.
    verdict = page.split("id='verdict'")[1].split("</section>")[0]
    assert (f"proxy fidelity: not measured yet; run <code>t2tsearch confirm {run} "
            f"--epochs 5</code>") in verdict
    assert "Proxy fidelity</h2>" in page and "id='fidelity-table'" not in page
    assert not list(run.glob(".report-*"))


def test_the_report_exports_pngs_where_a_chrome_exists(tiny_run, tmp_path, capsys):
    from t2tsearch.report import PNG_FIGURES, find_chrome

    if find_chrome() is None and not os.environ.get("CI"):
        pytest.skip("no Chrome or Chromium here (CI installs chromium and runs this)")
    run = copy_run(tiny_run, tmp_path)
    assert main(["report", str(run)]) == 0
    assert "PNG images skipped" not in capsys.readouterr().out
    for name in PNG_FIGURES:  # the tiny space has groups: all four figures are drawn
        width, height = png_size(run / f"{name}.png")
        assert width > 0 and height > 0, name
    assert not list(run.glob(".report-*"))


def test_an_old_run_without_split_seed_loads_as_it_was_made(tiny_run, tmp_path):
    assert "split_seed: 0" in (tiny_run / "space.yaml").read_text()  # a new run states it
    assert "<td>split seed</td><td>0: every seed is measured on the same validation images" in (
        build_report(tiny_run, tmp_path / "new" / "report.html", images=False).read_text())
    run = copy_run(tiny_run, tmp_path)
    space_file = run / "space.yaml"
    space_file.write_text(space_file.read_text().replace("  split_seed: 0\n", ""))
    meta = json.loads((run / "run.json").read_text())
    del meta["space_sha256"]  # a run that old predates the space's recorded digest too
    (run / "run.json").write_text(json.dumps(meta))
    data = read_run(run)
    assert data.space.train.split_seed is None and data.space.train.data_seed == 0
    page = build_report(run, images=False).read_text()
    assert "follows train.seed (run made before split_seed existed)" in page


def test_report_of_a_run_in_progress_says_it_is_partial(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    study = RunDir(run).load_study()
    live = study.ask()  # a trial still training: in the study, no result yet
    first = study.trials[0]
    live.set_user_attr("arch", first.user_attrs["arch"])
    meta = json.loads((run / "run.json").read_text())
    del meta["sessions"][-1]["end"]
    (run / "run.json").write_text(json.dumps(meta))
    page = build_report(run, images=False).read_text()
    assert "Partial run: 1 trial still running" in page


def add_confirmation(run, config_id, accuracy, seed, epochs=None):
    """One confirmation record as `t2tsearch confirm` writes it, on the run's split (0); without
    `epochs`, in the format written before budgets were recorded (the run's own budget)."""
    attrs = {"config_id": config_id, "seed": seed, "status": "complete", "role": "front",
             "split_seed": 0}
    if epochs is not None:
        attrs["epochs_budget"] = epochs
    study = optuna.create_study(study_name=CONFIRM_STUDY, storage=RunDir(run).storage_url,
                                direction="maximize", load_if_exists=True)
    study.add_trial(optuna.trial.create_trial(value=accuracy, user_attrs=attrs))


def test_the_page_measures_fidelity_at_each_longer_budget(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    done = full_budget(load_trials(run), SPECS)
    ids = list(done["config_id"])
    search = dict(zip(ids, done["accuracy"], strict=True))
    # Old-format records at the run's budget move the proxy means apart: id k gets 10 k points.
    for index, config_id in enumerate(ids):
        add_confirmation(run, config_id, search[config_id] + 10.0 * index, seed=1)
    proxy = [search[c] + 5.0 * index for index, c in enumerate(ids)]
    longer = [90.0 - 3.0 * index for index in range(len(ids))]  # the reverse order at 4 epochs
    for config_id, accuracy in zip(ids, longer, strict=True):
        add_confirmation(run, config_id, accuracy, seed=0, epochs=4)
    pairs = list(itertools.combinations(range(len(ids)), 2))
    concordant = sum((proxy[i] - proxy[j]) * (longer[i] - longer[j]) > 0 for i, j in pairs)
    tau = (2 * concordant - len(pairs)) / len(pairs)
    page = build_report(run, images=False).read_text()
    sentence = f"proxy fidelity: tau = {tau:.2f} over {len(ids)} architectures (1 vs 4 epochs)"
    assert sentence in page.split("id='verdict'")[1].split("</section>")[0]
    row = page.split("id='fidelity-table'")[1].split("</table>")[0].split("<tr>")[2]
    assert f"<td>4 epochs (4x the proxy)</td><td>{len(ids)} ({len(ids)} front" in row
    assert f"<td>{tau:.2f} (p = " in row
    assert "shallow vs deep" in row or "deep vs shallow" in row
    assert "not measured yet" not in page and "fig-fidelity" in page
    # The main verdict stays on the search's budget, with the seed means.
    assert "1 epoch, 2 seeds per front architecture, mean" in page


def test_compare_overlays_runs_on_a_common_reference(tiny_run, tmp_path, capsys):
    other = copy_run(tiny_run, tmp_path, "other")
    # The other run chose a lower accuracy reference (more classes) and a larger MACs one.
    meta = json.loads((other / "run.json").read_text())
    own = meta["reference"]
    meta["reference"] = {"accuracy": 5.0, "macs": 2 * own["macs"]}
    (other / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "cmp" / "compare.html"
    assert main(["compare", str(tiny_run), str(other), "--out", str(out)]) == 0
    page = out.read_text()
    assert (out.parent / "plotly.min.js").exists()
    assert "run front" in page and "other front" in page
    for part in ("fig-fronts", "fig-hypervolume_trials", "fig-hypervolume_seconds", "runs-table",
                 "Common reference point: accuracy 5.0%"):
        assert part in page, part
    assert main(["compare", str(tiny_run), "--out", str(out)]) == 2
    assert "at least two runs" in capsys.readouterr().err


# ---- bad input: one line, status 2, nothing written ---------------------------------------------------
def assert_nothing_written(folder):
    leftovers = [p.name for p in folder.iterdir()
                 if p.name in ("report.html", "plotly.min.js") or p.name.startswith(".report-")]
    assert leftovers == []


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a t2tsearch run" in err
    assert_nothing_written(tmp_path)


def test_a_run_with_no_finished_trial(tiny_run, tmp_path, capsys):
    run = copy_run(tiny_run, tmp_path)
    (run / "study.db").unlink()
    optuna.create_study(study_name=STUDY_NAME, storage=RunDir(run).storage_url,
                        directions=["maximize", "minimize"])
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no finished full-budget trial" in err
    assert_nothing_written(run)


def test_a_run_whose_groups_match_no_trial(tiny_run, tmp_path, capsys):
    run = copy_run(tiny_run, tmp_path)
    space = yaml.safe_load((run / "space.yaml").read_text())
    space["groups"] = {"giant": "backbone.depth >= 12"}
    (run / "space.yaml").write_text(yaml.safe_dump(space))
    meta = json.loads((run / "run.json").read_text())
    meta["space_sha256"] = space_digest((run / "space.yaml").read_text())  # as if run so
    (run / "run.json").write_text(json.dumps(meta))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "belongs to any of the space's groups (giant)" in err
    assert_nothing_written(run)
