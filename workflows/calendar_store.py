"""The calendar in force: years from the `chinesecalendar` package, overridden by years an admin
loaded into the database (e.g. 2027 once the State Council publishes its notice)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CalendarDay, CalendarYear

from .calendar import HolidayYear, StatutoryCalendar, builtin_years

_cache: dict[tuple, StatutoryCalendar] = {}


def calendar_from_db(session: Session) -> StatutoryCalendar:
    """Packaged years plus loaded years; rebuilt only when the loaded set changes."""
    key = tuple(session.execute(select(CalendarYear.year, CalendarYear.loaded_at).order_by(CalendarYear.year)).all())
    cached = _cache.get(key)
    if cached is not None:
        return cached
    years = builtin_years()
    for (year, _loaded_at) in key:
        days = session.execute(select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.year == year)).all()
        row = session.get(CalendarYear, year)
        years[year] = HolidayYear(
            year=year,
            rest_days=frozenset(d for d, kind in days if kind == "rest"),
            makeup_workdays=frozenset(d for d, kind in days if kind == "makeup"),
            source="loaded",
            source_notice=row.source_notice if row else "",
        )
    _cache.clear()
    _cache[key] = calendar = StatutoryCalendar(years)
    return calendar


def store_year(session: Session, year: HolidayYear, *, loaded_by: str, now: datetime) -> CalendarYear:
    """Insert or replace one year's table. The caller commits."""
    existing = session.get(CalendarYear, year.year)
    if existing is not None:
        session.delete(existing)
        session.flush()
    row = CalendarYear(
        year=year.year, source_notice=year.source_notice or "", loaded_at=now, loaded_by=loaded_by,
    )
    row.days = [CalendarDay(day=d, year=year.year, kind="rest") for d in sorted(year.rest_days)] + [
        CalendarDay(day=d, year=year.year, kind="makeup") for d in sorted(year.makeup_workdays)
    ]
    session.add(row)
    session.flush()
    return row


def year_summary(calendar: StatutoryCalendar, year: int) -> dict:
    table = calendar.holiday_year(year)
    return {
        "year": year,
        "source": table.source,
        "source_notice": table.source_notice,
        "rest_days": sorted(d.isoformat() for d in table.rest_days),
        "makeup_workdays": sorted(d.isoformat() for d in table.makeup_workdays),
    }
