"""The Tokens-to-Token module: soft splits re-structured by a token mixer between them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn

from t2tsearch.arch import ArchConfig, SoftSplit


class TokenAttention(nn.Module):
    """Single-head attention that maps `dim` inputs to `out_dim` and adds v back as the shortcut.

    The input and output widths differ (unfolded patches in, token_dim out), so the usual
    residual is impossible; as in the T2T-ViT paper the value projection serves as the shortcut.
    """

    def __init__(self, dim: int, out_dim: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.out_dim = out_dim
        # The official model scales by the *input* width, not out_dim; kept so trained weights match.
        self.scale = dim**-0.5
        self.qkv = nn.Linear(dim, out_dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(out_dim, out_dim)
        self.fused_attn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.fused_attn:
            # As (batch, heads=1, tokens, dim): torch's flash and memory-efficient kernels take
            # only 4-D inputs, and on 3-D ones it builds the full N x N score matrix instead.
            out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                                                 scale=self.scale).squeeze(1)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            out = attn.softmax(dim=-1) @ v
        return v + self.proj(out)


class TokenTransformer(nn.Module):
    """Transformer layer of the T2T module (one head, MLP ratio 1)."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = TokenAttention(dim, out_dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = Mlp(in_features=out_dim, hidden_features=out_dim, out_features=out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokenPerformer(nn.Module):
    """Performer layer of the T2T module: linear attention with positive random features (FAVOR+)."""

    def __init__(self, dim: int, out_dim: int, kernel_ratio: float = 0.5) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.kqv = nn.Linear(dim, 3 * out_dim)
        self.dropout = nn.Dropout(0.1)
        self.proj = nn.Linear(out_dim, out_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = nn.Sequential(
            nn.Linear(out_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim), nn.Dropout(0.1)
        )
        self.num_features = max(1, int(out_dim * kernel_ratio))
        features = torch.empty(self.num_features, out_dim)
        nn.init.orthogonal_(features)
        # Frozen random projection; a Parameter (not a buffer) so it sits in the state dict
        # under the same name and is counted as the official model counts it.
        self.w = nn.Parameter(features * math.sqrt(self.num_features), requires_grad=False)
        self.epsilon = 1e-8

    def random_features(self, x: torch.Tensor) -> torch.Tensor:
        # phi(x) = exp(w.x - |x|^2 / 2) / sqrt(m), the positive softmax-kernel features.
        half_sq_norm = (x * x).sum(dim=-1, keepdim=True) / 2
        projected = torch.einsum("bti,mi->btm", x.float(), self.w)
        return torch.exp(projected - half_sq_norm) / math.sqrt(self.num_features)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = torch.split(self.kqv(x), self.out_dim, dim=-1)
        kp, qp = self.random_features(k), self.random_features(q)
        normaliser = torch.einsum("bti,bi->bt", qp, kp.sum(dim=1)).unsqueeze(dim=2)
        kv = torch.einsum("bin,bim->bnm", v.float(), kp)
        y = torch.einsum("bti,bni->btn", qp, kv) / (normaliser + self.epsilon)
        return v + self.dropout(self.proj(y.to(v.dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UnfoldT2T(nn.Module):
    """Soft split (unfold) -> mixer -> re-structurize to a grid -> soft split ... -> project."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        t2t = cfg.t2t
        splits = t2t.soft_splits
        self.soft_splits = nn.ModuleList(
            nn.Unfold(kernel_size=s.kernel, stride=s.stride, padding=s.padding) for s in splits
        )
        self.mixers = nn.ModuleList()
        in_dim = cfg.in_chans
        for split in splits[:-1]:
            patch_dim = in_dim * split.kernel**2
            if t2t.mixer == "transformer":
                self.mixers.append(TokenTransformer(patch_dim, t2t.token_dim))
            else:
                self.mixers.append(TokenPerformer(patch_dim, t2t.token_dim, t2t.kernel_ratio))
            in_dim = t2t.token_dim
        self.project = nn.Linear(in_dim * splits[-1].kernel ** 2, cfg.backbone.embed_dim)
        self.grids = cfg.token_grids()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.soft_splits[0](x).transpose(1, 2)
        for mixer, grid, split in zip(self.mixers, self.grids, self.soft_splits[1:], strict=False):
            x = mixer(x)
            # Back to an image of the real grid (not sqrt(N) of a divisible-by-16 assumption).
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], grid, grid)
            x = split(x).transpose(1, 2)
        return self.project(x)


class ConvT2T(nn.Module):
    """Convolution baseline of the paper: each soft split is a strided convolution.

    The official code defines these convolutions but its forward calls the attention layers,
    which do not exist for this variant. Here a GELU sits between the convolutions: without it
    the stack is one linear map and the extra splits add cost but no capacity.
    """

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        splits: tuple[SoftSplit, ...] = cfg.t2t.soft_splits
        layers: list[nn.Module] = []
        in_dim = cfg.in_chans
        for index, split in enumerate(splits):
            last = index == len(splits) - 1
            out_dim = cfg.backbone.embed_dim if last else cfg.t2t.token_dim
            layers.append(nn.Conv2d(in_dim, out_dim, split.kernel, split.stride, split.padding))
            if not last:
                layers.append(nn.GELU())
            in_dim = out_dim
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(2).transpose(1, 2)


def build_t2t(cfg: ArchConfig) -> nn.Module:
    if cfg.t2t.mixer == "convolution":
        return ConvT2T(cfg)
    return UnfoldT2T(cfg)
