"""Micro-benchmarks for selfmod-zoo.

The program is :mod:`zoo.cli.bench` (also ``python -m zoo.cli.bench``);
``--help`` lists its options.
"""

import sys

from zoo.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
