"""Model cards (``README.md``) for checkpoint folders, with huggingface_hub's ModelCard tools:
a YAML header with a model-index of the evaluation metrics, then the paper, how to load and
sample the model, its architecture, metrics, the evaluation protocol and the training record with
its curve (from the run folder's records, :mod:`zoo.card_sections`) and the gin config that
trained it."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

import registry
from zoo.card_sections import METRICS, fmt, metric_label, protocol_section, record_section
from zoo.curve import CURVE_FILE
from zoo.model_folder import CARD_FILE, SAMPLES_FILE

if TYPE_CHECKING:
    from zoo.run_facts import RunFacts

__all__ = ["CITATION", "build_card", "describe_model", "write_card"]

CITATION = """@inproceedings{chen2019selfmod,
  title     = {On Self Modulation for Generative Adversarial Networks},
  author    = {Chen, Ting and Lucic, Mario and Houlsby, Neil and Gelly, Sylvain},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2019}
}"""

_DATASET_NAMES = {
    "cifar10": "CIFAR-10",
    "celebahq128": "CelebA-HQ 128x128",
    "lsun_bedroom128": "LSUN Bedroom 128x128",
    "imagenet128": "ImageNet 128x128",
    "fashion_mnist": "Fashion-MNIST",
}
_TASK = "unconditional-image-generation"

_TEMPLATE = """---
{{ card_data }}
---

# {{ name }}

A {{ description }}. It comes from selfmod-zoo, a PyTorch implementation of
*On Self Modulation for Generative Adversarial Networks* (Chen et al., ICLR 2019).
Self-modulation makes the generator's batch-norm scale and shift functions of its input z
(Eq. 2){% if num_classes %}; with labels y, of z' = z + E(y) + z ⊙ E'(y) (Eq. 3){% endif %}.
{% if samples %}
![Samples (seed 0){% if num_classes %}, one class per column{% endif %}]({{ samples }})
{% endif %}{% if limitations %}
## Limitations

{{ limitations }}
{% endif %}
## How to use

```python
import zoo

G = zoo.load("{{ load_name }}")   # eval mode, on the CPU; device="cuda" for a GPU
# {{ channels }} x {{ resolution }} x {{ resolution }} images in [-1, 1]:
images = G.sample(16, seed=0)
zoo.save_grid(images, "samples.png")
```
{% if catalog_name %}
In the selfmod-zoo catalog this is `zoo.load("{{ catalog_name }}")`, which pins the published
revision and checks the sha256 of the weights.
{% endif %}{% if num_classes %}
The generator is class-conditional ({{ num_classes }} classes):
`G.sample(16, labels=[3] * 16)`; without `labels` the classes are drawn uniformly.
{% endif %}
`zoo.load` returns the generator in eval mode, so batch norm uses the running statistics
gathered during training: a sample does not depend on the other samples in its batch, nor on the
batch size (the same z gives the same image alone or in a batch).

## Architecture

Generator `{{ architecture }}` (registry name) with arguments:

```json
{{ model_args }}
```
{% if weights %}
The weights are stored in {{ weights.dtype }}, rounded from the {{ weights.trained_dtype }}
weights of training (they load into a {{ weights.trained_dtype }} model): over
{{ weights.samples_compared }} samples (seed 0) no pixel moves by more than
{{ "%.3g" % weights.max_abs_difference }} in [-1, 1], and {{ "%.2f" % (100 *
weights.pixel_values_changed) }}% of the 8-bit pixel values change, by at most
{{ weights.max_levels_changed }} level(s). The metrics below were measured with the
{{ weights.trained_dtype }} weights.
{% endif %}{% if discriminator %}
The discriminator (`discriminator.safetensors`, `{{ discriminator }}`) is included to resume
training or fine-tune; it is not needed for sampling.
{% endif %}
## Evaluation
{% if metric_rows %}
| metric | value |
|---|---|
{% for key, value in metric_rows %}| {{ key }} | {{ value }} |
{% endfor %}
{% if extractor %}Measured with the `{{ extractor }}` feature extractor
{%- if extractor != "inception" %} (not comparable with Inception-based numbers){% endif %}.
{% endif %}
{% else %}
No evaluation metrics were recorded for this checkpoint.
{% endif %}{% if protocol %}
## Evaluation protocol

{{ protocol }}
{% endif %}{% if record %}
## Training record

{{ record }}
{% endif %}
## Training

{% if gin_config %}The gin config of the run (`accelerate launch scripts/train.py --gin config.gin`
reproduces it):

```
{{ gin_config }}
```
{% else %}The gin config of the run was not recorded.
{% endif %}
## Citation

```bibtex
{{ citation }}
```
"""


def _hub_dataset_id(dataset: str) -> str:
    """The dataset's Hub id when its registry entry reads from the Hub, else its name."""
    try:
        parameter = inspect.signature(registry.get("dataset", dataset)).parameters.get("hf_path")
    except registry.RegistryError:
        return dataset
    return parameter.default if parameter is not None else dataset


def _eval_results(config: dict[str, Any], dataset: str) -> list[EvalResult]:
    extractor = config.get("eval_extractor")
    suffix = f" ({extractor} features)" if extractor else ""
    return [
        EvalResult(
            task_type=_TASK,
            dataset_type=_hub_dataset_id(dataset),
            dataset_name=_DATASET_NAMES.get(dataset, dataset),
            metric_type=metric_type,
            metric_value=float(config["metrics"][key]),
            metric_name=pretty + suffix,
        )
        for key, (metric_type, pretty, _) in METRICS.items()
        if isinstance(config.get("metrics", {}).get(key), int | float)
    ]


def describe_model(config: dict[str, Any]) -> str:
    """What a checkpoint folder's generator is, from its config.json: e.g. "self-modulated
    (sbn) sndcgan32 GAN generator of width 0.5 on Fashion-MNIST", or for a P-cGAN
    "class-conditional (10 classes) self-modulated (csbn) sndcgan32 GAN generator of width 0.5
    on Fashion-MNIST, trained against a projection discriminator"."""
    args, dataset = config["model_args"], config.get("dataset")
    norm = args.get("norm", "?")
    kind = "self-modulated" if norm in ("sbn", "csbn", "smod") else "baseline"
    classes = args.get("num_classes") or 0
    conditional = f"class-conditional ({classes} classes) " if classes else ""
    width = f" of width {args['width']}" if "width" in args else ""
    d_args = (config.get("discriminator") or {}).get("model_args", {})
    projection = ", trained against a projection discriminator" if d_args.get("num_classes") else ""
    where = f" on {_DATASET_NAMES.get(dataset, dataset)}" if dataset else ""
    generator = f"{config['architecture']} GAN generator"
    return f"{conditional}{kind} ({norm}) {generator}{width}{where}{projection}"


def build_card(
    config: dict[str, Any],
    *,
    name: str,
    repo_id: str | None = None,
    samples: str | None = None,
    facts: RunFacts | None = None,
    curve: str | None = None,
) -> ModelCard:
    """The model card of a checkpoint folder described by ``config`` (its config.json); with
    its run folder's ``facts``, the evaluation protocol and the training record (``curve``: the
    training curve's file name, shown there)."""
    dataset = config.get("dataset")
    results = _eval_results(config, dataset) if dataset else []
    data = ModelCardData(
        library_name="selfmod-zoo",
        license="apache-2.0",
        pipeline_tag=_TASK,
        tags=["gan", "self-modulation", "pytorch", config["architecture"]]
        + (["class-conditional"] if config["model_args"].get("num_classes") else []),
        datasets=[_hub_dataset_id(dataset)] if dataset else None,
        metrics=[METRICS[r][0] for r in METRICS if r in config.get("metrics", {})] or None,
        model_name=name,
        eval_results=results or None,
    )
    discriminator = config.get("discriminator")
    return ModelCard.from_template(
        data,
        template_str=_TEMPLATE,
        name=name,
        description=describe_model(config),
        load_name=f"hf-hub:{repo_id}" if repo_id else name,
        catalog_name=name if repo_id else None,
        samples=samples,
        limitations=config.get("limitations"),
        channels=config.get("channels", config["model_args"].get("channels")),
        resolution=config.get("resolution", "?"),
        num_classes=config["model_args"].get("num_classes", 0),
        architecture=config["architecture"],
        model_args=json.dumps(config["model_args"], indent=2),
        discriminator=discriminator["architecture"] if discriminator else None,
        weights=config.get("weights"),
        metric_rows=[(metric_label(k), fmt(v)) for k, v in config.get("metrics", {}).items()],
        extractor=config.get("eval_extractor"),
        protocol=protocol_section(facts, _DATASET_NAMES.get(dataset, dataset)) if facts else None,
        record=record_section(facts, curve) if facts else None,
        gin_config=config.get("gin_config", "").strip(),
        citation=CITATION,
    )


def write_card(
    directory: str | Path,
    config: dict[str, Any],
    *,
    name: str,
    repo_id: str | None = None,
    facts: RunFacts | None = None,
) -> Path:
    """Write ``README.md`` into ``directory``; links ``samples.png`` and the training curve
    when they are there."""
    directory = Path(directory)
    samples = SAMPLES_FILE if (directory / SAMPLES_FILE).is_file() else None
    curve = CURVE_FILE if (directory / CURVE_FILE).is_file() else None
    path = directory / CARD_FILE
    card = build_card(config, name=name, repo_id=repo_id, samples=samples, facts=facts, curve=curve)
    card.save(path)
    return path
