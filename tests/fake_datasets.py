"""Small datasets written in torchvision's real on-disk formats, for tests without downloads."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def _labels(count: int, num_classes: int) -> np.ndarray:
    return np.arange(count) % num_classes


def _class_images(labels: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """uint8 images whose brightness encodes the class, so a model could tell them apart."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 40, size=(len(labels), *shape))
    level = (labels.reshape(-1, *([1] * len(shape))) * 20) % 200
    return (noise + level).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, gzipped: bool = False) -> None:
    """The IDX format of the MNIST files: magic (0, 0, 0x08 = ubyte, ndim), sizes, bytes;
    gzipped as the original sites and Debian ship them when `gzipped`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(content) if gzipped else content)


def make_idx_gz(folder: Path, train_labels: np.ndarray, test_labels: np.ndarray,
                seed: int = 0) -> dict[str, np.ndarray]:
    """The four gzipped idx files, as Debian's dataset-fashion-mnist puts them in
    /usr/share/datasets/fashion-mnist, of random 28x28 images (each one different, so that a
    test can tell which image went where) with the given labels; returns what it wrote."""
    rng = np.random.default_rng(seed)
    written = {}
    for prefix, labels in (("train", train_labels), ("t10k", test_labels)):
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, gzipped=True)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.asarray(labels), gzipped=True)
        written[f"{prefix}_images"], written[f"{prefix}_labels"] = images, np.asarray(labels)
    return written


def make_mnist(root: Path, folder: str = "MNIST", train: int = 60, test: int = 20) -> Path:
    """root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (MNIST or FashionMNIST)."""
    raw = root / folder / "raw"
    for prefix, count in (("train", train), ("t10k", test)):
        labels = _labels(count, 10)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", _class_images(labels, (28, 28), count))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def make_cifar(root: Path, classes: int = 10, per_batch: int = 12, test: int = 20) -> Path:
    """CIFAR-10 (five data batches + test batch + batches.meta) or CIFAR-100 (train, test, meta)
    as pickled dicts of uint8 rows [N, 3*32*32], the layout torchvision reads."""
    if classes == 10:
        folder = root / "cifar-10-batches-py"
        files = [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]
        label_key, meta_name, meta_key = "labels", "batches.meta", "label_names"
    else:
        folder = root / "cifar-100-python"
        files = [("train", per_batch * 5), ("test", test)]
        label_key, meta_name, meta_key = "fine_labels", "meta", "fine_label_names"
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, count) in enumerate(files):
        labels = _labels(count, classes)
        rows = _class_images(labels, (3 * 32 * 32,), index)
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, label_key: labels.tolist()}, handle)
    with open(folder / meta_name, "wb") as handle:
        pickle.dump({meta_key: [f"class{i}" for i in range(classes)]}, handle)
    return root


def make_imagefolder(root: Path, classes: int = 3, per_class: int = 4, size: int = 20) -> Path:
    """root/{train,val}/<class>/<n>.png, RGB PNGs of `size` pixels."""
    from PIL import Image

    for split in ("train", "val"):
        for label in range(classes):
            folder = root / split / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = _class_images(np.full(per_class, label), (size, size, 3), label)
            for n, image in enumerate(pixels):
                Image.fromarray(image).save(folder / f"{n}.png")
    return root
