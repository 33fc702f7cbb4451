"""The Ray Tune trainable: one proxy training of one proposed architecture, reported per epoch.

It knows nothing of the search (no Optuna, no study): it reads an architecture and a budget and
reports metrics. Kept in its own light module because every Ray worker imports it at start.
"""

from __future__ import annotations

from typing import Any

from t2tsearch.arch import ArchConfig


def proxy_trainable(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train one proposal, report every epoch, then a final result.

    Knows nothing of the search: it reads an architecture and a budget and reports metrics.
    """
    from ray import tune

    from t2tsearch.budget import TrainBudget
    from t2tsearch.evaluator import evaluator_from_spec

    spec = config.get("evaluator", "train")
    if spec == "train":
        # Only training needs torch: a trial answered by a table skips its import (about 2 s of
        # each Tune session's trial actor).
        import torch

        torch.set_num_threads(max(1, int(config.get("cpus", 1))))
    cfg = ArchConfig.from_json(config["arch"])
    budget = TrainBudget.model_validate(config["budget"])
    fixed = {"macs": config["macs"], "params": config["params"], "max_epochs": budget.epochs}

    def epoch_metrics(metrics) -> dict[str, Any]:
        return {"epoch": metrics.epoch, "accuracy": 100.0 * metrics.val_acc,
                "val_loss": metrics.val_loss, "train_loss": metrics.train_loss,
                "images_per_s": metrics.images_per_s, "epoch_seconds": metrics.seconds, **fixed}

    def on_epoch(metrics) -> None:
        if metrics.epoch < budget.epochs:  # the last epoch is reported once, with the outcome
            tune.report({**epoch_metrics(metrics), "status": "running", "final": False})

    # "train" by default: proxy training; "table:FILE" answers from a tabular benchmark.
    # The trial seed picks a table's seed of this architecture; training ignores it.
    evaluator = evaluator_from_spec(spec)
    result = evaluator.evaluate(cfg, budget, on_epoch, trial_seed=config.get("trial_seed"))
    final: dict[str, Any] = {"epoch": result.epochs_completed, **fixed}
    if result.epochs:
        final.update(epoch_metrics(result.epochs[-1]))
    final.update({
        "status": result.status, "reason": result.reason, "final": True,
        "seconds": result.seconds, "images_per_s": result.images_per_s,
        "latency_ms": result.latency_ms_b1, "accuracy_curve": [100.0 * e.val_acc for e in result.epochs],
    })
    tune.report(final)
