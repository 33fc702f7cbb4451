"""The run directory: where its files are, run.json, the one-driver lock, and faults of its
storage (a full or read-only disk) as one line. `t2tsearch.results.run.open_run` opens one."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from t2tsearch.atomic import atomic_write
from t2tsearch.errors import UserError

if TYPE_CHECKING:
    from t2tsearch.space.schema import SearchSpace

STUDY_NAME = "t2tsearch"
LOCK_NAME = "driver.lock"


class RunError(UserError):
    """A run directory that cannot be created, found or read."""


@dataclass(frozen=True)
class RunDir:
    """results/<run>/: space.yaml, run.json, study.db (Optuna), ray/, cost_cache/, trials.csv."""

    path: Path

    @property
    def space_file(self) -> Path:
        return self.path / "space.yaml"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def study_db(self) -> Path:
        return self.path / "study.db"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.study_db.resolve()}"

    @property
    def ray_dir(self) -> Path:
        return self.path / "ray"

    @property
    def cost_cache(self) -> Path:
        return self.path / "cost_cache"

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @classmethod
    def create(cls, out: str | os.PathLike[str], name: str) -> RunDir:
        path = Path(out) / name
        if path.exists():
            raise RunError(f"{path}: a run of that name exists; pass --resume {path} to go on "
                           f"with it, or --name to start another")
        path.mkdir(parents=True)
        return cls(path)

    # ---- run.json -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        return read_run_json(self)

    def write_space(self, space: SearchSpace) -> None:
        """space.yaml, atomically, with its digest in run.json (a damaged copy is then told
        apart from the one the run wrote)."""
        text = space.to_yaml()
        atomic_write(self.space_file, text)
        meta = self.read_meta()
        meta["space_sha256"] = space_digest(text)
        self.write_meta(meta)

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.run_json, json.dumps(meta, indent=2, default=str))

    def evaluator(self) -> str | None:
        """What answered the run's trials: 'table:FILE' when a session was answered by a table
        (as `table_evaluator`), else 'train'; None before its first session (nothing answered
        yet)."""
        if not self.read_meta().get("sessions"):
            return None
        return self.table_evaluator() or "train"

    def table_evaluator(self) -> str | None:
        """'table:FILE' when a session of the run was answered from a tabular benchmark instead
        of training (run.json records each session's evaluator); None for a trained run."""
        for session in self.read_meta().get("sessions", []):
            spec = str(session.get("evaluator", "train"))
            if spec.startswith("table:"):
                return spec
        return None

    def load_study(self) -> optuna.Study:
        return optuna.load_study(study_name=STUDY_NAME, storage=self.storage_url)


class RunBusyError(RunError):
    """Another live process drives the run directory."""


class RunDamagedError(RunError):
    """A file of the run directory that cannot be read as what it should be."""


class RunStorageError(RunError):
    """The run directory stopped taking writes (read-only, full disk) during a run."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- run.json -------------------------------------------------------------------------------------
def space_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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


# ---- one driver per run directory -----------------------------------------------------------------
def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (clock ticks since boot), which tells a process
    apart from a later one given the same pid; None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def holder_alive(holder: dict[str, Any]) -> bool:
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
            if holder and holder.get("host") == platform.node() and not holder_alive(holder):
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
