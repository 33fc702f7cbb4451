"""A search attaches to an existing Ray cluster (`--address`) and runs unchanged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from t2tsearch.cli import main

from .test_search import write_space


@pytest.fixture
def local_cluster():
    import ray

    ray.shutdown()  # a Ray started by an earlier test would be reused instead of attaching
    temp_dir = tempfile.mkdtemp(prefix="t2ts-rc-", dir="/tmp")  # sockets need short paths
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run(
        ["ray", "start", "--head", "--port=0", "--num-cpus=2", "--include-dashboard=false",
         "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}"],
        capture_output=True, text=True, env=env, timeout=120)
    output = started.stdout + started.stderr
    match = re.search(r"--address='([^']+)'", output)
    assert started.returncode == 0 and match, output
    yield match.group(1)
    ray.shutdown()
    subprocess.run(["ray", "stop", "--force"], capture_output=True, env=env, timeout=120)
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_run_on_an_existing_cluster(local_cluster, tmp_path, capsys):
    space = write_space(tmp_path, name="clustered",
                        search={"trials": 2, "concurrency": 2, "scheduler": "none"})
    code = main(["run", str(space), "--out", str(tmp_path), "--name", "c",
                 "--address", local_cluster])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Pareto front" in out and out.count("] trial") == 2
    assert (tmp_path / "c" / "trials.csv").is_file()
