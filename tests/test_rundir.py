"""Run directory guards: one driver at a time, damaged files, a full or read-only disk, and
trials.csv written row by row."""

from __future__ import annotations

import errno
import io
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from t2tsearch.cli import main
from t2tsearch.engine.search import Progress, StudySearcher, open_study
from t2tsearch.results import RunDir, trials_table
from t2tsearch.results.directory import LOCK_NAME
from t2tsearch.results.tables import TrialsCsv, append_whole
from t2tsearch.space import load_space
from tests.conftest import copy_run
from tests.test_search import TABULAR, write_space

TABLE = f"table:{TABULAR / 't2t_mnist5k_32px_v1.json.gz'}"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled",
       "RAY_USAGE_STATS_ENABLED": "0"}
CLI = [sys.executable, "-c", "import sys; from t2tsearch.cli import main; sys.exit(main())"]


# `tiny_run` (conftest) is the session's real run, its budget spent: `run --resume` on it has
# nothing to train and returns at once. Every test here works on `copy_run` of it.


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- one driver per run directory ----------------------------------------------------------------
HOLD = """
import sys, time
from pathlib import Path
from t2tsearch.results import RunDir
from t2tsearch.results.directory import take_driver_lock
lock = take_driver_lock(RunDir(Path(sys.argv[1])), ["t2tsearch", "run", "--resume", sys.argv[1]])
print("held", flush=True)
time.sleep(600)
"""


def hold_lock(run_path: Path, script: str = HOLD, *args: str) -> subprocess.Popen:
    """A process that drives `run_path` (holds its lock) until killed."""
    process = subprocess.Popen([sys.executable, "-c", script, str(run_path), *args],
                               stdout=subprocess.PIPE, text=True, env=ENV)
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.mark.parametrize("command", ["resume", "confirm"])
def test_a_second_driver_is_refused_at_once_naming_the_first(tiny_run, tmp_path, capsys,
                                                             command):
    run_path = copy_run(tiny_run, tmp_path, "run")
    before = snapshot(run_path)
    holder = hold_lock(run_path)
    try:
        argv = ["run", "--resume", str(run_path)] if command == "resume" else [
            "confirm", str(run_path)]
        started = time.monotonic()
        assert main(argv) == 2
        took = time.monotonic() - started
        err = one_line_error(capsys)
        assert f"pid {holder.pid} on {platform.node()}" in err, err
        assert "driving this run" in err and "t2tsearch run --resume" in err
        assert took < 60  # at once: nothing was trained or waited for
        # The refused command wrote nothing (the lock file is the holder's).
        after = snapshot(run_path)
        assert {k: v for k, v in after.items() if k != LOCK_NAME} == \
            {k: v for k, v in before.items() if k != LOCK_NAME}
    finally:
        holder.kill()
        holder.wait()


ORPHAN = """
import fcntl, json, os, platform, sys, time
fd = os.open(os.path.join(sys.argv[1], "driver.lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
# As a child the dead driver forked would: the flock stays held, the pid it names is gone.
os.write(fd, json.dumps({"pid": int(sys.argv[2]), "host": platform.node(),
                         "started": "2020-01-01T00:00:00+00:00"}).encode())
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("how", ["kill-9", "lost-machine", "orphaned-child"])
def test_a_lock_left_by_a_dead_driver_is_taken_over(tiny_run, tmp_path, capsys, how):
    run_path = copy_run(tiny_run, tmp_path, "run")
    keeper = None
    if how == "kill-9":
        holder = hold_lock(run_path)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        dead = f"pid {holder.pid} on {platform.node()}"
    elif how == "lost-machine":
        # The lock file of a driver on a machine that went away: nobody holds its flock.
        (run_path / LOCK_NAME).write_text(json.dumps(
            {"pid": 4242, "host": "lost-node-7", "started": "2020-01-01T00:00:00+00:00"}))
        dead = "pid 4242 on lost-node-7"
    else:
        gone = subprocess.Popen(["true"])
        gone.wait()
        keeper = hold_lock(run_path, ORPHAN, str(gone.pid))
        dead = f"pid {gone.pid} on {platform.node()}"
    try:
        assert main(["run", "--resume", str(run_path)]) == 0
        out = capsys.readouterr().out
        assert "took over from a driver that ended without releasing the run" in out
        assert dead in out
        # Released at the end: the next command drives it at once, with nothing to take over.
        assert main(["run", "--resume", str(run_path)]) == 0
        assert "took over" not in capsys.readouterr().out
    finally:
        if keeper is not None:
            keeper.kill()
            keeper.wait()


# ---- damaged files -------------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _scramble(path: Path) -> None:
    """A third of the file, from its middle, overwritten with (seeded) random bytes."""
    import random

    data = bytearray(path.read_bytes())
    start, span = len(data) // 3, max(len(data) // 3, 16)
    data[start:start + span] = random.Random(0).randbytes(span)[:len(data) - start]
    path.write_bytes(bytes(data))


def _csv_cut_row(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 25)


def _csv_stray_line(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[0], "\x00\x00 garbage\n", *lines[1:]]))


DAMAGES = {
    "study.db-truncated": ("study.db", _truncate),
    "study.db-scrambled": ("study.db", _scramble),
    "study.db-empty": ("study.db", lambda p: p.write_bytes(b"")),
    "run.json-truncated": ("run.json", _truncate),
    "run.json-scrambled": ("run.json", _scramble),
    "space.yaml-truncated": ("space.yaml", _truncate),
    "space.yaml-scrambled": ("space.yaml", _scramble),
    "trials.csv-truncated": ("trials.csv", _csv_cut_row),
    "trials.csv-scrambled": ("trials.csv", _csv_stray_line),
}
COMMANDS = {
    "report": lambda run, out: ["report", str(run), "--no-images", "--out", str(out / "r.html")],
    "export": lambda run, out: ["export", str(run), "--front", "--out", str(out / "front")],
    "confirm": lambda run, out: ["confirm", str(run)],
    "resume": lambda run, out: ["run", "--resume", str(run)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_file_is_named_in_one_line_and_nothing_is_overwritten(
        tiny_run, tmp_path, capsys, damage, command):
    run_path = copy_run(tiny_run, tmp_path, "run")
    name, spoil = DAMAGES[damage]
    spoil(run_path / name)
    before = snapshot(run_path)
    out = tmp_path / "out"
    out.mkdir()
    assert main(COMMANDS[command](run_path, out)) == 2
    err = one_line_error(capsys)
    assert f"{run_path / name}:" in err, err
    assert "restore" in err or "delete it" in err, err  # and says what to do
    assert snapshot(run_path) == before
    assert not any(out.iterdir())


def test_an_intact_run_passes_every_check(tiny_run, tmp_path, capsys):
    run_path = copy_run(tiny_run, tmp_path, "run")
    assert main(["export", str(run_path), "--front", "--out", str(tmp_path / "front")]) == 0
    assert main(["run", "--resume", str(run_path)]) == 0


# ---- a full or read-only run directory during a run ---------------------------------------------
def mount_or_skip(*command: str, wait_if_busy: float = 0.0) -> None:
    """Run a mount command; skip where mounting is not allowed (fail on CI). With `wait_if_busy`,
    a remount refused because a file is open for writing (the run writing a result at that
    moment) is tried again for that many seconds."""
    deadline = time.monotonic() + wait_if_busy
    done = subprocess.run(list(command), capture_output=True, text=True)
    while done.returncode != 0 and "busy" in done.stderr and time.monotonic() < deadline:
        time.sleep(0.02)
        done = subprocess.run(list(command), capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{' '.join(command)}: {done.stderr.strip()} (CI must be able to mount)")
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


def finished_trials(run_path: Path) -> dict[int, tuple[str, str]]:
    """Trial number -> (state, values) of every trial told to the study, read with sqlite3."""
    try:
        connection = sqlite3.connect(f"file:{run_path / 'study.db'}?mode=ro", uri=True)
    except sqlite3.OperationalError:  # not created yet
        return {}
    try:
        rows = connection.execute(
            "SELECT t.number, t.state, GROUP_CONCAT(v.value) FROM trials t LEFT JOIN "
            "trial_values v ON v.trial_id = t.trial_id WHERE t.state != 'RUNNING' AND "
            "t.state != 'WAITING' GROUP BY t.trial_id").fetchall()
    except sqlite3.OperationalError:  # the study's tables are not there yet
        return {}
    finally:
        connection.close()
    return {number: (state, values) for number, state, values in rows}


@pytest.mark.parametrize("fault", ["full-disk", "read-only"])
def test_a_run_directory_that_stops_taking_writes_stops_the_run_and_loses_no_trial(
        tmp_path, capsys, ray_address, fault):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_or_skip("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk))
    run_path = disk / "runs" / "r"
    filler = disk / "filler"
    command = [*CLI, "run", str(TABULAR / "space.yaml"), "--out", str(disk / "runs"), "--name",
               "r", "--trials", "6", "--sampler", "random", "--evaluator", TABLE,
               "--address", ray_address]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    bound = False
    try:
        deadline = time.monotonic() + 240
        while len(told := finished_trials(run_path)) < 3:
            assert process.poll() is None and time.monotonic() < deadline, "no trial finished"
            time.sleep(0.05)
        if fault == "full-disk":
            # Unbuffered: a buffered file would raise ENOSPC again when it closes.
            with open(filler, "wb", buffering=0) as file:
                with pytest.raises(OSError) as full:
                    while True:
                        file.write(b"\0" * 65536)
            assert full.value.errno == errno.ENOSPC
        else:
            mount_or_skip("mount", "--bind", str(run_path), str(run_path))
            bound = True
            mount_or_skip("mount", "-o", "remount,bind,ro", str(run_path), wait_if_busy=10)
        out, err = process.communicate(timeout=180)
        assert process.returncode == 2, out + err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"{run_path}: the run directory stopped taking writes" in err
        assert f"t2tsearch run --resume {run_path}" in err
        # Nothing is lost: every trial told before the fault is in the study as it was.
        stopped = finished_trials(run_path)
        assert len(stopped) < 6 and all(stopped[n] == told[n] for n in told)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if bound:
            subprocess.run(["umount", str(run_path)], check=True)
        filler.unlink(missing_ok=True)
    try:
        # Writable again: the run resumes and ends at its budget, with those trials kept. The
        # faulted run was a process of its own on the session's Ray; the resume runs here.
        capsys.readouterr()
        code = main(["run", "--resume", str(run_path)])
        # 0, or 64 + N where the trials cut off by the fault count as failed
        assert code == 0 or 64 < code < 128, capsys.readouterr()
        resumed = finished_trials(run_path)
        assert all(resumed[n] == stopped[n] for n in stopped)
        table = pd.read_csv(run_path / "trials.csv")
        assert set(stopped) <= set(table["trial"])
        spent = table["status"].isin(["complete", "stopped_early", "diverged", "oom", "failed"])
        # read_csv takes a column of empty reasons as floats (no trial was cut off by the fault).
        interrupted = table["reason"].fillna("").astype(str).str.contains("interrupted")
        assert spent.sum() - interrupted.sum() == 6
    finally:
        subprocess.run(["umount", "-l", str(disk)])


# ---- trials.csv, row by row ----------------------------------------------------------------------
def test_trials_csv_grows_by_appending_and_always_matches_the_study(tmp_path):
    space = load_space(write_space(tmp_path, search={"trials": 8, "concurrency": 2,
                                                     "scheduler": "none", "sampler": "random"}))
    run = RunDir.create(tmp_path, "r")
    run.write_space(space)
    study = open_study(run, space, create=True)
    searcher = StudySearcher(space, study, run, budget_left=8, progress=Progress(8, print))

    def reference() -> pd.DataFrame:
        """The table rebuilt whole from the study, as read back from a CSV."""
        return pd.read_csv(io.StringIO(trials_table(study).to_csv(index=False)))

    def on_disk() -> pd.DataFrame:
        table = pd.read_csv(run.trials_csv).sort_values("trial").reset_index(drop=True)
        return table[reference().columns]  # a rewrite orders columns; appends keep the file's

    previous = None
    for number in range(8):
        if number == 4:
            # A file from before a column existed: the next row brings it, so the table is
            # written whole again, with every row.
            table = pd.read_csv(run.trials_csv).drop(columns=["num_tokens"])
            run.trials_csv.write_text(table.to_csv(index=False))
            searcher.trials_csv = TrialsCsv(run)
            previous = None
        config = searcher.suggest(f"ray-{number}")
        if not isinstance(config, dict):
            break
        searcher.on_trial_complete(f"ray-{number}", {
            "final": True, "status": "complete", "epoch": 1, "accuracy": 40.0 + number,
            "accuracy_curve": [40.0 + number], "seconds": 1.0}, error=False)
        written = (run.trials_csv.stat().st_ino, run.trials_csv.read_bytes())
        if previous is not None:
            # Appended in place: the same file, every earlier byte as it was.
            assert written[0] == previous[0] and written[1].startswith(previous[1])
            assert len(written[1]) > len(previous[1])
        previous = written
        pd.testing.assert_frame_equal(on_disk(), reference(), check_dtype=False)
    assert "num_tokens" in pd.read_csv(run.trials_csv).columns


def test_an_append_cut_short_by_a_full_disk_is_taken_back(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_or_skip("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk))
    try:
        table = disk / "trials.csv"
        table.write_bytes(b"trial,status\n0,complete\n")
        with open(disk / "filler", "wb", buffering=0) as file:  # nothing left to flush
            with pytest.raises(OSError):
                while True:
                    file.write(b"\0" * 4096)
        # The table's last page still has room for part of the row, not for all of it.
        with pytest.raises(OSError) as full:
            append_whole(table, b"1,complete," + b"x" * 20_000 + b"\n")
        assert full.value.errno == errno.ENOSPC
        assert table.read_bytes() == b"trial,status\n0,complete\n"
    finally:
        subprocess.run(["umount", "-l", str(disk)])
