"""A search attaches to an existing Ray cluster (`--address`) and runs unchanged."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from t2tsearch.cli import main

from .test_search import grid_table, write_space


@pytest.fixture
def local_cluster():
    import ray

    ray.shutdown()  # a Ray started by an earlier test would be reused instead of attaching
    temp_dir = tempfile.mkdtemp(prefix="t2ts-rc-", dir="/tmp")  # sockets need short paths
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    log = Path(temp_dir) / "ray-start.log"
    # --block keeps `ray start` in the foreground as the owner of this cluster: Ctrl-C to it
    # stops this cluster's processes only (`ray stop` would kill every Ray on the machine, a
    # search the user runs beside the tests included).
    with open(log, "w") as out:
        head = subprocess.Popen(
            ["ray", "start", "--head", "--block", "--port=0", "--num-cpus=2",
             "--include-dashboard=false", "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        match = None
        while match is None and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            match = re.search(r"--address='([^']+)'", log.read_text())
        assert match, log.read_text()
        yield match.group(1)
    finally:
        ray.shutdown()
        head.send_signal(signal.SIGINT)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_run_on_an_existing_cluster(local_cluster, tmp_path, capsys):
    space = write_space(tmp_path, name="clustered",
                        search={"trials": 2, "concurrency": 2, "scheduler": "none"})
    # The trials run as Tune actors on the cluster's workers; a table answers them, since
    # attaching is what is tested, not training (each actor would import torch and timm).
    code = main(["run", str(space), "--out", str(tmp_path), "--name", "c",
                 "--address", local_cluster, "--evaluator", grid_table(space, tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Pareto front" in out and out.count("] trial") == 2
    assert (tmp_path / "c" / "trials.csv").is_file()
