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
    # Not `ray stop`: it kills every Ray on the machine, a search the user runs beside the tests
    # included. This cluster's processes are the ones that name its temp dir, and their children.
    stop_processes_of(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (parent, cmdline)
    return table


def stop_processes_of(temp_dir: str, grace_s: float = 10.0) -> None:
    table = _processes()
    doomed = {pid for pid, (_, cmdline) in table.items() if temp_dir in cmdline}
    grown = True
    while grown:  # add children until the set stops growing
        children = {pid for pid, (parent, _) in table.items() if parent in doomed} - doomed
        grown = bool(children)
        doomed |= children
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in doomed:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(pid) for pid in doomed):
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:  # a zombie (state Z) has exited; only its parent's wait is missing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_run_on_an_existing_cluster(local_cluster, tmp_path, capsys):
    space = write_space(tmp_path, name="clustered",
                        search={"trials": 2, "concurrency": 2, "scheduler": "none"})
    code = main(["run", str(space), "--out", str(tmp_path), "--name", "c",
                 "--address", local_cluster])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Pareto front" in out and out.count("] trial") == 2
    assert (tmp_path / "c" / "trials.csv").is_file()
