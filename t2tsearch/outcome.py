"""What one proxy training reports: per-epoch metrics and the outcome, without torch.

The trainer (t2tsearch.engine.train) produces them, and so does a tabular benchmark's lookup
(t2tsearch.engine.evaluator), which must not pay for importing torch in every Ray trial it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TrainStatus = Literal["complete", "stopped", "diverged", "oom", "invalid"]


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    val_acc: float  # top-1, in [0, 1]
    val_loss: float
    train_loss: float
    images_per_s: float  # training images per second (this epoch's training steps only)
    seconds: float  # the whole epoch, validation included
    train_images: int = 0  # images the optimizer saw this epoch
    train_seconds: float = 0.0  # the training steps alone


@dataclass(frozen=True)
class TrainResult:
    status: TrainStatus
    reason: str = ""
    epochs: list[EpochMetrics] = field(default_factory=list)
    seconds: float = 0.0
    latency_ms_b1: float | None = None
    latency_ms_batch: float | None = None
    throughput: float | None = None  # images/s at the training batch size, inference
    device: str = ""  # what trained it: "cpu", "cuda:0"; "" for a table's answer
    device_name: str = ""  # the GPU's name ("NVIDIA H200"); "" on the CPU
    # Top-1 on the dataset's own test set, in [0, 1], measured once training completed; only
    # confirm's re-trainings ask for it (the search never sees the test images).
    test_acc: float | None = None

    @property
    def epochs_completed(self) -> int:
        return len(self.epochs)

    @property
    def val_acc(self) -> float | None:
        return self.epochs[-1].val_acc if self.epochs else None

    @property
    def images_per_s(self) -> float | None:
        """Training images/s over all epochs (the first one included: it is what a trial pays)."""
        if not self.epochs:
            return None
        total_time = sum(e.train_seconds for e in self.epochs)
        total_images = sum(e.train_images for e in self.epochs)
        return total_images / total_time if total_time > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["val_acc"] = self.val_acc
        out["epochs_completed"] = self.epochs_completed
        out["images_per_s"] = self.images_per_s
        return out


# Return True to stop training after this epoch (early stopping by a scheduler).
EpochCallback = Callable[[EpochMetrics], "bool | None"]
# Gets a training's state after an epoch (train_proxy's `on_state`), for a checkpoint.
StateCallback = Callable[[dict[str, Any]], None]
