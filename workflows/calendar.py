"""Statutory calendar: working days, rest days and period arithmetic for every timer.

Pure Python (no Flask, no SQLAlchemy, no database). Every deadline, reminder, waiting
period and expiry in the case desk is computed here, following DOMAIN.md section 0.3:

C1  Day counts start the day *after* the trigger; the trigger day is never counted.
    -> ``add_working_days``, ``add_calendar_days``, ``working_days_between`` all count
       days ``d`` with ``start < d``.
C2  Month/year periods end on the corresponding day of the target month, else on that
    month's last day.  -> ``add_months`` / ``add_years`` (Feb 29 + 1 year -> Feb 28).
C3  If the last day of a calendar-day/month/year deadline for a party's act is a rest
    day, the deadline moves to the first working day after the rest.
    -> ``rollover=True`` on ``add_calendar_days`` / ``add_months`` / ``add_years`` and the
       default of ``deadline``.
C4  Weekends are rest days for C3, but a 调休 make-up Saturday/Sunday is a working day.
    -> ``HolidayYear.is_working_day``.
C5  "N个工作日" counts working days only; the deadline is the Nth working day after the
    (deemed) receipt day.  -> ``add_working_days`` / ``deadline(unit="wd")``.
C6  Receipt on a non-working day is deemed receipt on the next working day.
    -> ``deemed_receipt``; ``deadline(unit="wd")`` applies it unless told not to.
C7  行政许可 limits are working days excluding statutory holidays -> callers use "wd".
C8  行政处罚法 "二日/三日/五日/七日" are working days -> callers use "wd".
C9  Waiting periods (minimum publicity) are never extended by C3; the subject becomes
    eligible the day after the last day.  -> ``waiting_period_end`` (no rollover).
C10 Expiry periods end at 24:00 of the last day; inactive from the next day.
    -> ``expiry`` (no rollover).
C11 The 2026 holiday table (State Council notice) -> comes from the ``chinesecalendar``
    package via ``builtin_years``.
C12 Later years are loaded as data when their notice is published (``parse_year_file``);
    any computation that needs the working-day status of a year that is not loaded raises
    ``CalendarYearNotLoaded``.  Nothing is ever guessed.  Pure calendar-day/month/year
    arithmetic without rollover needs no holiday data at all.

Clock suspension (e.g. 补正, waiting for materials) is passed as ``skip``: a sequence of
``(after, until)`` pairs; a day ``d`` with ``after < d <= until`` is not counted.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

__all__ = [
    "Unit",
    "CalendarYearNotLoaded",
    "HolidayYear",
    "builtin_years",
    "parse_year_file",
    "StatutoryCalendar",
]

Unit = Literal["wd", "cd", "month", "year"]
UNITS: tuple[str, ...] = ("wd", "cd", "month", "year")

MIN_YEAR = 2000
MAX_YEAR = 2100

_ONE_DAY = timedelta(days=1)
# A rest block plus weekends never exceeds a few weeks; anything longer means broken data.
_MAX_REST_RUN = 60

SkipIntervals = Sequence[tuple[date, date]]


class CalendarYearNotLoaded(Exception):
    """A computation needed a year whose holiday table is not loaded (C12). Never guess."""

    code = "calendar_year_not_loaded"

    def __init__(self, year: int):
        self.year = year
        super().__init__(
            f"{year}年节假日安排尚未加载，无法计算工作日 / "
            f"holiday table for {year} is not loaded; cannot compute working days"
        )


def _require_date(value: object, what: str = "date") -> date:
    """Reject datetimes and other types: a datetime carries a time zone question we will not guess."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(
            f"{what} 必须是 datetime.date（不接受 datetime 或其他类型），实际为 {type(value).__name__} / "
            f"{what} must be a datetime.date (not a datetime or other type), got {type(value).__name__}"
        )
    return value


def _require_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{what} 必须是整数，实际为 {value!r} / {what} must be an int, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class HolidayYear:
    """The holiday table of one calendar year.

    ``rest_days``: every day listed as 放假 in the State Council notice (official holidays on
    weekdays and the weekend days inside holiday blocks).
    ``makeup_workdays``: 调休 Saturdays/Sundays that are working days.
    ``source``: ``"package"`` (from chinesecalendar) or ``"loaded"`` (admin-supplied file).
    ``source_notice``: free text naming the notice, e.g. "国办发明电〔2025〕7号" (optional).
    """

    year: int
    rest_days: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str = "package"
    source_notice: str = ""

    def __post_init__(self) -> None:
        _require_int(self.year, "year")
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError(
                f"年份 {self.year} 超出 {MIN_YEAR}–{MAX_YEAR} 范围 / "
                f"year {self.year} is outside {MIN_YEAR}-{MAX_YEAR}"
            )
        # Normalise to frozensets so that callers may pass any iterable of dates.
        object.__setattr__(self, "rest_days", frozenset(self.rest_days))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        for d in self.rest_days | self.makeup_workdays:
            _require_date(d, "holiday table entry")
            if d.year != self.year:
                raise ValueError(
                    f"日期 {d.isoformat()} 不在 {self.year} 年内 / "
                    f"date {d.isoformat()} is not in year {self.year}"
                )
        for d in self.makeup_workdays:
            if d.weekday() < 5:
                raise ValueError(
                    f"调休上班日 {d.isoformat()} 不是周六或周日 / "
                    f"make-up workday {d.isoformat()} is not a Saturday or Sunday"
                )
        both = self.rest_days & self.makeup_workdays
        if both:
            first = min(both).isoformat()
            raise ValueError(
                f"日期 {first} 同时列为放假日和调休上班日 / "
                f"date {first} is listed both as a rest day and as a make-up workday"
            )

    def is_working_day(self, d: date) -> bool:
        """Mon–Fri unless in ``rest_days``; Sat/Sun only if in ``makeup_workdays`` (C4, C5)."""
        _require_date(d)
        if d.year != self.year:
            raise ValueError(
                f"日期 {d.isoformat()} 不属于 {self.year} 年的节假日表 / "
                f"date {d.isoformat()} does not belong to the {self.year} holiday table"
            )
        if d.weekday() >= 5:
            return d in self.makeup_workdays
        return d not in self.rest_days


# ---------------------------------------------------------------------------------------------
# Sources of holiday tables
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _builtin_years_cached() -> tuple[tuple[int, HolidayYear], ...]:
    import chinese_calendar  # imported lazily: only the built-in tables need the package

    holidays: Mapping[date, object] = chinese_calendar.holidays
    workdays: Mapping[date, object] = chinese_calendar.workdays
    if not holidays:
        return ()
    # The package itself supports exactly min(holidays).year .. max(holidays).year.
    first = min(holidays).year
    last = max(holidays).year
    rest_by_year: dict[int, set[date]] = {}
    work_by_year: dict[int, set[date]] = {}
    for d in holidays:
        rest_by_year.setdefault(d.year, set()).add(d)
    for d in workdays:
        work_by_year.setdefault(d.year, set()).add(d)
    out = []
    for year in range(first, last + 1):
        if year not in rest_by_year:
            # A year the package claims but holds no entry for is not trusted (C12: never guess).
            continue
        out.append(
            (
                year,
                HolidayYear(
                    year=year,
                    rest_days=frozenset(rest_by_year[year]),
                    makeup_workdays=frozenset(work_by_year.get(year, ())),
                    source="package",
                    source_notice=f"chinesecalendar {getattr(chinese_calendar, '__version__', '?')}",
                ),
            )
        )
    return tuple(out)


def builtin_years() -> dict[int, HolidayYear]:
    """Every year the ``chinesecalendar`` package covers (2004..2026 in 1.11.0).

    Built from the package's ``holidays`` / ``workdays`` tables; a year the package does not
    cover is never included. Returns a fresh dict on each call (the values are immutable).
    """
    return dict(_builtin_years_cached())


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_entry(entry: object, where: str) -> list[date]:
    """One list entry: "YYYY-MM-DD" or an inclusive range "YYYY-MM-DD..YYYY-MM-DD"."""
    if not isinstance(entry, str):
        raise ValueError(
            f"{where}: 条目 {entry!r} 不是日期字符串 / entry {entry!r} is not a date string"
        )
    text = entry.strip()
    parts = [p.strip() for p in text.split("..")] if ".." in text else [text]
    if len(parts) not in (1, 2):
        raise ValueError(
            f"{where}: 条目 {entry!r} 不是有效的日期或日期范围 / "
            f"entry {entry!r} is not a valid date or date range"
        )
    days: list[date] = []
    for part in parts:
        if not _DATE_RE.match(part):
            raise ValueError(
                f"{where}: 条目 {entry!r} 的日期格式应为 YYYY-MM-DD / "
                f"entry {entry!r}: dates must be written YYYY-MM-DD"
            )
        try:
            days.append(date.fromisoformat(part))
        except ValueError:
            raise ValueError(
                f"{where}: 条目 {entry!r} 含有不存在的日期 / entry {entry!r} contains an invalid date"
            ) from None
    if len(days) == 1:
        return days
    lo, hi = days
    if hi < lo:
        raise ValueError(
            f"{where}: 条目 {entry!r} 的结束日期早于开始日期 / "
            f"entry {entry!r}: the range ends before it starts"
        )
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


_ALLOWED_KEYS = {"year", "rest_days", "makeup_workdays", "source_notice"}


def parse_year_file(text: str | bytes, filename: str = "") -> HolidayYear:
    """Parse an admin-supplied holiday table for one year (C12).

    Format (JSON)::

        {"year": 2027,
         "rest_days": ["2027-01-01..2027-01-03", "2027-02-06", ...],
         "makeup_workdays": ["2027-02-07", ...],
         "source_notice": "国办发明电〔2026〕X号"}

    List entries are single dates or inclusive ranges ``"A..B"``. Keys starting with ``_`` are
    ignored (comments); any other unknown key is an error (a typo must not silently drop data).
    Validates: year in 2000..2100; every date in the stated year; make-up workdays are
    Saturdays/Sundays; no date in both lists. Raises ``ValueError`` with a bilingual message
    naming the offending entry. The result has ``source="loaded"``.
    """
    label = filename or "节假日文件 / holiday file"
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{label}: 文件不是 UTF-8 编码 / the file is not UTF-8 encoded ({exc})"
            ) from None
    if not isinstance(text, str):
        raise ValueError(f"{label}: 内容必须是文本 / content must be text")
    text = text.lstrip("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{label}: JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}） / "
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{label}: 顶层必须是 JSON 对象 / the top level must be a JSON object"
        )

    unknown = sorted(k for k in data if k not in _ALLOWED_KEYS and not str(k).startswith("_"))
    if unknown:
        raise ValueError(
            f"{label}: 未知字段 {unknown[0]!r}（允许：year, rest_days, makeup_workdays, source_notice） / "
            f"unknown key {unknown[0]!r} (allowed: year, rest_days, makeup_workdays, source_notice)"
        )
    for key in ("year", "rest_days", "makeup_workdays"):
        if key not in data:
            raise ValueError(f"{label}: 缺少字段 {key!r} / missing key {key!r}")

    year = data["year"]
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValueError(
            f"{label}: year 必须是整数，实际为 {year!r} / year must be an integer, got {year!r}"
        )
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(
            f"{label}: 年份 {year} 超出 {MIN_YEAR}–{MAX_YEAR} 范围 / "
            f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}"
        )

    notice = data.get("source_notice", "")
    if not isinstance(notice, str):
        raise ValueError(
            f"{label}: source_notice 必须是字符串 / source_notice must be a string"
        )

    parsed: dict[str, dict[date, str]] = {}
    for key in ("rest_days", "makeup_workdays"):
        entries = data[key]
        if not isinstance(entries, list):
            raise ValueError(
                f"{label}: {key} 必须是列表 / {key} must be a list"
            )
        seen: dict[date, str] = {}
        for i, entry in enumerate(entries):
            where = f"{label}: {key}[{i}]"
            for d in _parse_entry(entry, where):
                if d.year != year:
                    raise ValueError(
                        f"{where}: 条目 {entry!r} 中的日期 {d.isoformat()} 不在 {year} 年内 / "
                        f"entry {entry!r}: date {d.isoformat()} is not in year {year}"
                    )
                if key == "makeup_workdays" and d.weekday() < 5:
                    raise ValueError(
                        f"{where}: 调休上班日 {entry!r}（{d.isoformat()}）不是周六或周日 / "
                        f"make-up workday {entry!r} ({d.isoformat()}) is not a Saturday or Sunday"
                    )
                seen.setdefault(d, str(entry))
        parsed[key] = seen

    if not parsed["rest_days"]:
        raise ValueError(
            f"{label}: rest_days 为空，节假日表不完整 / rest_days is empty; the table is incomplete"
        )
    both = sorted(set(parsed["rest_days"]) & set(parsed["makeup_workdays"]))
    if both:
        d = both[0]
        raise ValueError(
            f"{label}: 日期 {d.isoformat()} 同时出现在 rest_days（{parsed['rest_days'][d]!r}）和 "
            f"makeup_workdays（{parsed['makeup_workdays'][d]!r}）中 / "
            f"date {d.isoformat()} is in both rest_days ({parsed['rest_days'][d]!r}) "
            f"and makeup_workdays ({parsed['makeup_workdays'][d]!r})"
        )

    return HolidayYear(
        year=year,
        rest_days=frozenset(parsed["rest_days"]),
        makeup_workdays=frozenset(parsed["makeup_workdays"]),
        source="loaded",
        source_notice=notice,
    )


# ---------------------------------------------------------------------------------------------
# The calendar
# ---------------------------------------------------------------------------------------------


def _check_skip(skip: Iterable[tuple[date, date]]) -> tuple[tuple[date, date], ...]:
    out = []
    for pair in skip:
        try:
            after, until = pair
        except (TypeError, ValueError):
            raise ValueError(
                f"暂停区间 {pair!r} 必须是 (after, until) 二元组 / "
                f"suspension interval {pair!r} must be an (after, until) pair"
            ) from None
        _require_date(after, "skip.after")
        _require_date(until, "skip.until")
        if until < after:
            raise ValueError(
                f"暂停区间 ({after.isoformat()}, {until.isoformat()}) 结束早于开始 / "
                f"suspension interval ({after.isoformat()}, {until.isoformat()}) ends before it starts"
            )
        out.append((after, until))
    return tuple(out)


def _suspended(d: date, skip: tuple[tuple[date, date], ...]) -> bool:
    return any(after < d <= until for after, until in skip)


def _is_leap(year: int) -> bool:
    # Not the stdlib ``calendar`` module: this module shadows that name inside the package.
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _add_months_raw(start: date, n: int) -> date:
    """C2: the corresponding day ``n`` months later, else that month's last day."""
    index = start.year * 12 + (start.month - 1) + n
    year, month0 = divmod(index, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise OverflowError(
            f"日期超出可表示范围 / date out of range ({start.isoformat()} + {n} months)"
        )
    last = _days_in_month(year, month)
    return date(year, month, min(start.day, last))


class StatutoryCalendar:
    """Working-day and period arithmetic over a fixed set of loaded holiday years."""

    def __init__(self, years: Mapping[int, HolidayYear]):
        table: dict[int, HolidayYear] = {}
        for key, hy in years.items():
            if not isinstance(hy, HolidayYear):
                raise TypeError(
                    f"{key} 年的值必须是 HolidayYear / the value for {key} must be a HolidayYear"
                )
            if key != hy.year:
                raise ValueError(
                    f"键 {key} 与节假日表年份 {hy.year} 不一致 / "
                    f"key {key} does not match the holiday table's year {hy.year}"
                )
            table[key] = hy
        self._years = table
        # Per-year working-day mask indexed by (ordinal - ordinal of Jan 1): fast day loops.
        self._masks: dict[int, tuple[int, bytes]] = {}
        for year, hy in table.items():
            jan1 = date(year, 1, 1)
            ndays = 366 if _is_leap(year) else 365
            mask = bytes(
                1 if hy.is_working_day(jan1 + timedelta(days=i)) else 0 for i in range(ndays)
            )
            self._masks[year] = (jan1.toordinal(), mask)

    # -- introspection ----------------------------------------------------------------------

    @property
    def loaded_years(self) -> list[int]:
        return sorted(self._years)

    def holiday_year(self, year: int) -> HolidayYear:
        """The table for ``year``; raises ``CalendarYearNotLoaded`` if missing."""
        try:
            return self._years[year]
        except KeyError:
            raise CalendarYearNotLoaded(year) from None

    def __repr__(self) -> str:
        years = self.loaded_years
        span = f"{years[0]}..{years[-1]}" if years else "none"
        return f"<StatutoryCalendar years={span} ({len(years)} loaded)>"

    # -- single days --------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        _require_date(d)
        entry = self._masks.get(d.year)
        if entry is None:
            raise CalendarYearNotLoaded(d.year)
        base, mask = entry
        return mask[d.toordinal() - base] == 1

    def is_rest_day(self, d: date) -> bool:
        return not self.is_working_day(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        _require_date(d)
        cur = d
        for _ in range(_MAX_REST_RUN):
            cur += _ONE_DAY
            if self.is_working_day(cur):
                return cur
        raise ValueError(
            f"{d.isoformat()} 之后 {_MAX_REST_RUN} 天内没有工作日，节假日表有误 / "
            f"no working day within {_MAX_REST_RUN} days after {d.isoformat()}; the holiday table is broken"
        )

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        _require_date(d)
        cur = d
        for _ in range(_MAX_REST_RUN):
            cur -= _ONE_DAY
            if self.is_working_day(cur):
                return cur
        raise ValueError(
            f"{d.isoformat()} 之前 {_MAX_REST_RUN} 天内没有工作日，节假日表有误 / "
            f"no working day within {_MAX_REST_RUN} days before {d.isoformat()}; the holiday table is broken"
        )

    def deemed_receipt(self, d: date) -> date:
        """C6: ``d`` itself if it is a working day, else the next working day."""
        return d if self.is_working_day(d) else self.next_working_day(d)

    # -- working-day counting -----------------------------------------------------------------

    def add_working_days(self, start: date, n: int, *, skip: SkipIntervals = ()) -> date:
        """C1+C5: the ``n``-th working day strictly after ``start`` (``n == 0`` returns ``start``).

        A working day ``d`` with ``after < d <= until`` for any ``(after, until)`` in ``skip`` is
        not counted (clock suspended). ``start`` is taken as given: apply ``deemed_receipt``
        first where C6 applies (``deadline`` does that).
        """
        _require_date(start, "start")
        _require_int(n, "n")
        if n < 0:
            raise ValueError(
                f"工作日数不能为负（{n}），请使用 subtract_working_days / "
                f"n must not be negative ({n}); use subtract_working_days"
            )
        intervals = _check_skip(skip)
        cur = start
        counted = 0
        idle = 0
        while counted < n:
            cur += _ONE_DAY
            if self.is_working_day(cur) and not (intervals and _suspended(cur, intervals)):
                counted += 1
                idle = 0
            else:
                idle += 1
                if idle > _MAX_REST_RUN and not intervals:
                    raise ValueError(
                        f"{cur.isoformat()} 前 {_MAX_REST_RUN} 天内没有工作日，节假日表有误 / "
                        f"no working day within {_MAX_REST_RUN} days before {cur.isoformat()}; "
                        "the holiday table is broken"
                    )
        return cur

    def counted_working_days(self, start: date, n: int, *, skip: SkipIntervals = ()) -> list[date]:
        """The ``n`` working days that ``add_working_days(start, n, skip=skip)`` counts, in order."""
        _require_date(start, "start")
        _require_int(n, "n")
        if n < 0:
            raise ValueError(f"工作日数不能为负（{n}） / n must not be negative ({n})")
        intervals = _check_skip(skip)
        out: list[date] = []
        cur = start
        while len(out) < n:
            cur = self.add_working_days(cur, 1, skip=intervals)
            out.append(cur)
        return out

    def working_days_between(self, a: date, b: date) -> int:
        """The number of working days ``d`` with ``a < d <= b`` (0 if ``b <= a``)."""
        _require_date(a, "a")
        _require_date(b, "b")
        if b <= a:
            return 0
        total = 0
        cur = a
        while cur < b:
            cur += _ONE_DAY
            if self.is_working_day(cur):
                total += 1
        return total

    def subtract_working_days(self, due: date, n: int) -> date:
        """The working day ``n`` working days before ``due`` (``n == 0`` returns ``due``).

        E.g. due Fri 2026-01-23, n=3 -> Tue 2026-01-20 (used for T−3 WD reminders). For a
        working day ``due``, ``add_working_days(result, n) == due``.
        """
        _require_date(due, "due")
        _require_int(n, "n")
        if n < 0:
            raise ValueError(
                f"工作日数不能为负（{n}），请使用 add_working_days / "
                f"n must not be negative ({n}); use add_working_days"
            )
        cur = due
        for _ in range(n):
            cur = self.previous_working_day(cur)
        return cur

    # -- calendar-day, month and year arithmetic ----------------------------------------------

    def _roll(self, d: date, rollover: bool) -> date:
        """C3/C4: move a last day that is a rest day to the first working day after the rest."""
        if not rollover:
            return d
        return self.deemed_receipt(d)

    def add_calendar_days(self, start: date, n: int, *, rollover: bool) -> date:
        """C1: ``start + n`` days, then (if ``rollover``) C3/C4 rollover off a rest day.

        Without rollover no holiday data is needed.
        """
        _require_date(start, "start")
        _require_int(n, "n")
        return self._roll(start + timedelta(days=n), rollover)

    def add_months(self, start: date, n: int, *, rollover: bool) -> date:
        """C2: the corresponding day ``n`` months later (else that month's last day), then optional C3."""
        _require_date(start, "start")
        _require_int(n, "n")
        return self._roll(_add_months_raw(start, n), rollover)

    def add_years(self, start: date, n: int, *, rollover: bool) -> date:
        """C2 via ``12 * n`` months (Feb 29 + 1 year -> Feb 28), then optional C3."""
        _require_int(n, "n")
        return self.add_months(start, 12 * n, rollover=rollover)

    @staticmethod
    def _extend_for_suspension(start: date, end: date, intervals: tuple[tuple[date, date], ...]) -> date:
        """Push ``end`` later by the calendar days of (start, end] that fall inside a suspension.

        The extension itself may run into a later suspension interval; those days are skipped
        too, so the result is the day on which the un-suspended clock reaches the period length.
        """
        if not intervals or end <= start:
            return end
        extra = sum(
            1 for i in range((end - start).days) if _suspended(start + timedelta(days=i + 1), intervals)
        )
        cur = end
        while extra:
            cur += _ONE_DAY
            if not _suspended(cur, intervals):
                extra -= 1
        return cur

    # -- dispatcher -----------------------------------------------------------------------------

    def deadline(
        self,
        start: date,
        amount: int,
        unit: Unit,
        *,
        rollover: bool = True,
        deemed_receipt: bool = True,
        skip: SkipIntervals = (),
    ) -> date:
        """The due date of a time limit of ``amount`` ``unit`` triggered on ``start``.

        ``"wd"``: ``add_working_days(deemed_receipt(start) if deemed_receipt else start, amount,
        skip=skip)`` (C5, C6). ``rollover`` does not apply (the result is always a working day).

        ``"cd"``: the ``amount``-th calendar day after ``start`` that is not suspended by ``skip``,
        then C3 rollover if ``rollover``.

        ``"month"`` / ``"year"``: C2, then the end is pushed later by the suspended calendar days
        inside the period (if ``skip`` is given), then C3 rollover if ``rollover``.
        ``deemed_receipt`` applies only to ``"wd"``.
        """
        _require_date(start, "start")
        _require_int(amount, "amount")
        if unit not in UNITS:
            raise ValueError(
                f"未知期间单位 {unit!r}（允许：wd, cd, month, year） / "
                f"unknown period unit {unit!r} (allowed: wd, cd, month, year)"
            )
        if amount < 0:
            raise ValueError(
                f"期间长度不能为负（{amount}） / the period length must not be negative ({amount})"
            )
        intervals = _check_skip(skip)
        if unit == "wd":
            base = self.deemed_receipt(start) if deemed_receipt else start
            return self.add_working_days(base, amount, skip=intervals)
        if unit == "cd":
            cur = start
            left = amount
            while left:
                cur += _ONE_DAY
                if not _suspended(cur, intervals):
                    left -= 1
            return self._roll(cur, rollover)
        months = amount if unit == "month" else 12 * amount
        end = _add_months_raw(start, months)
        end = self._extend_for_suspension(start, end, intervals)
        return self._roll(end, rollover)

    # -- waiting periods and expiries (no rollover) ---------------------------------------------

    def _period_last_day(self, start: date, amount: int, unit: Unit) -> date:
        _require_date(start, "start")
        _require_int(amount, "amount")
        if amount < 0:
            raise ValueError(
                f"期间长度不能为负（{amount}） / the period length must not be negative ({amount})"
            )
        if unit == "wd":
            return self.add_working_days(start, amount)
        if unit == "cd":
            return start + timedelta(days=amount)
        if unit == "month":
            return _add_months_raw(start, amount)
        if unit == "year":
            return _add_months_raw(start, 12 * amount)
        raise ValueError(
            f"未知期间单位 {unit!r}（允许：wd, cd, month, year） / "
            f"unknown period unit {unit!r} (allowed: wd, cd, month, year)"
        )

    def waiting_period_end(self, start: date, amount: int, unit: Unit) -> tuple[date, date]:
        """C9: ``(last_day_of_period, eligible_from)``; eligible the next calendar day; no rollover.

        E.g. 2026-01-12 + 3 months -> (2026-04-12, 2026-04-13). Only ``"wd"`` needs holiday data.
        """
        last = self._period_last_day(start, amount, unit)
        return last, last + _ONE_DAY

    def expiry(self, start: date, amount: int, unit: Unit) -> tuple[date, date]:
        """C10: ``(last_active_day, first_inactive_day)``; ends 24:00 of the last day; no rollover.

        E.g. 2026-05-20 + 3 years -> (2029-05-20, 2029-05-21). Only ``"wd"`` needs holiday data.
        """
        last = self._period_last_day(start, amount, unit)
        return last, last + _ONE_DAY
