"""`python -m sync ...`: the command line (see sync/cli.py)."""

import sys

from sync.cli import main

sys.exit(main())
