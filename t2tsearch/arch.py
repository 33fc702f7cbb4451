"""ArchConfig: the one frozen value that describes a T2T-ViT architecture."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from t2tsearch.errors import InfeasibleArchError

TokenMixer = Literal["transformer", "performer", "convolution"]
BlockVariant = Literal["plain", "se", "dense", "ghost"]
PosEmbed = Literal["sinusoidal", "learned"]


class _Frozen(BaseModel):
    # extra="forbid" so that a misspelt key in a YAML file is an error, not a silent default.
    model_config = ConfigDict(frozen=True, extra="forbid")


class SoftSplit(_Frozen):
    """One soft split (an unfold, or a strided convolution for the convolution mixer)."""

    kernel: int = Field(ge=1)
    stride: int = Field(ge=1)
    padding: int = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_triple(cls, value: Any) -> Any:
        # YAML users write a split as [kernel, stride, padding]; accept that as well as a mapping.
        if isinstance(value, (list, tuple)):
            if len(value) != 3:
                raise ValueError("a soft split is [kernel, stride, padding]")
            return {"kernel": value[0], "stride": value[1], "padding": value[2]}
        return value

    def output_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.kernel) // self.stride + 1

    def __str__(self) -> str:
        return f"k{self.kernel}s{self.stride}p{self.padding}"


OFFICIAL_SOFT_SPLITS = (
    SoftSplit(kernel=7, stride=4, padding=2),
    SoftSplit(kernel=3, stride=2, padding=1),
    SoftSplit(kernel=3, stride=2, padding=1),
)


class T2TConfig(_Frozen):
    """The Tokens-to-Token module: soft splits with a token mixer between consecutive splits."""

    soft_splits: tuple[SoftSplit, ...] = Field(default=OFFICIAL_SOFT_SPLITS, min_length=1, max_length=4)
    token_dim: int = Field(default=64, ge=1)
    mixer: TokenMixer = "performer"
    # Performer random features per token channel (m = token_dim * kernel_ratio).
    kernel_ratio: float = Field(default=0.5, gt=0.0, le=4.0)

    @property
    def depth(self) -> int:
        """Number of token-mixer layers: one between each pair of consecutive soft splits."""
        return len(self.soft_splits) - 1


class BackboneConfig(_Frozen):
    """The ViT backbone that runs on the tokens the T2T module produces."""

    depth: int = Field(default=14, ge=1)
    embed_dim: int = Field(default=384, ge=1)
    num_heads: int = Field(default=6, ge=1)
    mlp_ratio: float = Field(default=3.0, gt=0.0)
    qkv_bias: bool = False
    block: BlockVariant = "plain"
    se_reduction: int = Field(default=16, ge=1)
    dense_growth: int = Field(default=64, ge=1)
    # Blocks per dense stage; a transition halves the width between stages. Empty: one stage.
    dense_stages: tuple[int, ...] = ()
    # Ghost MLP: only hidden/ghost_ratio features come from the dense layer, the rest are
    # cheap per-channel copies (the official T2T-ViT-16-Ghost uses mlp_ratio 3, ghost_ratio 3).
    ghost_ratio: int = Field(default=3, ge=1)
    drop_path_rate: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("dense_stages")
    @classmethod
    def _positive_stages(cls, stages: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 1 for n in stages):
            raise ValueError("every dense stage needs at least one block")
        return stages

    def dense_layout(self) -> tuple[int, ...]:
        return self.dense_stages or (self.depth,)

    def dense_widths(self) -> list[list[int]]:
        """Input width of every dense block, stage by stage, and the width after the last."""
        widths: list[list[int]] = []
        start = self.embed_dim
        layout = self.dense_layout()
        for index, blocks in enumerate(layout):
            stage = [start + j * self.dense_growth for j in range(blocks)]
            widths.append(stage)
            end = stage[-1] + self.dense_growth
            start = end // 2 if index < len(layout) - 1 else end
        widths.append([start])
        return widths

    @property
    def num_features(self) -> int:
        """Width of the features the classifier sees."""
        if self.block == "dense":
            return self.dense_widths()[-1][0]
        return self.embed_dim

    def mlp_hidden(self, dim: int | None = None) -> int:
        return int((dim or self.embed_dim) * self.mlp_ratio)


class ArchConfig(_Frozen):
    """A whole T2T-ViT: input, T2T module, backbone, position embedding, classifier."""

    img_size: int = Field(default=224, ge=1)
    in_chans: int = Field(default=3, ge=1)
    num_classes: int = Field(default=1000, ge=0)
    t2t: T2TConfig = T2TConfig()
    backbone: BackboneConfig = BackboneConfig()
    pos_embed: PosEmbed = "sinusoidal"

    # ---- derived facts -------------------------------------------------------------------
    def token_grids(self) -> list[int]:
        """Side of the token grid after each soft split (may reach 0 or less when infeasible)."""
        sizes = []
        size = self.img_size
        for split in self.t2t.soft_splits:
            size = split.output_size(size)
            sizes.append(size)
        return sizes

    @property
    def num_tokens(self) -> int:
        """Backbone sequence length without the class token."""
        side = self.token_grids()[-1]
        return max(side, 0) ** 2

    # ---- feasibility --------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every reason this architecture cannot be built, one line each; empty when feasible."""
        found: list[str] = []
        size = self.img_size
        for index, split in enumerate(self.t2t.soft_splits, start=1):
            if split.padding * 2 >= split.kernel:
                found.append(
                    f"soft split {index} ({_describe(split)}) has padding {split.padding} "
                    f">= half its kernel {split.kernel}"
                )
            out = split.output_size(size)
            if out < 1:
                found.append(
                    f"soft split {index} ({_describe(split)}) leaves no tokens at img_size {self.img_size}"
                )
                break
            size = out
        bb = self.backbone
        if bb.embed_dim % bb.num_heads:
            found.append(f"embed_dim {bb.embed_dim} is not divisible by num_heads {bb.num_heads}")
        if bb.mlp_hidden() < 1:
            found.append(f"mlp_ratio {bb.mlp_ratio} leaves no hidden units at embed_dim {bb.embed_dim}")
        if bb.block == "se" and bb.embed_dim // bb.se_reduction < 1:
            found.append(f"se_reduction {bb.se_reduction} leaves no channels at embed_dim {bb.embed_dim}")
        if bb.block == "ghost":
            if bb.embed_dim % (2 * bb.num_heads):
                found.append(
                    f"ghost attention needs embed_dim {bb.embed_dim} divisible by 2 x num_heads {bb.num_heads}"
                )
            if bb.mlp_hidden() % bb.ghost_ratio:
                found.append(
                    f"ghost MLP hidden width {bb.mlp_hidden()} (embed_dim x mlp_ratio) is not "
                    f"divisible by ghost_ratio {bb.ghost_ratio}"
                )
        if bb.block == "dense":
            if bb.dense_stages and sum(bb.dense_stages) != bb.depth:
                found.append(
                    f"dense_stages {list(bb.dense_stages)} sum to {sum(bb.dense_stages)}, not depth {bb.depth}"
                )
            for stage in bb.dense_widths()[:-1]:
                bad = [w for w in stage if w % bb.num_heads]
                if bad:
                    found.append(
                        f"dense block width {bad[0]} is not divisible by num_heads {bb.num_heads}"
                    )
                    break
        return found

    def check(self) -> ArchConfig:
        """Raise InfeasibleArchError with a one-line reason if the architecture cannot be built."""
        found = self.problems()
        if found:
            raise InfeasibleArchError("; ".join(found))
        return self

    @property
    def feasible(self) -> bool:
        return not self.problems()

    # ---- identity and serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        return cls.model_validate_json(text)

    @classmethod
    def from_yaml(cls, text: str) -> ArchConfig:
        return cls.model_validate(yaml.safe_load(text))

    def canonical(self) -> ArchConfig:
        """The same built model with every setting it does not use at its default, so that
        equal models compare (and hash to an `id`) equal. Unused: se_reduction off SE blocks,
        ghost_ratio off ghost blocks, dense_growth and dense_stages off dense blocks (and
        dense_stages (depth,), one stage, is the default ()), drop_path_rate at depth 1 (the
        only block's rate is 0), token_dim and kernel_ratio with one soft split (no token
        mixer; transformer and performer then both build an unfold and a projection),
        kernel_ratio off the performer; and ratios giving the same number of random features
        (int(token_dim x kernel_ratio)) all read as one: the default 0.5 when it gives that
        number, else features / token_dim."""
        bb, t2t = self.backbone, self.t2t
        default_bb, default_t2t = BackboneConfig(), T2TConfig()
        changes: dict[str, Any] = {}
        if bb.block != "se":
            changes["backbone.se_reduction"] = default_bb.se_reduction
        if bb.block != "ghost":
            changes["backbone.ghost_ratio"] = default_bb.ghost_ratio
        if bb.block != "dense" or bb.dense_stages == (bb.depth,):
            changes["backbone.dense_stages"] = list(default_bb.dense_stages)
        if bb.block != "dense":
            changes["backbone.dense_growth"] = default_bb.dense_growth
        if bb.depth == 1:
            changes["backbone.drop_path_rate"] = default_bb.drop_path_rate
        if t2t.depth == 0:
            changes["t2t.token_dim"] = default_t2t.token_dim
            changes["t2t.kernel_ratio"] = default_t2t.kernel_ratio
            if t2t.mixer != "convolution":
                changes["t2t.mixer"] = default_t2t.mixer
        elif t2t.mixer != "performer":
            changes["t2t.kernel_ratio"] = default_t2t.kernel_ratio
        else:
            changes["t2t.kernel_ratio"] = _representative_ratio(t2t.token_dim, t2t.kernel_ratio)
        changes = {path: value for path, value in changes.items()
                   if _get_path(self.to_dict(), path) != _jsonable(value)}
        return self.replace(**changes) if changes else self

    @property
    def id(self) -> str:
        """Stable short id: a hash of the canonical form's JSON (see `canonical`), the same
        across processes and machines; equal built models have equal ids. A config whose
        unused settings are at their defaults keeps the id it had before ids were canonical;
        results tables recompute ids from the stored `arch` when they load (see README)."""
        return _canonical_id(self.to_json())

    def replace(self, **changes: Any) -> ArchConfig:
        """A copy with fields changed, nested by dotted path: replace(**{"backbone.depth": 7})."""
        data = self.to_dict()
        for path, value in changes.items():
            _set_path(data, path.split("."), value)
        return ArchConfig.model_validate(data)

    def short(self) -> str:
        """A one-line human summary, e.g. 'performer[k7s4p2,k3s2p1,k3s2p1]/64 d14 w384 h6 r3 plain'."""
        splits = ",".join(str(s) for s in self.t2t.soft_splits)
        bb = self.backbone
        return (
            f"{self.t2t.mixer}[{splits}]/{self.t2t.token_dim} "
            f"d{bb.depth} w{bb.embed_dim} h{bb.num_heads} r{bb.mlp_ratio:g} {bb.block}"
        )


def _describe(split: SoftSplit) -> str:
    return f"kernel {split.kernel}, stride {split.stride}, padding {split.padding}"


def performer_features(token_dim: int, kernel_ratio: float) -> int:
    """Random features m of a T2T performer layer (models/t2t.py TokenPerformer)."""
    return max(1, int(token_dim * kernel_ratio))


def _representative_ratio(token_dim: int, kernel_ratio: float) -> float:
    features = performer_features(token_dim, kernel_ratio)
    default = T2TConfig().kernel_ratio
    for candidate in (default, features / token_dim,
                      math.nextafter(features / token_dim, math.inf)):
        if 0 < candidate <= 4 and performer_features(token_dim, candidate) == features:
            return candidate
    return kernel_ratio


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _get_path(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node[key]
    return node


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        if last not in node:
            raise KeyError(".".join(keys))
        node[last] = value


def recorded_id(arch: str | dict[str, Any] | None, stored: str | None = None) -> str | None:
    """The id of a recorded architecture, recomputed from its stored `arch` (JSON text or a
    mapping): runs and tables made before ids were canonical stored other ids for the same
    models. `stored` when there is no readable arch."""
    if arch is None:
        return stored
    try:
        if isinstance(arch, str):
            return _canonical_id(arch)
        return ArchConfig.model_validate(arch).id
    except ValueError:
        return stored


def trial_config_id(attrs: Mapping[str, Any]) -> str | None:
    """The config id of a recorded trial, from its user attributes (`arch`, `config_id`): the
    one way every reader of a study (search, sampler, quotas, report, confirmations) tells
    architectures apart, so that a run from before ids were canonical reads the same."""
    return recorded_id(attrs.get("arch"), attrs.get("config_id"))


@functools.lru_cache(maxsize=1 << 16)
def _canonical_id(arch_json: str) -> str:
    """The id of the config whose JSON this is. Cached by the text: ids are asked for on every
    proposal (pools of thousands of candidates, every trial of a run when groups are tallied),
    and the canonical form costs a validation and a copy (about 40 us) each time."""
    canonical = ArchConfig.from_json(arch_json).canonical()
    return hashlib.sha256(canonical.to_json().encode()).hexdigest()[:12]
