"""Drift over time: each snapshot's window of new samples against the window the
previous snapshot of the same scope measured, and against the real anchors.

A window is a range of sample ids, (from_id, through_id]: ids only grow, so the
samples that arrived between two snapshots are exactly the ids above the earlier
one's `through_id`. Windows work for every scope, imports included (they have no
runs), and need nothing stored beyond two ids per snapshot: the vectors are the
stored embeddings. A window with fewer than MIN_WINDOW samples stays open and
takes the next arrivals, because the Fréchet distance of a handful of points is
mostly estimation bias (Chong & Forsyth 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reviews.models import QualitySnapshot

MIN_WINDOW = 20
# Rows per window for the Fréchet distance: enough for a stable figure, few enough to keep every scope's in memory.
WINDOW_ROWS = 1000


@dataclass(frozen=True)
class Window:
    from_id: int
    through_id: int

    def of(self, ids: np.ndarray) -> np.ndarray:
        return ids[(ids > self.from_id) & (ids <= self.through_id)]

    def as_dict(self, samples: int) -> dict:
        return {"from_id": self.from_id, "through_id": self.through_id, "samples": samples}

    @classmethod
    def from_dict(cls, stored: dict | None) -> Window | None:
        if not stored:
            return None
        return cls(int(stored["from_id"]), int(stored["through_id"]))


@dataclass(frozen=True)
class Windows:
    current: Window
    previous: Window | None


def previous_window_record(snapshot_scope: str, scope_id: int | None, project_id: int) -> dict | None:
    """The window record of the scope's latest snapshot that has one."""
    rows = (
        QualitySnapshot.objects.filter(project_id=project_id, scope=snapshot_scope, scope_id=scope_id)
        .order_by("-computed_at", "-id")
        .values_list("metrics__drift_window", flat=True)[:1]
    )
    return next(iter(rows), None)


def windows_for(ids: np.ndarray, prior: dict | None) -> Windows:
    """This snapshot's window and the one to compare it with, given the scope's sorted
    ids now and the previous snapshot's window record."""
    newest = int(ids[-1]) if len(ids) else 0
    before = Window.from_dict(prior)
    if before is None:
        return Windows(Window(0, newest), None)
    through = max(newest, before.through_id)
    arrived = int(np.count_nonzero(ids > before.through_id))
    if arrived >= MIN_WINDOW:
        return Windows(Window(before.through_id, through), before)
    # Too few new samples to measure: the previous window stays open and takes them,
    # compared with what it was compared with (so a check with nothing new repeats its figure).
    return Windows(Window(before.from_id, through), Window.from_dict((prior or {}).get("previous")))


def window_record(windows: Windows, ids: np.ndarray) -> dict:
    record = windows.current.as_dict(len(windows.current.of(ids)))
    record["previous"] = windows.previous.as_dict(len(windows.previous.of(ids))) if windows.previous else None
    return record
