"""Hostile and malformed space files: `t2tsearch validate` refuses each with one line, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2tsearch.space import MAX_CHOICES, load_space, space_size

ROOT = Path(__file__).resolve().parents[1]
# The real entry point, reporting its own peak memory to a file (stderr must stay one line).
# VmHWM is this process image's peak; ru_maxrss would also carry the forking parent's (pytest's,
# with torch loaded), since Linux keeps it across fork and exec.
CLI = ("import os, re, sys; from t2tsearch.cli import main; code = main(); "
       "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1); "
       "open(os.environ['PEAK_RSS_FILE'], 'w').write(peak); sys.exit(code)")
# A hang guard, not a speed measurement: the old code never ended on a 10^8 range (it listed
# the range) and on the 100,000-entry choice list, or died with a traceback.
# Measured: each refusal below takes 0.7-2.2 s and at most 51 MB (the whole process: reading
# a space imports no torch), on 2 cores shared with a training.
HANG_GUARD_S = 60
MEMORY_LIMIT_KB = 300 * 1024  # the whole process's peak, imports included


def validate(path: Path, tmp_path: Path) -> tuple[int, str, int]:
    """(exit status, stderr, peak RSS in KB) of `t2tsearch validate PATH` in a subprocess."""
    peak_file = tmp_path / f"{path.stem}.peak"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEAK_RSS_FILE": str(peak_file),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CLI, "validate", str(path), "--cost-budget", "0",
                           "--samples", "50"],
                          capture_output=True, text=True, timeout=HANG_GUARD_S, env=env)
    return done.returncode, done.stderr, int(peak_file.read_text())


def billion_laughs() -> str:
    lines = ["description: &l0 lol"]
    lines.append("x:")
    for level in range(1, 10):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    lines.append("parameters:")
    lines.append("  backbone.depth: {choice: *l9}")
    return "\n".join(lines) + "\n"


LEGAL_HEAD = "parameters:\n  backbone.depth: {int: {low: 1, high: 2}}\n"
HOSTILE = {
    # name: (file text, what the one line must say)
    "range_1e8": ("parameters:\n  backbone.depth: {int: {low: 1, high: 100000000}}\n",
                  ["parameters.backbone.depth.int.high", "limit 48"]),
    "range_1e20": ("parameters:\n  backbone.depth: {int: {low: 1, high: 100000000000000000000}}\n",
                   ["parameters.backbone.depth.int.high", "limit 48"]),
    "float_grid_1e20": ("parameters:\n  backbone.mlp_ratio: {float: {low: 1, high: 4, "
                        "step: 1.0e-20}}\nsearch: {sampler: grid}\n",
                        ["search.sampler", "1,000,000 points"]),
    "deep_flow": (LEGAL_HEAD + "base: " + "[" * 100_000 + "]" * 100_000 + "\n",
                  ["base.0.0.0", "nested more than 32 levels"]),
    "deep_block": (LEGAL_HEAD + "base:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 400)),
                   ["base.k1.k2.k3", "nested more than 32 levels"]),
    "billion_laughs": (billion_laughs(), ["x.l", "aliases expanded"]),
    "self_alias": (LEGAL_HEAD + "base: &a {t2t: *a}\n", ["base.t2t", "refers to the node"]),
    "choices_100k": ("parameters:\n  backbone.mlp_ratio: {choice: ["
                     + ", ".join(f"{1 + i / 100_000:g}" for i in range(100_000)) + "]}\n",
                     ["parameters.backbone.mlp_ratio.choice", "aliases expanded"]),
    "unicode_key": ('parameters:\n  "backbone.d\u00e9pth\u202e\\n2": {int: {low: 1, high: 3}}\n',
                    ["parameters.backbone.d\u00e9pth\\u202e\\n2", "did you mean backbone.depth"]),
    "nul_byte": (LEGAL_HEAD.replace("high: 2}}", "high: 2}}\x00"),
                 ["not valid YAML", "#x0000"]),
    "huge_int_text": ("parameters:\n  backbone.depth: {int: {low: 1, high: 1" + "0" * 6000
                      + "}}\n", ["cannot read a value", "digits"]),
    "negative_seed": (LEGAL_HEAD + "search: {seed: -1}\n", ["search.seed", "0..4.29497e+09"]),
    "infinite_float": ("parameters:\n  backbone.mlp_ratio: {float: {low: 1, high: .inf}}\n",
                       ["parameters.backbone.mlp_ratio.float.high", "finite"]),
    "huge_base": ("base: {backbone: {embed_dim: 100000000000}}\n" + LEGAL_HEAD,
                  ["base.backbone.embed_dim", "limit 1024"]),
    "over_1mb": ("description: " + "a" * 1_100_000 + "\n" + LEGAL_HEAD,
                 ["(top level)", "at most 1,000,000"]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_space_is_refused_with_one_line(name, tmp_path):
    text, expected = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text.encode())
    status, stderr, peak = validate(path, tmp_path)
    assert status == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith(f"t2tsearch: error: {path}: ")
    for part in expected:
        assert part in lines[0]
    assert peak < MEMORY_LIMIT_KB


def test_a_legal_space_with_the_largest_range_still_validates(tmp_path):
    """The limits refuse absurd values, not big legal spaces: every limit at once is sound."""
    path = tmp_path / "wide.yaml"
    choices = ", ".join(f"{1 + i / 1000:.3f}" for i in range(MAX_CHOICES))
    path.write_text("base: {backbone: {num_heads: 1}}\nparameters:\n"
                    "  backbone.depth: {int: {low: 1, high: 48}}\n"
                    "  backbone.embed_dim: {int: {low: 1, high: 1024}}\n"
                    f"  backbone.mlp_ratio: {{choice: [{choices}]}}\n")
    space = load_space(path)
    # Counted arithmetically, by brute force over the three independent domains.
    assert space_size(space) == 48 * 1024 * MAX_CHOICES


def test_space_size_gives_up_instead_of_branching_for_ever(tmp_path):
    """A `when` on a parameter with many values makes the count branch on each of them."""
    path = tmp_path / "branchy.yaml"
    path.write_text("base: {backbone: {num_heads: 1}}\nparameters:\n"
                    "  backbone.embed_dim: {int: {low: 1, high: 1024}}\n"
                    "  t2t.token_dim: {int: {low: 1, high: 1024}}\n"
                    "  backbone.depth: {int: {low: 1, high: 48}}\n"
                    "  backbone.mlp_ratio: {choice: [1.0, 2.0], when: backbone.depth > 1}\n"
                    "  backbone.qkv_bias: {choice: [true, false], "
                    "when: backbone.embed_dim > 512 and t2t.token_dim > 512}\n")
    assert space_size(load_space(path)) is None
    small = path.read_text().replace("high: 1024", "high: 4")
    path.write_text(small)
    # Brute force: embed and token_dim 1..4 (never > 512: no qkv_bias), depth 1 alone (no
    # mlp_ratio) or 2..48 with two MLP ratios.
    assert space_size(load_space(path)) == 4 * 4 * (1 + 47 * 2)
