"""The injectable clock. Every "now" and "today" in the product comes from one of these.

Dates that carry legal meaning (receipt days, deadlines) are Beijing dates (Asia/Shanghai).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    adjustable: bool

    def now(self) -> datetime: ...


def today(clock: Clock) -> date:
    return clock.now().astimezone(BEIJING).date()


def start_of_day(d: date) -> datetime:
    """00:00 Beijing time of `d`, as an aware datetime."""
    return datetime(d.year, d.month, d.day, tzinfo=BEIJING)


def end_of_day(d: date) -> datetime:
    """24:00 of `d` Beijing time (C10): the first instant after the day."""
    return start_of_day(d + timedelta(days=1))


class RealClock:
    adjustable = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """Always the same instant. `set()` moves it (tests, simulate)."""

    adjustable = False

    def __init__(self, at: datetime):
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)


class OffsetClock:
    """Real time shifted by a fixed offset."""

    adjustable = False

    def __init__(self, offset: timedelta):
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class AdjustableClock:
    """A clock an admin may set through the API (demo and acceptance runs).

    The value lives in a store shared by every process (the `app_settings` table) so that the web
    server, the sweeper and a Prefect worker agree. Until set, it is real time.
    """

    adjustable = True

    def __init__(self, load, save):
        self._load = load
        self._save = save

    def now(self) -> datetime:
        stored = self._load()
        return datetime.fromisoformat(stored) if stored else datetime.now(timezone.utc)

    def set(self, at: datetime) -> None:
        self._save(_aware(at).isoformat())


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=BEIJING)


def parse_instant(value: str) -> datetime:
    """An ISO date or datetime; a bare date means 09:00 Beijing time that day; naive means Beijing."""
    value = value.strip()
    if len(value) == 10:
        d = date.fromisoformat(value)
        return datetime(d.year, d.month, d.day, 9, tzinfo=BEIJING)
    return _aware(datetime.fromisoformat(value))
