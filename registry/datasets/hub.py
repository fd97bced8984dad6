"""Getting a Hugging Face dataset: from the Hub through ``datasets.load_dataset`` (its cached
copy when the Hub is unreachable), or from a local copy (``data_dir``).

A Hub dataset in neither the datasets cache nor the Hub cache fails at once when
``HF_HUB_OFFLINE=1`` is set or the Hub endpoint takes no connection, instead of after the
client's retries. ``data_dir`` may be a folder of images, a downloaded Hub repository or a
``save_to_disk`` directory. Every failure is a :class:`DatasetNotFoundError` that says how to
get the data.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from registry.datasets.base import DatasetNotFoundError, PathLike

__all__ = ["load_source"]


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What ``load_dataset`` raises when a Hub dataset cannot be had (offline, absent, gated)."""
    import httpx  # huggingface_hub's HTTP client

    return (OSError, httpx.HTTPError)  # Hub, HTTP and cache errors


def _hub_not_found(
    name: str, hf_path: str, cache_dir: PathLike | None, error: BaseException
) -> DatasetNotFoundError:
    import datasets

    cache = cache_dir or datasets.config.HF_DATASETS_CACHE
    return DatasetNotFoundError(
        f"{name}: Hugging Face dataset {hf_path!r} could not be loaded: it is not in the "
        f"datasets cache ({cache}) and the Hub did not provide it "
        f"({type(error).__name__}: {error}). To get it: on a machine with network access run "
        f"`hf download {hf_path} --repo-type dataset --local-dir <dir>` (older clients: "
        f"`huggingface-cli download {hf_path} --repo-type dataset --local-dir <dir>`) and pass "
        f"data_dir=<dir> (gin: dataset.{name}.data_dir), or run "
        f"`datasets.load_dataset({hf_path!r})` once online to fill the cache. "
        f"data_dir may also be a folder of images or a `save_to_disk` directory. Gated "
        f"datasets also need `hf auth login` after accepting their terms on the Hub."
    )


def _is_saved_to_disk(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load_local(data_dir: Path, name: str, cache_dir: PathLike | None) -> Any:
    import datasets

    if not data_dir.exists():
        raise DatasetNotFoundError(
            f"{name}: data_dir {data_dir} does not exist. Pass a folder of images, a downloaded "
            f"Hub repository (`hf download <repo> --repo-type dataset --local-dir {data_dir}`) "
            f"or a directory written by `Dataset.save_to_disk`."
        )
    if _is_saved_to_disk(data_dir):
        return datasets.load_from_disk(str(data_dir))
    cache = None if cache_dir is None else str(cache_dir)
    try:
        return datasets.load_dataset(str(data_dir), cache_dir=cache)
    except FileNotFoundError as error:  # e.g. no data files in the folder
        raise DatasetNotFoundError(f"{name}: no dataset found in {data_dir}: {error}") from error


def _squash(text: str) -> str:
    return re.sub(r"[-_.]", "", text.lower())


def _in_local_cache(hf_path: str, cache_dir: PathLike | None) -> bool:
    """Whether the datasets cache (a prepared copy) or the Hub cache (downloaded files) holds
    ``hf_path``; then ``load_dataset`` can work without the Hub."""
    import datasets
    import huggingface_hub.constants

    hub_copy = Path(huggingface_hub.constants.HF_HUB_CACHE) / (
        "datasets--" + hf_path.replace("/", "--")
    )
    if hub_copy.is_dir():
        return True
    prepared = Path(cache_dir or datasets.config.HF_DATASETS_CACHE)
    wanted = _squash(hf_path.replace("/", "___"))  # datasets' {namespace}___{name} folders
    return prepared.is_dir() and any(_squash(p.name) == wanted for p in prepared.iterdir())


def _hub_unreachable(timeout: float = 3.0) -> ConnectionError | None:
    """Why the Hub cannot be reached (offline mode, or no TCP connection to the endpoint within
    ``timeout`` seconds), or None. Behind a proxy the client is left to try."""
    import datasets
    import huggingface_hub.constants as hub

    if datasets.config.HF_HUB_OFFLINE or hub.HF_HUB_OFFLINE:
        return ConnectionError("HF_HUB_OFFLINE is set")
    proxies = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    if any(os.environ.get(v) or os.environ.get(v.lower()) for v in proxies):
        return None
    url = urllib.parse.urlsplit(hub.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as error:
        return ConnectionError(f"cannot connect to {hub.ENDPOINT}: {error}")
    return None


def _load_hub(hf_path: str, name: str, cache_dir: PathLike | None, revision: str | None) -> Any:
    import datasets

    cache = None if cache_dir is None else str(cache_dir)
    # Not cached and no Hub: fail now, not after the client's ~50 s of retries.
    if not _in_local_cache(hf_path, cache_dir) and (why := _hub_unreachable()) is not None:
        raise _hub_not_found(name, hf_path, cache_dir, why) from why
    try:
        return datasets.load_dataset(hf_path, cache_dir=cache, revision=revision)
    except _hub_errors() as error:
        raise _hub_not_found(name, hf_path, cache_dir, error) from error


def load_source(
    name: str,
    hf_path: str,
    data_dir: PathLike | None,
    cache_dir: PathLike | None,
    revision: str | None,
) -> tuple[Any, str]:
    """What ``load_dataset``/``load_from_disk`` give for ``data_dir`` if set, else ``hf_path``,
    and where it came from (for messages)."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        return _load_local(data_dir, name, cache_dir), str(data_dir)
    return _load_hub(hf_path, name, cache_dir, revision), hf_path
