"""Evaluate a trained generator: FID, IS, KID, PRD and the Jacobian's condition number.

The program is :mod:`zoo.cli.evaluate` (also ``python -m zoo.cli.evaluate``);
``--help`` lists its options.
"""

import sys

from zoo.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
