"""Datasets of the paper (Chen et al., ICLR 2019, Section 3.1) plus small local/test sets.

Every factory is registered under kind ``dataset`` (gin ``dataset.<name>``) on import and returns
an :class:`ImageDataset`: a ``torch.utils.data.Dataset`` of ``(image, label)`` pairs, ``image`` a
float32 ``C×H×W`` tensor in [-1, 1] and ``label`` an int64 scalar tensor (0 when unlabeled), with
the attributes ``name``, ``split``, ``resolution``, ``channels`` and ``num_classes`` (0 when
unlabeled). A missing dataset raises :class:`DatasetNotFoundError` at construction, with what is
missing and how to get it. Images are resized on the shorter side (bilinear, antialiased) and
center-cropped with torch.

Modules, one source each, plus what they share:

* :mod:`~registry.datasets.base`: the dataset classes, errors and argument checks.
* :mod:`~registry.datasets.transforms`: PIL → tensor, resize + center crop, the MNIST fit.
* :mod:`~registry.datasets.fashion_mnist_idx`: IDX files and ``fashion_mnist``.
* :mod:`~registry.datasets.hub`: getting a Hub dataset (cache, offline fail-fast, local copies).
* :mod:`~registry.datasets.hub_splits`: splits, columns and train/test partitions.
* :mod:`~registry.datasets.hub_datasets`: the table of the four Hub datasets and their factories
  ``cifar10``, ``celebahq128``, ``lsun_bedroom128``, ``imagenet128``.
* :mod:`~registry.datasets.folders`: ``image_folder``.
* :mod:`~registry.datasets.synthetic_images`: ``synthetic``, for tests.

No module is named after a factory: ``registry.datasets.synthetic`` is the function.
"""

from registry.datasets.base import (
    CorruptDatasetError,
    DatasetNotFoundError,
    FolderImageDataset,
    HFImageDataset,
    ImageDataset,
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
from registry.datasets.synthetic_images import synthetic

__all__ = [
    "FASHION_MNIST_DEFAULT_DIR",
    "FASHION_MNIST_ENV",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "FolderImageDataset",
    "HFImageDataset",
    "ImageDataset",
    "TensorImageDataset",
    "celebahq128",
    "cifar10",
    "fashion_mnist",
    "image_folder",
    "imagenet128",
    "lsun_bedroom128",
    "partition_indices",
    "read_idx",
    "synthetic",
]
