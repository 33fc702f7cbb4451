"""Guards on a run directory: one driver at a time, damaged files refused, trials.csv row by row."""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import platform
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from t2tsearch.atomic import atomic_write
from t2tsearch.private_apis import stored_trial
from t2tsearch.results import LEADING_COLUMNS, STUDY_NAME, RunDir, RunError, trial_row, trials_table

LOCK_NAME = "driver.lock"
SQLITE_HEADER = b"SQLite format 3\x00"


class RunBusyError(RunError):
    """Another live process drives the run directory."""


class RunDamagedError(RunError):
    """A file of the run directory that cannot be read as what it should be."""


class RunStorageError(RunError):
    """The run directory stopped taking writes (read-only, full disk) during a run."""


# ---- one driver per run directory -----------------------------------------------------------------
def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (clock ticks since boot), which tells a process
    apart from a later one given the same pid; None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _alive_here(holder: dict[str, Any]) -> bool:
    """Whether the process a lock file names still runs (only decidable on its own host)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != platform.node():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    recorded = holder.get("process_start")
    return recorded is None or _process_start(pid) in (None, recorded)


def describe_holder(holder: dict[str, Any]) -> str:
    command = holder.get("command")
    shown = f", `{command}`" if command else ""
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}{shown}")


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (ValueError, UnicodeDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def read_holder(run: RunDir) -> dict[str, Any]:
    """What the run's lock file says about its driver ({} when free or never driven)."""
    try:
        fd = os.open(run.path / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


@dataclass
class DriverLock:
    """An flock on RUN/driver.lock: the kernel drops it when the process ends, however it ends."""

    path: Path
    fd: int | None
    # The driver before this one, when it left its lock behind (killed, machine lost).
    previous: dict[str, Any]

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # a free run's lock file names no driver
        except OSError:
            pass  # a read-only or full run directory: the kernel still drops the lock
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> DriverLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take_driver_lock(run: RunDir, command: Sequence[str] = ()) -> DriverLock:
    """Become the run's only driver, or raise RunBusyError naming the live one.

    A lock file whose flock nobody holds was left by a driver that died (kill -9, a lost
    machine): it is taken over. One whose flock is held although the process it names is
    gone from this host (a child it forked keeps the file open) is broken and taken over."""
    path = run.path / LOCK_NAME
    broken: dict[str, Any] = {}  # the holder of a lock broken below, to name it
    for _ in range(5):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as err:
            raise RunStorageError(f"{path}: cannot write the run directory "
                                  f"({err.strerror}); make it writable, then try again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            if holder and holder.get("host") == platform.node() and not _alive_here(holder):
                path.unlink(missing_ok=True)
                broken = holder
                continue
            who = describe_holder(holder) if holder else "a process that wrote no details yet"
            raise RunBusyError(f"{run.path}: another t2tsearch process is driving this run "
                               f"({who}); wait for it to end, or stop it, then try again") from None
        # Someone may have broken the lock (unlinked the file) between our open and flock.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_holder(fd) or broken
        mine = {"pid": os.getpid(), "host": platform.node(),
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "process_start": _process_start(os.getpid()), "command": " ".join(command)}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(mine).encode(), 0)
        except OSError as err:
            os.close(fd)
            raise RunStorageError(f"{path}: cannot write the run directory ({err.strerror}); "
                                  f"free space or make it writable, then try again") from None
        return DriverLock(path, fd, previous)
    raise RunBusyError(f"{run.path}: the driver lock {path} keeps changing hands; try again")


def took_over_note(lock: DriverLock) -> str | None:
    """A line for the user when the lock was left behind by a driver that is gone."""
    if not lock.previous:
        return None
    return (f"{lock.path.parent}: took over from a driver that ended without releasing the run "
            f"({describe_holder(lock.previous)})")


# ---- damaged files -------------------------------------------------------------------------------
def space_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_study_db(run: RunDir) -> None:
    """study.db is an SQLite database, intact, holding the run's Optuna study."""
    path = run.study_db
    advice = ("restore it from a backup; trials.csv holds a copy of the trials table, but the "
              "run cannot go on without its study")
    with open(path, "rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        what = "empty" if not header else "not an SQLite database"
        raise RunDamagedError(f"{path}: damaged ({what}); {advice}")
    try:
        # mode=rw never creates; a hot journal left by a killed driver is rolled back, as
        # Optuna's own open would.
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                # SQLite's report spans lines; its first finding, on one, says enough.
                lines = [line for text in problems for line in text.splitlines()
                         if line.strip() and not line.startswith("***")]
                raise RunDamagedError(f"{path}: damaged ({(lines or ['malformed'])[0]}); {advice}")
            found = connection.execute(
                "SELECT 1 FROM studies WHERE study_name = ?", (STUDY_NAME,)).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as err:
        raise RunDamagedError(f"{path}: damaged ({err}); {advice}") from None
    if found is None:
        raise RunDamagedError(f"{path}: holds no study named '{STUDY_NAME}'; {advice}")


def read_run_json(run: RunDir) -> dict[str, Any]:
    """run.json as a dict ({} when absent); RunDamagedError when it is not one."""
    path = run.run_json
    if not path.is_file():
        return {}
    advice = ("restore it from a backup, or delete it: the run goes on without its recorded "
              "versions, sessions and reference point (the report then places one from the "
              "trials)")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise RunDamagedError(f"{path}: damaged (not text); {advice}") from None
    except json.JSONDecodeError as err:
        raise RunDamagedError(f"{path}: damaged (not valid JSON: {err}); {advice}") from None
    if not isinstance(data, dict):
        raise RunDamagedError(f"{path}: damaged (a JSON {type(data).__name__}, not an object); "
                              f"{advice}")
    return data


def check_space_yaml(run: RunDir, meta: dict[str, Any]) -> None:
    """space.yaml reads as a space and, where run.json recorded its digest, is what the run wrote."""
    from t2tsearch.space.errors import SpaceError
    from t2tsearch.space.load import load_run_space

    path = run.space_file
    command = meta.get("command")
    origin = f" (the run started with `{' '.join(command)}`)" if command else ""
    advice = f"restore the run's space from a backup or from the space file it started from{origin}"
    recorded = meta.get("space_sha256")
    if recorded:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise RunDamagedError(f"{path}: cannot be read ({err}); {advice}") from None
        if space_digest(text) != recorded:
            raise RunDamagedError(f"{path}: damaged (not the file the run wrote: run.json's "
                                  f"space_sha256 differs; truncated or edited by hand); {advice}")
    try:
        load_run_space(path)
    except SpaceError as err:
        raise RunDamagedError(f"{err} (damaged?); {advice}") from None


def check_trials_csv(run: RunDir, live: bool = False) -> None:
    """trials.csv, where there is one, is a whole table: our header, whole rows, trial numbers.
    With `live`, a last line without its newline is a row being appended right now."""
    path = run.trials_csv
    if not path.is_file():
        return
    advice = f"delete it: `t2tsearch run --resume {run.path}` writes it again from study.db"
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise RunDamagedError(f"{path}: damaged (not text); {advice}") from None
    if not text:
        raise RunDamagedError(f"{path}: damaged (empty); {advice}")
    if not text.endswith("\n"):
        if not live:
            raise RunDamagedError(f"{path}: damaged (its last row is cut off); {advice}")
        text = text[:text.rfind("\n") + 1]
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise RunDamagedError(f"{path}: damaged ({err}); {advice}") from None
    header = rows[0] if rows else []
    if header[:len(LEADING_COLUMNS)] != LEADING_COLUMNS:
        raise RunDamagedError(f"{path}: damaged (its header is not a trials table's); {advice}")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunDamagedError(f"{path}: damaged (row {line} has {len(row)} fields, the "
                                  f"header {len(header)}); {advice}")
        if not row[0].isdigit():
            raise RunDamagedError(f"{path}: damaged (row {line}: trial '{row[0][:20]}' is not a "
                                  f"number); {advice}")


def check_run_files(run: RunDir) -> None:
    """Every file of the run that a command reads, checked before anything reads or writes:
    RunDamagedError names the first damaged one and what to do."""
    check_study_db(run)
    meta = read_run_json(run)
    check_space_yaml(run, meta)
    holder = read_holder(run)
    # A driver elsewhere cannot be checked from here: taken as live.
    live = _alive_here(holder) or bool(holder) and holder.get("host") != platform.node()
    check_trials_csv(run, live=live)


# ---- faults of the run directory's storage --------------------------------------------------------
_FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EIO}
_SQLITE_FAULTS = ("disk is full", "readonly database", "unable to open database file",
                  "disk i/o error")


def storage_fault(err: BaseException) -> str | None:
    """Why a write to the run directory failed, when `err` (or its cause) is the storage
    refusing (full, read-only, gone); None for any other error."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL_OR_READ_ONLY:
            where = f": {seen.filename}" if seen.filename else ""
            return f"{seen.strerror}{where}"
        text = str(seen).lower()
        for fault in _SQLITE_FAULTS:
            if fault in text and "sqlite" in f"{type(seen).__module__} {text}":
                return f"study.db: {fault}"
        seen = seen.__cause__ or seen.__context__
    return None


def storage_error(run: RunDir, fault: str) -> RunStorageError:
    return RunStorageError(f"{run.path}: the run directory stopped taking writes ({fault}); every "
                           f"trial told to the study before is kept: free space or make it "
                           f"writable, then t2tsearch run --resume {run.path}")


# ---- trials.csv, row by row -----------------------------------------------------------------------
def append_whole(path: Path, data: bytes) -> None:
    """Append `data` to `path` all or nothing: a write cut short (full disk) is taken back."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


class TrialsCsv:
    """RUN/trials.csv kept current as trials finish: each finished trial's row is appended
    (a constant cost per trial, however long the run); the whole table is written only when
    a session starts and when a row brings a column the file lacks."""

    def __init__(self, run: RunDir) -> None:
        self.path = run.trials_csv
        self.columns: list[str] = []
        self.written: set[int] = set()
        if self.path.is_file():  # go on with the file as the session's start left it
            with open(self.path, newline="") as file:
                rows = csv.reader(file)
                self.columns = next(rows, [])
                self.written = {int(row[0]) for row in rows if row and row[0].isdigit()}

    def rewrite(self, study: optuna.Study) -> pd.DataFrame:
        """The whole table from the study, written atomically; returns it."""
        frame = trials_table(study)
        atomic_write(self.path, frame.to_csv(index=False))
        self.columns = list(frame.columns)
        self.written = set(int(n) for n in frame["trial"])
        return frame

    def add(self, study: optuna.Study, trial: optuna.Trial) -> pd.Series:
        """The finished trial's row, appended (or, with a new column, the table rewritten)."""
        # One trial from storage: study.get_trials would load every trial, every time.
        frozen = stored_trial(study, trial)
        row = trial_row(frozen)
        assert row is not None, "a trial is proposed before it finishes"
        if not self.columns or not set(row) <= set(self.columns) or frozen.number in self.written:
            frame = self.rewrite(study)
            return frame[frame["trial"] == frozen.number].iloc[0]
        line = pd.DataFrame([row], columns=self.columns).to_csv(index=False, header=False)
        append_whole(self.path, line.encode())
        self.written.add(frozen.number)
        return pd.Series(row)

    def catch_up(self, study: optuna.Study) -> pd.DataFrame:
        """At a session's end: rows for the trials not in the file yet (those left running
        by Ctrl-C), appended; returns the whole table."""
        frame = trials_table(study)
        missing = frame[~frame["trial"].isin(self.written)]
        if missing.empty:
            return frame
        if not self.columns or not set(frame.columns) <= set(self.columns):
            return self.rewrite(study)
        append_whole(self.path, missing.reindex(columns=self.columns)
                     .to_csv(index=False, header=False).encode())
        self.written |= set(int(n) for n in missing["trial"])
        return frame
