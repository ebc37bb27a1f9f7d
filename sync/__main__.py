"""`python -m sync ...`: the command line (see sync/cli.py)."""

import os
import sys

from sync.cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:  # `python -m sync directory acme --json | head`: not an error
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 0
sys.exit(code)
