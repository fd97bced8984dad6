"""Sample a trained generator: many images as PNG files or one .npz, a grid, or an interpolation.

The program is :mod:`zoo.cli.sample` (also ``python -m zoo.cli.sample``);
``--help`` lists its options.
"""

import sys

from zoo.cli.sample import main

if __name__ == "__main__":
    sys.exit(main())
