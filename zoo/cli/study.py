"""Run the robustness study of Section 3.2 (or any grid declared in gin) and report it.

    python scripts/study.py run --gin gin/study/fashion_mnist_small.gin --dry-run  # the runs
    python scripts/study.py run --gin gin/study/fashion_mnist_small.gin            # train all
    python scripts/study.py --gin gin/study/fashion_mnist_small.gin --jobs 2       # 2 at once
    python scripts/study.py report results/fashion_mnist/results.csv         # Tables 2, 3 ...

``run`` trains the grid's runs one after the other (``--jobs N``: N at a time), each in
``OUTPUT/runs/<id>`` and, by default, in its own process, ``python -m zoo.cli.train``
(``--launcher accelerate`` uses ``accelerate launch``; ``inprocess`` trains in this process).
Rerunning the same command skips finished runs and resumes an interrupted one from its
checkpoints (a run's state is its trainer's record, ``RUN/status.json``); at the end every
run's metrics go to ``OUTPUT/results.csv`` and its training curves (evaluations and losses) to
``OUTPUT/curves.csv``. ``collect`` rebuilds both at any time (e.g. while a study is running);
``report`` writes ``report.md``, CSV tables and figures. ``train.mixed_precision = 'auto'``
is decided once per study (recorded in ``OUTPUT/study.json``; ``--auto-precision`` sets it),
so a study resumed on another machine trains every run in the same precision. One study
writes a folder at a time; Ctrl-C or SIGTERM makes the running trainings save a checkpoint and
stop (exit 130 / 143; rerun to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from zoo import ConfigError, ZooError
from zoo.errors import one_line
from zoo.study import GridError, StudyError, load_grid, make_executor, run_study
from zoo.study.executors import LAUNCHERS
from zoo.study.results import CURVES_FILE, RESULTS_FILE, write_tables


def _run(args: argparse.Namespace) -> int:
    grid = load_grid(args.gin)
    output = Path(args.output or Path("results") / grid.name)
    threads = args.threads
    if threads is None and args.jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
    executor = make_executor(args.launcher, args.launcher_arg, threads)
    run_study(
        grid,
        output,
        executor,
        dry_run=args.dry_run,
        retry_failed=args.retry_failed,
        jobs=args.jobs,
        only=_only(args.only),
        auto_precision=args.auto_precision,
    )
    if not args.dry_run:
        print(f"report: python scripts/study.py report {output / RESULTS_FILE}")
    return 0


def _only(filters: list[str]) -> dict[str, list[str]]:
    """``["reg=gp10", "seed=1,2"]`` as ``{"reg": ["gp10"], "seed": ["1", "2"]}``."""
    only: dict[str, list[str]] = {}
    for text in filters:
        key, sep, values = text.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise GridError(f"--only {text!r}: write KEY=VALUE[,VALUE...], e.g. --only seed=1,2")
        only.setdefault(key.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return only


def _collect(args: argparse.Namespace) -> int:
    if not Path(args.output).is_dir():
        raise FileNotFoundError(f"no study folder at {args.output}")
    table = write_tables(args.output)
    print(f"{Path(args.output) / RESULTS_FILE}: {len(table)} runs; curves in {CURVES_FILE}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from zoo.study.load import load
    from zoo.study.report import write_report
    from zoo.study.spec import report_spec

    paths = [Path(r) for r in args.results]
    if len(paths) > 1 and not args.out:
        raise ValueError("a report of several results tables needs --out FOLDER")
    out = Path(args.out) if args.out else paths[0].parent / "report"
    tuned = None if args.tuned is None else tuple(t for t in args.tuned.split(",") if t)
    results = load(paths)
    overrides = {"method": args.method, "baseline": args.baseline, "metric": args.metric}
    spec = report_spec(results.table, results.study, tuned=tuned, **overrides)
    print(f"report: {write_report(results, out, spec)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    _add_run(commands)

    gather = commands.add_parser(
        "collect", help="rebuild OUTPUT/results.csv and curves.csv from the run folders"
    )
    gather.add_argument("output", help="study folder")
    gather.set_defaults(handler=_collect)

    report = commands.add_parser("report", help="write the Markdown report and figures")
    report.add_argument(
        "results",
        nargs="+",
        help="OUTPUT/results.csv; several are read as one table (a variant next to a study)",
    )
    report.add_argument("--out", help="report folder (default: OUTPUT/report)")
    report.add_argument("--method", help="method axis (default: the study's, else norm)")
    report.add_argument("--baseline", help="baseline value of the method axis (default: bn)")
    report.add_argument("--tuned", help="comma-separated axes tuned over in Table 2")
    report.add_argument(
        "--metric", help="metric column (default: fid), better as its metric says (IS: higher)"
    )
    report.set_defaults(handler=_report)

    return parser


def _add_run(commands: argparse._SubParsersAction) -> None:
    """The ``run`` subcommand and its options."""
    run = commands.add_parser("run", help="train the runs of a study grid")
    run.add_argument(
        "--gin", required=True, help="study file, e.g. gin/study/fashion_mnist_small.gin"
    )
    run.add_argument("--output", help="study folder (default: results/<study.grid.name>)")
    run.add_argument("--launcher", choices=LAUNCHERS, default="python")
    run.add_argument(
        "--launcher-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the launcher, e.g. --launcher-arg=--num_processes=2",
    )
    run.add_argument(
        "--jobs", type=int, default=1, help="runs trained at once (default 1, one after the other)"
    )
    run.add_argument(
        "--threads",
        type=int,
        help="OMP_NUM_THREADS of each training (default: CPU cores / --jobs when --jobs > 1)",
    )
    run.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE]",
        help="train only the runs with these values (an axis, a tag or seed; repeatable)",
    )
    run.add_argument(
        "--auto-precision",
        choices=("bf16", "no"),
        help="what train.mixed_precision = 'auto' means for every run of the study (default: "
        "what study.json or the runs record, else this machine's choice: bf16 where it "
        "measures bf16 at least 1.2x faster than fp32, else no)",
    )
    run.add_argument("--dry-run", action="store_true", help="list runs and commands only")
    run.add_argument("--retry-failed", action="store_true", help="train failed runs again")
    run.set_defaults(handler=_run)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]  # `study.py --gin FILE` is `study.py run --gin FILE`
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, GridError, StudyError, ZooError, OSError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return getattr(error, "exit_code", 1)  # 130 / 143 when a signal stopped the study


if __name__ == "__main__":
    sys.exit(main())
