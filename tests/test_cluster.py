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

import t2tsearch.engine.search as search
import t2tsearch.engine.search.tune_loop as tune_loop
from t2tsearch.cli import main

from .test_search import TINY_SPACE, grid_table, write_space


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


# ---- a node lost mid-run -----------------------------------------------------------------------
# The node the next run loses, and the trial it held (module level: Tune pickles the searcher,
# and a class defined in a test would be pickled with a Cluster, which holds locks).
NODE_TO_LOSE: dict = {}


class LosesANode(search.StudySearcher):
    """Removes NODE_TO_LOSE's node the first time a trial on it reports an epoch. Tune's
    function trainables wait at each report until the driver has taken it, so that trial is
    still in flight, mid-training, when its node goes."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        super().on_trial_result(trial_id, result)
        node = NODE_TO_LOSE.get("node")
        if node is not None and result.get("node") == node.node_id and not result.get("final"):
            NODE_TO_LOSE["trial"] = self.live[trial_id].number
            NODE_TO_LOSE.pop("node")
            NODE_TO_LOSE["cluster"].remove_node(node)


@pytest.fixture
def two_nodes(monkeypatch):
    """A Ray cluster of two 1-CPU nodes (and a head that runs no trial) on this machine:
    (its address, the node that stays, the node to lose)."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # a Ray started by an earlier test would be reused instead of attaching
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    temp_dir = tempfile.mkdtemp(prefix="t2ts-2n-", dir="/tmp")  # sockets need short paths
    # Cluster writes the head's address to the default Ray directory (<RAY_TMPDIR>/ray), whatever
    # temp_dir says, and fails where no Ray has made that directory yet (a fresh machine, Ray
    # 2.60): point it into this cluster's own folder, which also keeps it from redirecting a
    # `ray.init(address="auto")` of the user's to this short-lived cluster.
    monkeypatch.setenv("RAY_TMPDIR", temp_dir)
    Path(temp_dir, "ray").mkdir()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "temp_dir": temp_dir})
    try:
        kept, doomed = cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster, kept, doomed
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_run_survives_a_lost_node(two_nodes, tmp_path, monkeypatch, capsys):
    # Before: the trial on the lost node was recorded `failed` ("the trial raised an error"),
    # used a trial of the budget and was never trained again; the run exited 65.
    from t2tsearch.results import CONSUMED, load_trials

    cluster, kept, doomed = two_nodes
    parameters = {"backbone.depth": {"int": {"low": 1, "high": 3}},
                  "backbone.head_dim": {"choice": [8, 16, 24, 32]}}
    # Trained for real, 3 short epochs each: answered by a table, one node's worker finished
    # every trial (taking over the trial meant for the other) before the other's had started.
    space = write_space(tmp_path, name="survivor", parameters=parameters,
                        train={**TINY_SPACE["train"], "epochs": 3, "train_subset": 1000},
                        search={"trials": 8, "concurrency": 2, "scheduler": "none",
                                "sampler": "random", "seed": 1})
    NODE_TO_LOSE.clear()
    NODE_TO_LOSE.update(node=doomed, cluster=cluster)
    monkeypatch.setattr(tune_loop, "StudySearcher", LosesANode)
    code = main(["run", str(space), "--out", str(tmp_path), "--name", "r", "--address",
                 cluster.address])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trial" in NODE_TO_LOSE, "no trial reported from the node to lose"
    assert doomed.node_id not in {node["NodeID"] for node in ray_nodes() if node["Alive"]}
    table = load_trials(tmp_path / "r")
    # The budget, trained to the end: nothing lost, nothing counted twice.
    assert table["status"].isin(CONSUMED).sum() == 8
    assert set(table["status"]) <= {"complete", "duplicate"}, table[["trial", "status"]]
    trained = table[table["reused_from"].isna() & (table["status"] == "complete")]
    # The trials landed on both nodes (told apart by Ray's own ids): one was on the lost node
    # when it went, and was trained again on the other, as was everything after.
    assert set(trained["node"]) <= {kept.node_id, doomed.node_id}, trained[["trial", "node"]]
    lost = table[table["trial"] == NODE_TO_LOSE["trial"]].iloc[0]
    assert lost["status"] == "complete" and lost["retries"] == 1
    assert lost["node"] == kept.node_id
    later = trained[trained["trial"] > lost["trial"]]
    assert len(later) and (later["node"] == kept.node_id).all(), trained[["trial", "node"]]
    assert lost["reason"] == f"trained again after: its node was lost (node {doomed.node_id[:8]})"
    assert f"trial {lost['trial']} lost: its node was lost (node {doomed.node_id[:8]})" in out
    assert (table["retries"] == 0).sum() == len(table) - 1


def ray_nodes() -> list[dict]:
    import ray

    return ray.nodes()
