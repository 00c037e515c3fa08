"""Unit tests for workflows.calendar (DOMAIN.md 0.3 rules C1–C12 and scenarios in section 10).

Every expected date was derived by hand from the 2026 State Council holiday notice (C11).
If an assertion fails, the implementation is wrong, not the expectation.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from importlib import resources

import pytest

from workflows.calendar import (
    CalendarYearNotLoaded,
    HolidayYear,
    StatutoryCalendar,
    builtin_years,
    parse_year_file,
)

D = date.fromisoformat


def _example_2027_text() -> str:
    return (resources.files("workflows") / "data" / "holidays-2027.example.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cal() -> StatutoryCalendar:
    return StatutoryCalendar(builtin_years())


@pytest.fixture(scope="module")
def cal_2027() -> StatutoryCalendar:
    years = builtin_years()
    years[2027] = parse_year_file(_example_2027_text(), "holidays-2027.example.json")
    return StatutoryCalendar(years)


# ---------------------------------------------------------------------------------------------
# Built-in tables
# ---------------------------------------------------------------------------------------------


def test_builtin_years_cover_exactly_the_package_range():
    years = builtin_years()
    assert sorted(years) == list(range(2004, 2027))
    assert 2027 not in years
    assert all(hy.source == "package" and hy.year == y for y, hy in years.items())


def test_builtin_years_returns_a_fresh_dict():
    first = builtin_years()
    first.pop(2026)
    assert 2026 in builtin_years()


def test_builtin_2026_table_matches_c11():
    hy = builtin_years()[2026]
    expected_rest = set()
    for lo, hi in [
        ("2026-01-01", "2026-01-03"),
        ("2026-02-15", "2026-02-23"),
        ("2026-04-04", "2026-04-06"),
        ("2026-05-01", "2026-05-05"),
        ("2026-06-19", "2026-06-21"),
        ("2026-09-25", "2026-09-27"),
        ("2026-10-01", "2026-10-07"),
    ]:
        d = D(lo)
        while d <= D(hi):
            expected_rest.add(d)
            d += timedelta(days=1)
    assert hy.rest_days == expected_rest
    assert hy.makeup_workdays == {
        D("2026-01-04"),
        D("2026-02-14"),
        D("2026-02-28"),
        D("2026-05-09"),
        D("2026-09-20"),
        D("2026-10-10"),
    }


# ---------------------------------------------------------------------------------------------
# C11: 2026 facts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-01-01", False),  # 元旦 (Thu)
        ("2026-01-02", False),  # 元旦 (Fri)
        ("2026-01-03", False),  # 元旦 (Sat)
        ("2026-01-04", True),  # make-up Sunday
        ("2026-01-10", False),  # ordinary Saturday
        ("2026-01-12", True),  # ordinary Monday
        ("2026-02-14", True),  # make-up Saturday
        ("2026-02-15", False),  # 春节 starts (Sun)
        ("2026-02-16", False),
        ("2026-02-20", False),
        ("2026-02-23", False),  # 春节 last day (Mon)
        ("2026-02-24", True),
        ("2026-02-28", True),  # make-up Saturday
        ("2026-04-04", False),  # 清明
        ("2026-04-06", False),  # 清明 (Mon)
        ("2026-04-07", True),
        ("2026-05-01", False),
        ("2026-05-05", False),
        ("2026-05-09", True),  # make-up Saturday
        ("2026-06-19", False),  # 端午 (Fri)
        ("2026-09-20", True),  # make-up Sunday
        ("2026-09-25", False),  # 中秋 (Fri)
        ("2026-10-01", False),
        ("2026-10-02", False),
        ("2026-10-03", False),
        ("2026-10-04", False),
        ("2026-10-05", False),
        ("2026-10-06", False),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # make-up Saturday
        ("2026-10-11", False),  # ordinary Sunday
    ],
)
def test_2026_working_days(cal, day, working):
    assert cal.is_working_day(D(day)) is working
    assert cal.is_rest_day(D(day)) is (not working)


def test_holiday_year_is_working_day_matches_calendar(cal):
    hy = builtin_years()[2026]
    d = D("2026-01-01")
    while d.year == 2026:
        assert hy.is_working_day(d) == cal.is_working_day(d)
        d += timedelta(days=1)


def test_loaded_years_sorted():
    years = builtin_years()
    c = StatutoryCalendar({2026: years[2026], 2024: years[2024], 2025: years[2025]})
    assert c.loaded_years == [2024, 2025, 2026]


def test_mismatched_key_rejected():
    with pytest.raises(ValueError, match="2025"):
        StatutoryCalendar({2025: builtin_years()[2026]})


# ---------------------------------------------------------------------------------------------
# Working-day deadlines (C1, C5) — scenarios
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        ("2026-01-12", 7, "2026-01-21"),  # S1 双公示
        ("2026-04-13", 3, "2026-04-16"),  # S2 department accepts
        ("2026-04-13", 10, "2026-04-27"),  # S2 result
        ("2026-04-27", 3, "2026-04-30"),  # S2 local sync
        ("2026-02-10", 10, "2026-03-02"),  # S5 across Spring Festival
        ("2026-01-30", 3, "2026-02-04"),  # S7 in scope
        ("2026-01-30", 7, "2026-02-10"),  # S7 with provider
        ("2026-02-09", 20, "2026-03-13"),  # S10 supply deadline
        ("2026-02-09", 30, "2026-03-27"),  # S10 extended
        ("2026-05-06", 5, "2026-05-12"),  # S14 statement period (05-09 make-up counted)
        ("2026-05-20", 7, "2026-05-29"),  # S14 publish
        ("2026-01-23", 0, "2026-01-23"),  # n == 0
        ("2026-01-10", 0, "2026-01-10"),  # n == 0 on a rest day: start as given
    ],
)
def test_add_working_days(cal, start, n, due):
    assert cal.add_working_days(D(start), n) == D(due)
    assert cal.deadline(D(start), n, "wd", deemed_receipt=False) == D(due)
    if cal.is_working_day(D(start)):
        assert cal.deadline(D(start), n, "wd") == D(due)


def test_zero_wd_deadline_on_rest_day_is_deemed_receipt_day(cal):
    # A same-day SLA (0 WD) for something received on Saturday is due on Monday (C6).
    assert cal.deadline(D("2026-01-10"), 0, "wd") == D("2026-01-12")


def test_s5_counted_days_include_makeup_saturdays(cal):
    counted = cal.counted_working_days(D("2026-02-10"), 10)
    assert counted == [
        D(x)
        for x in [
            "2026-02-11",
            "2026-02-12",
            "2026-02-13",
            "2026-02-14",
            "2026-02-24",
            "2026-02-25",
            "2026-02-26",
            "2026-02-27",
            "2026-02-28",
            "2026-03-02",
        ]
    ]
    assert counted[-1] == cal.add_working_days(D("2026-02-10"), 10)


def test_s14_statement_period_counts_makeup_saturday(cal):
    assert cal.counted_working_days(D("2026-05-06"), 5) == [
        D("2026-05-07"),
        D("2026-05-08"),
        D("2026-05-09"),
        D("2026-05-11"),
        D("2026-05-12"),
    ]


def test_start_day_is_not_counted(cal):
    # C1: the trigger day itself never counts, even when it is a working day.
    assert cal.add_working_days(D("2026-01-12"), 1) == D("2026-01-13")


def test_add_working_days_rejects_negative(cal):
    with pytest.raises(ValueError):
        cal.add_working_days(D("2026-01-12"), -1)


# ---------------------------------------------------------------------------------------------
# C6: deemed receipt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "deemed"),
    [
        ("2026-01-10", "2026-01-12"),  # ordinary Saturday -> Monday
        ("2026-01-12", "2026-01-12"),  # working day -> itself
        ("2026-02-14", "2026-02-14"),  # make-up Saturday is a working day
        ("2026-01-04", "2026-01-04"),  # make-up Sunday is a working day
        ("2026-02-15", "2026-02-24"),  # inside 春节 -> first day after
        ("2026-10-01", "2026-10-08"),
        ("2026-01-01", "2026-01-04"),  # 元旦 -> make-up Sunday
    ],
)
def test_deemed_receipt(cal, received, deemed):
    assert cal.deemed_receipt(D(received)) == D(deemed)


def test_deadline_wd_applies_deemed_receipt(cal):
    # Received Sat 2026-01-10 -> deemed Mon 01-12 -> +7 WD = 01-21 (as S1).
    assert cal.deadline(D("2026-01-10"), 7, "wd") == D("2026-01-21")
    # Without deemed receipt the count starts after Saturday: 01-12 is WD 1 -> 01-20.
    assert cal.deadline(D("2026-01-10"), 7, "wd", deemed_receipt=False) == D("2026-01-20")


@pytest.mark.parametrize(
    ("day", "nxt"),
    [
        ("2026-01-09", "2026-01-12"),
        ("2026-02-13", "2026-02-14"),
        ("2026-02-14", "2026-02-24"),
        ("2026-12-30", "2026-12-31"),
    ],
)
def test_next_working_day(cal, day, nxt):
    assert cal.next_working_day(D(day)) == D(nxt)


# ---------------------------------------------------------------------------------------------
# Reminders and counts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "n", "expected"),
    [
        ("2026-01-23", 3, "2026-01-20"),  # from the API example
        ("2026-01-23", 0, "2026-01-23"),
        ("2026-03-02", 3, "2026-02-26"),  # 02-28 (make-up Sat) counts, 03-01 Sun does not
        ("2026-02-24", 1, "2026-02-14"),  # back across 春节 onto the make-up Saturday
        ("2026-02-24", 2, "2026-02-13"),
        ("2026-10-08", 1, "2026-09-30"),
        ("2026-01-05", 1, "2026-01-04"),  # make-up Sunday
        ("2026-01-05", 2, "2025-12-31"),  # back into 2025
    ],
)
def test_subtract_working_days(cal, due, n, expected):
    assert cal.subtract_working_days(D(due), n) == D(expected)


@pytest.mark.parametrize(("start", "n"), [("2026-01-12", 7), ("2026-02-10", 10), ("2026-09-18", 15)])
def test_subtract_inverts_add(cal, start, n):
    due = cal.add_working_days(D(start), n)
    back = cal.subtract_working_days(due, n)
    assert cal.add_working_days(back, n) == due
    assert cal.working_days_between(back, due) == n


@pytest.mark.parametrize(
    ("a", "b", "count"),
    [
        ("2026-01-12", "2026-01-21", 7),
        ("2026-02-10", "2026-03-02", 10),
        ("2026-02-14", "2026-02-24", 1),  # only 02-24; a is excluded
        ("2026-02-13", "2026-02-14", 1),  # make-up Saturday counts
        ("2026-01-12", "2026-01-12", 0),
        ("2026-01-21", "2026-01-12", 0),  # b before a
        ("2026-09-30", "2026-10-10", 3),  # 10-08, 10-09 and the make-up Saturday 10-10
    ],
)
def test_working_days_between(cal, a, b, count):
    assert cal.working_days_between(D(a), D(b)) == count


def test_working_days_between_needs_no_data_when_empty():
    empty = StatutoryCalendar({})
    assert empty.working_days_between(D("2030-05-01"), D("2030-04-01")) == 0


# ---------------------------------------------------------------------------------------------
# Clock suspension (skip)
# ---------------------------------------------------------------------------------------------


def test_skip_interval_suspends_counting(cal):
    skip = [(D("2026-04-15"), D("2026-04-20"))]
    counted = cal.counted_working_days(D("2026-04-13"), 10, skip=skip)
    assert D("2026-04-16") not in counted
    assert D("2026-04-17") not in counted
    assert D("2026-04-20") not in counted
    assert D("2026-04-15") in counted  # `after` itself is still counted
    assert counted[-1] == D("2026-04-30")
    assert cal.add_working_days(D("2026-04-13"), 10, skip=skip) == D("2026-04-30")
    assert cal.deadline(D("2026-04-13"), 10, "wd", skip=skip) == D("2026-04-30")


def test_skip_several_intervals(cal):
    skip = [(D("2026-04-15"), D("2026-04-20")), (D("2026-04-22"), D("2026-04-23"))]
    # Counted: 04-14, 04-15, 04-21, 04-22, 04-24, 04-27, 04-28, 04-29, 04-30, 05-06.
    assert cal.add_working_days(D("2026-04-13"), 10, skip=skip) == D("2026-05-06")


def test_skip_interval_ending_before_starting_rejected(cal):
    with pytest.raises(ValueError):
        cal.add_working_days(D("2026-04-13"), 3, skip=[(D("2026-04-20"), D("2026-04-15"))])


def test_skip_for_calendar_days_extends(cal):
    # 2026-03-05 + 30 CD = 04-04 (rest) -> 04-07. With 5 suspended days (03-10..03-14): 04-09 (Thu).
    skip = [(D("2026-03-09"), D("2026-03-14"))]
    assert cal.deadline(D("2026-03-05"), 30, "cd", skip=skip) == D("2026-04-09")
    assert cal.deadline(D("2026-03-05"), 30, "cd", skip=skip, rollover=False) == D("2026-04-09")


def test_skip_for_months_extends(cal):
    # 2026-02-12 + 1 M = 03-12; 3 suspended days inside -> 03-15 (Sun) -> rollover 03-16.
    skip = [(D("2026-02-25"), D("2026-02-28"))]
    assert cal.deadline(D("2026-02-12"), 1, "month", skip=skip, rollover=False) == D("2026-03-15")
    assert cal.deadline(D("2026-02-12"), 1, "month", skip=skip) == D("2026-03-16")


# ---------------------------------------------------------------------------------------------
# Calendar days, months and years (C1–C4)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "unit", "rollover", "due"),
    [
        ("2026-02-12", 1, "month", True, "2026-03-12"),  # S12 conclusion target
        ("2026-03-05", 30, "cd", True, "2026-04-07"),  # S12 04-04 Sat + 清明 -> Tue
        ("2026-03-05", 30, "cd", False, "2026-04-04"),
        ("2026-04-07", 3, "cd", True, "2026-04-10"),  # S12 court acceptance
        ("2026-04-10", 15, "cd", True, "2026-04-27"),  # S12 04-25 Sat -> Mon
        ("2026-04-10", 30, "cd", True, "2026-05-11"),  # S12 05-10 Sun -> Mon
        ("2026-01-31", 1, "month", False, "2026-02-28"),  # C2 month end
        ("2026-01-31", 1, "month", True, "2026-02-28"),  # C4: 02-28 is a make-up Saturday, no rollover
        ("2024-01-31", 1, "month", False, "2024-02-29"),  # C2 leap year
        ("2024-02-29", 1, "year", False, "2025-02-28"),  # Feb 29 + 1 Y
        ("2025-11-07", 3, "month", False, "2026-02-07"),
        ("2026-01-31", 3, "month", False, "2026-04-30"),
        ("2026-09-01", 1, "month", True, "2026-10-08"),  # 10-01 国庆 -> first working day 10-08
        ("2026-09-01", 1, "month", False, "2026-10-01"),
    ],
)
def test_calendar_period_deadlines(cal, start, amount, unit, rollover, due):
    assert cal.deadline(D(start), amount, unit, rollover=rollover) == D(due)


def test_add_months_and_years_directly(cal):
    assert cal.add_months(D("2026-01-31"), 1, rollover=False) == D("2026-02-28")
    assert cal.add_months(D("2024-01-31"), 1, rollover=False) == D("2024-02-29")
    assert cal.add_months(D("2026-03-31"), -1, rollover=False) == D("2026-02-28")
    assert cal.add_years(D("2024-02-29"), 4, rollover=False) == D("2028-02-29")
    assert cal.add_calendar_days(D("2026-03-05"), 30, rollover=True) == D("2026-04-07")
    assert cal.add_calendar_days(D("2026-03-05"), 30, rollover=False) == D("2026-04-04")


def test_makeup_day_is_not_rolled_over(cal):
    # 2026-02-04 + 10 CD = 02-14, a make-up Saturday: a working day, so it stays.
    assert cal.add_calendar_days(D("2026-02-04"), 10, rollover=True) == D("2026-02-14")
    # One day later lands in 春节 (02-15) and rolls to 02-24.
    assert cal.add_calendar_days(D("2026-02-05"), 10, rollover=True) == D("2026-02-24")


# ---------------------------------------------------------------------------------------------
# C9 waiting periods and C10 expiries (no rollover, no holiday data needed)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "unit", "last", "eligible"),
    [
        ("2026-01-12", 3, "month", "2026-04-12", "2026-04-13"),  # S2
        ("2025-11-07", 3, "month", "2026-02-07", "2026-02-08"),  # S5: ends Sat, not extended
        ("2026-05-20", 1, "year", "2027-05-20", "2027-05-21"),  # S14 early repair
        ("2026-03-05", 30, "cd", "2026-04-04", "2026-04-05"),
    ],
)
def test_waiting_period_end(cal, start, amount, unit, last, eligible):
    assert cal.waiting_period_end(D(start), amount, unit) == (D(last), D(eligible))


def test_c9_vs_c3_on_the_same_input(cal):
    # Same 3-month period from 2026-01-12: its last day 04-12 is a Sunday.
    last, eligible = cal.waiting_period_end(D("2026-01-12"), 3, "month")
    assert last == D("2026-04-12")  # C9: not extended
    assert eligible == D("2026-04-13")
    assert cal.deadline(D("2026-01-12"), 3, "month") == D("2026-04-13")  # C3: rolled to Monday
    # A 30 CD period ending in 清明: the waiting period is not extended, the deadline is.
    assert cal.waiting_period_end(D("2026-03-05"), 30, "cd")[0] == D("2026-04-04")
    assert cal.deadline(D("2026-03-05"), 30, "cd") == D("2026-04-07")


def test_s14_waiting_and_expiry_need_no_future_data():
    only_2026 = StatutoryCalendar({2026: builtin_years()[2026]})
    assert only_2026.waiting_period_end(D("2026-05-20"), 1, "year") == (D("2027-05-20"), D("2027-05-21"))
    assert only_2026.expiry(D("2026-05-20"), 3, "year") == (D("2029-05-20"), D("2029-05-21"))
    assert only_2026.add_years(D("2026-05-20"), 3, rollover=False) == D("2029-05-20")
    assert only_2026.add_calendar_days(D("2026-12-30"), 10, rollover=False) == D("2027-01-09")
    empty = StatutoryCalendar({})
    assert empty.expiry(D("2026-05-20"), 3, "year") == (D("2029-05-20"), D("2029-05-21"))


@pytest.mark.parametrize(
    ("start", "amount", "unit", "last", "inactive"),
    [
        ("2026-05-20", 3, "year", "2029-05-20", "2029-05-21"),  # S14 auto removal
        ("2026-03-02", 1, "year", "2027-03-02", "2027-03-03"),  # S15 score item
        ("2024-02-29", 1, "year", "2025-02-28", "2025-03-01"),
        ("2026-01-31", 1, "month", "2026-02-28", "2026-03-01"),
    ],
)
def test_expiry(cal, start, amount, unit, last, inactive):
    assert cal.expiry(D(start), amount, unit) == (D(last), D(inactive))


# ---------------------------------------------------------------------------------------------
# C12: unloaded years fail loudly; loading a year file fixes it
# ---------------------------------------------------------------------------------------------


def test_2027_working_day_raises(cal):
    with pytest.raises(CalendarYearNotLoaded) as info:
        cal.is_working_day(D("2027-01-04"))
    assert info.value.year == 2027
    assert "2027" in str(info.value)
    assert info.value.code == "calendar_year_not_loaded"


def test_wd_deadline_crossing_into_2027_raises(cal):
    with pytest.raises(CalendarYearNotLoaded) as info:
        cal.add_working_days(D("2026-12-28"), 10)
    assert info.value.year == 2027
    with pytest.raises(CalendarYearNotLoaded):
        cal.deadline(D("2026-12-28"), 10, "wd")


def test_wd_deadline_inside_2026_near_year_end_works(cal):
    # 12-29, 12-30, 12-31: never touches 2027.
    assert cal.add_working_days(D("2026-12-28"), 3) == D("2026-12-31")


def test_rollover_into_unloaded_year_raises(cal):
    with pytest.raises(CalendarYearNotLoaded) as info:
        cal.add_calendar_days(D("2026-12-20"), 30, rollover=True)
    assert info.value.year == 2027
    with pytest.raises(CalendarYearNotLoaded):
        cal.add_years(D("2026-05-20"), 3, rollover=True)


def test_year_before_package_range_raises(cal):
    with pytest.raises(CalendarYearNotLoaded) as info:
        cal.is_working_day(D("2003-06-02"))
    assert info.value.year == 2003


def test_loading_example_2027_makes_it_work(cal_2027):
    assert cal_2027.loaded_years[-1] == 2027
    assert cal_2027.holiday_year(2027).source == "loaded"
    # 12-29, 12-30, 12-31, (01-01..03 元旦), 01-04..01-08, 01-11, 01-12.
    assert cal_2027.add_working_days(D("2026-12-28"), 10) == D("2027-01-12")
    assert cal_2027.is_working_day(D("2027-02-20"))  # example make-up Saturday
    assert not cal_2027.is_working_day(D("2027-02-08"))  # example 春节
    assert cal_2027.add_calendar_days(D("2026-12-20"), 30, rollover=True) == D("2027-01-19")


def test_example_file_is_marked_as_example():
    hy = parse_year_file(_example_2027_text(), "holidays-2027.example.json")
    assert hy.year == 2027
    assert "example" in hy.source_notice.lower()
    assert "示例" in hy.source_notice
    assert D("2027-01-01") in hy.rest_days and D("2027-01-03") in hy.rest_days


# ---------------------------------------------------------------------------------------------
# parse_year_file
# ---------------------------------------------------------------------------------------------


def _doc(**overrides) -> str:
    data = {
        "year": 2027,
        "rest_days": ["2027-01-01..2027-01-03", "2027-10-01"],
        "makeup_workdays": ["2027-02-20"],
        "source_notice": "test",
    }
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False)


def test_parse_year_file_ranges_and_fields():
    hy = parse_year_file(_doc())
    assert hy.source == "loaded"
    assert hy.rest_days == {D("2027-01-01"), D("2027-01-02"), D("2027-01-03"), D("2027-10-01")}
    assert hy.makeup_workdays == {D("2027-02-20")}
    assert hy.source_notice == "test"


def test_parse_year_file_accepts_bom_and_bytes():
    assert parse_year_file("\ufeff" + _doc()).year == 2027
    assert parse_year_file(_doc().encode("utf-8-sig")).year == 2027


@pytest.mark.parametrize(
    ("doc", "must_name"),
    [
        (_doc(rest_days=["2027-01-01", "2026-12-31"]), "2026-12-31"),  # date outside the year
        (_doc(rest_days=["2027-12-30..2028-01-02"]), "2027-12-30..2028-01-02"),  # range leaves the year
        (_doc(makeup_workdays=["2027-02-22"]), "2027-02-22"),  # a Monday listed as make-up
        (_doc(makeup_workdays=["2027-01-02"]), "2027-01-02"),  # in both lists (Sat)
        (_doc(rest_days=["2027-13-01"]), "2027-13-01"),  # impossible date
        (_doc(rest_days=["01/02/2027"]), "01/02/2027"),  # wrong format
        (_doc(rest_days=["2027-01-05..2027-01-03"]), "2027-01-05..2027-01-03"),  # reversed range
        (_doc(rest_days=[20270101]), "20270101"),  # not a string
        (_doc(year=1999), "1999"),
        (_doc(year=2101), "2101"),
        (_doc(year="2027"), "2027"),
        (_doc(makeup_workday=["2027-02-20"]), "makeup_workday"),  # typo in a key
        ('{"year": 2027, "rest_days": ["2027-01-01"]}', "makeup_workdays"),  # missing key
        (_doc(rest_days=[]), "rest_days"),
        ('{"year": 2027, "rest_days": ["2027-01-01",]}', "JSON"),  # bad JSON
        ("[2027]", "JSON"),
    ],
)
def test_parse_year_file_errors(doc, must_name):
    with pytest.raises(ValueError) as info:
        parse_year_file(doc, "holidays-2027.json")
    message = str(info.value)
    assert must_name in message
    assert "holidays-2027.json" in message
    assert " / " in message  # bilingual: Chinese, then English


def test_parse_year_file_ignores_comment_keys():
    assert parse_year_file(_doc(_comment="note")).year == 2027


def test_holiday_year_validates_directly():
    with pytest.raises(ValueError):
        HolidayYear(2027, frozenset({D("2026-12-31")}), frozenset())
    with pytest.raises(ValueError):
        HolidayYear(2027, frozenset(), frozenset({D("2027-02-22")}))


# ---------------------------------------------------------------------------------------------
# Misc
# ---------------------------------------------------------------------------------------------


def test_datetime_is_rejected(cal):
    from datetime import datetime

    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 1, 12, 9, 0))


def test_unknown_unit_rejected(cal):
    with pytest.raises(ValueError):
        cal.deadline(D("2026-01-12"), 3, "week")  # type: ignore[arg-type]


def test_add_working_days_is_fast(cal):
    t0 = time.perf_counter()
    for _ in range(100):
        cal.add_working_days(D("2024-01-02"), 500)
    assert time.perf_counter() - t0 < 2.0
