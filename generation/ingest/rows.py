"""What a reader yields: a row with the line (or Parquet row) it started on, or why it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    data: dict


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str
    # A fatal error means the reader cannot find the next row, so reading stops.
    fatal: bool = False
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.reason}"
