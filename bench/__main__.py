"""`make bench`: initial and no-op syncs of 1,000, 10,000 and 100,000 employees, with floors.

    python -m bench [--sizes 1000,10000,100000]
    python -m bench multitenant [--orgs N] [--employees N] [--latency-ms N] [--engines ...]

Each size runs in its own process against its own sandbox (rate limits off, so that
the figures measure our overhead, not Personio's 300 requests/minute) and a fresh
SQLite file, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.sandbox import CLIENT_ID, CLIENT_SECRET, ROOT, start_sandbox


def measure(employees: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{employees}-") as tmp:
        workdir = Path(tmp)
        sandbox, base_url = start_sandbox(employees, workdir)
        try:
            env = {
                **os.environ,
                "DATA_DIR": str(workdir),
                "APP_SECRET_KEY": "bench-key",
                "PERSONIO_RATE_LIMIT_PER_MINUTE": "0",
                "PERSONIO_ALLOWED_BASE_URLS": base_url,
            }
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.one_size",
                    "--employees",
                    str(employees),
                    "--base-url",
                    base_url,
                    "--client-id",
                    CLIENT_ID,
                    "--client-secret",
                    CLIENT_SECRET,
                    "--db",
                    str(workdir / "app.db"),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
            if child.returncode != 0:
                raise SystemExit(f"the benchmark of {employees} employees failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def row(label: str, run: dict[str, Any]) -> str:
    p = run["phases"]
    return (
        f"  {label:<8} fetch {p['fetch']:7.2f}s  plan {p['plan']:6.2f}s  apply {p['apply']:6.2f}s  "
        f"total {p['total']:7.2f}s  {run['statements']:>5} SQL statements  {run['changes']:>7} changes"
    )


def main(argv: list[str]) -> None:
    if argv[:1] == ["multitenant"]:
        from bench.multitenant import main as multitenant

        multitenant(argv[1:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    sizes = [int(s) for s in parser.parse_args(argv).sizes.split(",")]
    print("Personio Sync benchmark: sandbox over loopback HTTP (no rate limit), fresh SQLite file per size\n")
    for employees in sizes:
        r = measure(employees)
        floors = r["download_floor"] + r["write_floor"]
        print(f"{employees:,} employees  (peak memory {r['peak_rss_mib']:.0f} MiB)")
        print(row("initial", r["initial"]))
        print(row("no-op", r["noop"]))
        print(
            f"  floors   download+parse {r['download_floor']:.2f}s,"
            f" raw sqlite3 executemany {r['write_floor']:.2f}s"
        )
        print(
            f"  ratio    initial / (download + write floors) ="
            f" {r['initial']['phases']['total'] / floors:.2f}x;"
            f" no-op / download floor = {r['noop']['phases']['total'] / r['download_floor']:.2f}x\n"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
