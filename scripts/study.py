"""Run the robustness study of Section 3.2 (or any grid declared in gin) and report it.

The program is :mod:`zoo.cli.study` (also ``python -m zoo.cli.study``);
``--help`` lists its options.
"""

import sys

from zoo.cli.study import main

if __name__ == "__main__":
    sys.exit(main())
