"""Micro-benchmarks for selfmod-zoo.

The program is :mod:`benchmarks.cli` of this checkout (``benchmarks/``, beside ``zoo/`` and
not installed with it); ``--help`` lists its subcommands.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's benchmarks/

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
