"""The district score (文登 社会成员信用积分, DOMAIN.md §8.1) as a pure function of credit items.

score(t) = base + Σ points of items active on t (repaired, revoked and expired items excluded);
grade(t) from the grade table. The full scheme engine (direct grades, repeats, bonus freeze,
snapshots) builds on this in its own issue.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from models import CreditRecord

from .records import is_active_on

#: (lowest score of the grade, grade, zh label); "以上/以下" include the number itself (WD-Score §18(7)).
WENDENG_GRADES = (
    (1050, "AAA", "诚信模范"),
    (1030, "AA", "诚信优秀"),
    (960, "A", "诚信"),
    (850, "B", "较诚信"),
    (600, "C", "诚信警示"),
    (None, "D", "不诚信"),
)


def grade_for(score: int) -> tuple[str, str]:
    for floor, grade, label_zh in WENDENG_GRADES:
        if floor is None or score >= floor:
            return grade, label_zh
    raise AssertionError("unreachable")


@dataclass
class ScoreResult:
    at: date
    base: int
    score: int
    grade: str
    grade_label_zh: str
    items: list[dict] = field(default_factory=list)


def score_at(records: Iterable[CreditRecord], at: date, *, base: int = 1000) -> ScoreResult:
    items = []
    total = base
    for record in sorted(records, key=lambda r: (r.decided_on, r.id or 0)):
        if not record.points or not is_active_on(record, at):
            continue
        total += record.points
        items.append({"record_id": record.id, "title": record.title, "points": record.points,
                      "decided_on": record.decided_on.isoformat(),
                      "valid_until": record.valid_until.isoformat() if record.valid_until else None})
    grade, label_zh = grade_for(total)
    return ScoreResult(at=at, base=base, score=total, grade=grade, grade_label_zh=label_zh, items=items)
