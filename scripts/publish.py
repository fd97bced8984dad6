"""Publish a training run to the Hugging Face Hub and record it in the zoo's catalog.

The program is :mod:`zoo.cli.publish` (also ``python -m zoo.cli.publish``);
``--help`` lists its options.
"""

import sys

from zoo.cli.publish import main

if __name__ == "__main__":
    sys.exit(main())
