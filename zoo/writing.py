"""Writes into output folders that fail end as one line, and leave no partial file.

A checkpoint, a sample grid, a model folder, a log or a study table that cannot be written
(the disk is full, the folder is read-only or has vanished) raises
:class:`~zoo.errors.OutputWriteError`: what could not be written and why, how much space the
write needed against what is free, and what to do, with the partial file or folder removed.
Files are written under a temporary name and renamed into place (:func:`atomic_path`,
:func:`replace_folder`), so what was complete before the failure stays complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from zoo.errors import OutputWriteError

__all__ = ["atomic_path", "folder_bytes", "guarded_write", "human_bytes", "replace_folder"]

_ADVICE = {
    errno.ENOSPC: "free space there, or write to a disk with room (--output)",
    errno.EDQUOT: "free space within your quota, or write to a disk with room (--output)",
    errno.EROFS: "the file system is read-only: write to another folder (--output)",
    errno.EACCES: "the folder is not writable: fix its permissions or use another (--output)",
    errno.EPERM: "the folder is not writable: fix its permissions or use another (--output)",
    errno.ENOENT: "the folder vanished (deleted or unmounted) while writing: restore it",
    errno.ESTALE: "the network folder went away while writing: remount it",
}
_SPACE = (errno.ENOSPC, errno.EDQUOT)
_TORCH_WRITE_FAILURES = ("iostream error", "unexpected pos", "PytorchStreamWriter failed")


def human_bytes(size: float) -> str:
    """``size`` bytes as ``"512 B"``, ``"1.2 MB"``, ``"3.4 GB"`` (powers of 1000)."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a file's own size; 0 when it is gone)."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _message(error: OSError, target: Path, needed: int | None, then: str) -> str:
    reason = error.strerror or type(error).__name__
    text = f"could not write {target}: {reason}"
    if error.errno in _SPACE:
        free = _free_bytes(target)
        space = [f"needs about {human_bytes(needed)}" if needed else None]
        space.append(f"{human_bytes(free)} free there" if free is not None else None)
        if parts := [p for p in space if p]:
            text += f" (the write {', '.join(parts)})"
    text += f"; the partial files were removed. What to do: {_ADVICE.get(error.errno, 'fix it')}"
    return f"{text}. {then}".strip() if then else text + "."


@contextmanager
def guarded_write(
    target: Path,
    partial: Path | None = None,
    needed: Callable[[], int | None] | None = None,
    then: str = "",
) -> Iterator[None]:
    """Run the body that writes ``target`` (through ``partial``, if given); on any exception
    remove ``partial``, and turn an :class:`OSError` into :class:`OutputWriteError` naming
    ``target``, the bytes ``needed()`` (for a full disk), the free space, what to do and
    ``then`` (e.g. which checkpoint is intact)."""
    try:
        yield
    except BaseException as error:
        cause = None if isinstance(error, OutputWriteError) else _os_error(error, target)
        size = needed() if cause and needed is not None and cause.errno in _SPACE else None
        if partial is not None:
            _remove(partial)
        if cause is not None:
            raise OutputWriteError(_message(cause, target, size, then)) from error
        raise


def _os_error(error: BaseException, target: Path) -> OSError | None:
    """The OS error behind a failed write: ``error`` itself, or, for torch's serializer (which
    reports a full disk as ``RuntimeError: ... unexpected pos``), what writing to the folder
    gives now."""
    if isinstance(error, OSError):
        return error
    if isinstance(error, RuntimeError) and any(m in str(error) for m in _TORCH_WRITE_FAILURES):
        return _probe(target.parent) or OSError(errno.EIO, os.strerror(errno.EIO), str(target))
    return None


def _probe(folder: Path) -> OSError | None:
    """The error that writing 64 kB into ``folder`` raises (None if it succeeds)."""
    probe = folder / ".write_probe"
    try:
        with open(probe, "wb") as file:
            file.write(bytes(1 << 16))
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        return error
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    return None


@contextmanager
def atomic_path(target: Path, then: str = "") -> Iterator[Path]:
    """A temporary path next to ``target`` to write to; renamed to ``target`` when the body
    succeeds, removed when it fails (:func:`guarded_write`)."""
    target = Path(target)
    partial = target.with_name(f".partial_{target.name}")
    with guarded_write(target, partial, lambda: folder_bytes(target), then):
        target.parent.mkdir(parents=True, exist_ok=True)
        yield partial
        partial.replace(target)


def replace_folder(partial: Path, target: Path) -> None:
    """Move the complete folder ``partial`` to ``target``, replacing an older one; the older
    one is removed only once the new one is in place."""
    old = target.with_name(f".old_{target.name}")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    if old.exists():
        shutil.rmtree(old)
