"""The T2T-ViT model and `build_model(cfg)`, with timm's model interface."""

from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from torch import nn

from t2tsearch.arch import ArchConfig
from t2tsearch.models.blocks import build_blocks
from t2tsearch.models.t2t import build_t2t


def sinusoid_encoding(positions: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine position table of shape [1, positions, dim] (Vaswani et al. 2017)."""
    position = torch.arange(positions, dtype=torch.float64).unsqueeze(1)
    exponent = 2 * (torch.arange(dim) // 2).to(torch.float64) / dim
    angles = position / torch.pow(10000.0, exponent)
    table = torch.empty(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float().unsqueeze(0)


class T2TViT(nn.Module):
    """Tokens-to-Token ViT (Yuan et al., ICCV 2021), built from one ArchConfig."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        bb = cfg.backbone
        self.num_classes = cfg.num_classes
        self.embed_dim = bb.embed_dim
        self.num_features = bb.num_features

        self.tokens_to_token = build_t2t(cfg)
        positions = cfg.num_tokens + 1  # + class token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, bb.embed_dim))
        if cfg.pos_embed == "sinusoidal":
            table = sinusoid_encoding(positions, bb.embed_dim)
            self.pos_embed = nn.Parameter(table, requires_grad=False)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, positions, bb.embed_dim))
            trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = build_blocks(bb)
        self.norm = nn.LayerNorm(self.num_features)
        self.head = self._new_head(cfg.num_classes)

        trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def _new_head(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    # ---- timm's model interface --------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"cls_token", "pos_embed"}

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.head = self._new_head(num_classes)
        if isinstance(self.head, nn.Linear):
            _init_weights(self.head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image [B, C, H, W] -> normalised tokens [B, 1 + num_tokens, num_features]."""
        x = self.tokens_to_token(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # class token
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_model(cfg: ArchConfig) -> T2TViT:
    """The torch model an `ArchConfig` describes, with timm's interface (`forward_features`,
    `forward_head`, `reset_classifier`), its weights drawn from truncated normals (std 0.02).

    Raises:
        InfeasibleArchError: the architecture cannot exist (say, soft splits that leave no
            tokens, or a width the heads do not divide); its message is one line saying why.
    """
    return T2TViT(cfg)


def set_fused_attention(model: nn.Module, fused: bool) -> None:
    """Switch every attention layer between fused SDPA (fast) and explicit matmuls (countable)."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["T2TViT", "build_model", "set_fused_attention", "count_parameters", "sinusoid_encoding"]
