"""Is train_proxy as fast as a plain PyTorch loop? Training images/s of both, same run.

For each model: the same data (mnist5k in memory), batch size, seed and number of steps, once
through `train_proxy` (timm AdamW, cosine schedule, label smoothing, divergence checks) and once
through the smallest loop that trains at all (torch AdamW, cross-entropy, nothing else). Runs are
interleaved and repeated, and the best of each is kept, so that load from other processes hits
both alike. Only the training steps are timed (train_proxy's EpochMetrics.images_per_s).

`--modes fp32,bf16,compile` instead compares ways of running train_proxy itself on the same
models: fp32 (the CPU default), bf16 autocast (`train.precision: bf16`; this CPU has AVX-512
BF16) and `torch.compile` (`train.compile: true`), as training images/s of one epoch (best of
the repeats, after a first epoch that pays compilation) and, with `--accuracy-epochs N`, the
validation accuracy after an N-epoch proxy training in each mode.

Usage:
  python3 benchmarks/bench_train.py                       # 3 models, 1536 images, best of 3
  python3 benchmarks/bench_train.py --train-subset 4000 --repeats 3 --device cuda
  OMP_NUM_THREADS=1 python3 benchmarks/bench_train.py --modes fp32,bf16,compile \
      --train-subset 4000 --repeats 2 --accuracy-epochs 12
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.cost import count_cost
from t2tsearch.device import resolve_device
from t2tsearch.engine.data import ProxyData, load_data
from t2tsearch.engine.train import TrainBudget, train_proxy
from t2tsearch.models.presets import PRESETS
from t2tsearch.models.vit import build_model


def models(img_size: int) -> dict[str, ArchConfig]:
    two_splits = (SoftSplit(kernel=7, stride=4, padding=2), SoftSplit(kernel=3, stride=2, padding=1))
    mnist = {"img_size": img_size, "in_chans": 1, "num_classes": 10}
    return {
        "tiny d2 w32": ArchConfig(**mnist, t2t=T2TConfig(token_dim=16),
                                  backbone=BackboneConfig(depth=2, embed_dim=32, num_heads=2,
                                                          mlp_ratio=2.0)),
        "deep-narrow d8 w96": ArchConfig(**mnist, t2t=T2TConfig(soft_splits=two_splits,
                                                                token_dim=32),
                                         backbone=BackboneConfig(depth=8, embed_dim=96,
                                                                 num_heads=4, mlp_ratio=3.0)),
        "t2t_vit_7": PRESETS["t2t_vit_7"].replace(**mnist),
    }


def plain_loop(cfg: ArchConfig, data: ProxyData, batch_size: int, lr: float, seed: int,
               device: torch.device) -> float:
    """Images/s of the plainest training loop over the same in-memory tensors."""
    torch.manual_seed(seed)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1) * 255
    images, labels = data.train.on(device)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).to(device)
    steps = data.steps_per_epoch(batch_size)
    start = time.perf_counter()
    for step in range(steps):
        index = order[step * batch_size:(step + 1) * batch_size]
        x = (images[index].float() - mean) / std
        loss = F.cross_entropy(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    loss.item()  # wait for the device
    return steps * batch_size / (time.perf_counter() - start)


def deep_narrow_models(img_size: int) -> dict[str, ArchConfig]:
    """Members of spaces/deep_narrow.yaml (performer T2T, token_dim 32): its default's models."""
    two_splits = (SoftSplit(kernel=7, stride=4, padding=2), SoftSplit(kernel=3, stride=2, padding=1))
    t2t = T2TConfig(soft_splits=two_splits, token_dim=32, mixer="performer")
    mnist = {"img_size": img_size, "in_chans": 1, "num_classes": 10}
    shapes = {"shallow-wide d2 w192": (2, 192, 4, 3.0), "deep-narrow d8 w96": (8, 96, 4, 3.0),
              "deep-narrow d16 w48": (16, 48, 2, 2.0)}
    return {name: ArchConfig(**mnist, t2t=t2t, backbone=BackboneConfig(
        depth=d, embed_dim=w, num_heads=h, mlp_ratio=r)) for name, (d, w, h, r) in shapes.items()}


MODES = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"},
         "compile": {"precision": "fp32", "compile": True},
         "bf16+compile": {"precision": "bf16", "compile": True}}


def compare_modes(modes: list[str], data: ProxyData, budget: TrainBudget, repeats: int,
                  accuracy_epochs: int | None, img_size: int) -> None:
    """Images/s (and accuracy) of train_proxy in each mode, interleaved, ratios against fp32."""
    print(f"{'model':<20} {'mode':<13} {'img/s':>7} {'vs fp32':>7}"
          + (f" {'acc @' + str(accuracy_epochs) + 'ep':>9}" if accuracy_epochs else ""))
    for name, cfg in deep_narrow_models(img_size).items():
        speed = dict.fromkeys(modes, 0.0)
        for _ in range(repeats):
            for mode in modes:
                # Two epochs: the first pays torch.compile's tracing, the second is timed.
                run = train_proxy(cfg, data, budget.model_copy(update={**MODES[mode],
                                                                       "epochs": 2}))
                assert run.status == "complete", run.reason
                speed[mode] = max(speed[mode], run.epochs[-1].images_per_s)
        for mode in modes:
            line = (f"{name:<20} {mode:<13} {speed[mode]:>7.0f} "
                    f"{speed[mode] / speed[modes[0]]:>7.2f}")
            if accuracy_epochs:
                run = train_proxy(cfg, data, budget.model_copy(
                    update={**MODES[mode], "epochs": accuracy_epochs}))
                line += f" {(run.val_acc or 0) * 100:>8.1f}%"
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--train-subset", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--img-size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--modes", help="compare train_proxy modes instead, e.g. fp32,bf16,compile"
                                        f" (known: {', '.join(MODES)})")
    parser.add_argument("--accuracy-epochs", type=int,
                        help="with --modes: also train each mode this many epochs on the "
                             "subset and print the validation accuracy")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_data("mnist5k", args.img_size, train_limit=args.train_subset, val_limit=200)
    budget = TrainBudget(img_size=args.img_size, epochs=1, batch_size=args.batch_size,
                         device=str(device), measure_latency=False, train_subset=args.train_subset,
                         lr=args.lr)
    if args.modes:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            parser.error(f"--modes: unknown mode {unknown[0]} (known: {', '.join(MODES)})")
        print(f"mnist5k {data.num_train} images at {args.img_size} px, batch {args.batch_size}, "
              f"{device}, torch threads {torch.get_num_threads()}, best of {args.repeats}")
        compare_modes(modes, data, budget, args.repeats, args.accuracy_epochs, args.img_size)
        return
    print(f"mnist5k {data.num_train} images at {args.img_size} px, batch {args.batch_size}, "
          f"{device}, torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'model':<20} {'params':>7} {'MACs':>7} {'plain img/s':>11} {'proxy img/s':>11} "
          f"{'ratio':>6}")
    for name, cfg in models(args.img_size).items():
        plain, proxy = 0.0, 0.0
        for _ in range(args.repeats):
            plain = max(plain, plain_loop(cfg, data, args.batch_size, budget.lr, budget.seed,
                                          device))
            result = train_proxy(cfg, data, budget)
            assert result.status == "complete", result.reason
            proxy = max(proxy, result.epochs[0].images_per_s)
        cost = count_cost(cfg)
        print(f"{name:<20} {cost.params / 1e6:>6.2f}M {cost.macs / 1e6:>6.1f}M {plain:>11.0f} "
              f"{proxy:>11.0f} {proxy / plain:>6.3f}", flush=True)


if __name__ == "__main__":
    main()
