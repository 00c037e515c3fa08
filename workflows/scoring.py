"""Credit scores under a scoring scheme (DOMAIN.md §8), as pure functions of credit items.

Two halves. Rule effects that depend on history are resolved ONTO THE ITEM WHEN IT IS CREATED
(`resolve_new_item`): a repeat within the validity of an earlier deduction in the same category
stores doubled points (WD-Score §18(4)); the validity (deduction ≤40 → 1 Y, >40 → 2 Y; direct
B 2 Y / C 3 Y / D 5 Y; bonuses by honour level, WD-Score §20) is stored in `valid_until`, counted
from the end of a continuing act (§20(5)). Then `score_at` is a pure function of the stored items:

  1. active = the scheme's items with `is_active_on(item, t)`;
  2. direct = the worst direct grade among them (None if none);
  3. score = base + Σ points of active items, except that bonuses do not count while `direct`
     stands (bonus freeze, WD-Score §17);
  4. while a pure direct-grade item stands, score = min(score, FLOOR[grade]) (WD-Score §18(7):
     "降级指标对应的扣分分值均按该等级最低分数计算": a downgrade is worth whatever reaches the floor
     of its grade, B 850 / C 600 / D 599 in 文登). An item that carries its own points beside a
     direct grade (entered by hand before catalogues existed) keeps its points instead;
  5. grade = the worse of the table grade and `direct`; a D is labelled DA/DB/DC by the grade held
     just before the drop (WD-Score §8).

A scheme (`Scheme`) is plain data: base, grade table, floors, validity rules, repeat rule, bonus
freeze, effective range and point limits. The three shipped schemes are JSON files in
workflows/data/schemes/ (文登 district, the default; 威海 海贝分; 文登 rural stars); an
administrator's edits live in the `scoring_schemes` and `catalogue_items` tables (workflows.catalogue).
Items name their catalogue row by `item_code`, whose prefix (WD-, HB-, WR-) says the scheme; items
without a code belong to the default scheme, so callers that pass no scheme are unchanged.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CatalogueItem, CreditRecord, RecordKind, RecordStatus, Subject

from .calendar import StatutoryCalendar
from .errors import InvalidInput
from .records import is_active_on

SCHEME_DIR = Path(__file__).parent / "data" / "schemes"
DEFAULT_SCHEME_KEY = "wendeng"
ONE_DAY = timedelta(days=1)

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
    """The 文登 district grade for a score (kept for callers that know only the default scheme)."""
    for floor, grade, label_zh in WENDENG_GRADES:
        if floor is None or score >= floor:
            return grade, label_zh
    raise AssertionError("unreachable")


GRADE_ORDER = [grade for _floor, grade, _label in WENDENG_GRADES]  # best first
GRADE_LABELS = {grade: label for _floor, grade, label in WENDENG_GRADES}


def worse_grade(a: str, b: str) -> str:
    return a if GRADE_ORDER.index(a) >= GRADE_ORDER.index(b) else b


# --- schemes as data ----------------------------------------------------------------------------

class GradeRow(NamedTuple):
    """One row of a grade table; a tuple, so `row[0], row[1]` read like WENDENG_GRADES rows."""

    lowest: int | None  #: inclusive; None for the last (lowest) grade
    grade: str
    label_zh: str
    label_en: str


@dataclass(frozen=True, eq=False)
class Scheme:
    key: str
    name_zh: str
    name_en: str
    code_prefix: str
    base: int
    grades: tuple[GradeRow, ...]
    direct_grade_floors: Mapping[str, int]
    validity_rules: Mapping[str, Any]
    repeat_rule: Mapping[str, Any] | None
    bonus_freeze: bool
    effective_from: date
    effective_to: date | None
    points_min: int
    points_max: int
    options: Mapping[str, Any] = field(default_factory=dict)
    is_default: bool = False
    source: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scheme:
        grades = tuple(GradeRow(row[0], row[1], row[2], row[3] if len(row) > 3 else row[1]) for row in data["grades"])
        if not grades or grades[-1].lowest is not None:
            raise ValueError(f"{data['key']}: the last grade must have no lower bound")
        lows = [g.lowest for g in grades[:-1]]
        if any(low is None for low in lows) or lows != sorted(lows, reverse=True):  # type: ignore[type-var]
            raise ValueError(f"{data['key']}: grades must be listed best first with falling lower bounds")
        effective_to = data.get("effective_to")
        return cls(
            key=data["key"], name_zh=data["name_zh"], name_en=data["name_en"], code_prefix=data["code_prefix"],
            base=int(data["base"]), grades=grades,
            direct_grade_floors={k: int(v) for k, v in (data.get("direct_grade_floors") or {}).items()},
            validity_rules=data["validity_rules"], repeat_rule=data.get("repeat_rule"),
            bonus_freeze=bool(data.get("bonus_freeze", True)),
            effective_from=_as_date(data["effective_from"]),
            effective_to=_as_date(effective_to) if effective_to else None,
            points_min=int(data["points_min"]), points_max=int(data["points_max"]),
            options=data.get("options") or {}, is_default=bool(data.get("default", False)),
            source=data.get("source", ""),
        )

    @classmethod
    def from_model(cls, row: Any) -> Scheme:
        """From a `models.ScoringScheme` row (what an administrator may have edited)."""
        return cls.from_dict({
            "key": row.key, "name_zh": row.name_zh, "name_en": row.name_en, "code_prefix": row.code_prefix,
            "base": row.base, "grades": row.grades, "direct_grade_floors": row.direct_grade_floors,
            "validity_rules": row.validity_rules, "repeat_rule": row.repeat_rule, "bonus_freeze": row.bonus_freeze,
            "effective_from": row.effective_from, "effective_to": row.effective_to, "points_min": row.points_min,
            "points_max": row.points_max, "options": row.options, "default": row.key == DEFAULT_SCHEME_KEY,
            "source": row.source,
        })

    # -- grades --------------------------------------------------------------------------------

    @property
    def grade_order(self) -> list[str]:
        return [g.grade for g in self.grades]  # best first

    def grade_row(self, score: int) -> GradeRow:
        for row in self.grades:
            if row.lowest is None or score >= row.lowest:
                return row
        raise AssertionError("unreachable")

    def row_of(self, grade: str) -> GradeRow:
        for row in self.grades:
            if row.grade == grade:
                return row
        raise KeyError(grade)

    def worse(self, a: str | None, b: str | None) -> str | None:
        if a is None or b is None:
            return a or b
        order = self.grade_order
        return a if order.index(a) >= order.index(b) else b

    def grade_of_direct(self, direct_grade: str) -> str:
        """The scheme grade a direct grade (B/C/D on the item) stands for: 零星 in the rural scheme."""
        return str((self.options.get("direct_grade_map") or {}).get(direct_grade, direct_grade))

    # -- membership and validity ----------------------------------------------------------------

    def owns(self, record: CreditRecord) -> bool:
        """Is `record` evaluated under this scheme? Items without a catalogue code are the default's."""
        code = record.item_code
        if not code:
            return self.is_default
        return code.startswith(self.code_prefix + "-")

    def in_force_on(self, d: date) -> bool:
        return self.effective_from <= d and (self.effective_to is None or d <= self.effective_to)

    @property
    def yearly_cycle(self) -> bool:
        return self.validity_rules.get("cycle") == "year"


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@functools.lru_cache(maxsize=None)
def _builtin_file(key: str) -> dict[str, Any]:
    path = SCHEME_DIR / f"{key}.json"
    if not path.is_file():
        raise KeyError(key)
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def builtin_scheme_keys() -> list[str]:
    return sorted(p.stem for p in SCHEME_DIR.glob("*.json"))


def builtin_scheme_data(key: str) -> dict[str, Any]:
    """The shipped seed file of one scheme (scheme fields plus its `items`)."""
    return _builtin_file(key)


@functools.lru_cache(maxsize=None)
def builtin_scheme(key: str = DEFAULT_SCHEME_KEY) -> Scheme:
    return Scheme.from_dict(_builtin_file(key))


def default_scheme() -> Scheme:
    return builtin_scheme(DEFAULT_SCHEME_KEY)


#: The default scheme as shipped (文登 district), for code that wants the scheme object itself.
DEFAULT_SCHEME = default_scheme()


def scheme_for_code(code: str | None) -> Scheme:
    """The shipped scheme whose code prefix `code` carries (the default for uncoded items)."""
    if code:
        for key in builtin_scheme_keys():
            scheme = builtin_scheme(key)
            if code.startswith(scheme.code_prefix + "-"):
                return scheme
    return default_scheme()


# --- the score at a date ------------------------------------------------------------------------

@dataclass
class ScoreResult:
    at: date
    base: int
    score: int
    grade: str
    grade_label_zh: str
    items: list[dict] = field(default_factory=list)
    direct_grade: str | None = None  #: the worst direct grade in force (as a scheme grade), if any
    grade_display: str = ""          #: the grade as shown: DA/DB/DC for a D in the 文登 scheme
    grade_label_en: str = ""
    scheme: str = DEFAULT_SCHEME_KEY
    frozen_points: int = 0           #: bonuses recorded but not counted (bonus freeze)
    ceiling: int | None = None       #: the direct-grade floor that capped the score, if any

    def __post_init__(self) -> None:
        if not self.grade_display:
            self.grade_display = self.grade


@dataclass
class _Evaluation:
    score: int
    grade: str
    direct: str | None
    items: list[dict]
    frozen: int
    ceiling: int | None


def _evaluate(records: list[CreditRecord], at: date, scheme: Scheme, base: int) -> _Evaluation:
    active = [r for r in records if (r.points or r.direct_grade) and is_active_on(r, at)]
    direct: str | None = None
    ceiling: int | None = None
    for record in active:
        if record.direct_grade:
            direct = scheme.worse(direct, scheme.grade_of_direct(record.direct_grade))
            floor = scheme.direct_grade_floors.get(record.direct_grade)
            if floor is not None:  # the grade floor (WD-Score §18(7)): the score is at most the floor
                ceiling = floor if ceiling is None else min(ceiling, floor)
    freeze = scheme.bonus_freeze and direct is not None
    total, frozen, items = base, 0, []
    for record in active:
        points = record.points or 0
        counted = not (freeze and points > 0)
        if counted:
            total += points
        else:
            frozen += points
        items.append({"record_id": record.id, "title": record.title, "points": record.points,
                      "direct_grade": record.direct_grade, "decided_on": record.decided_on.isoformat(),
                      "valid_until": record.valid_until.isoformat() if record.valid_until else None,
                      "item_code": record.item_code, "counted": counted})
    if ceiling is not None:
        total = min(total, ceiling)
    grade = scheme.grade_row(total).grade
    if direct:
        grade = scheme.worse(grade, direct) or grade
    return _Evaluation(total, grade, direct, items, frozen, ceiling)


def _change_days(records: list[CreditRecord], at: date) -> list[date]:
    """Days on which an item starts or stops counting, latest first, up to `at`."""
    days: set[date] = set()
    for r in records:
        days.add(r.decided_on)
        if r.valid_until is not None:
            days.add(r.valid_until + ONE_DAY)
        if r.repaired_on is not None:
            days.add(r.repaired_on)
    return sorted((d for d in days if d <= at), reverse=True)


def grade_before_drop(records: list[CreditRecord], at: date, scheme: Scheme, base: int) -> str:
    """The grade held just before the current run of D began (WD-Score §8: DA, DB, DC)."""
    for day in _change_days(records, at):
        before = _evaluate(records, day - ONE_DAY, scheme, base).grade
        if before != "D":
            return before
    return scheme.grade_row(base).grade


def score_at(records: Iterable[CreditRecord], at: date, *, base: int | None = None,
             scheme: Scheme | None = None) -> ScoreResult:
    """Score and grade on day `at` under `scheme` (default: the 文登 district scheme)."""
    scheme = scheme or default_scheme()
    base = scheme.base if base is None else base
    owned = sorted((r for r in records if scheme.owns(r)), key=lambda r: (r.decided_on, r.id or 0))
    ev = _evaluate(owned, at, scheme, base)
    row = scheme.row_of(ev.grade)
    display = ev.grade
    sub_labels = scheme.options.get("d_labels")
    if ev.grade == "D" and sub_labels:
        display = sub_labels.get(grade_before_drop(owned, at, scheme, base), "D")
    return ScoreResult(at=at, base=base, score=ev.score, grade=ev.grade, grade_label_zh=row.label_zh,
                       items=ev.items, direct_grade=ev.direct, grade_display=display, grade_label_en=row.label_en,
                       scheme=scheme.key, frozen_points=ev.frozen, ceiling=ev.ceiling)


# --- resolving a new item -----------------------------------------------------------------------

VALIDITY_CLASSES = ("deduction", "direct", "honour_district", "honour_city", "honour_provincial",
                    "honour_national", "bonus_other")


@dataclass(frozen=True)
class ItemSpec:
    """What the engine needs of a catalogue row (a `CatalogueItem` or a dict of the same fields)."""

    code: str | None
    name_zh: str
    kind: str                       #: add / deduct
    points: int
    category: str
    validity_class: str
    subject_kinds: tuple[str, ...] = ("person", "organisation")
    direct_grade: str | None = None
    points_low: int | None = None
    points_high: int | None = None
    repair_rule: str | None = None
    mirror_code: str | None = None
    active: bool = True

    @classmethod
    def of(cls, item: CatalogueItem | ItemSpec | Mapping[str, Any]) -> ItemSpec:
        if isinstance(item, ItemSpec):
            return item
        get = item.get if isinstance(item, Mapping) else (lambda k, d=None: getattr(item, k, d))
        kind = get("kind") or ("deduct" if int(get("points", 0) or 0) < 0 or get("direct_grade") else "add")
        direct = get("direct_grade")
        default_class = "direct" if direct else ("deduction" if kind == "deduct" else "bonus_other")
        return cls(
            code=get("code"), name_zh=get("name_zh") or get("title") or "", kind=kind,
            points=int(get("points", 0) or 0), category=get("category") or "",
            validity_class=get("validity_class") or default_class,
            subject_kinds=tuple(get("subject_kinds") or ("person", "organisation")), direct_grade=direct,
            points_low=get("points_low"), points_high=get("points_high"), repair_rule=get("repair_rule"),
            mirror_code=get("mirror_code"), active=bool(get("active", True)),
        )


def subject_kind_key(subject: Subject) -> str:
    """Catalogues distinguish persons (个人标准) from organisations (社会法人标准, WD-Score §18(11))."""
    return "person" if subject.is_natural_person else "organisation"


def _calendar(calendar: StatutoryCalendar | None) -> StatutoryCalendar:
    # Year periods need no holiday table (C2, C10): an empty calendar is enough.
    return calendar or StatutoryCalendar({})


def validity_years(scheme: Scheme, spec: ItemSpec, points: int) -> int:
    rules = scheme.validity_rules
    if spec.direct_grade and "direct" in rules:
        return int(rules["direct"][spec.direct_grade])
    if spec.kind == "deduct":
        for max_abs, years in rules["deduction"]:
            if max_abs is None or abs(points) <= max_abs:
                return int(years)
        raise AssertionError("the last deduction row must have no bound")
    return int(rules.get(spec.validity_class, rules.get("bonus_other", 1)))


def valid_until_for(scheme: Scheme, spec: ItemSpec, points: int, start: date,
                    calendar: StatutoryCalendar | None = None) -> date:
    """Last day the item counts (C10: inactive from the next day)."""
    if scheme.yearly_cycle:
        return date(start.year, 12, 31)  # WD-Rural: at most one year, ending on 12-31
    last, _ = _calendar(calendar).expiry(start, validity_years(scheme, spec, points), "year")
    return last


def earlier_deduction(session: Session, subject: Subject, category: str, on: date,
                      scheme: Scheme) -> CreditRecord | None:
    """The latest deduction of the same category still within its validity on `on`."""
    if not category:
        return None
    rows = session.execute(
        select(CreditRecord).where(CreditRecord.subject_id == subject.id, CreditRecord.category == category,
                                   CreditRecord.points < 0, CreditRecord.decided_on <= on)
    ).scalars().all()
    live = [r for r in rows if scheme.owns(r) and is_active_on(r, on)]
    return max(live, key=lambda r: (r.decided_on, r.id or 0)) if live else None


def resolve_new_item(session: Session, subject: Subject,
                     catalogue_item_or_fields: CatalogueItem | ItemSpec | Mapping[str, Any],
                     decided_on: date, scheme: Scheme | None = None, *, points: int | None = None,
                     act_ended_on: date | None = None, continuing: bool = False, title: str | None = None,
                     severity: str | None = None, calendar: StatutoryCalendar | None = None,
                     **extra: Any) -> CreditRecord:
    """A new, unsaved credit item for `subject` with its history-dependent effects resolved.

    - points: the catalogue value, or `points` within the row's 视情节 range;
    - repeat (WD-Score §18(4)): a deduction in the same category as a deduction still valid on
      `decided_on` stores double the earlier value (never less than its own value);
    - validity (§20): from `decided_on`, or from the end of the act when it ended later
      (§20(5)); a `continuing` act (not yet ended) has no end date until `end_continuing_act`;
    - late entry does not extend validity: it always runs from the dates given, not from today.
    Extra keyword arguments are set on the record (department_id, document_no, ...).
    """
    spec = ItemSpec.of(catalogue_item_or_fields)
    scheme = scheme or scheme_for_code(spec.code)
    if not spec.active:
        raise InvalidInput(f"评分事项 {spec.code} 已停用 / catalogue item {spec.code} is inactive")
    if subject_kind_key(subject) not in spec.subject_kinds:
        raise InvalidInput(f"评分事项 {spec.code} 不适用于该类主体 / catalogue item {spec.code} does not apply to "
                           f"this kind of subject", details={"subject_kinds": list(spec.subject_kinds)})
    value = spec.points if points is None else int(points)
    if points is not None and value != spec.points:
        if spec.points_low is None or spec.points_high is None or not spec.points_low <= value <= spec.points_high:
            raise InvalidInput(
                f"分值 {value} 不在该事项允许的范围内 / points {value} outside the item's range",
                details={"points_low": spec.points_low, "points_high": spec.points_high, "points": spec.points})
    notes = []
    rule = scheme.repeat_rule
    if rule and spec.kind == "deduct" and value < 0 and not spec.direct_grade:
        earlier = earlier_deduction(session, subject, spec.category, decided_on, scheme)
        if earlier is not None:
            doubled = earlier.points * int(rule.get("multiplier", 2))
            notes.append(f"有效期内重复失信，在原减分 {earlier.points} 基础上加倍（记录 #{earlier.id}） / repeat within "
                         f"the validity of record #{earlier.id}: double the earlier {earlier.points}")
            value = min(value, doubled)
    start = act_ended_on if act_ended_on and act_ended_on > decided_on else decided_on
    valid_until = None if continuing else valid_until_for(scheme, spec, value, start, calendar)
    dishonesty = spec.kind == "deduct"
    if dishonesty and severity is None:
        severity = "serious" if spec.direct_grade in ("C", "D") else "general"
    return CreditRecord(
        subject_id=subject.id, kind=RecordKind.DISHONESTY if dishonesty else RecordKind.POSITIVE,
        title=title or spec.name_zh, description="\n".join(notes), severity=severity if dishonesty else None,
        category=spec.category, decided_on=decided_on, act_ended_on=act_ended_on, points=value,
        direct_grade=spec.direct_grade, valid_until=valid_until, status=RecordStatus.ACTIVE, item_code=spec.code,
        under_objection=False, **extra,
    )


def end_continuing_act(record: CreditRecord, ended_on: date, scheme: Scheme | None = None,
                       calendar: StatutoryCalendar | None = None) -> None:
    """A continuing act ended (or, rural, was rectified): validity now runs from `ended_on` (§20(5))."""
    scheme = scheme or scheme_for_code(record.item_code)
    spec = ItemSpec.of({"code": record.item_code, "points": record.points, "direct_grade": record.direct_grade,
                        "kind": "deduct" if record.is_dishonesty else "add", "category": record.category})
    record.act_ended_on = ended_on
    record.valid_until = valid_until_for(scheme, spec, record.points, max(ended_on, record.decided_on), calendar)


# --- repair effects (DOMAIN.md §3.8) ------------------------------------------------------------

def catalogue_entry(session: Session | None, code: str | None) -> ItemSpec | None:
    """The catalogue row behind `code`: the administrator's table first, then the shipped seed."""
    if not code:
        return None
    if session is not None:
        row = session.execute(select(CatalogueItem).where(CatalogueItem.code == code)).scalar_one_or_none()
        if row is not None:
            return ItemSpec.of(row)
    scheme = scheme_for_code(code)
    for item in builtin_scheme_data(scheme.key)["items"]:
        if item["code"] == code:
            return ItemSpec.of(item)
    return None


def repair_rule_for(scheme: Scheme, spec: ItemSpec | None, record: CreditRecord) -> dict[str, Any] | None:
    if spec is None or not spec.repair_rule:
        return None
    rule = (scheme.options.get("repair_rules") or {}).get(spec.repair_rule)
    if rule and "by_grade" in rule:
        rule = rule["by_grade"].get(record.direct_grade or "")
    return dict(rule) if rule else None


#: Written on the item that replaces a repaired one (the full stop keeps #5 from matching #50).
REPLACEMENT_MARK = "信用修复替代记录 #{id}。 / replaces repaired record #{id}."


def apply_repair(session: Session, record: CreditRecord, repaired_on: date, *, scheme: Scheme | None = None,
                 remove_deduction: bool = True, calendar: StatutoryCalendar | None = None,
                 repair_case_id: int | None = None) -> CreditRecord | None:
    """Repair `record` on `repaired_on` and return what replaces it in the score, if anything.

    The repaired item leaves the score (status repaired). Where the scheme has a repair rule for its
    catalogue row it is replaced by a new item from `repaired_on`: 失信被执行人 D → −50 kept 2 Y
    (person), −80 (organisation), −60 (its legal representative); 信访 C → −50, D → B (WD-Score
    §19); a rural village direct grade corrected in the same year → −60 (WD-Rural). Without a rule
    the deduction is removed (`remove_deduction`, rules key
    repair.remove_district_deduction_on_national_repair) or kept counting unchanged.
    """
    scheme = scheme or scheme_for_code(record.item_code)
    spec = catalogue_entry(session, record.item_code)
    rule = repair_rule_for(scheme, spec, record)
    if rule and rule.get("same_year") and repaired_on.year != record.decided_on.year:
        raise InvalidInput("村级直接判级仅在当年改正时可修复 / a village direct grade is repairable only in its own year")
    record.status = RecordStatus.REPAIRED
    record.repaired_on = repaired_on
    if repair_case_id is not None:
        record.repair_case_id = repair_case_id
    if rule is None and remove_deduction:
        return None
    if rule is None:
        points, direct, valid_until = record.points, record.direct_grade, record.valid_until
    else:
        points, direct = int(rule.get("points", 0)), rule.get("direct_grade")
        replacement = ItemSpec.of({"code": record.item_code, "points": points, "direct_grade": direct,
                                   "kind": "deduct", "category": "信用修复"})
        if "years" in rule and not scheme.yearly_cycle:
            valid_until, _ = _calendar(calendar).expiry(repaired_on, int(rule["years"]), "year")
        else:
            valid_until = valid_until_for(scheme, replacement, points, repaired_on, calendar)
    new = CreditRecord(
        subject_id=record.subject_id, kind=RecordKind.DISHONESTY, severity=record.severity or "general",
        title=f"{record.title}（信用修复后）", category="信用修复", decided_on=repaired_on,
        act_ended_on=record.act_ended_on, department_id=record.department_id, document_no=record.document_no,
        points=points, direct_grade=direct, valid_until=valid_until, status=RecordStatus.ACTIVE,
        item_code=record.item_code, under_objection=False,
        description=REPLACEMENT_MARK.format(id=record.id),
    )
    session.add(new)
    return new


def revoke_repair_replacement(session: Session, record: CreditRecord) -> list[CreditRecord]:
    """A repair of `record` was revoked (§3.6 T10): what replaced it in the score goes again."""
    mark = REPLACEMENT_MARK.format(id=record.id)
    rows = session.execute(select(CreditRecord).where(
        CreditRecord.subject_id == record.subject_id, CreditRecord.description.contains(mark),
        CreditRecord.status == RecordStatus.ACTIVE)).scalars().all()
    for row in rows:
        row.status = RecordStatus.REVOKED
    return list(rows)


# --- 联奖联罚: organisation → legal representative (WD-Score §6, §18(5)) -------------------------

#: Written on the mirrored item; the closing full stop keeps #5 from matching #50.
MIRROR_MARK = "联奖联罚源自记录 #{id}。 / mirrored from record #{id}."


def mirror_to_legal_representative(session: Session, org_record: CreditRecord, *, scheme: Scheme | None = None,
                                   calendar: StatutoryCalendar | None = None) -> CreditRecord | None:
    """Write an organisation's item to its legal representative's personal record, on the individual
    scale (the catalogue row's `mirror_code`, e.g. a company on the 失信被执行人 list → its legal
    representative graded C, WD-Score §12(6)). Returns the new item, or None when the organisation
    has no linked representative (or it was mirrored already)."""
    org = session.get(Subject, org_record.subject_id)
    if org is None or org.is_natural_person or not org.legal_rep_subject_id:
        return None
    rep = session.get(Subject, org.legal_rep_subject_id)
    if rep is None or not rep.is_natural_person:
        return None
    mark = MIRROR_MARK.format(id=org_record.id)
    already = session.execute(select(CreditRecord.id).where(
        CreditRecord.subject_id == rep.id, CreditRecord.description.contains(mark))).first()
    if already:
        return None
    scheme = scheme or scheme_for_code(org_record.item_code)
    spec = catalogue_entry(session, org_record.item_code)
    target = catalogue_entry(session, spec.mirror_code) if spec and spec.mirror_code else None
    if target is None:
        # No person-scale row named: the same item, points and grade, applied to the person.
        target = ItemSpec.of({"code": org_record.item_code, "name_zh": org_record.title, "points": org_record.points,
                              "direct_grade": org_record.direct_grade, "category": org_record.category,
                              "kind": "deduct" if org_record.is_dishonesty else "add",
                              "subject_kinds": ["person"]})
    record = resolve_new_item(session, rep, target, org_record.decided_on, scheme, act_ended_on=org_record.act_ended_on,
                              title=f"（联奖联罚·{org.name}）{org_record.title}", severity=org_record.severity,
                              calendar=calendar, department_id=org_record.department_id,
                              document_no=org_record.document_no)
    record.description = "\n".join(filter(None, [record.description, mark]))
    session.add(record)
    session.flush()
    return record


def record_item(session: Session, subject: Subject, item: CatalogueItem | ItemSpec | Mapping[str, Any],
                decided_on: date, scheme: Scheme | None = None, *, mirror: bool = True,
                **kwargs: Any) -> tuple[CreditRecord, CreditRecord | None]:
    """Resolve, add and flush a new item, then mirror it to the legal representative (联奖联罚)."""
    record = resolve_new_item(session, subject, item, decided_on, scheme, **kwargs)
    session.add(record)
    session.flush()
    mirrored = mirror_to_legal_representative(session, record, scheme=scheme,
                                              calendar=kwargs.get("calendar")) if mirror else None
    return record, mirrored


# --- 文登 rural stars (DOMAIN.md §8.3) -----------------------------------------------------------

def rural_scheme() -> Scheme:
    return builtin_scheme("wendeng_rural")


def rural_stars(score: int, *, direct: bool = False, scheme: Scheme | None = None) -> int:
    """Stars 0..5: 五星 >1060; 四星 (1040,1060]; 三星 (1020,1040]; 二星 (990,1020]; 一星 (800,990];
    零星 ≤800 or under a village direct grade."""
    if direct:
        return 0
    grade = (scheme or rural_scheme()).grade_row(score).grade  # "S5" .. "S0"
    return int(grade[1:])


def rural_year_end_bonus(stars: int, scheme: Scheme | None = None) -> int:
    """Points added to the district score next January for the stars held on 12-31 (五星 +15,
    四星 +10, 三星 +2, otherwise nothing)."""
    table = (scheme or rural_scheme()).options.get("year_end_bonus") or {}
    return int(table.get(f"S{stars}", 0))


def rural_year_end_bonus_item(year: int, stars: int, scheme: Scheme | None = None) -> dict[str, Any] | None:
    """The district (文登) bonus item for a year's stars, dated 1 January of the next year, or None."""
    points = rural_year_end_bonus(stars, scheme)
    if not points:
        return None
    return {"code": None, "name_zh": f"{year}年度农村居民信用{stars}星", "kind": "add", "points": points,
            "category": "农村居民信用星级", "validity_class": "bonus_other", "subject_kinds": ["person"],
            "decided_on": date(year + 1, 1, 1)}


def rural_district_link_points(district_grade: str | None, scheme: Scheme | None = None) -> int:
    """A district downgrade to B / C / D costs −50 / −80 / −100 in the village (WD-Rural)."""
    return int(((scheme or rural_scheme()).options.get("district_link") or {}).get(district_grade or "", 0))
