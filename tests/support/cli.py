"""Drive the command line as an operator would, in-process (`sync.cli.main`) or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.accounts.organizations import create_organization
from sync.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """`cli("run", "acme", "--json")` runs `python -m sync run acme --json` in this process."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str) -> Result:
        self._capsys.readouterr()
        code = main(list(args))
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.out, f"no output; stderr: {result.err}"
        return result.json()


def run_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """`python -m sync ARGS` in a child process, with this test's environment."""
    completed = subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def create_org_reading(engine: Any, sandbox: Any, cli: Cli, *extra: str, slug: str = "acme") -> None:
    """Organization `slug` (owner owner@<slug>.test) whose integration reads `sandbox`, set up
    through `python -m sync config` as an operator would; `extra` are more config flags."""
    create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.test",
        owner_password="owner-password",
    )
    configured = cli(
        "config", slug, "--client-id", sandbox.client_id, "--client-secret", sandbox.client_secret,
        "--base-url", sandbox.base_url, *extra,
    )  # fmt: skip
    assert configured.code == 0, configured.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], database: str) -> Cli:
    """The command line against this test's database (`database`: once per engine)."""
    return Cli(capsys)
