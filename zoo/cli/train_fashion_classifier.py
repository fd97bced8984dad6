"""Train the small Fashion-MNIST CNN used by the ``fashion_classifier`` feature extractor.

FID/IS/KID/PRD computed with this classifier are NOT comparable to Inception-based FID/IS or
to any published figure: it is a cheap 32×32 gray-scale network for quick relative comparisons.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import registry
from registry.features.fashion_classifier import SHIPPED_WEIGHTS, FashionClassifier
from zoo.errors import one_line

DESCRIPTION = __doc__
NOTE = "Fashion-MNIST features; FID/IS with them are not comparable to Inception ones."


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All images (N×1×32×32 in [-1, 1]) and labels of a Fashion-MNIST split, via the registry."""
    dataset = registry.create("dataset", "fashion_mnist", split=split, resolution=32)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2048, shuffle=False)
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat(labels)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 px (background-padded)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()  # one shift per batch
    return padded[:, :, dy : dy + 32, dx : dx + 32]


@torch.no_grad()
def accuracy(model: FashionClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on the given images."""
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        logits = model(images[start : start + 1000])["logits"]
        correct += (logits.argmax(dim=1) == labels[start : start + 1000]).sum().item()
    return correct / len(images)


def save_classifier(model: FashionClassifier, out: Path, facts: dict) -> None:
    """The weights as safetensors, the same bytes for the same weights and facts: the facts
    (test accuracy, epochs, seed) go in one JSON metadata key, as safetensors writes a map of
    several keys in a varying order."""
    facts = {**facts, "note": NOTE}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={"training": json.dumps(facts, sort_keys=True)})


def train(args: argparse.Namespace) -> float:
    """Train, report test accuracy, save the weights; returns the test accuracy."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("test")
    print(f"train {tuple(train_x.shape)}, test {tuple(test_x.shape)}")

    model = FashionClassifier(pretrained=False)
    steps_per_epoch = len(train_x) // args.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )
    for epoch in range(args.epochs):
        model.train()
        start, total_loss = time.time(), 0.0
        order = torch.randperm(len(train_x), generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            logits = model(augment(train_x[idx], gen))["logits"]
            loss = F.cross_entropy(logits, train_y[idx], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item()
        acc = accuracy(model, test_x, test_y)
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {total_loss / steps_per_epoch:.4f}, "
            f"test accuracy {acc:.4f} ({time.time() - start:.0f}s)"
        )

    acc = accuracy(model, test_x, test_y)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = {"test_accuracy": round(acc, 4), "epochs": args.epochs, "seed": args.seed}
    save_classifier(model, out, facts)
    print(f"test accuracy {acc:.4f}; saved {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return acc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak one-cycle learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", default=str(SHIPPED_WEIGHTS), help="output .safetensors path")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.epochs < 1 or args.batch_size < 1:
            raise ValueError("--epochs and --batch-size must be >= 1.")
        if Path(args.out).is_dir():
            raise ValueError(f"--out {args.out} is a folder; name a .safetensors file.")
        train(args)
    except (FileNotFoundError, ValueError, OSError) as error:  # e.g. no Fashion-MNIST files
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
