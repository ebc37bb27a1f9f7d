"""Timestamps compared as timestamps on both engines.

PostgreSQL compares timestamp columns as timestamps. SQLite has no timestamp type: it compares
the stored text, so '2026-01-01 04:00:00' (written without microseconds, by hand or by another
tool) is not equal to the '2026-01-01 04:00:00.000000' SQLAlchemy binds, and a value written
with a 'T' sorts after every value of that day. `ts(...)` wraps both sides of a comparison so
that SQLite compares `julianday(...)` (any of those spellings, an offset such as '+00:00'
included) and PostgreSQL the values themselves:

    col(Run.lease_expires_at) < now            # text comparison on SQLite
    ts(col(Run.lease_expires_at)) < ts(now)    # a timestamp comparison on both

julianday is a day count in a double: values less than about 0.1 ms apart compare equal on
SQLite, which no lease, slot or retry here depends on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class _Timestamp(FunctionElement[Any]):
    """The value as the engine compares timestamps (julianday on SQLite, the value elsewhere)."""

    name = "as_timestamp"
    inherit_cache = True


@compiles(_Timestamp)
def _as_is(element: _Timestamp, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_Timestamp, "sqlite")
def _julianday(element: _Timestamp, compiler: Any, **kw: Any) -> str:
    return f"julianday({compiler.process(element.clauses, **kw)})"


def ts(value: ColumnElement[Any] | Mapped[Any] | datetime) -> ColumnElement[Any]:
    """`value` (a timestamp column, or a datetime bound as one) ready for a comparison with `ts(...)`."""
    if isinstance(value, datetime):
        value = literal(value, DateTime())
    return _Timestamp(value)
