"""Proxy training: one function that trains an ArchConfig on a dataset for a short budget.

INTERFACE ONLY (agreed between issues); the implementation lands with the training issue.
This module must never import from t2tsearch.search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from t2tsearch.arch import ArchConfig

TrainStatus = Literal["complete", "stopped", "diverged", "oom", "invalid"]


class TrainBudget(BaseModel):
    """The proxy-training recipe and budget; also the `train:` section of a search space."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = "mnist5k"
    data_dir: str | None = None
    img_size: int = Field(default=32, ge=1)
    epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=128, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    warmup_epochs: float = Field(default=0.5, ge=0)
    weight_decay: float = Field(default=0.05, ge=0)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    grad_clip: float | None = Field(default=None, gt=0)
    mixup: float = Field(default=0.0, ge=0)
    cutmix: float = Field(default=0.0, ge=0)
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    measure_latency: bool = True


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    val_acc: float  # top-1, in [0, 1]
    val_loss: float
    train_loss: float
    images_per_s: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    status: TrainStatus
    reason: str = ""
    epochs: list[EpochMetrics] = field(default_factory=list)
    seconds: float = 0.0
    latency_ms_b1: float | None = None
    latency_ms_batch: float | None = None
    throughput: float | None = None  # images/s at the training batch size, inference

    @property
    def epochs_completed(self) -> int:
        return len(self.epochs)

    @property
    def val_acc(self) -> float | None:
        return self.epochs[-1].val_acc if self.epochs else None


# Return True to stop training after this epoch (early stopping by a scheduler).
EpochCallback = Callable[[EpochMetrics], "bool | None"]


def train_proxy(cfg: ArchConfig, data, budget: TrainBudget,
                on_epoch: EpochCallback | None = None) -> TrainResult:
    raise NotImplementedError("lands with the training issue")
