"""The foundation commands: presets and cost, tables for people, JSON for scripts, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from t2tsearch.cli import main, next_commands
from t2tsearch.models import PRESETS
from t2tsearch.results import RunDir

from .conftest import tiny_arch


def test_presets_table_lists_every_preset(capsys):
    assert main(["presets", "--img-size", "32", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert "t2t_vit_14 " in out and "M " in out and "G " in out


def test_presets_json(capsys):
    # The table's sizes: the counts of the test above are reused (seconds of fvcore each).
    assert main(["presets", "--img-size", "32", "--num-classes", "10", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(PRESETS)
    t14 = next(row for row in rows if row["name"] == "t2t_vit_14")
    assert t14["arch"]["img_size"] == 32 and t14["cost"]["params"] > 20e6


def test_cost_of_a_preset(capsys):
    assert main(["cost", "t2t_vit_14", "--img-size", "32", "--num-classes", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["arch"]["num_classes"] == 10 and report["cost"]["macs"] > 0
    assert main(["cost", "t2t_vit_14", "--img-size", "32", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "params" in out and "MACs" in out and "not counted" in out


def test_cost_of_a_yaml_file(tmp_path, capsys):
    path = tmp_path / "arch.yaml"
    path.write_text(tiny_arch().to_yaml())
    assert main(["cost", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == tiny_arch().id


def test_unknown_preset_exits_2_with_closest_names(capsys):
    assert main(["cost", "t2t_vit_15"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unknown preset 't2t_vit_15'" in err and "t2t_vit_14" in err


def test_infeasible_config_exits_2_with_reason(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(tiny_arch(**{"backbone.embed_dim": 200, "backbone.num_heads": 6}).to_yaml())
    assert main(["cost", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "t2tsearch: error: embed_dim 200 is not divisible by num_heads 6"


def test_malformed_arch_file_names_file_and_key(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text("backbone:\n  dept: 3\n")
    assert main(["cost", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "backbone.dept" in err and "Traceback" not in err
    assert main(["cost", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_command_starts_without_torch():
    # `t2tsearch --help` and the commands that train nothing must not wait 3-4 s for torch and
    # timm; the package's exports load on first use and are still all there.
    import subprocess
    import sys

    code = ("import sys, t2tsearch.cli; assert 'torch' not in sys.modules, 'torch imported'; "
            "import t2tsearch; from t2tsearch import *; "
            "assert build_model and ArchConfig and PRESETS and UserError; "
            "assert 'torch' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_finished_run_ends_with_the_report_and_confirm_commands(tmp_path, capsys,
                                                                  ray_session):
    # A search answered by a hand-made table (seconds, no training), once with groups, once
    # without: both print the report command, and neither the confirmation (it would train for
    # real; a trained run of a space with groups gets it at 5x the epochs, test_confirm.py).
    import yaml

    from tests.test_evaluator import write_table_files

    space_path, table_path, _ = write_table_files(tmp_path)
    plain = tmp_path / "results" / "plain"
    assert main(["run", str(space_path), "--out", str(tmp_path / "results"), "--name",
                 "plain", "--trials", "3", "--evaluator", f"table:{table_path}"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"next: t2tsearch report {plain}"
    space = yaml.safe_load(space_path.read_text())
    space["groups"] = {"one_block": "backbone.depth == 1", "two_blocks": "backbone.depth == 2"}
    space_path.write_text(yaml.safe_dump(space))
    grouped = tmp_path / "results" / "grouped"
    assert main(["run", str(space_path), "--out", str(tmp_path / "results"), "--name",
                 "grouped", "--trials", "3", "--evaluator", f"table:{table_path}"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"next: t2tsearch report {grouped}"
    assert not any("t2tsearch confirm" in line for line in lines)
    # As the run was trained: the table's space trains 2 epochs, the longer budget is 10.
    meta = RunDir(grouped).read_meta()
    meta["sessions"][0]["evaluator"] = "train"
    RunDir(grouped).write_meta(meta)
    assert next_commands(grouped)[-1].split()[:5] == [
        "t2tsearch", "confirm", str(grouped), "--epochs", "10"]


@pytest.mark.parametrize("flag,env,expected", [
    ([], None, 1),                       # the default: one thread, whatever the core count
    (["--threads", "2"], None, 2),       # asked for
    ([], "2", 2),                        # OMP_NUM_THREADS set by the user is kept
    (["--threads", "1"], "2", 1),        # the flag wins over the environment
])
def test_commands_that_compute_use_the_thread_count_asked_for(flag, env, expected):
    # torch is imported by the command itself, after the count is chosen (the usual path).
    code = ("from t2tsearch.cli import main\n"
            f"main(['cost', 't2t_vit_7', '--img-size', '32', *{flag!r}])\n"
            "import torch\n"
            "print('THREADS', torch.get_num_threads())\n")
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if env is not None:
        environ["OMP_NUM_THREADS"] = env
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"THREADS {expected}" in done.stdout
