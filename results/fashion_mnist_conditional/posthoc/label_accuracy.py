"""Does the generator draw the class it is asked for? Post-hoc check of the conditional study.

For each run: the Fashion-MNIST classifier (the FID/IS feature extractor) classifies generated
samples and the share whose predicted class is the requested label is reported, overall and per
class, next to the classifier's accuracy on the 10000 real test images (the ceiling).

- ``acc_10k``: 10000 samples (1000 per class, z from seed 0) from the run's kept (best)
  generator ``runs/<id>/best`` (weights are not committed: only runs whose weights are on disk).
- ``acc_grid``: the 64 samples of the committed grid ``runs/<id>/samples/step_<best>.png``
  (labels 0, 1, ..., 9, 0, ... row by row, as :func:`zoo.sample_grid` draws them; 8-bit PNG),
  available for every finished run; coarse (one sample changes it by 1.6 points).

Run from the repository root: ``python results/fashion_mnist_conditional/posthoc/label_accuracy.py``
(appends runs not yet in ``label_accuracy.csv``; one thread, about a minute per run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

import zoo
from registry.datasets.fashion_mnist_idx import fashion_mnist
from registry.features.fashion_classifier import FashionClassifier

STUDY = Path("results/fashion_mnist_conditional")
OUT = STUDY / "posthoc" / "label_accuracy.csv"
CLASSES = 10
PER_CLASS = 1000
BATCH = 500


@torch.no_grad()
def predict(classifier: FashionClassifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [
            classifier(images[i : i + BATCH])["logits"].argmax(1)
            for i in range(0, len(images), BATCH)
        ]
    )


@torch.no_grad()
def generated(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    generator = zoo.load(run / "best")
    labels = torch.arange(CLASSES * PER_CLASS) % CLASSES
    images = generator.sample(len(labels), labels=labels, seed=0)
    return images, labels


def grid(run: Path, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = np.asarray(Image.open(run / "samples" / f"step_{step:08d}.png").convert("L"))
    cells = [
        pixels[2 + 34 * r : 34 + 34 * r, 2 + 34 * c : 34 + 34 * c]
        for r in range(8)
        for c in range(8)
    ]
    images = torch.from_numpy(np.stack(cells)).float().div(127.5).sub(1.0)[:, None]
    return images, torch.arange(64) % CLASSES


def main() -> None:
    torch.set_num_threads(1)
    classifier = FashionClassifier()
    results = pd.read_csv(STUDY / "results.csv")
    done = pd.read_csv(OUT) if OUT.exists() else pd.DataFrame(columns=["id"])
    test = fashion_mnist("test")
    real = torch.stack([test[i][0] for i in range(len(test))])
    real_y = torch.stack([test[i][1] for i in range(len(test))])
    ceiling = (predict(classifier, real) == real_y).float().mean().item()
    print(f"classifier accuracy on the real test images: {ceiling:.4f}")
    rows = done.to_dict("records")
    for row in results[results.status == "done"].itertuples():
        if row.id in set(done.id):
            continue
        run = STUDY / "runs" / row.id
        images, labels = grid(run, int(row.best_step))
        record = {
            "id": row.id,
            "model": row.model,
            "norm": row.norm,
            "seed": row.seed,
            "best_step": int(row.best_step),
            "fid": row.fid,
            "acc_grid": (predict(classifier, images) == labels).float().mean().item(),
            "acc_10k": float("nan"),
            "real_test_acc": ceiling,
        }
        if (run / "best" / "config.json").exists() and any((run / "best").glob("*.safetensors")):
            images, labels = generated(run)
            hits = predict(classifier, images) == labels
            record["acc_10k"] = hits.float().mean().item()
            for k in range(CLASSES):
                record[f"acc_class{k}"] = hits[labels == k].float().mean().item()
        print(
            json.dumps(
                {
                    k: round(v, 4) if isinstance(v, float) else v
                    for k, v in record.items()
                    if not k.startswith("acc_class")
                }
            )
        )
        rows.append(record)
    pd.DataFrame(rows).sort_values(["model", "norm", "seed"]).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
