"""One writer per output folder: a training run's folder, or a study's.

The writer holds an OS file lock (:class:`filelock.FileLock` on ``FOLDER/.writer.lock``) for
as long as it writes, and records who it is (PID, host, start time, command) in
``FOLDER/.writer.json``. A second writer is refused at once with one line naming the holder.
The operating system drops the lock of a process that dies (kill -9, a crash, power loss), so
a lock left behind never blocks: the next writer takes it over and says whose it was (the
record a clean exit removes is still there).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from zoo.errors import FolderLockedError
from zoo.writing import atomic_path

__all__ = ["HOLDER_FILE", "LOCK_FILE", "FolderLock"]

LOCK_FILE, HOLDER_FILE = ".writer.lock", ".writer.json"


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
    }


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another process (it has not said who it is yet)"
    return f"PID {record['pid']} on {record['host']} since {record['since']} ({record['command']})"


class FolderLock:
    """The writer's lock on ``folder`` (created if needed); ``what`` names the folder in
    messages (``"run"``, ``"study"``). Use as a context manager, or :meth:`acquire` /
    :meth:`release`."""

    def __init__(self, folder: str | Path, what: str = "run") -> None:
        self.folder, self.what = Path(folder), what
        self._lock = FileLock(str(self.folder / LOCK_FILE), timeout=0)
        self.took_over: dict[str, Any] | None = None

    def _record(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / HOLDER_FILE).read_text())
        except (OSError, ValueError):
            return None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`FolderLockedError` naming its holder. A record
        left by a writer that died is kept in :attr:`took_over` (see :meth:`takeover_note`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            holder = self._record()
            pid = holder["pid"] if holder else "<PID>"
            raise FolderLockedError(
                f"{self.folder} is being written by {_describe(holder)}: one writer per "
                f"{self.what} folder. Wait for it to end, stop it (kill -TERM {pid}: a training "
                f"saves a checkpoint and exits), or write to another folder (--output)."
            ) from None
        self.took_over = self._record()
        try:
            with atomic_path(self.folder / HOLDER_FILE) as partial:
                partial.write_text(json.dumps(_holder(), indent=2))
        except BaseException:
            self._lock.release()
            raise
        return self

    def takeover_note(self) -> str | None:
        """One line when the lock was taken over from a writer that died, else None."""
        if self.took_over is None:
            return None
        return (
            f"note: took over the lock of {self.folder} from {_describe(self.took_over)}, "
            f"which is no longer running (killed or crashed)."
        )

    def release(self) -> None:
        """Remove the holder record and release the lock (a no-op when not held)."""
        if not self._lock.is_locked:
            return
        try:
            (self.folder / HOLDER_FILE).unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or vanished folder: the lock itself still goes
        finally:
            self._lock.release()

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
