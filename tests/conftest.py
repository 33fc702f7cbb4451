"""Shared test fixtures: tiny architectures that build and run in milliseconds."""

from __future__ import annotations

import pytest

from t2tsearch.arch import ArchConfig, BackboneConfig, T2TConfig


def tiny_arch(**changes) -> ArchConfig:
    """A T2T-ViT small enough to build, count and train in a test (28 px, 1 channel, 10 classes)."""
    cfg = ArchConfig(
        img_size=28,
        in_chans=1,
        num_classes=10,
        t2t=T2TConfig(token_dim=16),
        backbone=BackboneConfig(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2.0),
    )
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture
def tiny() -> ArchConfig:
    return tiny_arch()
