"""Is train_proxy as fast as a plain PyTorch loop? Training images/s of both, same run.

For each model: the same data (mnist5k in memory), batch size, seed and number of steps, once
through `train_proxy` (timm AdamW, cosine schedule, label smoothing, divergence checks) and once
through the smallest loop that trains at all (torch AdamW, cross-entropy, nothing else). Runs are
interleaved and repeated, and the best of each is kept, so that load from other processes hits
both alike. Only the training steps are timed (train_proxy's EpochMetrics.images_per_s).

Usage:
  python3 benchmarks/bench_train.py                       # 3 models, 1536 images, best of 3
  python3 benchmarks/bench_train.py --train-subset 4000 --repeats 3 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from t2tsearch.arch import ArchConfig, BackboneConfig, SoftSplit, T2TConfig
from t2tsearch.cost import count_cost, resolve_device
from t2tsearch.data import ProxyData, load_data
from t2tsearch.models.presets import PRESETS
from t2tsearch.models.vit import build_model
from t2tsearch.train import TrainBudget, train_proxy


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-subset", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--img-size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_data("mnist5k", args.img_size, train_limit=args.train_subset, val_limit=200)
    budget = TrainBudget(img_size=args.img_size, epochs=1, batch_size=args.batch_size,
                         device=str(device), measure_latency=False, train_subset=args.train_subset)
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
