"""CSV downloads never carry a spreadsheet formula from Personio."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from sync.views.exports import csv_bytes, neutral_frame

FORMULAS = [
    '=HYPERLINK("https://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
]


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote(formula: str) -> None:
    frame = pd.DataFrame({"Name": [formula], "Email": ["olga@acme.test"]})
    header, row = rows_of(csv_bytes(frame))
    assert header == ["Name", "Email"]
    assert row == ["'" + formula, "olga@acme.test"]


def test_csv_keeps_ordinary_text_and_numbers_as_they_are() -> None:
    frame = pd.DataFrame({"Name": ["Olga Owner", "Anne-Marie"], "Changes": [-3, 4]})
    assert rows_of(csv_bytes(frame))[1:] == [["Olga Owner", "-3"], ["Anne-Marie", "4"]]


def test_csv_neutralises_column_names_too() -> None:
    frame = pd.DataFrame({"=evil()": ["x"]})
    assert list(neutral_frame(frame).columns) == ["'=evil()"]
    assert list(frame.columns) == ["=evil()"]  # the shown frame is not changed
