"""sync.core is pure: importing any of its modules loads the standard library and sync.core only.

The import contracts in pyproject.toml read the source; these tests import for real, in a fresh
interpreter, so an import hidden behind importlib or a transitive one is caught as well.
"""

from __future__ import annotations

import functools
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import sync.core

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every module under sync/core, found rather than listed, so modules added later are checked too.
CORE_MODULES = sorted(
    {
        "sync.core",
        "sync.core.plan",
        *(info.name for info in pkgutil.walk_packages(sync.core.__path__, prefix="sync.core.")),
    }
)

# The project's third-party packages that do I/O or pull in heavy machinery, and storage.
FORBIDDEN = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "psycopg",
    "httpx",
    "cryptography",
    "argon2",
    "pandas",
    "streamlit",
    "schedule",
    "storage",
)

# Runs in the child: import one module, report every module loaded in the interpreter and
# which of them that import added (so what the interpreter itself starts with is not blamed).
_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps({"all": sorted(sys.modules), "added": sorted(set(sys.modules) - before)}))
"""


@functools.cache
def modules_after_importing(module: str) -> dict[str, list[str]]:
    """The modules a fresh interpreter holds after `import module`: all of them, and those added."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    return loaded


def is_standard_library_or_core(name: str) -> bool:
    top = name.partition(".")[0]
    return top in sys.stdlib_module_names or name in ("sync", "sync.core") or name.startswith("sync.core.")


def test_core_modules_are_discovered() -> None:
    assert {"sync.core.plan", "sync.core.rules", "sync.core.errors"} <= set(CORE_MODULES)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_importing_a_core_module_loads_no_io_library_and_no_storage(module: str) -> None:
    loaded = {name.partition(".")[0] for name in modules_after_importing(module)["all"]}
    assert sorted(loaded & set(FORBIDDEN)) == []


@pytest.mark.parametrize("module", CORE_MODULES)
def test_importing_a_core_module_loads_only_the_standard_library_and_sync_core(module: str) -> None:
    added = modules_after_importing(module)["added"]
    assert [name for name in added if not is_standard_library_or_core(name)] == []
