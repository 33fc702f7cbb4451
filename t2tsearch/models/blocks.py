"""Backbone blocks of the T2T-ViT family: plain, squeeze-excitation, ghost and dense."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Attention, DropPath, Mlp, SEModule
from torch import nn

from t2tsearch.arch import BackboneConfig


class Block(nn.Module):
    """Pre-norm transformer block around any attention and MLP modules."""

    def __init__(self, dim: int, attn: nn.Module, mlp: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TokenSE(nn.Module):
    """Squeeze-excitation over the channels of a token sequence (mean over tokens as the squeeze)."""

    def __init__(self, dim: int, reduction: int) -> None:
        super().__init__()
        self.se = SEModule(dim, rd_channels=dim // reduction, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, N, C]
        return self.se(x.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)


class SEAttention(Attention):
    """Multi-head attention followed by squeeze-excitation on its output (T2T-ViT-SE)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, se_reduction: int) -> None:
        super().__init__(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.se_layer = TokenSE(dim, se_reduction)

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.se_layer(super().forward(x, **kwargs))


class GhostAttention(nn.Module):
    """Attention whose q, k and v are half computed by linear layers and half by cheap
    per-channel scalings of that half (GhostNet's idea applied to T2T-ViT-Ghost)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        half = dim // 2
        self.q = nn.Linear(dim, half, bias=qkv_bias)
        self.k = nn.Linear(dim, half, bias=qkv_bias)
        self.v = nn.Linear(dim, half, bias=qkv_bias)
        self.cheap_operation_q = nn.Conv1d(half, half, kernel_size=1, groups=half, bias=False)
        self.cheap_operation_k = nn.Conv1d(half, half, kernel_size=1, groups=half, bias=False)
        self.cheap_operation_v = nn.Conv1d(half, half, kernel_size=1, groups=half, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.fused_attn = True

    def _heads(self, primary: torch.Tensor, cheap: nn.Conv1d) -> torch.Tensor:
        ghost = cheap(primary.transpose(1, 2)).transpose(1, 2)
        full = torch.cat((primary, ghost), dim=2)
        batch, tokens, _ = full.shape
        return full.reshape(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q = self._heads(self.q(x), self.cheap_operation_q)
        k = self._heads(self.k(x), self.cheap_operation_k)
        v = self._heads(self.v(x), self.cheap_operation_v)
        if self.fused_attn:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class GhostMlp(nn.Module):
    """MLP whose hidden layer is hidden/ratio dense features plus ratio-1 cheap copies of them."""

    def __init__(self, dim: int, hidden: int, ghost_ratio: int) -> None:
        super().__init__()
        primary = hidden // ghost_ratio
        self.fc1 = nn.Linear(dim, primary)
        self.act = nn.GELU()
        self.cheap_operations = nn.ModuleList(
            nn.Conv1d(primary, primary, kernel_size=1, groups=primary, bias=False)
            for _ in range(ghost_ratio - 1)
        )
        self.fc2 = nn.Linear(primary * ghost_ratio, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.act(self.fc1(x))
        channels_first = primary.transpose(1, 2)
        parts = [primary] + [self.act(op(channels_first).transpose(1, 2)) for op in self.cheap_operations]
        return self.fc2(torch.cat(parts, dim=2))


class DenseBlock(nn.Module):
    """A transformer block whose output is squeezed to `growth` channels and concatenated to
    its input, so the width grows by `growth` per block (DenseNet-style, T2T-ViT-Dense)."""

    def __init__(self, dim: int, growth: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 drop_path: float) -> None:
        super().__init__()
        attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))
        self.block = Block(dim, attn, mlp, drop_path)
        self.dense_linear = nn.Linear(dim, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.dense_linear(self.block(x))], dim=2)


class Transition(nn.Module):
    """Between dense stages: halve the width with a linear layer and GELU."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x))


def build_blocks(bb: BackboneConfig) -> nn.Sequential:
    """The backbone as a sequence of blocks (and transitions, for dense)."""
    # Stochastic depth grows linearly with depth. Plain Python, not torch.linspace: the model
    # may be built on the meta device (cost counting), where tensors hold no values.
    steps = max(bb.depth - 1, 1)
    drop_rates = [bb.drop_path_rate * index / steps for index in range(bb.depth)]
    dim = bb.embed_dim
    if bb.block == "dense":
        layers: list[nn.Module] = []
        widths = bb.dense_widths()
        index = 0
        stages = widths[:-1]  # the last entry is the output width
        for number, stage in enumerate(stages):
            for width in stage:
                layers.append(DenseBlock(width, bb.dense_growth, bb.num_heads, bb.mlp_ratio,
                                         bb.qkv_bias, drop_rates[index]))
                index += 1
            if number < len(stages) - 1:
                layers.append(Transition(stage[-1] + bb.dense_growth, widths[number + 1][0]))
        return nn.Sequential(*layers)

    blocks = []
    for rate in drop_rates:
        if bb.block == "ghost":
            attn: nn.Module = GhostAttention(dim, bb.num_heads, bb.qkv_bias)
            mlp: nn.Module = GhostMlp(dim, bb.mlp_hidden(), bb.ghost_ratio)
        else:
            if bb.block == "se":
                attn = SEAttention(dim, bb.num_heads, bb.qkv_bias, bb.se_reduction)
            else:
                attn = Attention(dim, num_heads=bb.num_heads, qkv_bias=bb.qkv_bias)
            mlp = Mlp(in_features=dim, hidden_features=bb.mlp_hidden())
        blocks.append(Block(dim, attn, mlp, rate))
    return nn.Sequential(*blocks)
