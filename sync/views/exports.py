"""CSV downloads: text from Personio never becomes a spreadsheet formula.

Pure over a DataFrame (no session, no I/O). Every download button in screens/ takes its bytes here.
"""

from __future__ import annotations

import csv

import pandas as pd

# A spreadsheet reads a cell starting with one of these as a formula (`=HYPERLINK(...)`, `+cmd|...`,
# `@SUM(...)`); tab and carriage return start one in some importers too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with `'`; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutral_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names are safe to open in a spreadsheet."""
    safe = frame.map(neutral_cell)
    safe.columns = [neutral_cell(str(column)) for column in frame.columns]
    return safe


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV (no index), formulas neutralised: what a download button offers.

    Text is always quoted: pandas leaves a lone carriage return unquoted, which splits the row.
    """
    text: str = neutral_frame(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)
    return text.encode()
