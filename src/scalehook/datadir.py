"""One data dir, one scalehook: ``serve`` holds an exclusive lock on it from the start.

A second ``serve`` on the same data dir would find the first one's replicas in the
local backend's state and stop them as orphans before failing to bind its port: the
first instance's service would blink out. The lock (``flock`` on ``<data>/scalehook.pid``,
released by the kernel however the holder dies) makes the second one refuse at once,
touching nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from scalehook.errors import Conflict

LOCK_FILE = "scalehook.pid"


class DataDirInUse(Conflict):
    """Another running scalehook holds the data dir."""

    code = "data_dir_in_use"


class DataDirLock:
    """Held from ``acquire`` to ``release`` (or the process's end)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"data dir {self.data_dir} is in use by scalehook pid {holder}"
            ) from None  # the errno says only "would block"; the message says more
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor drops the lock
        self._fd = None
