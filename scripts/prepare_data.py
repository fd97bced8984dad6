"""Prepare a training config's dataset once as a uint8 cache at the training resolution.

The program is :mod:`zoo.cli.prepare_data` (also ``python -m zoo.cli.prepare_data``);
``--help`` lists its options.
"""

import sys

from zoo.cli.prepare_data import main

if __name__ == "__main__":
    sys.exit(main())
