"""The Ray Tune trainable: one proxy training of one proposed architecture, reported per epoch.

It knows nothing of the search (no Optuna, no study): it reads an architecture and a budget and
reports metrics. Kept in its own light module because every Ray worker imports it at start.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from t2tsearch.arch import ArchConfig
from t2tsearch.outcome import TrainResult

# The file a checkpoint folder holds: the training's state after an epoch (train_proxy's
# on_state), saved with torch.save.
STATE_FILE = "state.pt"


def proxy_trainable(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train one proposal, report every epoch, then a final result.

    Knows nothing of the search: it reads an architecture and a budget and reports metrics.
    """
    from ray import tune

    from t2tsearch.budget import TrainBudget
    from t2tsearch.engine.evaluator import evaluator_from_spec

    spec = config.get("evaluator", "train")
    if spec == "train":
        # Only training needs torch: a trial answered by a table skips its import (about 2 s of
        # each Tune session's trial actor).
        import torch

        torch.set_num_threads(max(1, int(config.get("cpus", 1))))
    cfg = ArchConfig.from_json(config["arch"])
    budget = TrainBudget.model_validate(config["budget"])
    # The node is reported with every result: the record says where a trial trained, and where
    # one whose worker died was lost.
    fixed = {"macs": config["macs"], "params": config["params"], "max_epochs": budget.epochs,
             "node": current_node()}
    granted = granted_gpus() if spec == "train" else []
    if granted and (problem := gpu_problem(granted, budget.device)) is not None:
        # Trained on the CPU, it would look like a slow success; a failure says what is wrong.
        tune.report({"epoch": 0, **fixed, "status": "failed", "reason": problem, "final": True,
                     "accuracy_curve": [], "device": ""})
        return

    def epoch_metrics(metrics) -> dict[str, Any]:
        return {"epoch": metrics.epoch, "accuracy": 100.0 * metrics.val_acc,
                "val_loss": metrics.val_loss, "train_loss": metrics.train_loss,
                "images_per_s": metrics.images_per_s, "epoch_seconds": metrics.seconds, **fixed}

    checkpoints = spec == "train" and bool(config.get("checkpoint"))
    saved: list[str] = []  # the folder of this epoch's state, while it is reported
    # Seconds in the per-epoch reports, saving a checkpoint included, reported with the outcome:
    # benchmarks/bench_checkpoint.py measures what a checkpoint costs an epoch from it.
    report_seconds = [0.0]

    def on_state(state: dict[str, Any]) -> None:
        import torch

        started = time.perf_counter()
        folder = tempfile.mkdtemp(prefix="t2ts-state-")
        torch.save(state, os.path.join(folder, STATE_FILE))
        saved.append(folder)
        report_seconds[0] += time.perf_counter() - started

    def on_epoch(metrics) -> None:
        if metrics.epoch >= budget.epochs:  # the last epoch is reported once, with the outcome
            return
        report = {**epoch_metrics(metrics), "status": "running", "final": False}
        if not saved:
            started = time.perf_counter()
            tune.report(report)
            report_seconds[0] += time.perf_counter() - started
            return
        import shutil

        folder = saved.pop()
        started = time.perf_counter()
        try:  # Tune copies the folder into the run directory before report returns
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            report_seconds[0] += time.perf_counter() - started

    # "train" by default: proxy training; "table:FILE" answers from a tabular benchmark.
    # The trial seed picks a table's seed of this architecture; training ignores it.
    evaluator = evaluator_from_spec(spec)
    saving: dict[str, Any] = {}
    resumed = 0  # the epoch a retried trial's training went on from
    if checkpoints:
        # The training saves its state each epoch, and a retry goes on from the last one saved
        # (a table has no state to save).
        resume = saved_state(config.get("resume_from"))
        saving = {"on_state": on_state, "resume": resume}
        resumed = int(resume["epoch"]) if resume else 0
    # `test`: confirm's re-trainings measure the dataset's test set too; a search's never.
    result = evaluator.evaluate(cfg, budget, on_epoch, trial_seed=config.get("trial_seed"),
                                test=bool(config.get("test", False)), **saving)
    final: dict[str, Any] = {"epoch": result.epochs_completed, **fixed}
    if resumed:
        final["resumed_from_epoch"] = resumed
    final["report_seconds"] = report_seconds[0]
    if result.epochs:
        final.update(epoch_metrics(result.epochs[-1]))
    final.update({
        "status": result.status, "reason": result.reason, "final": True,
        "seconds": result.seconds, "images_per_s": result.images_per_s,
        "latency_ms": result.latency_ms_b1, "accuracy_curve": [100.0 * e.val_acc for e in result.epochs],
        "device": device_label(result, granted),
    })
    if result.test_acc is not None:
        final["test_accuracy"] = 100.0 * result.test_acc
    tune.report(final)


def saved_state(resume_from: str | None) -> dict[str, Any] | None:
    """The training state in the checkpoint folder `resume_from` (train_proxy's `on_state`), or
    None: no folder, or one this node cannot see (a cluster whose nodes do not share the run
    directory), and the training starts from scratch."""
    if not resume_from or not os.path.isfile(os.path.join(resume_from, STATE_FILE)):
        return None
    import torch

    # The run's own file, written by torch.save above: its random states are not tensors.
    # Onto the CPU first: the retry may run on another device (training moves it there).
    return torch.load(os.path.join(resume_from, STATE_FILE), map_location="cpu",
                      weights_only=False)


def current_node() -> str:
    """The id of the Ray node this runs on; "" outside Ray."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def granted_gpus() -> list[str]:
    """The GPUs Ray granted this trial (its ids on the node); none outside a Ray worker."""
    import ray

    return [str(gpu) for gpu in ray.get_gpu_ids()] if ray.is_initialized() else []


def gpu_problem(granted: list[str], device: str) -> str | None:
    """Why a trial granted `granted` GPUs would not train on one with train.device `device`, in
    one line; None when it will."""
    import torch

    ids = ", ".join(granted)
    if device != "auto" and not device.startswith("cuda"):
        return (f"Ray granted GPU {ids}, but train.device is {device}: set it to auto or cuda, "
                f"or give no --gpus-per-trial")
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            why = f"this torch ({torch.__version__}) is a CPU-only build"
        else:
            why = (f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device "
                   f"(a driver older than its CUDA, or CUDA_VISIBLE_DEVICES hiding it)")
        return f"Ray granted GPU {ids}, but {why}; not trained, rather than slowly on the CPU"
    return None


def device_label(result: TrainResult, granted: list[str]) -> str:
    """What the record says trained a trial: 'cpu', 'cuda:0 (NVIDIA H200, Ray GPU 3)'."""
    details = [part for part in (result.device_name,
                                 f"Ray GPU {', '.join(granted)}" if granted else "") if part]
    return f"{result.device} ({', '.join(details)})" if details else result.device
