"""Proxy training: one function that trains an ArchConfig on a dataset for a short budget.

Failures (divergence, out of memory, a bad architecture) are results, never exceptions.
This module must never import from t2tsearch.engine.search.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from t2tsearch.arch import ArchConfig

# TrainBudget lives in budget.py (no torch); imported here too so that `from t2tsearch.engine.train
# import TrainBudget` and budgets pickled under that name keep working.
from t2tsearch.budget import TrainBudget as TrainBudget
from t2tsearch.device import resolve_device
from t2tsearch.engine.data import ProxyData, TensorImages, load_data
from t2tsearch.errors import InfeasibleArchError

# What a training reports lives in outcome.py (no torch, so that a trial answered by a table never
# imports it); imported here too so that `from t2tsearch.engine.train import TrainResult` keeps working.
from t2tsearch.outcome import EpochCallback as EpochCallback
from t2tsearch.outcome import EpochMetrics as EpochMetrics
from t2tsearch.outcome import StateCallback as StateCallback
from t2tsearch.outcome import TrainResult as TrainResult
from t2tsearch.outcome import TrainStatus as TrainStatus

# Learning rate at the start of warm-up and at the end of the cosine, as fractions of budget.lr.
WARMUP_START_FRACTION = 0.01
FINAL_LR_FRACTION = 0.01
# How often (in steps) the running loss is checked for NaN/inf. Checking reads the loss back
# from the device, which on CUDA is a synchronisation: not every step.
DIVERGENCE_CHECK_EVERY = 20
# How each allocation failure reads: torch raises OutOfMemoryError for the caching allocator's
# own, but a failure inside a CUDA library or the CPU allocator is a plain RuntimeError.
OUT_OF_MEMORY_MESSAGES = ("CUDA out of memory", "CUDA error: out of memory",
                          "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED",
                          "can't allocate memory")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation failure (the architecture's size), not a bug."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(text in str(err)
                                                 for text in OUT_OF_MEMORY_MESSAGES)


def bf16_native(device: torch.device) -> bool:
    """Whether `device` runs bf16 in hardware: Ampere and later. Older GPUs (T4, V100) emulate it
    slowly or refuse, and on the CPU bf16 autocast measured slower (budget.py)."""
    if device.type != "cuda":
        return False
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def device_name(device: torch.device) -> str:
    """The GPU's name for the record ("NVIDIA H200"); "" on the CPU."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else ""


def train_proxy(cfg: ArchConfig, data: ProxyData | None, budget: TrainBudget,
                on_epoch: EpochCallback | None = None,
                loader_workers: int | None = None,
                test: TensorImages | None = None,
                on_state: StateCallback | None = None,
                resume: dict[str, Any] | None = None) -> TrainResult:
    """Train `cfg` on `data` for `budget`; per-epoch metrics go to `on_epoch` (True = stop).

    `data` None loads budget.dataset at budget.img_size (a missing dataset raises DataError:
    that is the run's fault, not this architecture's). The architecture must match the data in
    channels, classes and image size. Never raises for divergence, out-of-memory or an
    infeasible architecture: those come back as the result's status and reason, with the
    device it trained on. `loader_workers`: processes reading a folder dataset (None: one per
    torch thread this process was given, which in a trial is its cpus_per_trial). `test`: images
    the trained model is measured on once training completes (`confirm` passes the dataset's
    test set), as the result's test_acc.

    `on_state`, when given, gets the training's whole state after each epoch but the last,
    before `on_epoch` (a checkpoint: save it before returning, training goes on with it), and
    `resume` is such a state to go on from: the training then continues at the epoch after it,
    with the weights, optimizer, schedule, random generators and history it had, and ends as
    the uninterrupted training would (the same numbers on the CPU).

    Whatever happens, the model, optimizer and scheduler are released before it returns, and
    on CUDA the cache is emptied.
    """
    started = time.perf_counter()
    if loader_workers is None:
        loader_workers = torch.get_num_threads()
    if data is None:
        data = load_data(budget.dataset, budget.img_size, budget.data_dir,
                         split_seed=budget.data_seed,
                         train_limit=budget.train_subset, val_limit=budget.val_subset,
                         num_workers=loader_workers, val_size=budget.val_size)
    if budget.augment != "auto" and isinstance(data.train, TensorImages):
        data = dataclasses.replace(data, augment=budget.augment)
    problems = cfg.problems()
    for field_name, wanted in (("in_chans", data.in_chans), ("num_classes", data.num_classes),
                               ("img_size", data.img_size)):
        if getattr(cfg, field_name) != wanted:
            problems.append(f"{field_name} {getattr(cfg, field_name)} does not match the data "
                            f"({data.name}: {field_name} {wanted})")
    if problems:
        return TrainResult("invalid", "; ".join(problems), seconds=time.perf_counter() - started)
    device = resolve_device(budget.device)
    try:
        result = _train(cfg, data, budget, on_epoch, device, test, on_state, resume)
    finally:
        # _train's frame is gone here, and with it every reference to the model, optimizer,
        # scheduler and activations (an error's traceback too, once handled): their memory goes
        # back to the device now, so that a worker Ray reuses starts the next trial clean
        # instead of keeping this one's peak cached.
        _free_memory(device)
    # A training that went on from a saved state took the seconds of its earlier epochs too
    # (the attempts' start-up aside): the trial's cost is all of them, not this attempt's.
    carried = sum(float(metrics["seconds"]) for metrics in resume["history"]) if resume else 0.0
    return dataclasses.replace(result, seconds=time.perf_counter() - started + carried,
                               device=str(device), device_name=device_name(device))


def _train(cfg: ArchConfig, data: ProxyData, budget: TrainBudget, on_epoch: EpochCallback | None,
           device: torch.device, test: TensorImages | None = None,
           on_state: StateCallback | None = None,
           resume: dict[str, Any] | None = None) -> TrainResult:
    """train_proxy's work, in a frame of its own so that all it built dies when it returns."""
    from timm.data import Mixup
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    from t2tsearch.cost import measure_latency
    from t2tsearch.models.vit import build_model

    # ---- setup: seeds, device, model, optimizer, schedule, loss ---------------------------
    on_cuda = device.type == "cuda"
    torch.manual_seed(budget.seed)
    np.random.seed(budget.seed)  # timm's Mixup draws from numpy
    random.seed(budget.seed)
    batch_order = torch.Generator().manual_seed(budget.seed)
    memory_format = torch.channels_last if on_cuda else torch.contiguous_format
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    use_bf16 = budget.precision == "bf16" or (budget.precision == "auto" and bf16_native(device))

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()

    steps_per_epoch = data.steps_per_epoch(budget.batch_size)
    total_steps = budget.epochs * steps_per_epoch
    mixup = None
    if budget.mixup > 0 or budget.cutmix > 0:
        mixup = Mixup(mixup_alpha=budget.mixup, cutmix_alpha=budget.cutmix,
                      label_smoothing=budget.label_smoothing, num_classes=data.num_classes)
        train_loss_fn: torch.nn.Module = SoftTargetCrossEntropy()
    elif budget.label_smoothing > 0:
        train_loss_fn = LabelSmoothingCrossEntropy(budget.label_smoothing)
    else:
        train_loss_fn = torch.nn.CrossEntropyLoss()

    history: list[EpochMetrics] = []
    status: TrainStatus = "complete"
    reason = ""
    model = None
    try:
        try:
            model = build_model(cfg)
        except (InfeasibleArchError, ValueError) as err:
            return TrainResult("invalid", str(err))
        model = model.to(device, memory_format=memory_format)
        optimizer = create_optimizer_v2(model, "adamw", lr=budget.lr,
                                        weight_decay=budget.weight_decay)
        scheduler = CosineLRScheduler(
            optimizer, t_initial=total_steps, t_in_epochs=False,
            warmup_t=min(round(budget.warmup_epochs * steps_per_epoch), total_steps - 1),
            warmup_lr_init=budget.lr * WARMUP_START_FRACTION,
            lr_min=budget.lr * FINAL_LR_FRACTION,
        )
        train_model = torch.compile(model) if budget.compile else model
        step, first_epoch = 0, 1
        if resume is not None:
            model.load_state_dict(resume["model"])
            optimizer.load_state_dict(resume["optimizer"])
            step, first_epoch = int(resume["step"]), int(resume["epoch"]) + 1
            scheduler.step_update(num_updates=step)
            history = [EpochMetrics(**metrics) for metrics in resume["history"]]
            _set_random_state(resume["random"], batch_order, device)

        # ---- the loop ---------------------------------------------------------------------
        for epoch in range(first_epoch, budget.epochs + 1):
            epoch_started = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            images_seen = 0
            for images, labels in data.train_batches(budget.batch_size, batch_order, device):
                images = images.contiguous(memory_format=memory_format)
                targets = labels
                if mixup is not None:
                    if len(images) % 2:  # mixup pairs the batch with its mirror
                        images, labels = images[:-1], labels[:-1]
                    images, targets = mixup(images, labels)
                with autocast():
                    loss = train_loss_fn(train_model(images), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if budget.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), budget.grad_clip)
                optimizer.step()
                step += 1
                scheduler.step_update(num_updates=step)
                loss_sum += loss.detach() * len(images)
                images_seen += len(images)
                if step % DIVERGENCE_CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                    break
            train_loss = loss_sum.item() / max(images_seen, 1)  # .item() also synchronises
            train_seconds = time.perf_counter() - epoch_started
            if not math.isfinite(train_loss):
                status, reason = "diverged", f"train loss became {train_loss} in epoch {epoch}"
                break
            val_loss, val_acc = _evaluate(model, data, budget.batch_size, device, autocast,
                                          memory_format)
            if not math.isfinite(val_loss):
                status, reason = "diverged", f"val loss became {val_loss} in epoch {epoch}"
                break
            metrics = EpochMetrics(
                epoch=epoch, val_acc=val_acc, val_loss=val_loss, train_loss=train_loss,
                images_per_s=images_seen / train_seconds if train_seconds > 0 else 0.0,
                seconds=time.perf_counter() - epoch_started, train_images=images_seen,
                train_seconds=train_seconds,
            )
            history.append(metrics)
            if on_state is not None and epoch < budget.epochs:
                on_state({"epoch": epoch, "step": step, "model": model.state_dict(),
                          "optimizer": optimizer.state_dict(),
                          "history": [dataclasses.asdict(m) for m in history],
                          "random": _random_state(batch_order, device)})
            if on_epoch is not None and on_epoch(metrics):
                status = "stopped"
                break
    except RuntimeError as err:  # torch.cuda.OutOfMemoryError is one
        if not is_out_of_memory(err):
            raise
        # The traceback, which pins the model and the batch's activations, goes with `err` at
        # the end of this block; train_proxy frees the memory once this frame is gone too.
        return TrainResult("oom", f"out of memory on {device}: {str(err).splitlines()[0]}",
                           epochs=history)

    test_acc = None
    if test is not None and status == "complete":
        # The same measurement as each epoch's validation, on the test images instead.
        _, test_acc = _evaluate(model, dataclasses.replace(data, val=test), budget.batch_size,
                                device, autocast, memory_format)
    latency = None
    if budget.measure_latency and status in ("complete", "stopped"):
        try:
            latency = measure_latency(model, budget.batch_size, device)
        except RuntimeError as err:
            if not is_out_of_memory(err):
                raise
            reason = f"latency not measured: out of memory at batch {budget.batch_size}"
    return TrainResult(
        status=status, reason=reason, epochs=history,
        latency_ms_b1=latency.ms_b1 if latency else None,
        latency_ms_batch=latency.ms_batch if latency else None,
        throughput=latency.throughput if latency else None, test_acc=test_acc,
    )


def _evaluate(model: torch.nn.Module, data: ProxyData, batch_size: int, device: torch.device,
              autocast: Callable[[], Any],
              memory_format: torch.memory_format) -> tuple[float, float]:
    """Mean cross-entropy (no smoothing) and top-1 accuracy on the validation set."""
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    with torch.inference_mode():
        for images, labels in data.val_batches(batch_size, device):
            with autocast():
                logits = model(images.contiguous(memory_format=memory_format)).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(dim=1) == labels).sum()
            count += len(labels)
    return loss_sum.item() / max(count, 1), correct.item() / max(count, 1)


def _random_state(batch_order: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random generator a training draws from, for a checkpoint."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate(), "batch_order": batch_order.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_random_state(state: dict[str, Any], batch_order: torch.Generator,
                      device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    batch_order.set_state(state["batch_order"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _free_memory(device: torch.device) -> None:
    # Collect first: a reference cycle (a module's hooks, a compiled graph) keeps the tensors
    # alive past the frame's end, and empty_cache can only return blocks nothing holds.
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
