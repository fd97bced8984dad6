"""Datasets of the paper (Chen et al., ICLR 2019, Section 3.1) plus small local/test sets.

Every factory is registered under kind ``dataset`` (gin ``dataset.<name>``) on import and returns
an :class:`ImageDataset`: a ``torch.utils.data.Dataset`` of ``(image, label)`` pairs, ``image`` a
float32 ``C×H×W`` tensor in [-1, 1] and ``label`` an int64 scalar tensor (0 when unlabeled), with
the attributes ``name``, ``split``, ``resolution``, ``channels`` and ``num_classes`` (0 when
unlabeled). A missing dataset raises :class:`DatasetNotFoundError` at construction, with what is
missing and how to get it. Images are resized on the shorter side (PIL, bilinear, antialiased)
and center-cropped to uint8, then scaled to [-1, 1]. Every factory that reads files takes
``prepared=``: the images are then served from a prepared uint8 cache (a folder, or ``True``:
the one next to the data if there is one), item for item the same.

Modules, one source each, plus what they share:

* :mod:`~registry.datasets.base`: the dataset classes, errors and argument checks.
* :mod:`~registry.datasets.transforms`: the shared transform (PIL → uint8 at the resolution).
* :mod:`~registry.datasets.fashion_mnist_idx`: IDX files and ``fashion_mnist``.
* :mod:`~registry.datasets.hub`: getting a Hub dataset (cache, offline fail-fast, local copies).
* :mod:`~registry.datasets.hub_splits`: splits, columns and train/test partitions.
* :mod:`~registry.datasets.hub_datasets`: the four Hub datasets' factories ``cifar10``,
  ``celebahq128``, ``lsun_bedroom128``, ``imagenet128``, sharing ``load_hub_dataset``.
* :mod:`~registry.datasets.folders`: ``image_folder``.
* :mod:`~registry.datasets.synthetic_images`: ``synthetic``, for tests.
* :mod:`~registry.datasets.prepared_format`: the prepared cache on disk and its manifest.
* :mod:`~registry.datasets.prepared_writer`: preparing a cache (parallel, resumable).
* :mod:`~registry.datasets.prepared_reader`: ``prepared``, and the caches the factories find.

No module is named after a factory: ``registry.datasets.synthetic`` is the function.
"""

from registry.datasets.base import (
    CorruptDatasetError,
    DatasetNotFoundError,
    FolderImageDataset,
    HFImageDataset,
    ImageDataset,
    Source,
    TensorImageDataset,
)
from registry.datasets.fashion_mnist_idx import (
    FASHION_MNIST_DEFAULT_DIR,
    FASHION_MNIST_ENV,
    fashion_mnist,
    read_idx,
)
from registry.datasets.folders import image_folder
from registry.datasets.hub import _in_local_cache  # noqa: F401 - tests check the cache lookup
from registry.datasets.hub_datasets import celebahq128, cifar10, imagenet128, lsun_bedroom128
from registry.datasets.hub_splits import partition_indices
from registry.datasets.prepared_format import PreparedCacheError
from registry.datasets.prepared_reader import PreparedImageDataset, default_cache_root, prepared
from registry.datasets.prepared_writer import prepare
from registry.datasets.synthetic_images import synthetic

__all__ = [
    "FASHION_MNIST_DEFAULT_DIR",
    "FASHION_MNIST_ENV",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "FolderImageDataset",
    "HFImageDataset",
    "ImageDataset",
    "PreparedCacheError",
    "PreparedImageDataset",
    "Source",
    "TensorImageDataset",
    "celebahq128",
    "cifar10",
    "default_cache_root",
    "fashion_mnist",
    "image_folder",
    "imagenet128",
    "lsun_bedroom128",
    "partition_indices",
    "prepare",
    "prepared",
    "read_idx",
    "synthetic",
]
