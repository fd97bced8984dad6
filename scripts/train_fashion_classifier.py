"""Train the small Fashion-MNIST CNN used by the ``fashion_classifier`` feature extractor.

The program is :mod:`zoo.cli.train_fashion_classifier` (also ``python -m
zoo.cli.train_fashion_classifier``); ``--help`` lists its options.
"""

import sys

from zoo.cli.train_fashion_classifier import main

if __name__ == "__main__":
    sys.exit(main())
