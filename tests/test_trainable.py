"""The Ray Tune trainable, called in-process: the device each trial records, and a trial granted a
GPU that cannot use it failing in one line instead of training on the CPU."""

from __future__ import annotations

import json

import pytest
import ray
import ray.tune
import torch

from t2tsearch.budget import TrainBudget
from t2tsearch.engine.trainable import proxy_trainable

from .conftest import tiny_arch


def trial_config(**budget) -> dict:
    cfg = tiny_arch(**{"backbone.depth": 1})
    train = TrainBudget(**{"img_size": 28, "epochs": 1, "batch_size": 50,
                           "measure_latency": False, "train_subset": 100, "val_subset": 50,
                           **budget})
    return {"arch": cfg.to_json(), "budget": train.model_dump(mode="json"), "macs": 1,
            "params": 1, "cpus": 1, "evaluator": "train"}


@pytest.fixture
def reports(monkeypatch) -> list[dict]:
    """What the trainable reports to Tune, collected instead; outside Ray it is granted nothing
    unless a test says otherwise."""
    collected: list[dict] = []
    monkeypatch.setattr(ray.tune, "report", collected.append)
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    monkeypatch.setattr("t2tsearch.engine.trainable.current_node", lambda: "node-1")
    return collected


def test_a_trial_records_the_device_it_trained_on(reports):
    proxy_trainable(trial_config())
    final = reports[-1]
    assert final["final"] and final["status"] == "complete" and final["device"] == "cpu"


def test_a_trial_granted_a_gpu_torch_cannot_use_fails_in_one_line(reports, monkeypatch):
    # A CPU-only torch wheel, or a driver too old for the wheel: before, device auto trained
    # on the CPU without a word, a slow success in the record.
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [3])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    proxy_trainable(trial_config())
    assert len(reports) == 1  # nothing trained
    final = reports[0]
    assert final["final"] and final["status"] == "failed" and final["epoch"] == 0
    assert "Ray granted GPU 3" in final["reason"] and "\n" not in final["reason"]
    assert "rather than slowly on the CPU" in final["reason"]
    json.dumps(final)


def test_a_trial_granted_a_gpu_but_told_to_train_on_the_cpu_fails(reports, monkeypatch):
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [0])
    proxy_trainable(trial_config(device="cpu"))
    assert [r["status"] for r in reports] == ["failed"]
    assert "train.device is cpu" in reports[0]["reason"]


def test_the_device_label_names_the_gpu_and_ray_s_id():
    from t2tsearch.engine.trainable import device_label
    from t2tsearch.outcome import TrainResult

    on_gpu = TrainResult("complete", device="cuda:0", device_name="NVIDIA H200")
    assert device_label(on_gpu, ["3"]) == "cuda:0 (NVIDIA H200, Ray GPU 3)"
    assert device_label(TrainResult("complete", device="cpu"), []) == "cpu"


def test_a_trial_saves_its_state_each_epoch_and_its_retry_goes_on_from_it(reports, monkeypatch,
                                                                         tmp_path):
    # search.checkpoint: each epoch's report but the last carries a checkpoint, which Tune
    # copies into the run directory before report returns (here: into tmp_path); a retry given
    # one goes on from it and ends where the uninterrupted trial ended.
    import shutil
    from pathlib import Path

    copies: list[Path] = []

    def report(metrics: dict, checkpoint=None) -> None:
        if checkpoint is not None:
            copies.append(tmp_path / f"copy{len(copies)}")
            shutil.copytree(checkpoint.path, copies[-1])
            metrics = {**metrics, "checkpoint": copies[-1]}
        reports.append(metrics)

    monkeypatch.setattr(ray.tune, "report", report)
    config = {**trial_config(epochs=3), "checkpoint": True}
    proxy_trainable(config)
    straight = reports[-1]
    assert straight["status"] == "complete" and straight["node"] == "node-1"
    saved = [r["checkpoint"] for r in reports if "checkpoint" in r]
    assert [r["epoch"] for r in reports if "checkpoint" in r] == [1, 2]
    assert "resumed_from_epoch" not in straight
    reports.clear()
    proxy_trainable({**config, "resume_from": str(saved[1])})
    assert len(reports) == 1  # epoch 3, the last, is reported once, with the outcome
    retried = reports[0]
    assert retried["resumed_from_epoch"] == 2 and retried["epoch"] == 3
    assert retried["accuracy_curve"] == straight["accuracy_curve"]
    # A folder this node cannot see: trained from scratch, to the same end.
    reports.clear()
    proxy_trainable({**config, "resume_from": str(tmp_path / "elsewhere")})
    assert reports[-1]["accuracy_curve"] == straight["accuracy_curve"]
    assert "resumed_from_epoch" not in reports[-1]


def test_a_checkpointed_trial_still_measures_the_test_set(reports, monkeypatch, tmp_path):
    # confirm's re-trainings with search.checkpoint on go through the same evaluator as without:
    # their test accuracy (one of TEST_COUNTS on this fake set) is measured and reported.
    from tests.test_confirm import TEST_COUNTS, fashion_with_a_constant_test_set

    monkeypatch.setattr(ray.tune, "report",
                        lambda metrics, checkpoint=None: reports.append(metrics))
    fashion_with_a_constant_test_set(tmp_path / "fashion")
    config = {**trial_config(epochs=2, dataset="fashion_mnist",
                             data_dir=str(tmp_path / "fashion"), val_size=50,
                             train_subset=None, val_subset=None),
              "checkpoint": True, "test": True}
    proxy_trainable(config)
    final = reports[-1]
    assert final["status"] == "complete" and final["test_accuracy"] in TEST_COUNTS
