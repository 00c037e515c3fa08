"""The district score as a pure function of items: points, validity and the direct grade cap."""
from __future__ import annotations

from datetime import date

from models import CreditRecord, RecordStatus
from workflows.scoring import grade_for, score_at, worse_grade


def item(points=0, direct_grade=None, decided=date(2026, 3, 1), valid_until=date(2028, 2, 29),
         status=RecordStatus.ACTIVE, record_id=1):
    return CreditRecord(id=record_id, subject_id=1, kind="dishonesty", severity="general", title="t", points=points,
                        direct_grade=direct_grade, decided_on=decided, valid_until=valid_until, status=status)


def test_grade_table_boundaries_include_the_number_itself():
    assert [grade_for(s)[0] for s in (1050, 1049, 1030, 960, 959, 850, 849, 600, 599)] == \
        ["AAA", "AA", "AA", "A", "B", "B", "C", "C", "D"]


def test_worse_grade():
    assert worse_grade("A", "B") == "B" and worse_grade("D", "B") == "D" and worse_grade("AAA", "AA") == "AA"


def test_a_direct_grade_caps_the_grade_while_it_counts():
    records = [item(points=-5, direct_grade="B")]
    inside = score_at(records, date(2026, 6, 1))
    # While the direct grade counts the score is at most the grade's floor (WD-Score §18(7)).
    assert (inside.score, inside.grade, inside.direct_grade, inside.grade_label_zh) == (850, "B", "B", "较诚信")
    after = score_at(records, date(2028, 3, 1))
    assert (after.score, after.grade, after.direct_grade) == (1000, "A", None)


def test_the_worst_direct_grade_wins_and_a_low_score_stays_lower():
    records = [item(direct_grade="B", record_id=1), item(direct_grade="C", record_id=2)]
    assert score_at(records, date(2026, 6, 1)).grade == "C"
    low = [item(points=-500, direct_grade="B")]
    assert score_at(low, date(2026, 6, 1)).grade == "D"


def test_a_revoked_direct_grade_no_longer_counts():
    records = [item(direct_grade="D", status=RecordStatus.REVOKED)]
    assert score_at(records, date(2026, 6, 1)).grade == "A"
