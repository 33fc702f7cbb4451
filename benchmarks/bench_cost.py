"""How fast is cost counting? Cold and cached time per preset at 224, and random configs per second.

Usage: python3 benchmarks/bench_cost.py [--repeats 5] [--random 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig
from t2tsearch.cost import clear_memory_cache, count_cost
from t2tsearch.models import PRESETS


def _time(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def random_config(rng: random.Random) -> ArchConfig:
    """A draw from a wide space: 32 px, any mixer and block, depth 1-12, width 32-384."""
    heads = rng.choice([1, 2, 4, 8])
    return ArchConfig(
        img_size=32, in_chans=3, num_classes=10,
        t2t=T2TConfig(mixer=rng.choice(["transformer", "performer", "convolution"]),
                      token_dim=rng.choice([16, 32, 64])),
        backbone=BackboneConfig(depth=rng.randint(1, 12), embed_dim=heads * rng.choice([8, 16, 32, 48]),
                                num_heads=heads, mlp_ratio=rng.choice([1.0, 2.0, 3.0, 4.0]),
                                block=rng.choice(["plain", "se", "ghost"]), se_reduction=4,
                                ghost_ratio=2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--random", type=int, default=40)
    args = parser.parse_args()

    names = ["t2t_vit_7", "t2t_vit_14", "t2t_vit_t_14", "t2t_vit_24"]
    print(f"{'preset @224':<16} {'cold (s)':>9} {'memory (ms)':>12} {'disk (ms)':>10} {'cold/memory':>12}")
    with tempfile.TemporaryDirectory() as cache_dir:
        for name in names:
            cfg = PRESETS[name]

            def cold(cfg=cfg):
                clear_memory_cache()
                count_cost(cfg)

            def disk(cfg=cfg):
                clear_memory_cache()
                count_cost(cfg, cache_dir=cache_dir)

            cold_s = _time(cold, args.repeats)
            count_cost(cfg, cache_dir=cache_dir)
            memory_s = _time(lambda cfg=cfg: count_cost(cfg), args.repeats * 100)
            disk_s = _time(disk, args.repeats)
            print(f"{name:<16} {cold_s:>9.3f} {memory_s * 1e3:>12.4f} {disk_s * 1e3:>10.3f} "
                  f"{cold_s / memory_s:>11.0f}x")

    rng = random.Random(0)
    configs = [random_config(rng) for _ in range(args.random)]
    feasible = [cfg for cfg in configs if cfg.feasible]
    clear_memory_cache()
    start = time.perf_counter()
    for cfg in feasible:
        count_cost(cfg)
    elapsed = time.perf_counter() - start
    print(f"\nrandom configs (32 px, wide space): {len(feasible)} counted cold in {elapsed:.1f} s "
          f"= {len(feasible) / elapsed:.1f} configs/s")


if __name__ == "__main__":
    main()
