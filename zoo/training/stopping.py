"""A graceful stop on SIGINT (Ctrl-C) and SIGTERM (what schedulers and cloud preemption send
before they kill): the current step finishes, a checkpoint is written, and the run ends with
exit code 128 + the signal's number (130, 143) and one line saying how to resume. A second
signal stops at once (:class:`StoppedAtOnce`); a checkpoint being written then is removed
whole (:func:`zoo.training.checkpoints.save`), so the newest complete one is the one to
resume from.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import torch
from accelerate import Accelerator

__all__ = ["SIGNALS", "GracefulStop", "StoppedAtOnce", "TrainingStopped", "signal_name"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
TRAINING_NOTICE = (
    "{signal}: finishing this step, then saving a checkpoint ({signal} again stops at once)."
)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class TrainingStopped(Exception):
    """Training stopped on a signal after ``step`` with ``checkpoint`` written."""

    def __init__(self, signum: int, step: int, steps: int, checkpoint: object) -> None:
        self.signum, self.exit_code, self.step = signum, 128 + signum, step
        super().__init__(
            f"stopped by {signal_name(signum)} at step {step} of {steps}: checkpoint "
            f"{checkpoint} written."
        )


class StoppedAtOnce(KeyboardInterrupt):
    """A second SIGINT or SIGTERM: stop now, without finishing the step or a checkpoint."""

    def __init__(self, signum: int) -> None:
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(f"stopped at once by a second {signal_name(signum)}")


class GracefulStop:
    """While entered (in the main thread), the first SIGINT or SIGTERM only records itself in
    :attr:`signum` and prints ``notice``; a second raises :class:`StoppedAtOnce`. Each is
    passed to ``forward`` first, if given (the study sends it on to its trainings). Elsewhere
    (a worker thread) the signals keep their handlers and :attr:`signum` stays None."""

    def __init__(
        self, notice: str = TRAINING_NOTICE, forward: Callable[[int], None] | None = None
    ) -> None:
        self.signum: int | None = None
        self.notice, self.forward = notice, forward
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.forward is not None:
            self.forward(signum)
        if self.signum is None:
            self.signum = signum
            os.write(2, f"\n{self.notice.format(signal=signal_name(signum))}\n".encode())
            return
        self._restore()
        raise StoppedAtOnce(signum)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def agreed(self, accelerator: Accelerator) -> int:
        """The signal that asks every process to stop after this step, else 0. All processes
        get the same answer at the same step (with several, one tiny all-reduce per step)."""
        if accelerator.num_processes == 1:
            return self.signum or 0
        mine = torch.tensor([self.signum or 0], device=accelerator.device)
        return int(accelerator.reduce(mine, "max").item())

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()
