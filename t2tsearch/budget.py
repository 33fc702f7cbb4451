"""The proxy-training recipe and budget, without torch: a run's space loads without the trainer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Training images held out as the validation set of a dataset that ships a test set of its own
# (mnist, fashion_mnist, cifar10, cifar100): as many as that test set, so that a validation
# accuracy is as precise as the test accuracy `confirm` reports beside it.
DEFAULT_VAL_SIZE = 10_000


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
    # auto: the dataset's own (CIFAR: crop and flip; others: none). shift: a random
    # translation by up to 1/8 of the side, for digits, which must not be mirrored.
    augment: Literal["auto", "none", "shift", "crop_flip"] = "auto"
    mixup: float = Field(default=0.0, ge=0)
    cutmix: float = Field(default=0.0, ge=0)
    # Initialisation, batch order and augmentation; confirm's extra seeds vary this one.
    seed: int = 0
    # The train/validation split (and the draw of train_subset/val_subset), fixed per run so that
    # every seed is measured on the same validation images. None: the split follows `seed`, as it
    # did before this field existed (a run directory whose space.yaml lacks it loads as None).
    split_seed: int | None = 0
    # The validation set of a dataset with a test set of its own: this many training images,
    # stratified, drawn by split_seed; the search never loads the test images (confirm does).
    # None: the test set is the validation set, as in runs made before this field existed (a
    # run directory whose space.yaml lacks it loads as None); the search then sees the test
    # images, and confirm reports no test accuracy apart from it.
    # mnist5k (4,000/1,000) and imagefolder (its val/ folder) keep their own validation sets.
    val_size: int | None = Field(default=DEFAULT_VAL_SIZE, ge=1)
    device: str = "auto"
    # auto: bf16 autocast on CUDA, fp32 on the CPU, where bf16 autocast measured slower on the
    # deep-narrow space's models even with AVX-512 BF16 (benchmarks/bench_train.py).
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False
    measure_latency: bool = True
    # Train/validate on a class-balanced subset of this many images (smoke runs and tests); of a
    # dataset with a test set, train_subset is drawn from what is left after val_size.
    train_subset: int | None = Field(default=None, ge=1)
    val_subset: int | None = Field(default=None, ge=1)

    @property
    def data_seed(self) -> int:
        """The seed that draws the train/validation split: split_seed, or seed when unset."""
        return self.seed if self.split_seed is None else self.split_seed
