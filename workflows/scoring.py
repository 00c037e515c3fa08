"""The district score (文登 社会成员信用积分, DOMAIN.md §8.1) as a pure function of credit items.

score(t) = base + Σ points of items active on t (repaired, revoked and expired items excluded);
grade(t) from the grade table, capped by the direct grade (直接判级, WD-Score §10, §13, §14) of any
item active on t: such an item sets the grade to at most B, C or D whatever the points say. The full
scheme engine (repeats, bonus freeze, snapshots) builds on this in its own issue.
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


GRADE_ORDER = [grade for _floor, grade, _label in WENDENG_GRADES]  # best first
GRADE_LABELS = {grade: label for _floor, grade, label in WENDENG_GRADES}


def worse_grade(a: str, b: str) -> str:
    return a if GRADE_ORDER.index(a) >= GRADE_ORDER.index(b) else b


@dataclass
class ScoreResult:
    at: date
    base: int
    score: int
    grade: str
    grade_label_zh: str
    items: list[dict] = field(default_factory=list)
    direct_grade: str | None = None  #: the worst direct grade in force, if any


def score_at(records: Iterable[CreditRecord], at: date, *, base: int = 1000) -> ScoreResult:
    items = []
    total = base
    direct = None
    for record in sorted(records, key=lambda r: (r.decided_on, r.id or 0)):
        if not (record.points or record.direct_grade) or not is_active_on(record, at):
            continue
        total += record.points or 0
        if record.direct_grade:
            direct = worse_grade(direct, record.direct_grade) if direct else record.direct_grade
        items.append({"record_id": record.id, "title": record.title, "points": record.points,
                      "direct_grade": record.direct_grade, "decided_on": record.decided_on.isoformat(),
                      "valid_until": record.valid_until.isoformat() if record.valid_until else None})
    grade, _ = grade_for(total)
    if direct:
        grade = worse_grade(grade, direct)
    return ScoreResult(at=at, base=base, score=total, grade=grade, grade_label_zh=GRADE_LABELS[grade], items=items,
                       direct_grade=direct)
