"""The reading side stands alone: reading a run (report, compare, export, the trials table, groups,
fidelity, confirmations, a run's space) imports neither torch, timm, Ray nor the search engine.

Each check runs in a fresh interpreter, since this test process has long since imported them
all, and lists what the code left in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The engine: the libraries that train and schedule, and the modules that drive them.
ENGINE = ("torch", "timm", "ray", "t2tsearch.engine.search", "t2tsearch.engine.train", "t2tsearch.engine.trainable",
          "t2tsearch.engine.sampler", "t2tsearch.engine.confirm")

READING_MODULES = ("t2tsearch.report", "t2tsearch.export", "t2tsearch.results",
                   "t2tsearch.results.directory", "t2tsearch.results.tables",
                   "t2tsearch.results.reference", "t2tsearch.results.run",
                   "t2tsearch.groups", "t2tsearch.fidelity", "t2tsearch.pareto",
                   "t2tsearch.space", "t2tsearch.space.schema", "t2tsearch.space.sections",
                   "t2tsearch.space.load",
                   "t2tsearch.space.checks", "t2tsearch.space.fields", "t2tsearch.space.errors",
                   "t2tsearch.space.counts", "t2tsearch.space.sampling",
                   "t2tsearch.space.feasibility", "t2tsearch.space.survey",
                   "t2tsearch.report.comparison", "t2tsearch.report.figures",
                   "t2tsearch.report.importance", "t2tsearch.report.text", "t2tsearch.report.page",
                   "t2tsearch.report.run_page", "t2tsearch.report.compare",
                   "t2tsearch.report.assets")


def engine_loaded_by(code: str) -> list[str]:
    """Run `code` in a fresh interpreter; the ENGINE modules in its sys.modules afterwards."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([name for name in {ENGINE!r} if name in sys.modules]))")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_probe_sees_the_engine():
    """The check can fail: importing the trainer shows torch and the trainer itself."""
    loaded = engine_loaded_by("import t2tsearch.engine.train")
    assert "torch" in loaded and "t2tsearch.engine.train" in loaded


def test_no_reading_module_imports_the_engine():
    # One interpreter imports them all: what one module loads alone is part of what they load
    # together (no module here imports by what is already loaded), so an empty union clears each.
    # Where it is not empty, each is probed alone, to name the ones that pull the engine in.
    if engine_loaded_by("\n".join(f"import {module}" for module in READING_MODULES)):
        culprits = {module: loaded for module in READING_MODULES
                    if (loaded := engine_loaded_by(f"import {module}"))}
        pytest.fail(f"reading modules that import the engine: {culprits}")


def test_a_space_and_a_run_space_load_without_the_engine(tiny_run):
    # deep_narrow: a mapping base on mnist5k; the run's space is read as confirm and report read it.
    code = (f"from t2tsearch.space import load_run_space, load_space\n"
            f"load_space({str(ROOT / 'spaces' / 'deep_narrow.yaml')!r})\n"
            f"load_run_space({str(tiny_run / 'space.yaml')!r})")
    assert engine_loaded_by(code) == []


def test_a_preset_base_loads_without_the_engine(tmp_path):
    space = tmp_path / "preset.yaml"
    space.write_text("base: t2t_vit_7\nparameters:\n  backbone.depth: {choice: [1, 2]}\n")
    code = (f"from t2tsearch.space import load_space\n"
            f"assert load_space({str(space)!r}).base_config.backbone.embed_dim == 256")
    assert engine_loaded_by(code) == []


def test_report_compare_and_export_commands_run_without_the_engine(tiny_run, tmp_path):
    """The commands as a user types them, on the shared tiny run (read, never written: every
    output goes to tmp_path)."""
    run = str(tiny_run)
    commands = [["report", run, "--out", str(tmp_path / "report" / "report.html"), "--no-images"],
                ["compare", run, run, "--out", str(tmp_path / "compare.html")],
                ["export", run, "--front", "--out", str(tmp_path / "front")]]
    code = "from t2tsearch.cli import main\n" + "".join(
        f"assert main({command!r}) == 0\n" for command in commands)
    assert engine_loaded_by(code) == []
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    assert (tmp_path / "compare.html").stat().st_size > 0
    assert list((tmp_path / "front").glob("*.yaml"))
