"""The benchmarks of selfmod-zoo, beside the library as timm keeps its ``benchmark.py``: run
them from a checkout as ``python scripts/bench.py <subcommand>`` (:mod:`benchmarks.cli`). They
use the public API of :mod:`zoo` and :mod:`registry` only, and are not installed with them.
"""
