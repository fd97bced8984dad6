"""Evaluate a trained generator: FID, IS, KID, PRD (F8, F1/8) and the Jacobian's log condition
number (Section 3.1 "Metrics", Section 3.3), printed as a table and written as JSON.

    python scripts/evaluate.py runs/quickstart --metrics fid,is,prd,jacobian --num-samples 5000
    python scripts/evaluate.py selfmod-sndcgan-fashion_mnist
    accelerate launch scripts/evaluate.py RUN          # feature extraction split across processes

The real data and feature extractor default to the run's own (``train.dataset``,
``train.eval_extractor`` of its gin config); Fashion-MNIST classifier figures are not
comparable to Inception FIDs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accelerate import Accelerator

import registry
import zoo
from registry import RegistryError
from zoo.config import gin_binding
from zoo.errors import one_line
from zoo.evaluation import EVAL_BATCH_SIZE, evaluate, metric_names
from zoo.metrics import plot_prd_curves


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="run folder, checkpoint folder, zoo name or hf-hub:ORG/NAME")
    parser.add_argument(
        "--metrics",
        default="fid,is,prd,jacobian",
        help="comma-separated: fid, is, kid, prd, jacobian",
    )
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=EVAL_BATCH_SIZE,
        help="images per batch for generation and feature extraction (memory only; the "
        f"samples do not depend on it; default {EVAL_BATCH_SIZE})",
    )
    parser.add_argument("--dataset", help="registered dataset (default: the run's train.dataset)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--extractor", help="feature extractor (default: the run's, or inception)")
    parser.add_argument("--out", type=Path, help="folder for metrics.json and prd.png")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _check_args(args: argparse.Namespace) -> list[str]:
    """The metrics asked for; bad arguments raise ValueError before anything is loaded."""
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    known = metric_names()
    if unknown := [m for m in metrics if m not in known]:
        raise ValueError(f"unknown metrics {unknown}: --metrics takes {', '.join(known)}.")
    if not metrics:
        raise ValueError(f"--metrics is empty: name some of {', '.join(known)}.")
    if args.num_samples < 2 or args.batch_size < 1:
        raise ValueError("--num-samples must be >= 2 and --batch-size >= 1.")
    if "is" in metrics and args.num_samples < 10:
        raise ValueError("IS uses 10 splits: --num-samples must be >= 10.")
    if args.out is not None and args.out.is_file():
        raise ValueError(f"--out {args.out} is a file; metrics.json and prd.png go to a folder.")
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        return _run(args, _check_args(args))
    except (zoo.ZooError, RegistryError, FileNotFoundError, ValueError, OSError) as error:
        # FileNotFoundError: a missing dataset or Inception weights (the message says where)
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, metrics: list[str]) -> int:
    accelerator = Accelerator()
    try:
        return _evaluate(accelerator, args, metrics)
    finally:
        # Tear the process group down: under `accelerate launch` a process exiting with gloo's
        # threads still running can abort ("terminate called without an active exception").
        accelerator.end_training()


def _evaluate(accelerator: Accelerator, args: argparse.Namespace, metrics: list[str]) -> int:
    generator = zoo.load(args.model, device=accelerator.device)
    gin_config = generator.checkpoint_info.get("gin_config", "")
    run_config = Path(args.model) / "config.gin"
    if not gin_config and run_config.is_file():
        gin_config = run_config.read_text()
    dataset_name = args.dataset or gin_binding(gin_config, "train.dataset")
    extractor = args.extractor or gin_binding(gin_config, "train.eval_extractor") or "inception"
    if dataset_name is None:
        raise ValueError(
            "the checkpoint does not say which dataset it was trained on; pass --dataset NAME"
        )
    zoo.parse(bindings=[gin_config])  # the run's dataset settings (root, resolution, ...)
    dataset = registry.create("dataset", dataset_name, split=args.split)
    # One pass: the images are generated and embedded once; PRD's curve comes with the scores.
    evaluation = evaluate(
        generator,
        dataset,
        metrics=metrics,
        num_samples=args.num_samples,
        extractor=extractor,
        batch_size=args.batch_size,
        accelerator=accelerator,
        seed=args.seed,
    )
    curve = evaluation.curves.get("prd")
    results = dict(evaluation)
    for key in ("prd_f8", "prd_f1_8"):  # listed last in the table and metrics.json, as always
        if key in results:
            results[key] = results.pop(key)
    out = args.out or (
        Path(args.model) / "eval"
        if Path(args.model).is_dir()
        else Path("eval") / args.model.replace("/", "_").replace(":", "_")
    )
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        header = {
            "model": args.model,
            "dataset": dataset_name,
            "split": args.split,
            "extractor": extractor,
            "num_samples": args.num_samples,
        }
        (out / "metrics.json").write_text(json.dumps({**header, **results}, indent=2))
        print(
            f"{args.model} vs {dataset_name}/{args.split}, {extractor} features, "
            f"{args.num_samples} samples"
        )
        print(f"{'metric':<10} {'value':>12}")
        for key, value in results.items():
            print(f"{key:<10} {value:>12.4f}")
        print(f"wrote {out / 'metrics.json'}")
    if curve is not None and accelerator.is_main_process:
        plot_prd_curves(
            [curve],
            out / "prd.png",
            labels=[curve_label(args.model)],
            title=f"PRD vs {dataset_name}/{args.split}",
        )
        print(f"wrote {out / 'prd.png'}")
    return 0


def curve_label(model: str) -> str:
    """The PRD plot's name for ``model``: a folder by its name (a run's ``best``/``final`` with
    the run's), not its whole path, which overflows the plot; a zoo or Hub name as it is."""
    path = Path(model)
    if not path.is_dir():
        return model
    path = path.resolve()
    return f"{path.parent.name}/{path.name}" if path.name in ("best", "final") else path.name


if __name__ == "__main__":
    sys.exit(main())
