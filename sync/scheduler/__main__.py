"""`python -m sync.scheduler`: the standalone scheduler."""

import sys

from sync.scheduler.process import main

sys.exit(main())
