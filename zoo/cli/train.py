"""Train a GAN from gin configs, on one CPU, one GPU or many (run under ``accelerate launch``).

    python scripts/train.py                                   # the quickstart: Fashion-MNIST, sBN
    python scripts/train.py --gin gin/cifar10_resnet_sbn.gin --bind 'train.steps = 500'
    accelerate launch scripts/train.py --gin gin/imagenet_pcgan_sbn.gin

Rerunning the same command resumes from the newest checkpoint in the output folder; the
folder's config.gin reproduces the run: ``python scripts/train.py --gin RUN/config.gin``. A rerun
whose config differs from the run's is refused before anything is written, except for the
settings that may change on resume (``zoo.training.preflight.RESUMABLE``: steps, learning rate,
intervals...), which are applied and recorded in config.gin.

Ctrl-C (SIGINT) or SIGTERM (a scheduler, preemption) finishes the current step, writes a
checkpoint and exits with 130 / 143, printing the command that resumes; a second one stops at
once (the newest complete checkpoint stays). Only one training writes a run folder at a time.
A write that fails (a full disk...) is one line naming what is intact; exit 1.
"""

from __future__ import annotations

import argparse
import shlex
import sys

import zoo
from registry import RegistryError
from zoo.config import GIN_DIR
from zoo.errors import one_line
from zoo.training import TrainingDiverged, TrainingStopped, TrainResult, checkpoints, train
from zoo.training.hooks import metrics_text
from zoo.training.preflight import PreparedRun, prepare_run

QUICKSTART = GIN_DIR / "quickstart.gin"


def summary(result: TrainResult) -> str:
    """The ``done:`` line: steps, time, output folder, and the best evaluation with the feature
    extractor its FID used (Fashion-MNIST classifier FIDs are not comparable to Inception's)."""
    minutes, seconds = divmod(round(result.wall_time_s), 60)
    line = f"done: {result.steps} steps in {minutes} min {seconds:02d} s -> {result.output_dir}"
    if best := result.best:
        metrics = metrics_text(best)
        line += f"; best at step {best['step']}: {metrics} ({result.eval_extractor} features)"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gin",
        action="append",
        default=[],
        metavar="FILE",
        help="gin config file (repeatable; later files win). Default: gin/quickstart.gin",
    )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="a gin binding such as 'train.steps = 500' (repeatable, applied last)",
    )
    parser.add_argument(
        "--output", metavar="DIR", help="output folder (default: train.output_dir from the config)"
    )
    args = parser.parse_args(argv)
    bindings = list(args.bind)
    if args.output:
        bindings.append(f"train.output_dir = {str(args.output)!r}")
    run = None
    try:
        run = prepare_run(args.gin or [QUICKSTART], bindings)
        for key, (old, new) in run.changes.items():
            print(f"changed on resume: {key}: {old} -> {new}")
        result = train(gin_config=run.config)
    except TrainingStopped as stopped:
        print(f"{stopped} Resume with the same command: {_command()}", file=sys.stderr)
        return stopped.exit_code
    except KeyboardInterrupt as error:  # a second signal (StoppedAtOnce), or one at start-up
        print(_interrupted(error, run), file=sys.stderr)
        return getattr(error, "exit_code", 130)
    except (
        zoo.ZooError,
        OSError,  # zoo.OutputWriteError (a full disk...), a missing file
        RegistryError,
        TrainingDiverged,
        ValueError,  # zoo.ConfigError, and settings that do not fit the data (resolution...)
    ) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    if result.is_main_process:
        print(summary(result))
    return 0


def _command() -> str:
    """This process's command line, as typed (the command that resumes the run)."""
    return shlex.join(getattr(sys, "orig_argv", sys.argv))


def _interrupted(error: KeyboardInterrupt, run: PreparedRun | None) -> str:
    """The line for a stop without a checkpoint of its own: the newest complete one."""
    what = str(error) or "stopped by SIGINT"
    if run is None:
        return f"{what} before training started."
    newest = checkpoints.latest(run.output_dir / "checkpoints")
    if newest is None:
        return f"{what}; no checkpoint was written yet: the same command starts over."
    return (
        f"{what}; no half-written checkpoint is left: the newest complete one is {newest}. "
        f"Resume with the same command: {_command()}"
    )


if __name__ == "__main__":
    sys.exit(main())
