"""Errors of the model zoo; each message says what went wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "FolderLockedError",
    "NotPublishedError",
    "OutputWriteError",
    "UnknownModelError",
    "WeightsNotAvailableError",
    "ZooError",
    "one_line",
]


class ZooError(Exception):
    """Base of the zoo's errors."""


class UnknownModelError(ZooError, KeyError):
    """A name that is neither in the catalog, nor a registered architecture, nor a folder."""

    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0])


class CheckpointError(ZooError, ValueError):
    """A checkpoint that cannot be read or does not fit its architecture."""


class ChecksumError(CheckpointError):
    """A weight file whose sha256 differs from the one the catalog pins."""


class ConfigError(ValueError):
    """A gin file, binding or ``train.*`` setting that cannot be applied (:mod:`zoo.config`)."""


class FolderLockedError(ZooError):
    """A run or study folder that another process is writing (:mod:`zoo.training.run_lock`)."""


class OutputWriteError(ZooError, OSError):
    """A write into an output folder failed (full disk, read-only or vanished folder); its
    partial files were removed (:mod:`zoo.writing`)."""


class NotPublishedError(ZooError, LookupError):
    """A catalog entry without published weights (a recipe, or an export not yet uploaded)."""


class WeightsNotAvailableError(ZooError, FileNotFoundError):
    """Weights that are neither local nor in the Hub cache, and the Hub cannot be reached."""


def one_line(error: BaseException) -> str:
    """An error's message on one line, for a script's ``error: ...``: gin's "In call to
    configurable ..." annotation dropped, the remaining lines joined."""
    lines = [line.strip() for line in str(error).splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("In call to config"))
