"""Proxy training: determinism, the failure statuses, stopping, latency and the `train` command."""

from __future__ import annotations

import gc
import json
import math
import weakref
from dataclasses import dataclass, field

import pytest
import torch

from t2tsearch.cli import main
from t2tsearch.cost import Latency, measure_latency
from t2tsearch.engine.batches import ProxyData, TensorImages
from t2tsearch.engine.data import load_data
from t2tsearch.engine.train import EpochMetrics, TrainBudget, TrainResult, train_proxy
from t2tsearch.errors import InfeasibleArchError

from .conftest import tiny_arch

SIZE = 16


def small_arch(**changes):
    return tiny_arch(**{"img_size": SIZE, "backbone.depth": 1, **changes})


@pytest.fixture(scope="module")
def data() -> ProxyData:
    return load_data("mnist5k", img_size=SIZE, train_limit=256, val_limit=100)


def budget(**changes) -> TrainBudget:
    return TrainBudget(**{"img_size": SIZE, "epochs": 2, "batch_size": 64, "lr": 3e-3,
                          "measure_latency": False, **changes})


def test_training_completes_with_metrics(data):
    seen: list[EpochMetrics] = []
    result = train_proxy(small_arch(), data, budget(), on_epoch=seen.append)
    assert result.status == "complete" and result.reason == ""
    assert seen == result.epochs and [m.epoch for m in seen] == [1, 2]
    for metrics in seen:
        assert 0.0 <= metrics.val_acc <= 1.0 and math.isfinite(metrics.val_loss)
        assert metrics.train_images == 256 and metrics.images_per_s > 0 and metrics.seconds > 0
    assert result.val_acc == seen[-1].val_acc and result.images_per_s > 0
    assert result.latency_ms_b1 is None
    json.dumps(result.to_dict())  # travels as JSON to Ray and the results table


def test_same_seed_same_numbers_on_cpu(data):
    first = train_proxy(small_arch(), data, budget())
    second = train_proxy(small_arch(), data, budget())
    numbers = [[(m.val_acc, m.val_loss, m.train_loss) for m in r.epochs] for r in (first, second)]
    assert numbers[0] == numbers[1]
    other = train_proxy(small_arch(), data, budget(seed=1))
    assert [m.train_loss for m in other.epochs] != [m.train_loss for m in first.epochs]


def test_the_split_seed_fixes_the_validation_set_and_the_seed_the_training(monkeypatch):
    import t2tsearch.engine.train as train_module

    loaded: list[ProxyData] = []

    def spy(*args, **kwargs):
        loaded.append(load_data(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(train_module, "load_data", spy)
    common = {"epochs": 1, "train_subset": 200, "val_subset": 80}
    runs = [train_proxy(small_arch(), None, budget(seed=seed, split_seed=split, **common))
            for seed, split in ((0, 0), (1, 0), (1, 3))]
    same, other_seed, other_split = loaded
    # Two training seeds, one split: the very same validation images and labels...
    assert torch.equal(same.val.images, other_seed.val.images)
    assert torch.equal(same.val.labels, other_seed.val.labels)
    assert torch.equal(same.train.images, other_seed.train.images)
    # ...and a different initialisation and batch order.
    assert runs[0].epochs[0].train_loss != runs[1].epochs[0].train_loss
    # Another split seed draws other validation images.
    assert not torch.equal(same.val.images, other_split.val.images)
    # The split itself: the reference is mnist5k's stratified split drawn with the split seed.
    reference = load_data("mnist5k", img_size=SIZE, split_seed=3, train_limit=200, val_limit=80)
    assert torch.equal(other_split.val.images, reference.val.images)


def test_an_unset_split_seed_follows_the_seed_as_before():
    old = TrainBudget(seed=5, split_seed=None)
    assert old.data_seed == 5 and TrainBudget(seed=5).data_seed == 0


def test_loads_the_data_itself_and_measures_latency():
    result = train_proxy(small_arch(), None,
                         budget(epochs=1, train_subset=128, val_subset=50, measure_latency=True))
    assert result.status == "complete"
    for value in (result.latency_ms_b1, result.latency_ms_batch, result.throughput):
        assert value is not None and math.isfinite(value) and value > 0


@dataclass
class Watched:
    """What one training did, seen from outside train_proxy: the batches the data handed out,
    the inputs the model was trained on, and the gradient norm at each optimizer step."""

    result: TrainResult
    batches: list[torch.Tensor] = field(default_factory=list)
    inputs: list[torch.Tensor] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)


def train_watched(monkeypatch, data: ProxyData, **changes) -> Watched:
    import timm.optim

    import t2tsearch.models.vit as vit

    seen = Watched(result=None)
    batches, build_model, create_optimizer = (ProxyData.train_batches, vit.build_model,
                                              timm.optim.create_optimizer_v2)

    def recorded_batches(self, *args, **kwargs):
        for images, labels in batches(self, *args, **kwargs):
            seen.batches.append(images.clone())
            yield images, labels

    def watched_model(cfg):
        model = build_model(cfg)
        model.register_forward_pre_hook(
            lambda module, args: seen.inputs.append(args[0].detach().clone())
            if module.training else None)
        return model

    def watched_optimizer(model, *args, **kwargs):
        optimizer = create_optimizer(model, *args, **kwargs)

        def grad_norm(optimizer, args, kwargs):
            grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                     if p.grad is not None]
            seen.grad_norms.append(float(torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

        optimizer.register_step_pre_hook(grad_norm)
        return optimizer

    with monkeypatch.context() as patch:
        patch.setattr(ProxyData, "train_batches", recorded_batches)
        patch.setattr(vit, "build_model", watched_model)
        patch.setattr(timm.optim, "create_optimizer_v2", watched_optimizer)
        seen.result = train_proxy(small_arch(), data, budget(epochs=1, **changes))
    assert seen.result.status == "complete", seen.result.reason
    return seen


def test_without_mixing_the_model_trains_on_the_batches_as_drawn(data, monkeypatch):
    plain = train_watched(monkeypatch, data, batch_size=63)
    assert len(plain.inputs) == len(plain.batches) == 4  # 256 images: 4 full batches of 63
    assert all(torch.equal(x, m) for x, m in zip(plain.batches, plain.inputs, strict=True))
    assert plain.result.epochs[0].train_images == 4 * 63


def test_mixup_trains_on_blends_of_each_batch_with_its_mirror(data, monkeypatch):
    plain = train_watched(monkeypatch, data, batch_size=63)
    mixed = train_watched(monkeypatch, data, batch_size=63, mixup=0.8)
    # An odd batch loses its last image (mixup pairs image i with image n-1-i).
    assert mixed.result.epochs[0].train_images == 4 * 62
    for raw, seen in zip(mixed.batches, mixed.inputs, strict=True):
        x = raw[: len(raw) // 2 * 2]
        mirror = x.flip(0)
        # seen = lam x + (1 - lam) mirror, one lam per batch: solve for it by least squares.
        lam = float(((seen - mirror) * (x - mirror)).sum() / ((x - mirror) ** 2).sum())
        assert 0.0 < lam < 1.0
        assert torch.allclose(seen, lam * x + (1 - lam) * mirror, atol=1e-5)
    assert mixed.result.epochs[0].train_loss != plain.result.epochs[0].train_loss


def test_cutmix_pastes_a_box_of_the_mirrored_batch(data, monkeypatch):
    plain = train_watched(monkeypatch, data, batch_size=64)
    cut = train_watched(monkeypatch, data, batch_size=64, cutmix=1.0)
    boxes = 0
    for x, seen in zip(cut.batches, cut.inputs, strict=True):
        mirror = x.flip(0)
        changed = (seen != x).any(dim=0).any(dim=0)  # pixel positions that differ anywhere
        if not changed.any():
            continue  # a box clipped away at the border: nothing pasted
        rows, cols = changed.any(dim=1).nonzero(), changed.any(dim=0).nonzero()
        box = (slice(int(rows.min()), int(rows.max()) + 1),
               slice(int(cols.min()), int(cols.max()) + 1))
        inside = torch.zeros_like(changed)
        inside[box] = True
        # One rectangle, the same for every image, taken from the mirror; the rest untouched.
        assert torch.equal(seen[..., inside], mirror[..., inside])
        assert torch.equal(seen[..., ~inside], x[..., ~inside])
        boxes += 1
    assert boxes >= 1
    assert cut.result.epochs[0].train_loss != plain.result.epochs[0].train_loss


def test_gradient_clipping_bounds_every_step(data, monkeypatch):
    free = train_watched(monkeypatch, data)
    limit = 0.05
    clipped = train_watched(monkeypatch, data, grad_clip=limit)
    assert len(clipped.grad_norms) == len(free.grad_norms) == 4
    assert min(free.grad_norms) > limit  # without the limit every step would exceed it...
    assert max(clipped.grad_norms) <= limit * (1 + 1e-5)  # ...with it, none does
    assert clipped.grad_norms[0] == pytest.approx(limit, rel=1e-4)  # scaled down, not zeroed
    assert clipped.result.epochs[0].train_loss != free.result.epochs[0].train_loss


def test_recipe_options_run_together(data):
    result = train_proxy(small_arch(), data,
                         budget(epochs=1, mixup=0.8, cutmix=1.0, grad_clip=1.0, batch_size=63))
    assert result.status == "complete" and result.epochs[0].train_images == 4 * 62
    plain = train_proxy(small_arch(), data, budget(epochs=1))
    no_smoothing = train_proxy(small_arch(), data, budget(epochs=1, label_smoothing=0.0))
    # Label smoothing raises the loss floor: the same training measures a different loss.
    assert no_smoothing.epochs[0].train_loss != plain.epochs[0].train_loss
    shifted = train_proxy(small_arch(), data, budget(epochs=1, augment="shift"))
    assert shifted.status == "complete"
    assert shifted.epochs[0].train_loss != plain.epochs[0].train_loss  # the budget's augment ran
    assert data.augment == "none"  # and the shared data was not changed


def test_bf16_autocast_on_the_cpu_is_a_recipe_option(data):
    fp32 = train_proxy(small_arch(), data, budget(precision="fp32"))
    auto = train_proxy(small_arch(), data, budget())  # auto: fp32 on the CPU
    bf16 = train_proxy(small_arch(), data, budget(precision="bf16"))
    assert [m.train_loss for m in auto.epochs] == [m.train_loss for m in fp32.epochs]
    assert bf16.status == "complete"
    # bf16 rounds the matmuls: same seed, other numbers; it still learns.
    assert [m.train_loss for m in bf16.epochs] != [m.train_loss for m in fp32.epochs]
    assert bf16.epochs[-1].train_loss < bf16.epochs[0].train_loss
    with pytest.raises(ValueError):
        TrainBudget(precision="fp16")


def test_on_epoch_can_stop(data):
    result = train_proxy(small_arch(), data, budget(epochs=3), on_epoch=lambda m: m.epoch >= 1)
    assert result.status == "stopped" and result.epochs_completed == 1


# ---- failures are results ---------------------------------------------------------------------------
def test_nan_inputs_diverge(data):
    # A standard deviation of zero turns every pixel into inf or nan: the loss cannot be finite.
    broken = ProxyData(**{**data.__dict__, "std": (0.0,)})
    result = train_proxy(small_arch(), broken, budget())
    assert result.status == "diverged" and "epoch 1" in result.reason
    assert result.epochs_completed == 0


def test_loss_becoming_nan_in_a_later_epoch_diverges(data, monkeypatch):
    from timm.loss import LabelSmoothingCrossEntropy

    original = LabelSmoothingCrossEntropy.forward
    calls = {"n": 0}

    def nan_after_one_epoch(self, x, target):
        calls["n"] += 1
        loss = original(self, x, target)
        return loss * float("nan") if calls["n"] > 4 else loss  # 4 steps per epoch

    monkeypatch.setattr(LabelSmoothingCrossEntropy, "forward", nan_after_one_epoch)
    result = train_proxy(small_arch(), data, budget(epochs=3))
    assert result.status == "diverged" and "epoch 2" in result.reason
    assert result.epochs_completed == 1


def test_out_of_memory_is_a_status(data, monkeypatch):
    from t2tsearch.models.vit import T2TViT

    def no_memory(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(T2TViT, "forward", no_memory)
    result = train_proxy(small_arch(), data, budget())
    assert result.status == "oom" and "out of memory" in result.reason
    assert result.epochs_completed == 0


@pytest.mark.parametrize("changes, reason", [
    ({"in_chans": 3}, "in_chans 3 does not match"),
    ({"num_classes": 100}, "num_classes 100 does not match"),
    ({"img_size": 32}, "img_size 32 does not match"),
    ({"backbone.num_heads": 3}, "not divisible by num_heads"),
])
def test_bad_configuration_is_invalid(data, changes, reason):
    result = train_proxy(small_arch(**changes), data, budget())
    assert result.status == "invalid" and reason in result.reason
    assert "\n" not in result.reason


def test_build_failure_is_invalid(data, monkeypatch):
    import t2tsearch.models.vit as vit

    def refuse(cfg):
        raise InfeasibleArchError("no tokens left")

    monkeypatch.setattr(vit, "build_model", refuse)
    result = train_proxy(small_arch(), data, budget())
    assert result == TrainResult("invalid", "no tokens left", seconds=result.seconds,
                                 device="cpu")


def watch_what_training_builds(monkeypatch) -> tuple[list[weakref.ref], list[list[bool]]]:
    """Weak references to the model, optimizer and scheduler the next trainings build, and
    which of them were still alive each time the trainer freed memory (on CUDA: emptied its
    cache, which can only return blocks no tensor holds)."""
    import timm.optim
    import timm.scheduler

    import t2tsearch.engine.train as train_module
    import t2tsearch.models.vit as vit

    refs: list[weakref.ref] = []

    def kept(thing):
        refs.append(weakref.ref(thing))
        return thing

    build, create = vit.build_model, timm.optim.create_optimizer_v2
    monkeypatch.setattr(vit, "build_model", lambda cfg: kept(build(cfg)))
    monkeypatch.setattr(timm.optim, "create_optimizer_v2",
                        lambda *args, **kwargs: kept(create(*args, **kwargs)))

    class WatchedScheduler(timm.scheduler.CosineLRScheduler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            kept(self)

    monkeypatch.setattr(timm.scheduler, "CosineLRScheduler", WatchedScheduler)
    alive_when_freed: list[list[bool]] = []
    free = train_module._free_memory

    def watching(*args) -> None:
        gc.collect()
        alive_when_freed.append([ref() is not None for ref in refs])
        free(*args)

    monkeypatch.setattr(train_module, "_free_memory", watching)
    return refs, alive_when_freed


def test_model_optimizer_and_scheduler_are_released_after_a_training(data, monkeypatch):
    # A worker Ray reuses must start its next trial with nothing of this one in memory.
    refs, alive_when_freed = watch_what_training_builds(monkeypatch)
    result = train_proxy(small_arch(), data, budget(epochs=1))
    assert result.status == "complete" and len(refs) == 3
    assert alive_when_freed == [[False, False, False]]
    assert all(ref() is None for ref in refs)


def test_out_of_memory_releases_everything_before_the_cache_is_emptied(data, monkeypatch):
    # Before: the scheduler still held the optimizer (and its state) when the cache was emptied.
    refs, alive_when_freed = watch_what_training_builds(monkeypatch)
    calls = {"n": 0}

    def out_of_memory_at_the_second_step(module, args):
        calls["n"] += 1
        if calls["n"] == 2:  # after one optimizer step: its state exists
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    import t2tsearch.models.vit as vit

    build = vit.build_model

    def failing(cfg):
        model = build(cfg)
        model.register_forward_pre_hook(out_of_memory_at_the_second_step)
        return model

    monkeypatch.setattr(vit, "build_model", failing)
    result = train_proxy(small_arch(), data, budget(epochs=1))
    assert result.status == "oom" and len(refs) == 3
    assert alive_when_freed == [[False, False, False]]
    assert all(ref() is None for ref in refs)


def test_a_training_that_raises_leaves_nothing_behind_once_handled(data, monkeypatch):
    refs, alive_when_freed = watch_what_training_builds(monkeypatch)
    from t2tsearch.models.vit import T2TViT

    def broken(self, x):
        raise ValueError("a bug, not the architecture's size")

    monkeypatch.setattr(T2TViT, "forward", broken)
    with pytest.raises(ValueError, match="a bug"):
        train_proxy(small_arch(), data, budget(epochs=1))
    assert len(alive_when_freed) == 1  # freed on the way out too
    gc.collect()
    assert all(ref() is None for ref in refs)


@pytest.mark.parametrize("message", [
    "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported",
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "DefaultCPUAllocator: can't allocate memory: you tried to allocate 8000000000 bytes",
])
def test_every_allocation_failure_is_out_of_memory(data, monkeypatch, message):
    # Before, only torch's OutOfMemoryError and the CPU's message were: the others were bugs.
    from t2tsearch.models.vit import T2TViT

    def no_memory(self, x):
        raise RuntimeError(message)

    monkeypatch.setattr(T2TViT, "forward", no_memory)
    result = train_proxy(small_arch(), data, budget())
    assert result.status == "oom" and message.splitlines()[0] in result.reason


def test_each_training_records_its_device(data):
    result = train_proxy(small_arch(), data, budget(epochs=1))
    assert (result.device, result.device_name) == ("cpu", "")
    assert result.to_dict()["device"] == "cpu"


@pytest.mark.parametrize("native, expected", [(True, True), (False, False)])
def test_precision_auto_takes_bf16_only_where_the_gpu_has_it(monkeypatch, native, expected):
    from contextlib import nullcontext

    from t2tsearch.engine.train import bf16_native

    asked = []

    def supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return native or including_emulation  # as a T4 answers: emulated, yes

    monkeypatch.setattr(torch.cuda, "device", lambda device: nullcontext())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert bf16_native(torch.device("cuda")) is expected and asked == [False]
    assert bf16_native(torch.device("cpu")) is False


def test_a_folder_dataset_gets_a_loader_worker_per_torch_thread(monkeypatch):
    # A trial's torch threads are its cpus_per_trial (t2tsearch.engine.trainable); its folder loader
    # takes as many workers, where it took min(8, cores - 1) whatever the trial was given.
    import t2tsearch.engine.train as train_module

    asked = {}

    def loading(*args, **kwargs):
        asked.update(kwargs)
        raise LookupError("loaded enough")

    monkeypatch.setattr(train_module, "load_data", loading)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with pytest.raises(LookupError):
            train_proxy(small_arch(), None, budget())
    finally:
        torch.set_num_threads(threads)
    assert asked["num_workers"] == 3
    with pytest.raises(LookupError):
        train_proxy(small_arch(), None, budget(), loader_workers=0)
    assert asked["num_workers"] == 0


def test_budget_is_the_agreed_interface():
    assert TrainBudget().dataset == "mnist5k" and TrainBudget().train_subset is None
    with pytest.raises(ValueError):
        TrainBudget(epoch=3)  # a misspelt key in a space's train: section is an error


def test_optimizer_skips_decay_on_1d_and_tokens():
    from timm.optim import create_optimizer_v2

    from t2tsearch.models.vit import build_model

    model = build_model(small_arch())
    optimizer = create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05)
    decayed = {id(p) for group in optimizer.param_groups if group["weight_decay"] > 0
               for p in group["params"]}
    named = dict(model.named_parameters())
    assert id(named["cls_token"]) not in decayed and id(named["norm.weight"]) not in decayed
    assert id(named["head.weight"]) in decayed


def test_measure_latency_of_a_config():
    timing = measure_latency(small_arch(), batch_size=4, device="cpu", runs=3, warmup=1)
    assert isinstance(timing, Latency) and timing.device == "cpu"
    assert 0 < timing.ms_b1 and 0 < timing.ms_batch and math.isfinite(timing.throughput)


# ---- the command ---------------------------------------------------------------------------------
def test_cli_train_prints_a_final_line(capsys):
    code = main(["train", "t2t_vit_7", "--img-size", "16", "--epochs", "1", "--batch-size", "64",
                 "--train-subset", "128", "--no-latency"])
    captured = capsys.readouterr()
    assert code == 0
    final = captured.out.strip().splitlines()[-1]
    assert final.startswith("t2t_vit_7: val acc ") and "M params" in final and "GMACs" in final
    assert "img/s" in final and "(1 epoch, complete)" in final
    assert "epoch 1/1" in captured.err  # the progress goes to stderr


def test_cli_train_json(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(small_arch().to_yaml())
    code = main(["train", str(path), "--epochs", "1", "--batch-size", "64", "--train-subset",
                 "128", "--no-latency", "--json", "--seed", "3"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "tiny" and report["arch"]["img_size"] == 28  # mnist5k's native size
    assert report["result"]["status"] == "complete" and report["budget"]["seed"] == 3
    assert report["cost"]["params"] > 0 and 0 <= report["result"]["val_acc"] <= 1


@pytest.mark.parametrize("argv, message", [
    (["train", "t2t_vit_7", "--dataset", "cifar1O"], "did you mean cifar10"),
    (["train", "t2t_vit_7", "--dataset", "cifar10", "--data-dir", "/nonexistent"],
     "cifar-10-batches-py"),
    (["train", "t2t_vit_7", "--img-size", "2"], "leaves no tokens"),
    (["train", "t2t_vit_7", "--epochs", "0"], "epochs"),
    (["train", "no_such_model"], "unknown preset"),
    (["cost", "t2t_vit_7", "--latency", "--device", "cuda:7"], "CUDA"),
])
def test_cli_train_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_cli_cost_latency(capsys):
    assert main(["cost", "t2t_vit_7", "--img-size", "16", "--num-classes", "10", "--latency",
                 "--batch-size", "2", "--device", "cpu"]) == 0
    assert "latency" in capsys.readouterr().out
    assert main(["cost", "t2t_vit_7", "--img-size", "16", "--latency", "--batch-size", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["latency"]["ms_b1"] > 0 and report["latency"]["throughput"] > 0


def test_cli_train_failure_is_exit_1(capsys, monkeypatch):
    from timm.loss import LabelSmoothingCrossEntropy

    monkeypatch.setattr(LabelSmoothingCrossEntropy, "forward",
                        lambda self, x, target: x.sum() * float("nan"))
    code = main(["train", "t2t_vit_7", "--img-size", "16", "--epochs", "1", "--batch-size", "64",
                 "--train-subset", "64", "--no-latency"])
    assert code == 1
    err = capsys.readouterr().err
    assert "t2t_vit_7: diverged: train loss became nan in epoch 1" in err


# ---- the test set: measured once training completes (confirm asks for it) -----------------------
def test_the_test_set_is_measured_on_the_trained_model(data, monkeypatch):
    import t2tsearch.models.vit as vit

    built = []
    build = vit.build_model
    monkeypatch.setattr(vit, "build_model", lambda cfg: built.append(build(cfg)) or built[-1])
    # 64 training images with random labels: no class holds a tenth of them, so even a model
    # that predicts one class scores otherwise than on the (stratified) validation set.
    labels = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(5))
    test = TensorImages(data.train.images[:64], labels)
    result = train_proxy(small_arch(), data, budget(epochs=1), test=test)
    model = built[-1].eval()
    mean, std = data.mean[0] * 255, data.std[0] * 255
    with torch.inference_mode():
        predicted = model((test.images.float() - mean) / std).argmax(dim=1)
    assert result.test_acc == pytest.approx((predicted == labels).float().mean().item())
    # The validation images as a test set: the same measurement as the last epoch's.
    again = train_proxy(small_arch(), data, budget(epochs=1), test=data.val)
    assert again.test_acc == again.val_acc
    assert train_proxy(small_arch(), data, budget(epochs=1)).test_acc is None
    stopped = train_proxy(small_arch(), data, budget(epochs=2), on_epoch=lambda m: True,
                          test=test)
    assert stopped.status == "stopped" and stopped.test_acc is None


@pytest.mark.parametrize("recipe", [{}, {"mixup": 0.8, "augment": "shift"}], ids=["plain", "mixup"])
def test_a_training_resumed_from_its_state_ends_as_the_uninterrupted_one(data, recipe):
    # A retried trial goes on from the state saved after an epoch (search.checkpoint): weights,
    # optimizer, schedule, every random generator (mixup draws from numpy, augmentation from
    # the batch order's) and the epochs before.
    import io

    import torch

    straight = train_proxy(small_arch(), data, budget(epochs=3, **recipe))
    states: list[bytes] = []

    def save(state) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)  # as the trainable does: the live tensors train on
        states.append(buffer.getvalue())

    cut = train_proxy(small_arch(), data, budget(epochs=3, **recipe), on_state=save,
                      on_epoch=lambda metrics: metrics.epoch == 1)  # stopped after epoch 1
    assert cut.status == "stopped" and len(states) == 1
    state = torch.load(io.BytesIO(states[0]), weights_only=False)
    assert state["epoch"] == 1
    seen: list[EpochMetrics] = []
    resumed = train_proxy(small_arch(), data, budget(epochs=3, **recipe), on_epoch=seen.append,
                          resume=state)
    assert [m.epoch for m in seen] == [2, 3]  # epoch 1 is not trained again
    numbers = [[(m.epoch, m.val_acc, m.val_loss, m.train_loss) for m in r.epochs]
               for r in (straight, resumed)]
    assert numbers[0] == numbers[1]
    # Its time is the whole training's, epoch 1's (trained before the cut) included.
    assert resumed.seconds >= sum(m.seconds for m in resumed.epochs)
    # No state after the last epoch: the training is over, its result is what counts.
    states.clear()
    train_proxy(small_arch(), data, budget(epochs=2), on_state=save)
    assert [torch.load(io.BytesIO(b), weights_only=False)["epoch"] for b in states] == [1]
