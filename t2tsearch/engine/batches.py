"""Images held in memory for the proxy trainer: a split as uint8 tensors (copied once to an
accelerator), the train and validation sets served in batches, and the crop-and-flip augmentation
done on whole batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from t2tsearch.datasets import Augment


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
