"""Train a GAN from gin configs, on one CPU, one GPU or many (run under ``accelerate launch``).

The program is :mod:`zoo.cli.train` (also ``python -m zoo.cli.train``);
``--help`` lists its options.
"""

import sys

from zoo.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
