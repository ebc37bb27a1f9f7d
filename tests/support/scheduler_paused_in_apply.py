"""A real scheduler whose runs pause inside their apply transaction:
`python -m tests.support.scheduler_paused_in_apply GO_FILE`.

Fault injection for the stop test: the real scheduler, runner and apply run in this process; once
apply_plan has written every row (inside the run's one transaction) it prints `APPLYING run N`
and waits until the file GO_FILE exists (the test creates it after its SIGTERM was received),
then the run commits as usual.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sync.integration import runner
from sync.scheduler.process import main


def paused_in_apply(go_file: Path) -> None:
    real_apply = runner.apply_plan

    def apply_then_wait_for_go(*args: Any, **kwargs: Any) -> None:
        real_apply(*args, **kwargs)
        print(f"APPLYING run {kwargs.get('run_id')}", flush=True)
        deadline = time.monotonic() + 120
        while not go_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    runner.apply_plan = apply_then_wait_for_go  # type: ignore[assignment]


if __name__ == "__main__":
    paused_in_apply(Path(sys.argv[1]))
    sys.exit(main([]))
