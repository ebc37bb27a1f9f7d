"""A run whose apply writes everything but never commits: `python -m tests.support.apply_then_die RUN_ID`.

Fault injection for the crash test: the real runner and the real apply run in this child
process; after apply_plan has written every row (inside the run's one transaction) the child
prints APPLIED and waits to be killed with SIGKILL before it can commit.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from storage.db import make_engine
from sync.integration import queue, runner

WORKER = "doomed-worker"


def main() -> None:
    run_id = int(sys.argv[1])
    engine = make_engine()
    real_apply = runner.apply_plan

    def apply_then_wait_for_the_kill(*args: Any, **kwargs: Any) -> None:
        real_apply(*args, **kwargs)
        print("APPLIED", flush=True)
        time.sleep(600)

    runner.apply_plan = apply_then_wait_for_the_kill  # type: ignore[assignment]
    if queue.claim_run(engine, worker_id=WORKER, run_id=run_id, lease_seconds=2) is None:
        raise SystemExit("could not claim the run")
    runner.execute_run(engine, run_id, worker_id=WORKER, lease_seconds=2)


if __name__ == "__main__":
    main()
