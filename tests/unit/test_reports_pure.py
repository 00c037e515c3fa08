"""The pure parts of workflows.reports: periods, sample sizes, the draw, the class mapping and the
classification of deadline rows (no database)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from workflows.errors import InvalidInput
from workflows.reports import (Period, class_of, classify_deadline, draw_sample, parse_period, population_sha256,
                               sample_size)
from workflows.rules import Rules

TODAY = date(2026, 4, 13)


def test_period_defaults_to_january_until_this_month():
    assert parse_period(None, None, TODAY) == Period(date(2026, 1, 1), date(2026, 4, 30))
    assert parse_period("2025-11", "2026-02", TODAY).months() == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert parse_period(None, "2024-02", TODAY) == Period(date(2024, 1, 1), date(2024, 2, 29))


@pytest.mark.parametrize("start, end, fragment", [
    ("2026-01", "2026-05", "must not lie in the future"), ("2026-03", "2026-01", "starts"),
    ("2026-00", "2026-01", "YYYY-MM"), ("2023-01", "2026-04", "at most 36 months"), ("x", None, "YYYY-MM")])
def test_bad_periods_are_refused_in_both_languages(start, end, fragment):
    with pytest.raises(InvalidInput) as caught:
        parse_period(start, end, TODAY)
    assert fragment in caught.value.message and " / " in caught.value.message


@pytest.mark.parametrize("count, ratio, size", [(0, 0.05, 0), (1, 0.05, 1), (20, 0.05, 1), (21, 0.05, 2),
                                                (10, 0.2, 2), (6, 0.6, 4), (4, 1.0, 4), (7, 0.0, 0)])
def test_sample_size_is_the_ratio_rounded_up(count, ratio, size):
    assert sample_size(count, ratio) == size


def test_the_draw_is_a_pure_function_of_seed_and_population():
    population = {"A": list(range(1, 101)), "B": list(range(101, 121)), "C": [121, 122], "D": [123]}
    ratios = {"A": 0.05, "B": 0.2, "C": 0.6, "D": 1.0}
    first = draw_sample(42, population, ratios)
    assert first == draw_sample(42, {k: list(reversed(v)) for k, v in population.items()}, ratios)
    assert {k: len(v) for k, v in first.items()} == {"A": 5, "B": 4, "C": 2, "D": 1}
    assert all(set(first[k]) <= set(population[k]) for k in population)
    assert any(draw_sample(seed, population, ratios) != first for seed in range(43, 48))
    assert population_sha256(population) == population_sha256({k: list(reversed(v)) for k, v in population.items()})


def test_grades_map_to_supervision_classes():
    rules = Rules()
    assert [class_of(g, rules) for g in ("AAA", "AA", "A", "B", "C", "D", "DA", "DC")] == list("AAABCDDD")
    with pytest.raises(InvalidInput):
        class_of("E", rules)


NOW = datetime(2026, 4, 13, 1, tzinfo=timezone.utc)
DUE = datetime(2026, 4, 7, 16, tzinfo=timezone.utc)  # 24:00 of 04-07 in Beijing


@pytest.mark.parametrize("status, closed_at, extended, outcome", [
    ("met", datetime(2026, 4, 7, 15, tzinfo=timezone.utc), False, "met_on_time"),
    ("met", datetime(2026, 4, 7, 15, tzinfo=timezone.utc), True, "met_extended"),
    ("met", datetime(2026, 4, 8, 1, tzinfo=timezone.utc), True, "overdue_closed"),
    ("expired", datetime(2026, 4, 8, 1, tzinfo=timezone.utc), False, "overdue_closed"),
    ("open", None, False, "overdue_open"),
    ("suspended", None, False, "overdue_open"),
    ("cancelled", datetime(2026, 4, 3, tzinfo=timezone.utc), False, None)])
def test_deadline_rows_are_classified(status, closed_at, extended, outcome):
    assert classify_deadline(status, DUE, closed_at, extended, NOW) == outcome
    if status == "open":
        assert classify_deadline("open", DUE, None, False, datetime(2026, 4, 6, tzinfo=timezone.utc)) == "in_progress"
        assert classify_deadline("suspended", None, None, False, NOW) == "in_progress"
