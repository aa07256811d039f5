"""Axes: round tick values, linear scales, percentages, and compact date ticks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

_NICE_MULTIPLES = (1.0, 2.0, 2.5, 5.0)

# A noise floor axis ends at one of these, so a lead's eye learns a handful of
# scales rather than a new one per chart.
PROPORTION_AXIS_MAXIMA = (0.05, 0.1, 0.25, 0.5, 1.0)


def nice_ticks(lo: float, hi: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Evenly spaced round ticks from at or below `lo` to at or above `hi`, at most
    `count` intervals apart; the step is 1, 2, 2.5 or 5 times a power of ten
    (after Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
    With `integer`, only whole steps: counts have no half samples."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"ticks need finite bounds, got {lo!r} and {hi!r}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    power = 10.0 ** math.floor(math.log10((hi - lo) / count))
    while True:
        for multiple in _NICE_MULTIPLES:
            step = multiple * power
            if integer and step != int(step):
                continue
            # The epsilon keeps 0.15 / 0.05 from landing just above 3 and adding a tick.
            first = math.floor(lo / step + 1e-9)
            last = math.ceil(hi / step - 1e-9)
            if last - first <= count:
                return [round(k * step, 12) for k in range(first, last + 1)]
        power *= 10


def proportion_axis_max(values: Iterable[float | None]) -> float:
    highest = max((v for v in values if v is not None), default=None)
    if highest is None:
        return 1.0
    return next((top for top in PROPORTION_AXIS_MAXIMA if highest <= top + 1e-12), 1.0)


@dataclass(frozen=True)
class Scale:
    """Maps lo..hi onto start..end; values outside are clamped to the edge so a
    stray value can never draw outside the plot."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        share = (min(max(value, self.lo), self.hi) - self.lo) / (self.hi - self.lo)
        return self.start + share * (self.end - self.start)


def as_percent(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def percent_tick(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def number_tick(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def local_moment(moment: date | datetime) -> datetime:
    """Aware datetimes in the current time zone, as a lead reads them; dates at midnight."""
    if isinstance(moment, datetime):
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return moment.replace(tzinfo=None)
    return datetime(moment.year, moment.month, moment.day)


def _day_label(moment: datetime, with_year: bool) -> str:
    text = f"{moment.day} {moment:%b}"
    return f"{text} {moment.year}" if with_year else text


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def _hour_ticks(start: datetime, end: datetime, hours: int) -> list[tuple[datetime, str]]:
    moment = start.replace(minute=0, second=0, microsecond=0)
    while moment < start or moment.hour % hours:
        moment += timedelta(hours=1)
    ticks: list[tuple[datetime, str]] = []
    while moment <= end:
        new_day = not ticks or ticks[-1][0].date() != moment.date()
        prefix = _day_label(moment, False) + " " if new_day else ""
        ticks.append((moment, f"{prefix}{moment:%H:%M}"))
        moment += timedelta(hours=hours)
    return ticks


def _day_ticks(start: datetime, end: datetime, days: int) -> list[tuple[datetime, str]]:
    moment = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while moment < start or (days >= 7 and moment.weekday() != 0):
        moment += timedelta(days=1)
    spans_years = start.year != end.year
    ticks: list[tuple[datetime, str]] = []
    while moment <= end:
        new_year = not ticks or ticks[-1][0].year != moment.year
        ticks.append((moment, _day_label(moment, spans_years and new_year)))
        moment += timedelta(days=days)
    return ticks


def _month_ticks(start: datetime, end: datetime, months: int) -> list[tuple[datetime, str]]:
    moment = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while moment < start or (moment.month - 1) % months:
        moment = _add_months(moment, 1)
    ticks: list[tuple[datetime, str]] = []
    while moment <= end:
        with_year = not ticks or moment.month == 1
        ticks.append((moment, f"{moment:%b} {moment.year}" if with_year else f"{moment:%b}"))
        moment = _add_months(moment, months)
    return ticks


def date_ticks(
    start: datetime, end: datetime, *, max_ticks: int = 6, with_time: bool = False
) -> list[tuple[datetime, str]]:
    """Ticks on whole hours, days, Mondays, months or years, labelled as
    compactly as the span allows ("14:00", "3 Mar", "Mar 2025", "2025")."""
    span = end - start
    if with_time:
        for hours in (1, 2, 3, 6, 12):
            if span // timedelta(hours=hours) + 1 <= max_ticks:
                return _hour_ticks(start, end, hours) or _endpoints(start, end)
    for days in (1, 2, 7, 14):
        if span // timedelta(days=days) + 1 <= max_ticks:
            return _day_ticks(start, end, days) or _endpoints(start, end)
    month_span = (end.year - start.year) * 12 + end.month - start.month
    for months in (1, 2, 3, 6):
        if month_span // months + 1 <= max_ticks:
            return _month_ticks(start, end, months) or _endpoints(start, end)
    years = nice_ticks(start.year, end.year, max(max_ticks - 1, 1))
    whole = [int(y) for y in years if y == int(y) and start.year <= y <= end.year]
    ticks = [(datetime(y, 1, 1), str(y)) for y in whole if datetime(y, 1, 1) >= start]
    return ticks or _endpoints(start, end)


def _endpoints(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    return [(start, _day_label(start, True)), (end, _day_label(end, True))]
