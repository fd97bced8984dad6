"""The Hugging Face Hub side of the zoo: ``hf-hub:`` names, downloads into the Hub cache (with
messages that say what to download when offline) and uploads of checkpoint folders.

Downloads go through ``hf_hub_download``, so ``HF_ENDPOINT``, ``HF_HUB_CACHE``/``HF_HOME`` and
``HF_HUB_OFFLINE`` work as everywhere in huggingface_hub: with ``HF_HUB_OFFLINE=1`` (or no
connection) files already in the cache load and the others fail with the command that fetches
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from zoo.errors import CheckpointError, WeightsNotAvailableError
from zoo.model_folder import CONFIG_FILE, MODEL_FILE

__all__ = [
    "HUB_PREFIX",
    "cache_remedy",
    "download",
    "download_command",
    "is_hub_name",
    "parse_hub_name",
    "push_folder",
]

HUB_PREFIX = "hf-hub:"
LOAD_FILES = (CONFIG_FILE, MODEL_FILE)
"""What loading a generator needs; the discriminator, card and samples stay on the Hub."""


def is_hub_name(name: str) -> bool:
    """Whether ``name`` is ``hf-hub:ORG/NAME[@REVISION]`` (``hf_hub:`` is accepted too)."""
    return name.startswith((HUB_PREFIX, "hf_hub:"))


def parse_hub_name(name: str) -> tuple[str, str | None]:
    """``hf-hub:org/repo@rev`` -> ``("org/repo", "rev")``; the revision is optional."""
    body = name.split(":", 1)[1]
    repo_id, _, revision = body.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or "@" in revision:
        raise ValueError(
            f"{name!r} is not a Hub model name: write 'hf-hub:ORG/NAME' or "
            f"'hf-hub:ORG/NAME@REVISION' (a branch, tag or commit sha)."
        )
    return repo_id, revision or None


def download_command(repo_id: str, revision: str | None) -> str:
    """The shell command that puts a checkpoint into the Hub cache."""
    files = " ".join(LOAD_FILES)
    return f"hf download {repo_id} {files} --revision {revision or constants.DEFAULT_REVISION}"


def cache_remedy(repo_id: str, revision: str | None) -> str:
    """What to do about a damaged file in the Hub cache."""
    return (
        f"Delete the cached copy (`hf cache rm model/{repo_id}`, or remove the repo's folder under "
        f"{constants.HF_HUB_CACHE}) and load again, or re-download it: "
        f"`{download_command(repo_id, revision)} --force-download`."
    )


def download(
    repo_id: str,
    revision: str | None = None,
    filenames: Sequence[str] = LOAD_FILES,
    label: str | None = None,
) -> Path:
    """Fetch ``filenames`` of one revision (from the cache when there) and return the snapshot
    folder that holds them. Fails with :class:`WeightsNotAvailableError` naming the command
    that downloads them when they are not cached and the Hub cannot be reached."""
    what = label or f"{repo_id}@{revision or constants.DEFAULT_REVISION}"
    paths = []
    for filename in filenames:
        try:
            paths.append(Path(hf_hub_download(repo_id, filename, revision=revision)))
        except LocalEntryNotFoundError as error:
            offline = "HF_HUB_OFFLINE is set" if constants.is_offline_mode() else "no connection"
            raise WeightsNotAvailableError(
                f"{what}: {filename} of {repo_id} at revision "
                f"{revision or constants.DEFAULT_REVISION} is not in the Hugging Face cache "
                f"({constants.HF_HUB_CACHE}) and the Hub cannot be reached ({offline}). "
                f"Download it where the Hub is reachable: `{download_command(repo_id, revision)}` "
                f"(`huggingface-cli download ...` with older huggingface_hub), then copy that "
                f"cache here or point HF_HUB_CACHE at it."
            ) from error
        except RevisionNotFoundError as error:
            raise WeightsNotAvailableError(
                f"{what}: the Hub repo {repo_id} has no revision {revision!r}."
            ) from error
        except RepositoryNotFoundError as error:
            raise WeightsNotAvailableError(
                f"{what}: the Hub repo {repo_id} does not exist or is private/gated "
                f"(log in with `hf auth login` if you have access)."
            ) from error
        except EntryNotFoundError as error:
            raise CheckpointError(
                f"{what}: the Hub repo {repo_id} has no {filename}; it is not a selfmod-zoo "
                f"checkpoint folder (publish one with scripts/publish.py)."
            ) from error
    folders = {p.parent for p in paths}
    if len(folders) != 1:  # can only happen if the branch moved between two downloads
        raise CheckpointError(f"{what}: files came from different revisions; pin a commit sha.")
    return folders.pop()


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    commit_message: str | None = None,
    api: Any = None,
) -> str:
    """Create ``repo_id`` if needed, upload ``folder`` in one commit and return the commit sha
    (the revision to pin in the catalog)."""
    api = api if api is not None else HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="model",
        commit_message=commit_message or f"Upload {Path(folder).name} with selfmod-zoo",
    )
    return info.oid
