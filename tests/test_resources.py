"""A trial's request against the Ray cluster: refused in one line when no node can hold it, a note
when GPUs go unused, and a line while trials wait for busy resources."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import yaml

from t2tsearch.engine.resources import (
    ResourceError,
    TrialRequest,
    check_request,
    unused_gpus_note,
    waiting_notice,
)
from t2tsearch.results import RunDir

LAPTOP = [{"CPU": 2.0, "memory": 1e9}]
GPU_NODE = [{"CPU": 16.0, "GPU": 8.0}]


def test_a_request_some_node_holds_passes():
    check_request(TrialRequest(1, 0), LAPTOP)
    check_request(TrialRequest(2, 0.25), [*LAPTOP, *GPU_NODE])
    check_request(TrialRequest(4, 2), GPU_NODE)


@pytest.mark.parametrize("request_, setting", [
    (TrialRequest(1, 0.25), "search.gpus_per_trial 0.25 (--gpus-per-trial)"),
    (TrialRequest(8, 0), "search.cpus_per_trial 8 (--cpus-per-trial)"),
])
def test_a_request_no_node_holds_names_the_setting_request_and_nodes(request_, setting):
    with pytest.raises(ResourceError) as caught:
        check_request(request_, LAPTOP)
    message = str(caught.value)
    assert message.startswith(setting) and "\n" not in message
    assert f"one trial asks for {request_.describe()}" in message
    assert "1 node: 2 CPUs, 0 GPUs" in message


def test_cpus_and_gpus_that_fit_only_on_different_nodes_are_refused_together():
    with pytest.raises(ResourceError, match="cpus_per_trial 8 with search.gpus_per_trial 1"):
        check_request(TrialRequest(8, 1), [{"CPU": 16.0}, {"CPU": 4.0, "GPU": 1.0}])


def test_more_than_one_gpu_must_be_whole():
    with pytest.raises(ResourceError, match="fractions below 1"):
        check_request(TrialRequest(1, 1.5), GPU_NODE)


def test_gpus_no_trial_asks_for_are_noted():
    note = unused_gpus_note(TrialRequest(1, 0), GPU_NODE)
    assert note is not None and "8 GPUs" in note and "--gpus-per-trial" in note
    assert unused_gpus_note(TrialRequest(1, 0.5), GPU_NODE) is None
    assert unused_gpus_note(TrialRequest(1, 0), LAPTOP) is None


def test_a_run_on_a_machine_with_gpus_but_no_request_says_so_at_its_start(monkeypatch):
    import t2tsearch.engine.resources as resources

    monkeypatch.setattr(resources, "node_resources", lambda: GPU_NODE)
    lines: list[str] = []
    resources.check_cluster(TrialRequest(1, 0), lines.append)
    assert len(lines) == 1 and lines[0].startswith("note: the Ray cluster has 8 GPUs")
    resources.check_cluster(TrialRequest(1, 0.25), lines.append)
    assert len(lines) == 1


def test_trials_waiting_for_busy_resources_are_said_once_per_spell():
    lines: list[str] = []
    now = {"t": 0.0}
    free = {"CPU": 2.0, "GPU": 0.0}
    callback = waiting_notice(TrialRequest(1, 0.5), lines.append, available=lambda: free,
                              clock=lambda: now["t"], after=10, unplaced=lambda: 1)
    pending = [SimpleNamespace(trial_id="a", status="PENDING")]
    for t in (0.0, 5.0, 11.0, 12.0):
        now["t"] = t
        callback.on_step_end(iteration=0, trials=pending)
    assert len(lines) == 1 and lines[0].startswith("waiting for resources: 1 trial(s) pending")
    assert "0.5 GPUs" in lines[0] and "free now: 2 CPUs, 0 GPUs" in lines[0]
    # It started; a later spell is said again.
    callback.on_step_end(iteration=1, trials=[SimpleNamespace(trial_id="a", status="RUNNING")])
    now["t"] = 30.0
    callback.on_step_end(iteration=2, trials=[SimpleNamespace(trial_id="b", status="PENDING")])
    now["t"] = 41.0
    callback.on_step_end(iteration=3, trials=[SimpleNamespace(trial_id="b", status="PENDING")])
    assert len(lines) == 2


def test_a_trial_whose_worker_is_starting_is_not_waiting():
    # Its resources are reserved (no placement group waits), so none are free, yet it only
    # waits for its worker process to start: seen on a loaded 2-core machine, 2 trials
    # pending 15 s with 0 CPUs free.
    lines: list[str] = []
    now = {"t": 0.0}
    callback = waiting_notice(TrialRequest(1, 0), lines.append, available=lambda: {"CPU": 0.0},
                              clock=lambda: now["t"], after=10, unplaced=lambda: 0)
    for t in (0.0, 20.0):
        now["t"] = t
        callback.on_step_end(iteration=0, trials=[SimpleNamespace(trial_id="a",
                                                                  status="PENDING")])
    assert lines == []


TINY = {
    "name": "tiny",
    "base": {"t2t": {"soft_splits": [[7, 4, 2], [3, 2, 1]], "token_dim": 8},
             "backbone": {"num_heads": 2, "mlp_ratio": 1.0}},
    "parameters": {"backbone.depth": {"int": {"low": 1, "high": 2}}},
    "train": {"dataset": "mnist5k", "img_size": 28, "epochs": 1, "batch_size": 100,
              "measure_latency": False, "train_subset": 300, "val_subset": 100},
    "search": {"trials": 2, "concurrency": 1, "scheduler": "none", "sampler": "random"},
}


@pytest.mark.parametrize("flag, value, setting", [
    ("--gpus-per-trial", "0.25", "search.gpus_per_trial 0.25"),
    ("--cpus-per-trial", "64", "search.cpus_per_trial 64"),
])
def test_run_asking_more_than_any_node_has_ends_in_one_line(tmp_path, ray_address, flag, value,
                                                            setting):
    # Before, Tune left the trial pending and the run printed its first line, then nothing.
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY, sort_keys=False))
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "t2tsearch.cli", "run", str(space), "--out",
             str(tmp_path / "runs"), "--address", ray_address, flag, value],
            capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run {flag} {value} was still waiting after 120 s")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert setting in done.stderr and "no node of the Ray cluster can hold it" in done.stderr
    assert time.monotonic() - started < 60
    assert not list((tmp_path / "runs").glob("*"))  # a run that never started leaves nothing


@pytest.mark.parametrize("flag, value, setting", [
    ("--gpus-per-trial", "0.25", "search.gpus_per_trial 0.25"),
    ("--cpus-per-trial", "64", "search.cpus_per_trial 64"),
])
def test_confirm_asking_more_than_any_node_has_ends_in_one_line(tiny_run, tmp_path, ray_address,
                                                                capsys, flag, value, setting):
    from t2tsearch.cli import main

    from .conftest import copy_run

    run = copy_run(tiny_run, tmp_path)
    assert main(["confirm", str(run), "--seeds", "2", "--address", ray_address, flag,
                 value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and setting in err and "no node of the Ray cluster" in err
    # Refused before the session was recorded.
    assert "confirm_sessions" not in RunDir(run).read_meta()


def test_confirm_trains_with_the_run_s_resources_unless_told(tiny_run, tmp_path, ray_address,
                                                               monkeypatch):
    import t2tsearch.engine.resources as resources
    from t2tsearch.engine.confirm import run_confirm

    from .conftest import copy_run

    asked: list[TrialRequest] = []

    def refuse(request, echo):
        asked.append(request)
        raise ResourceError("stop here")

    monkeypatch.setattr(resources, "check_cluster", refuse)
    run = copy_run(tiny_run, tmp_path)
    for given in ({}, {"cpus_per_trial": 2.0, "gpus_per_trial": 0.5}):
        with pytest.raises(ResourceError):
            run_confirm(run, 2, address=ray_address, echo=lambda line: None, **given)
    assert asked == [TrialRequest(1, 0), TrialRequest(2, 0.5)]


def test_ray_counts_a_placement_group_that_no_node_can_hold_yet(ray_session):
    # The default count, from Ray itself: a group asking for more CPUs than are free waits.
    import ray
    from ray.util import placement_group, remove_placement_group

    from t2tsearch.engine.resources import waiting_notice

    lines: list[str] = []
    now = {"t": 0.0}
    callback = waiting_notice(TrialRequest(1, 0), lines.append, clock=lambda: now["t"], after=1)
    group = placement_group([{"CPU": ray.cluster_resources()["CPU"] + 1}])
    try:
        for t in (0.0, 2.0):
            now["t"] = t
            callback.on_step_end(iteration=0, trials=[SimpleNamespace(trial_id="a",
                                                                      status="PENDING")])
    finally:
        remove_placement_group(group)
    assert len(lines) == 1 and lines[0].startswith("waiting for resources")
