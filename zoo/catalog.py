"""The zoo's catalog (``zoo/catalog.json``): one entry per model name.

An entry is a *recipe* (the gin file that trains it and the Hub repo it will be published to,
no weights yet), *unpublished* (exported by ``publish.py --dry-run``, not uploaded), *published*
(a Hub repo id, the commit to pin and the sha256 of ``model.safetensors``) or *shipped* (weights
in ``zoo/pretrained/<name>/``, installed with the package, sha256-checked; ``repo_id`` is kept for
reference). Published and shipped entries also keep the run's gin config and its metrics.

Names: ``selfmod-{model}-{dataset}`` for self-modulated generators (norm ``sbn``, or ``csbn``
with labels) and ``baseline-{model}-{dataset}`` for batch-norm ones (``bn``, ``cbn``); ``model``
is sndcgan, resnet, gcond or pcgan and ``dataset`` the dataset's registry name.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.config import GIN_DIR
from zoo.errors import CheckpointError, UnknownModelError

__all__ = [
    "CATALOG_PATH",
    "PRETRAINED_DIR",
    "SELF_MODULATED",
    "STATUSES",
    "CatalogEntry",
    "catalog_name",
    "get_entry",
    "load_catalog",
    "unknown_model",
    "update_entry",
]

CATALOG_PATH = Path(__file__).with_name("catalog.json")
PRETRAINED_DIR = Path(__file__).with_name("pretrained")
"""Shipped checkpoints: ``PRETRAINED_DIR/<name>/{model.safetensors, config.json, README.md}``."""
STATUSES = ("recipe", "unpublished", "published", "shipped")
SELF_MODULATED = ("sbn", "csbn", "smod")
_FORMAT_VERSION = 1
_ABOUT = (
    "selfmod-zoo model catalog. Names: selfmod-{model}-{dataset} (sbn/csbn generators), "
    "baseline-{model}-{dataset} (bn/cbn). status: recipe (gin_file only), unpublished "
    "(exported, not uploaded), published (repo_id@revision, sha256 of model.safetensors), "
    "shipped (zoo/pretrained/<name>/). Written by scripts/publish.py."
)


def catalog_name(model: str, dataset: str, norm: str) -> str:
    """The catalog name of ``model`` (sndcgan, resnet, gcond, pcgan) on ``dataset`` with
    ``norm``: ``selfmod-...`` when self-modulated, ``baseline-...`` otherwise."""
    prefix = "selfmod" if norm in SELF_MODULATED else "baseline"
    return f"{prefix}-{model}-{dataset}"


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog entry; see the module docstring for the statuses."""

    name: str
    status: str
    architecture: str
    model_args: dict[str, Any]
    repo_id: str
    dataset: str | None = None
    revision: str | None = None
    sha256: str | None = None
    gin_file: str | None = None
    gin_config: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def local_dir(self) -> Path:
        """Where a shipped entry's checkpoint folder is."""
        return PRETRAINED_DIR / self.name

    @property
    def is_shipped_here(self) -> bool:
        """Shipped, and its weight file is installed."""
        return self.status == "shipped" and (self.local_dir / "model.safetensors").is_file()

    @property
    def is_published(self) -> bool:
        """Uploaded to the Hub with a pinned revision and a sha256."""
        return bool(self.revision and self.sha256 and self.status in ("published", "shipped"))

    @property
    def has_weights(self) -> bool:
        """Loadable: shipped with the package or published on the Hub."""
        return self.is_shipped_here or self.is_published

    def train_command(self) -> str:
        """How to train this entry (from its gin file)."""
        return f"accelerate launch scripts/train.py --gin {self.gin_file or 'CONFIG.gin'}"

    def publish_command(self) -> str:
        """How to publish a finished run of this entry."""
        return f"python scripts/publish.py {self.run_dir()} --repo-id {self.repo_id}"

    def run_dir(self) -> str:
        """The run folder its gin file trains into (``train.output_dir``)."""
        from zoo.config import gin_binding

        gin_path = GIN_DIR.parent / self.gin_file if self.gin_file else None
        if gin_path is not None and gin_path.is_file():
            output = gin_binding(gin_path.read_text(), "train.output_dir")
            if output:
                return output
        return f"runs/{Path(self.gin_file).stem}" if self.gin_file else "runs/RUN"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("name")
        return data

    def validate(self) -> CatalogEntry:
        """Raise :class:`CheckpointError` when the fields contradict the status."""
        need = {
            "recipe": ("gin_file",),
            "unpublished": ("sha256",),
            "published": ("revision", "sha256"),
            "shipped": ("sha256",),
        }
        if self.status not in need:
            raise CheckpointError(
                f"Catalog entry {self.name!r} has status {self.status!r}; expected one of "
                f"{', '.join(STATUSES)}."
            )
        if missing := [f for f in need[self.status] if not getattr(self, f)]:
            raise CheckpointError(
                f"Catalog entry {self.name!r} ({self.status}) lacks {', '.join(missing)}."
            )
        return self


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"format_version": _FORMAT_VERSION, "about": _ABOUT, "models": {}}
    except ValueError as error:
        raise CheckpointError(f"The catalog {path} is not valid JSON: {error}") from error
    if data.get("format_version", 1) > _FORMAT_VERSION:
        raise CheckpointError(f"The catalog {path} is newer than this selfmod-zoo: upgrade it.")
    return data


def load_catalog(path: str | Path | None = None) -> dict[str, CatalogEntry]:
    """All entries of the catalog (default: the package's ``zoo/catalog.json``), by name."""
    path = Path(path) if path is not None else CATALOG_PATH
    entries = {}
    for name, fields in _read(path).get("models", {}).items():
        try:
            entries[name] = CatalogEntry(name=name, **fields).validate()
        except TypeError as error:
            raise CheckpointError(
                f"Catalog entry {name!r} in {path} is malformed: {error}"
            ) from error
    return entries


def unknown_model(name: str, names: Iterable[str]) -> UnknownModelError:
    """The error for ``name``, which is no model: it lists the close matches among ``names``
    (the catalog's)."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownModelError(
        f"Unknown model {name!r}: not in the zoo's catalog, not a registered generator, "
        f"not a folder.{hint} zoo.list_models() lists the catalog; 'hf-hub:ORG/NAME[@REV]' "
        f"loads from the Hub and a directory path loads a local checkpoint folder."
    )


def get_entry(name: str, path: str | Path | None = None) -> CatalogEntry:
    """The entry called ``name``; an unknown name lists close matches."""
    entries = load_catalog(path)
    if name not in entries:
        raise unknown_model(name, entries)
    return entries[name]


def update_entry(name: str, path: str | Path | None = None, **fields: Any) -> CatalogEntry:
    """Add or update entry ``name`` with ``fields`` (other fields of an existing entry are
    kept), validate it and write the catalog back, entries sorted by name."""
    path = Path(path) if path is not None else CATALOG_PATH
    data = _read(path)
    models = data.setdefault("models", {})
    merged = {**models.get(name, {}), **fields}
    entry = CatalogEntry(name=name, **merged).validate()
    models[name] = entry.to_dict()
    data["models"] = dict(sorted(models.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return entry
