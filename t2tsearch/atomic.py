"""Atomic file writes: a reader (or a crash) never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, prefix: str = ".tmp-") -> None:
    """Write `data` to a temp file beside `path`, then rename it over `path`."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, delete=False, prefix=prefix,
                                     suffix=".tmp") as tmp:
        tmp.write(data)
    # NamedTemporaryFile makes files owner-only; give the file the permissions open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)
