"""The command-line programs, each a module with ``main(argv) -> int``: run them as
``python scripts/NAME.py``, ``python -m zoo.cli.NAME`` or the installed ``selfmod-NAME``
command (``[project.scripts]``); tests and the study runner import them."""
