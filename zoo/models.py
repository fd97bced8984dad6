"""timm-style entry points of the zoo: :func:`list_models`, :func:`create`, :func:`load`.

A name is parsed once (:func:`parse_model_name`, as timm's) into what it names, looked up in
this order: ``hf-hub:ORG/NAME[@REVISION]`` (a checkpoint folder on the Hub), ``local-dir:PATH``,
a catalog name (``zoo/catalog.json``), a registered generator architecture (:func:`create`
only), an existing directory (a checkpoint folder, a trainer's ``best/``/``final/`` folder or a
run folder); :func:`create` and :func:`load` then dispatch once on its kind.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

import registry
from registry.architectures import Generator
from zoo import catalog, hub
from zoo.errors import NotPublishedError, UnknownModelError
from zoo.model_folder import (
    CONFIG_FILE,
    build,
    checkpoint_dir,
    load_generator,
    read_config,
    verify_sha256,
    weights_file,
)

__all__ = ["ModelName", "create", "list_models", "load", "parse_model_name"]

_LOCAL_PREFIX = "local-dir:"
_HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
"""What a Hub repo id looks like (ORG/NAME): only such names get the 'hf-hub:' hint."""


def list_models(pattern: str | Sequence[str] | None = None, pretrained: bool = False) -> list[str]:
    """Sorted catalog names matching the shell-style ``pattern`` (or any of several).

    ``pretrained=True`` keeps the entries whose weights can be loaded: shipped with the
    package or published on the Hub with a pinned revision and sha256. Untrained architectures
    are listed by ``registry.list("generator")``.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or ["*"])
    return sorted(
        name
        for name, entry in catalog.load_catalog().items()
        if any(fnmatch.fnmatch(name, p) for p in patterns) and (entry.has_weights or not pretrained)
    )


@dataclass(frozen=True)
class ModelName:
    """What a model name names: ``kind`` is "hub" (``repo_id`` at ``revision``), "catalog"
    (``entry``), "registry" (the architecture ``name``) or "folder" (``path``)."""

    kind: Literal["hub", "catalog", "registry", "folder"]
    name: str  # as written
    repo_id: str = ""
    revision: str | None = None
    entry: catalog.CatalogEntry | None = None
    path: Path | None = None


def parse_model_name(name: str, *, architectures: bool = False) -> ModelName:
    """What ``name`` names, in the order of this module's docstring; registered generator
    architectures only with ``architectures=True`` (:func:`create`: they have no weights).
    Anything else raises :class:`UnknownModelError` naming the likeliest fix."""
    if hub.is_hub_name(name):
        repo_id, revision = hub.parse_hub_name(name)
        return ModelName("hub", name, repo_id=repo_id, revision=revision)
    entries = catalog.load_catalog()
    if name in entries:
        return ModelName("catalog", name, entry=entries[name])
    if architectures and name in registry.list("generator"):
        return ModelName("registry", name)
    path = Path(name.removeprefix(_LOCAL_PREFIX))
    if path.is_dir():
        return ModelName("folder", name, path=path)
    reason = None if architectures else _why_no_checkpoint(name, path)
    raise UnknownModelError(reason) if reason else catalog.unknown_model(name, entries)


def _why_no_checkpoint(name: str, path: Path) -> str | None:
    """What ``name``, which names nothing :func:`load` can load, most likely meant, if known."""
    if name in registry.list("generator"):
        return (
            f"{name!r} is a generator architecture, not a trained model: zoo.create({name!r}) "
            f"builds it untrained; zoo.list_models(pretrained=True) lists models with weights."
        )
    if path.exists():
        return (
            f"{path} is a file, not a checkpoint folder: pass the folder that holds "
            f"{CONFIG_FILE} and model.safetensors (or a run folder)."
        )
    if name.startswith(_LOCAL_PREFIX):
        return f"No checkpoint folder at {path}."
    if _HUB_REPO.fullmatch(name):
        return f"No checkpoint folder at {path}. For a Hub repo write 'hf-hub:{name}'."
    if "/" in name or "\\" in name:
        return f"No checkpoint folder at {path}: it does not exist."
    return None


def _architecture(model: ModelName) -> dict[str, Any]:
    """The ``architecture`` and ``model_args`` of what ``model`` names (only the config.json
    of a Hub checkpoint is fetched)."""
    if model.kind == "hub":
        folder = hub.download(model.repo_id, model.revision, [CONFIG_FILE], label=model.name)
        return read_config(folder)
    if model.kind == "catalog":
        entry = model.entry
        return {"architecture": entry.architecture, "model_args": entry.model_args}
    if model.kind == "registry":
        return {"architecture": model.name, "model_args": {}}
    return read_config(checkpoint_dir(model.path))


def create(name: str, **overrides: Any) -> Generator:
    """An untrained generator (train mode): the architecture of a catalog name, a registered
    generator name, a checkpoint folder or an ``hf-hub:`` name (only its config.json is
    fetched), with ``overrides`` replacing constructor arguments."""
    config = _architecture(parse_model_name(name, architectures=True))
    return build("generator", config["architecture"], {**config["model_args"], **overrides}, name)


@dataclass
class _Located:
    """A checkpoint folder on disk and how to check and repair it."""

    directory: Path
    remedy: str
    sha256: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _not_published(entry: catalog.CatalogEntry) -> NotPublishedError:
    steps = (
        f"Produce them: train with `{entry.train_command()}`, then publish the run with "
        f"`{entry.publish_command()}` (it uploads the checkpoint folder and pins its revision "
        f"and sha256 in zoo/catalog.json)."
    )
    if entry.status == "unpublished":
        why = (
            "was exported with `publish.py --dry-run` but never uploaded. Publish it with "
            f"`python scripts/publish.py RUN --repo-id {entry.repo_id}`, or load the exported "
            "folder directly: zoo.load('path/to/folder')."
        )
        return NotPublishedError(f"Model {entry.name!r} {why}")
    if entry.status == "shipped":
        return NotPublishedError(
            f"Model {entry.name!r} is shipped with selfmod-zoo but {entry.local_dir} has no "
            f"model.safetensors and no published revision: reinstall selfmod-zoo (its "
            f"package data must include zoo/pretrained/)."
        )
    return NotPublishedError(
        f"Model {entry.name!r} is a recipe: no weights have been published for it yet "
        f"(it will be published to the Hub repo {entry.repo_id}). {steps} "
        f"zoo.create({entry.name!r}) builds the architecture untrained; "
        f"zoo.list_models(pretrained=True) lists the models with weights."
    )


def _from_entry(entry: catalog.CatalogEntry, revision: str | None) -> _Located:
    info = {"name": entry.name, "repo_id": entry.repo_id}
    if revision is None and entry.is_shipped_here:
        remedy = (
            f"The copy shipped with selfmod-zoo is damaged: reinstall the package, or restore "
            f"{entry.local_dir} from the repository."
        )
        return _Located(entry.local_dir, remedy, entry.sha256, {**info, "source": "shipped"})
    if revision is None and not entry.is_published:
        raise _not_published(entry)
    revision = revision or entry.revision
    directory = hub.download(entry.repo_id, revision, label=f"Model {entry.name!r}")
    commit = directory.name  # the snapshot folder is the commit the revision resolved to
    pinned = entry.sha256 if entry.revision in (revision, commit) else None  # pin per commit
    return _Located(
        directory,
        hub.cache_remedy(entry.repo_id, revision),
        pinned,
        {**info, "source": "hf-hub", "revision": revision, "commit": commit},
    )


def _pinned_sha256(repo_id: str, revisions: Sequence[str | None]) -> str | None:
    """The sha256 the catalog pins for this repo at any of ``revisions`` (the name asked for
    and the commit it resolved to), if any."""
    for entry in catalog.load_catalog().values():
        if entry.repo_id == repo_id and entry.revision and entry.revision in revisions:
            return entry.sha256
    return None


def _from_hub(model: ModelName, revision: str | None) -> _Located:
    if revision and model.revision and revision != model.revision:
        raise ValueError(
            f"{model.name!r} names revision {model.revision!r} but revision={revision!r}."
        )
    revision = revision or model.revision
    directory = hub.download(model.repo_id, revision, label=model.name)
    commit = directory.name  # the snapshot folder: the commit the revision resolved to
    info = {
        "name": model.name,
        "source": "hf-hub",
        "repo_id": model.repo_id,
        "revision": revision,
        "commit": commit,
    }
    pinned = _pinned_sha256(model.repo_id, (revision, commit))
    return _Located(directory, hub.cache_remedy(model.repo_id, revision), pinned, info)


def _from_folder(model: ModelName, revision: str | None) -> _Located:
    if revision is not None:
        raise ValueError("revision= applies to Hub and catalog names, not to a folder.")
    directory = checkpoint_dir(model.path)
    remedy = f"Export or copy the checkpoint folder {directory} again."
    return _Located(directory, remedy, None, {"name": model.name, "source": "local-dir"})


def _locate(model: ModelName, revision: str | None) -> _Located:
    """Where the checkpoint ``model`` names lies (downloaded if need be) and how to check it."""
    if model.kind == "hub":
        return _from_hub(model, revision)
    if model.kind == "catalog":
        return _from_entry(model.entry, revision)
    return _from_folder(model, revision)


def load(
    name_or_path: str | Path, revision: str | None = None, device: str | torch.device = "cpu"
) -> Generator:
    """A trained generator, ready to sample: strictly loaded, in eval mode, on ``device``.

    ``name_or_path`` is a catalog name (shipped weights load offline; published ones come
    from the Hub at the pinned revision), ``hf-hub:ORG/NAME[@REVISION]`` or a checkpoint
    folder. Weights the catalog pins are sha256-checked. ``G.sample(n, labels=None, seed=None)``
    returns images in [-1, 1]; :func:`zoo.save_grid` saves them. Eval mode means batch norm
    uses the running statistics of training, so a sample does not depend on the batch it is
    drawn in. ``G.checkpoint_info`` says where the weights came from.
    """
    located = _locate(parse_model_name(str(name_or_path)), revision)
    config = read_config(located.directory)
    weights = weights_file(located.directory)
    if located.sha256:
        verify_sha256(weights, located.sha256, located.remedy)
    generator = load_generator(located.directory, located.remedy, config)
    generator.to(torch.device(device)).eval()
    generator.checkpoint_info = {
        **located.info,
        "path": str(weights),
        "sha256": located.sha256,
        "metrics": config.get("metrics", {}),
        "gin_config": config.get("gin_config", ""),
    }
    return generator
