"""Publish a training run to the Hugging Face Hub and record it in the zoo's catalog.

    python scripts/publish.py runs/cifar10_resnet_sbn --repo-id selfmod-zoo/selfmod-resnet-cifar10
    python scripts/publish.py runs/quickstart --repo-id ORG/NAME --from final --dry-run
    python scripts/publish.py runs/quickstart --repo-id selfmod-zoo/selfmod-sndcgan-fashion_mnist \\
        --ship --dry-run         # ship the weights inside the package (zoo/pretrained/<name>/)
    python scripts/publish.py RUN --repo-id ORG/NAME --weights-dtype float16   # half the size

The run's best (or final) generator and discriminator are exported into a checkpoint folder
(model.safetensors, discriminator.safetensors, config.json with the run's gin config and
metrics, README.md model card with the evaluation protocol and training record, samples.png,
training_curve.png), uploaded in one commit (create_repo +
upload_folder) and the catalog entry (zoo/catalog.json) gets the repo id, the commit sha to pin
and the sha256 of model.safetensors. ``--dry-run`` builds the same folder without uploading and
marks the entry "unpublished" (or "shipped" with --ship). Uploading needs `hf auth login`.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import shutil
import sys
from pathlib import Path

from zoo import catalog, hub
from zoo.card import describe_model
from zoo.config import GIN_DIR
from zoo.curve import CURVE_FILE
from zoo.errors import ZooError, one_line
from zoo.export import SHIPPED_FILES, WEIGHT_DTYPES, export_run
from zoo.model_folder import MODEL_FILE, sha256_file
from zoo.training.record import read_record


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a training run folder")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="Hub model repo")
    parser.add_argument(
        "--from",
        dest="which",
        choices=("best", "final"),
        default="best",
        help="export RUN_DIR/best (best by train.best_metric, default) or RUN_DIR/final",
    )
    parser.add_argument("--name", help="catalog name (default: the repo's name)")
    parser.add_argument("--dry-run", action="store_true", help="build the folder, do not upload")
    parser.add_argument("--out", type=Path, help="export folder (default: RUN_DIR/export/NAME)")
    parser.add_argument(
        "--ship",
        action="store_true",
        help="also copy the generator's files into zoo/pretrained/NAME (installed with the "
        "package, loads offline) and mark the entry shipped",
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repo private")
    parser.add_argument(
        "--no-discriminator", action="store_true", help="leave discriminator.safetensors out"
    )
    parser.add_argument(
        "--weights-dtype",
        choices=tuple(WEIGHT_DTYPES),
        default="float32",
        help="store the generator's weights in this precision (float16 halves the download; "
        "the model card states how far the samples move)",
    )
    parser.add_argument(
        "--description",
        help="the catalog entry's description (default: written from the exported config: "
        "kind of norm, architecture, width, dataset, the weights' step)",
    )
    parser.add_argument(
        "--limitations",
        help="what a user must know before trusting the model (a run that failed to learn, a "
        "known flaw): a 'Limitations' section near the top of the card, kept in config.json",
    )
    parser.add_argument("--catalog", type=Path, help="catalog file (default: zoo/catalog.json)")
    return parser


def trained_gin_file(run_dir: Path) -> str | None:
    """The gin file the run was trained from, as its sessions' recorded commands name it
    (``--gin PATH``), relative to the repository when it lies there; None when the commands
    name no single file of this checkout (several files, none, no record)."""
    named = set()
    for session in (read_record(run_dir) or {}).get("sessions", []):
        words = shlex.split(session.get("command") or "")
        named |= {word for flag, word in itertools.pairwise(words) if flag == "--gin"}
    if len(named) != 1:
        return None
    path = (GIN_DIR.parent / named.pop()).resolve()  # an absolute path stays itself
    if not path.is_file() or not path.is_relative_to(GIN_DIR.parent):
        return None
    return path.relative_to(GIN_DIR.parent).as_posix()


def _description(config: dict, which: str) -> str:
    step = config.get("metrics", {}).get("step")
    at = f" at step {step}" if step is not None else ""
    what = describe_model(config)
    return f"{what[:1].upper()}{what[1:]}: the run's {which} weights{at}."


def publish(args: argparse.Namespace, api: object = None) -> catalog.CatalogEntry:
    """Export, upload unless ``--dry-run``, ship if asked, and update the catalog."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo_id):
        raise ValueError(f"--repo-id {args.repo_id!r} is not a Hub repo id: write ORG/NAME.")
    name = args.name or args.repo_id.split("/")[-1]
    out = args.out or args.run_dir / "export" / name
    config = export_run(
        args.run_dir,
        out,
        which=args.which,
        name=name,
        repo_id=args.repo_id,
        discriminator=not args.no_discriminator,
        weights_dtype=args.weights_dtype,
        limitations=args.limitations,
    )
    print(f"exported {args.run_dir / args.which} -> {out}")
    revision = None
    if not args.dry_run:
        revision = hub.push_folder(out, args.repo_id, private=args.private or None, api=api)
        print(f"uploaded to {args.repo_id} at commit {revision}")
    if args.ship:
        shipped = catalog.PRETRAINED_DIR / name
        if shipped.exists():
            shutil.rmtree(shipped)
        shipped.mkdir(parents=True)
        for filename in SHIPPED_FILES:
            if filename != CURVE_FILE or (out / filename).is_file():  # a run that evaluated
                shutil.copy2(out / filename, shipped / filename)
        print(f"shipped in {shipped}")
    status = "shipped" if args.ship else "published" if revision else "unpublished"
    entry = catalog.update_entry(
        name,
        args.catalog,
        status=status,
        architecture=config["architecture"],
        model_args=config["model_args"],
        repo_id=args.repo_id,
        dataset=config.get("dataset"),
        revision=revision,
        sha256=sha256_file(out / MODEL_FILE),
        gin_config=config.get("gin_config") or None,
        metrics=config.get("metrics", {}),
        description=args.description or _description(config, args.which),
        **({"gin_file": gin_file} if (gin_file := trained_gin_file(args.run_dir)) else {}),
    )
    print(f"catalog entry {name!r}: {status}, sha256 {entry.sha256}, revision {revision}")
    if entry.has_weights:
        print(f"load it with zoo.load({name!r}); README.md's zoo table: python -m zoo.zoo_table")
    else:
        print(f"unpublished: load the folder with zoo.load({str(out)!r}); rerun without --dry-run")
    return entry


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        publish(args)
    except (ZooError, OSError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
