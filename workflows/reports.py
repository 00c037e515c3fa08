"""Supervision reports: 双公示 timeliness (DOMAIN.md §9.1), case time limits met or missed (from the
deadline rows), the grade distribution (§8.1) and 信用分级分类监管 with its spot-check draws (§9.2).

Every report is a function of the database under the runtime's clock, rules and calendar, for a
period of whole months, and returns a `Report` (columns, rows, a total, notes) that the web layer
draws as a table, an SVG chart, CSV and JSON. A department's users pass their department id and get
only their own rows; the grade distribution and the supervision classes describe the whole district
population, which every report viewer may see (reviewers may view any subject).

Definitions (configuration in workflows/rules.py):

* 双公示: a decision (a record of a kind in `shuanggongshi.record_kinds`, natural persons left out
  unless `shuanggongshi.include_natural_persons`) must be online within `shuanggongshi.publish_wd`
  working days of its decision day (C5, C6: a decision on a rest day counts from the next working
  day). It is *on time* when `published_on` is on or before that day, *late* when after it,
  *overdue* when still unpublished after it and *pending* before it. The on-time rate (合规率) is
  on time / (on time + late + overdue); the late rate (迟报率) is late / published. A decision whose
  deadline falls in a year whose holiday table is not loaded is counted as not computable and the
  report names the year: nothing is guessed (C12).
* Case SLA: deadline rows an office answers for (`reports.sla_responsible`), in the month of their
  last day (or of their start while the clock is stopped). Met on time (no extension), met after an
  approved extension, overdue and closed (met after the last day, or expired), overdue and still
  open (past the last day now), in progress. Cancelled clocks (the case ended while stopped) were
  neither met nor missed and are left out.
* Grades: read from the score store (`models.score_store.current_stored_scores`: `subject_scores`
  and the rows incremental runs wrote since, filled by workflows.score_recompute) when its last run
  was for the very day asked and the subject is not queued for recomputation, else
  computed with `workflows.scoring.score_at` from the records, at most `reports.max_subjects` per
  request (beyond that the report says how many it counted).
* Supervision class: the subject's grade at the day mapped by `supervision.class_by_grade`; the
  sample size of a class is ⌈ratio × subjects⌉ with the ratio of `supervision.ratio_table`.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Case, CreditRecord, Deadline, DeadlineExtension, Department, Subject
from models.permissions import Actor, Permission, can, report_department_scope
from models.spot_check import SpotCheckPlan
from models.subject import SUBJECT_KIND_LABELS, SubjectKind

from .base import get_case_type
from .calendar import CalendarYearNotLoaded
from .clock import BEIJING
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .service import Runtime

#: A period longer than this is refused: the reports are computed per request.
MAX_PERIOD_MONTHS = 36
#: Subjects scored per batch when the grades are computed (bounded memory).
GRADE_BATCH = 500
#: Names the reproduction code of a draw; bump it if `draw_sample` ever changes.
DRAW_ALGORITHM = "python-random-sample/v1"

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
UNSPECIFIED = ("未注明部门", "No department")


# --- periods ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole months: `start` is the first day of the first month, `end` the last day of the last."""

    start: date
    end: date

    @property
    def from_month(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def to_month(self) -> str:
        return self.end.strftime("%Y-%m")

    def months(self) -> list[str]:
        out, cur = [], self.start
        while cur <= self.end:
            out.append(cur.strftime("%Y-%m"))
            cur = _next_month(cur)
        return out

    def as_json(self) -> dict:
        return {"from": self.from_month, "to": self.to_month, "start": self.start.isoformat(),
                "end": self.end.isoformat()}


def _next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def _month_end(first: date) -> date:
    return _next_month(first) - timedelta(days=1)


def parse_month(value: str, field_name: str) -> date:
    match = MONTH_RE.match((value or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput(f"月份格式应为 YYYY-MM：{value!r} / Use YYYY-MM for the month: {value!r}",
                           details={"fields": {field_name: ["YYYY-MM"]}})
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_period(from_value: str | None, to_value: str | None, today: date) -> Period:
    """The month range of a report. Defaults: January of this year to this month. A period that
    reaches past the current month is refused (its data do not exist yet)."""
    this_month = today.replace(day=1)
    end_first = parse_month(to_value, "to") if to_value else this_month
    start_first = parse_month(from_value, "from") if from_value else end_first.replace(month=1)
    if start_first > end_first:
        raise InvalidInput(
            f"起始月份 {start_first:%Y-%m} 晚于截止月份 {end_first:%Y-%m} / "
            f"The period starts ({start_first:%Y-%m}) after it ends ({end_first:%Y-%m})",
            details={"fields": {"from": ["after to"]}})
    if end_first > this_month:
        raise InvalidInput(
            f"报表期间不能在未来：{end_first:%Y-%m} 晚于本月 {this_month:%Y-%m} / "
            f"The report period must not lie in the future: {end_first:%Y-%m} is after this month "
            f"({this_month:%Y-%m})",
            details={"fields": {"to": ["in the future"]}, "this_month": f"{this_month:%Y-%m}"})
    months = (end_first.year - start_first.year) * 12 + end_first.month - start_first.month + 1
    if months > MAX_PERIOD_MONTHS:
        raise InvalidInput(
            f"报表期间最长 {MAX_PERIOD_MONTHS} 个月（所选 {months} 个月） / "
            f"A report covers at most {MAX_PERIOD_MONTHS} months ({months} chosen)",
            details={"fields": {"from": [f"at most {MAX_PERIOD_MONTHS} months"]}})
    return Period(start_first, _month_end(end_first))


def period_day(period: Period, today: date) -> date:
    """The day a point-in-time report (grades, classes) describes: the period's last day, or today."""
    return min(period.end, today)


# --- the report shape -------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"  #: text, int, rate (a fraction 0..1 or None), date


@dataclass
class Report:
    name: str
    title_zh: str
    title_en: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  #: "中文 / English"
    meta: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"report": self.name, "title_zh": self.title_zh, "title_en": self.title_en,
                "columns": [{"key": c.key, "label_zh": c.zh, "label_en": c.en, "kind": c.kind}
                            for c in self.columns],
                "rows": self.rows, "total": self.total, "notes": self.notes, **self.meta}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _department_names(session: Session) -> dict[int | None, tuple[str, str, str]]:
    names: dict[int | None, tuple[str, str, str]] = {None: ("", *UNSPECIFIED)}
    for dept in session.execute(select(Department)).scalars():
        names[dept.id] = (dept.code, dept.name, dept.name_en or dept.name)
    return names


def _department_cells(names, department_id: int | None) -> dict[str, Any]:
    code, zh, en = names.get(department_id, names[None])
    return {"department_code": code or None, "department": zh, "department_en": en}


def _scope_meta(session: Session, department_id: int | None) -> dict[str, Any]:
    if department_id is None:
        return {"scope": "all"}
    dept = session.get(Department, department_id)
    return {"scope": dept.code if dept else None}


# --- 双公示 timeliness (§9.1) ----------------------------------------------------------------

TIMELINESS_COLUMNS = [
    Column("department", "部门", "Department"),
    Column("month", "决定月份", "Decision month"),
    Column("decisions", "决定数", "Decisions", "int"),
    Column("on_time", "按时公示", "Published on time", "int"),
    Column("late", "逾期公示", "Published late", "int"),
    Column("overdue_unpublished", "逾期未公示", "Overdue, unpublished", "int"),
    Column("pending", "未到期未公示", "Not yet due", "int"),
    Column("not_computable", "无法计算", "Not computable", "int"),
    Column("on_time_rate", "按时公示率（合规率）", "On-time rate", "rate"),
    Column("late_rate", "迟报率", "Late rate", "rate"),
    Column("meets_targets", "是否达标", "Meets targets"),
]

_TIMELINESS_COUNTS = ("decisions", "on_time", "late", "overdue_unpublished", "pending", "not_computable")


def _timeliness_rates(counts: Counter, targets: tuple[float, float]) -> dict[str, Any]:
    due = counts["on_time"] + counts["late"] + counts["overdue_unpublished"]
    published = counts["on_time"] + counts["late"]
    on_time_rate, late_rate = _rate(counts["on_time"], due), _rate(counts["late"], published)
    if on_time_rate is None:
        meets = None
    else:
        meets = on_time_rate >= targets[0] and (late_rate is None or late_rate <= targets[1])
    return {**{k: counts[k] for k in _TIMELINESS_COUNTS}, "on_time_rate": on_time_rate, "late_rate": late_rate,
            "meets_targets": None if meets is None else ("是 / yes" if meets else "否 / no")}


def publication_deadline(decided_on: date, runtime: Runtime, calendar) -> date:
    rules = runtime.rules
    return calendar.deadline(decided_on, int(rules["shuanggongshi.publish_wd"]), "wd",
                             deemed_receipt=bool(rules["calendar.deem_nonworking_receipt_next_wd"]))


def classify_publication(decided_on: date, published_on: date | None, today: date, runtime: Runtime,
                         calendar) -> str:
    """on_time / late / overdue_unpublished / pending; CalendarYearNotLoaded when it cannot be known."""
    due = publication_deadline(decided_on, runtime, calendar)
    if published_on is not None:
        return "on_time" if published_on <= due else "late"
    return "overdue_unpublished" if today > due else "pending"


def timeliness_report(session: Session, runtime: Runtime, period: Period, department_id: int | None = None,
                      cache: dict | None = None) -> Report:
    rules = runtime.rules
    calendar = runtime.calendar(session)
    today = runtime.today()
    targets = (float(rules["shuanggongshi.target_on_time_rate"]), float(rules["shuanggongshi.target_late_rate"]))
    query = (select(CreditRecord.decided_on, CreditRecord.published_on, CreditRecord.department_id)
             .join(Subject, Subject.id == CreditRecord.subject_id)
             .where(CreditRecord.kind.in_(list(rules["shuanggongshi.record_kinds"])),
                    CreditRecord.decided_on >= period.start, CreditRecord.decided_on <= period.end))
    if not rules["shuanggongshi.include_natural_persons"]:
        query = query.where(Subject.kind != SubjectKind.NATURAL_PERSON)
    if department_id is not None:
        query = query.where(CreditRecord.department_id == department_id)
    buckets: dict[tuple[int | None, str], Counter] = defaultdict(Counter)
    missing: Counter = Counter()
    for decided_on, published_on, dept_id in session.execute(query):
        counts = buckets[(dept_id, decided_on.strftime("%Y-%m"))]
        counts["decisions"] += 1
        try:
            counts[classify_publication(decided_on, published_on, today, runtime, calendar)] += 1
        except CalendarYearNotLoaded as exc:
            counts["not_computable"] += 1
            missing[exc.year] += 1
    names = _department_names(session)
    rows, per_department, overall = [], defaultdict(Counter), Counter()
    for (dept_id, month), counts in sorted(buckets.items(), key=lambda kv: (names.get(kv[0][0], names[None])[1],
                                                                           kv[0][1])):
        rows.append({**_department_cells(names, dept_id), "month": month, **_timeliness_rates(counts, targets)})
        per_department[dept_id].update(counts)
        overall.update(counts)
    notes = [
        f"双公示期限：决定之日起 {rules['shuanggongshi.publish_wd']} 个工作日内公示；按时公示率 = 按时 ÷（按时 + 逾期公示 + "
        f"逾期未公示），目标 ≥{targets[0]:.0%}；迟报率 = 逾期公示 ÷ 已公示，目标 ≤{targets[1]:.0%} / "
        f"Publication is due within {rules['shuanggongshi.publish_wd']} working days of the decision; on-time rate = "
        f"on time ÷ (on time + late + overdue), target ≥{targets[0]:.0%}; late rate = late ÷ published, "
        f"target ≤{targets[1]:.0%}",
    ]
    if missing:
        years = "、".join(str(y) for y in sorted(missing))
        years_en = ", ".join(str(y) for y in sorted(missing))
        notes.append(f"{years}年节假日安排尚未加载：{sum(missing.values())} 项决定的公示期限无法计算，未计入比率 / "
                     f"The holiday table for {years_en} is not loaded: the publication deadline of "
                     f"{sum(missing.values())} decision(s) cannot be computed and is left out of the rates")
    return Report(
        "timeliness", "双公示及时性", "双公示 publication timeliness", TIMELINESS_COLUMNS, rows,
        total={"department": "合计", "department_en": "Total", "month": f"{period.from_month}–{period.to_month}",
               **_timeliness_rates(overall, targets)},
        notes=notes,
        meta={"period": period.as_json(), "today": today.isoformat(), **_scope_meta(session, department_id),
              "targets": {"on_time_rate_min": targets[0], "late_rate_max": targets[1]},
              "publish_wd": int(rules["shuanggongshi.publish_wd"]),
              "calendar_missing_years": sorted(missing),
              "by_department": [{**_department_cells(names, d), **_timeliness_rates(c, targets)}
                                for d, c in sorted(per_department.items(),
                                                   key=lambda kv: names.get(kv[0], names[None])[1])]},
    )


# --- case SLA from the deadline rows ------------------------------------------------------------

SLA_COLUMNS = [
    Column("case_type_label", "案件类型", "Case type"),
    Column("department", "部门", "Department"),
    Column("deadlines", "期限数", "Time limits", "int"),
    Column("met_on_time", "按期办结", "Met on time", "int"),
    Column("met_extended", "延期后按期办结", "Met after extension", "int"),
    Column("overdue_closed", "超期办结", "Overdue, closed", "int"),
    Column("overdue_open", "超期未办结", "Overdue, open", "int"),
    Column("in_progress", "办理中", "In progress", "int"),
    Column("on_time_rate", "按期率", "On-time rate", "rate"),
]

_SLA_COUNTS = ("deadlines", "met_on_time", "met_extended", "overdue_closed", "overdue_open", "in_progress")


def classify_deadline(status: str, due_at, closed_at, extended: bool, now) -> str | None:
    if status == "cancelled":
        return None
    if status == "met":
        if due_at is not None and closed_at is not None and closed_at > due_at:
            return "overdue_closed"
        return "met_extended" if extended else "met_on_time"
    if status == "expired":
        return "overdue_closed"
    if due_at is not None and now > due_at:
        return "overdue_open"
    return "in_progress"


def _sla_counts(counts: Counter) -> dict[str, Any]:
    settled = counts["met_on_time"] + counts["met_extended"] + counts["overdue_closed"] + counts["overdue_open"]
    return {**{k: counts[k] for k in _SLA_COUNTS},
            "on_time_rate": _rate(counts["met_on_time"] + counts["met_extended"], settled)}


def case_sla_report(session: Session, runtime: Runtime, period: Period, department_id: int | None = None,
                    cache: dict | None = None) -> Report:
    now = runtime.clock.now()
    extensions = (select(DeadlineExtension.deadline_id, func.count(DeadlineExtension.id).label("n"))
                  .group_by(DeadlineExtension.deadline_id).subquery())
    month_day = func.coalesce(Deadline.due_on, Deadline.start_on)
    query = (select(Deadline.status, Deadline.due_at, Deadline.closed_at, extensions.c.n, Case.case_type,
                    Case.department_id)
             .join(Case, Case.id == Deadline.case_id)
             .outerjoin(extensions, extensions.c.deadline_id == Deadline.id)
             .where(Deadline.responsible.in_(list(runtime.rules["reports.sla_responsible"])),
                    month_day >= period.start, month_day <= period.end))
    if department_id is not None:
        query = query.where(Case.department_id == department_id)
    buckets: dict[tuple[str, int | None], Counter] = defaultdict(Counter)
    per_type: dict[str, Counter] = defaultdict(Counter)
    for status, due_at, closed_at, n_ext, case_type, dept_id in session.execute(query):
        outcome = classify_deadline(status, due_at, closed_at, bool(n_ext), now)
        if outcome is None:
            continue
        for counts in (buckets[(case_type, dept_id)], per_type[case_type]):
            counts["deadlines"] += 1
            counts[outcome] += 1
    names = _department_names(session)

    def type_cells(key: str) -> dict[str, str]:
        case_type = get_case_type(key)
        return {"case_type": key, "case_type_label": case_type.label_zh if case_type else key,
                "case_type_label_en": case_type.label_en if case_type else key}

    rows, overall = [], Counter()
    for (case_type, dept_id), counts in sorted(buckets.items(),
                                               key=lambda kv: (kv[0][0], names.get(kv[0][1], names[None])[1])):
        rows.append({**type_cells(case_type), **_department_cells(names, dept_id), **_sla_counts(counts)})
        overall.update(counts)
    return Report(
        "case-sla", "案件办理时限", "Case time limits (SLA)", SLA_COLUMNS, rows,
        total={"case_type_label": "合计", "case_type_label_en": "Total", "department": "", "department_en": "",
               **_sla_counts(overall)},
        notes=["按期限届满日所在月份统计办理方负责的期限（申请人自己的期限不计）；延期指经批准延长的期限 / "
               "Time limits an office answers for (not the applicant's own), counted in the month of their last "
               "day; an extension is an approved one"],
        meta={"period": period.as_json(), "now": now.isoformat(), **_scope_meta(session, department_id),
              "by_case_type": [{**type_cells(k), **_sla_counts(c)} for k, c in sorted(per_type.items())]},
    )


# --- grades (§8.1) ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubjectGrade:
    subject_id: int
    kind: str
    name: str
    identifier: str
    score: int
    grade: str


@dataclass
class GradeSet:
    at: date
    grades: list[SubjectGrade]
    population: int          #: subjects in scope
    stored: int = 0          #: grades read from the score store
    computed: int = 0        #: grades computed from the records here

    @property
    def truncated(self) -> bool:
        return len(self.grades) < self.population

    @property
    def source(self) -> str:
        if self.stored and self.computed:
            return "score_store+computed"
        return "score_store" if self.stored else "computed"


def _score_function() -> Callable:
    # Imported late: the score engine imports models and records; keep this module light to import.
    from .scoring import score_at

    return score_at


def _store_holds(session: Session, at: date) -> bool:
    """Does the score store (models.score_store, filled by workflows.score_recompute) hold the
    grades of day `at`? Only when its last full run was for that very day: it keeps the latest
    value, not a history to read past days from."""
    from .score_recompute import last_as_of

    return last_as_of(session) == at


def _stored_grades(session: Session, subject_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Stored (score, grade) of the 文登 scheme for subjects not queued for recomputation."""
    from models.score_store import ScoreDirty, current_stored_scores

    from .scoring import DEFAULT_SCHEME_KEY

    stored = current_stored_scores()
    out: dict[int, tuple[int, str]] = {}
    for start in range(0, len(subject_ids), GRADE_BATCH * 10):
        chunk = subject_ids[start:start + GRADE_BATCH * 10]
        rows = session.execute(
            select(stored.c.subject_id, stored.c.score, stored.c.grade)
            .outerjoin(ScoreDirty, ScoreDirty.subject_id == stored.c.subject_id)
            .where(stored.c.subject_id.in_(chunk), stored.c.scheme == DEFAULT_SCHEME_KEY,
                   ScoreDirty.subject_id.is_(None)))
        out.update({subject_id: (score, grade) for subject_id, score, grade in rows})
    return out


def subject_grades(session: Session, runtime: Runtime, at: date, kinds: list[str] | None = None,
                   cache: dict | None = None) -> GradeSet:
    """Grades of subjects at `at`: read from the score store when it holds that day (and the subject
    is not queued for recomputation), otherwise computed per subject from its records with
    `workflows.scoring.score_at`, in bounded batches and for at most `reports.max_subjects` subjects
    (the rest is reported as not computed, never guessed). `cache` (a dict the caller keeps for one
    request) lets the dashboard's sections share one computation."""
    key = ("grades", at, tuple(kinds) if kinds is not None else None)
    if cache is not None and key in cache:
        return cache[key]
    limit = int(runtime.rules["reports.max_subjects"])
    query = select(Subject.id, Subject.kind, Subject.name, Subject.uscc).order_by(Subject.id)
    if kinds is not None:
        query = query.where(Subject.kind.in_(kinds))
    subjects = session.execute(query).all()
    stored = _stored_grades(session, [s.id for s in subjects]) if _store_holds(session, at) else {}
    to_compute = [s for s in subjects if s.id not in stored][:limit]
    score_at = _score_function()
    base = int(runtime.rules["score.base"])
    computed: dict[int, tuple[int, str]] = {}
    for start in range(0, len(to_compute), GRADE_BATCH):
        batch = to_compute[start:start + GRADE_BATCH]
        records: dict[int, list[CreditRecord]] = defaultdict(list)
        for record in session.execute(select(CreditRecord).where(
                CreditRecord.subject_id.in_([s.id for s in batch]))).scalars():
            records[record.subject_id].append(record)
        for s in batch:
            result = score_at(records[s.id], at, base=base)
            computed[s.id] = (int(result.score), str(result.grade))
    out = []
    for s in subjects:
        value = stored.get(s.id) or computed.get(s.id)
        if value is not None:
            # ID numbers never leave the subject page unmasked: only a USCC is listed.
            out.append(SubjectGrade(s.id, s.kind, s.name, s.uscc or "", value[0], value[1]))
    result = GradeSet(at=at, grades=out, population=len(subjects), stored=len(stored), computed=len(computed))
    if cache is not None:
        cache[key] = result
    return result


def _grade_order() -> list[str]:
    from .scoring import GRADE_ORDER

    return list(GRADE_ORDER)


def _grade_labels() -> dict[str, str]:
    from .scoring import GRADE_LABELS

    return dict(GRADE_LABELS)


def _truncation_note(grades: GradeSet) -> list[str]:
    if not grades.truncated:
        return []
    return [f"主体数 {grades.population} 超过即时计算上限，仅统计其中 {len(grades.grades)} 个 / "
            f"{grades.population} subjects exceed the on-the-fly limit: only {len(grades.grades)} are counted"]


GRADE_COLUMNS = [
    Column("grade", "等级", "Grade"),
    Column("label", "等级含义", "Meaning"),
    Column("legal_person", "法人", "Legal persons", "int"),
    Column("other_org", "非法人组织", "Other organisations", "int"),
    Column("natural_person", "自然人", "Natural persons", "int"),
    Column("total", "合计", "Total", "int"),
    Column("share", "占比", "Share", "rate"),
]


def grade_distribution_report(session: Session, runtime: Runtime, period: Period,
                              department_id: int | None = None, cache: dict | None = None) -> Report:
    at = period_day(period, runtime.today())
    grades = subject_grades(session, runtime, at, cache=cache)
    counts: dict[str, Counter] = defaultdict(Counter)
    for g in grades.grades:
        counts[g.grade][g.kind] += 1
    order = _grade_order()
    labels = _grade_labels()
    order += sorted(set(counts) - set(order))  # a sub-labelled D (DA/DB/DC) and the like
    total = len(grades.grades)
    rows = []
    for grade in order:
        c = counts.get(grade, Counter())
        n = sum(c.values())
        rows.append({"grade": grade, "label": labels.get(grade, ""), **{k.value: c[k.value] for k in SubjectKind},
                     "total": n, "share": _rate(n, total)})
    kind_totals = Counter()
    for c in counts.values():
        kind_totals.update(c)
    return Report(
        "grades", "信用等级分布", "Grade distribution", GRADE_COLUMNS, rows,
        total={"grade": "合计", "label": "", **{k.value: kind_totals[k.value] for k in SubjectKind}, "total": total,
               "share": 1.0 if total else None},
        notes=[f"{at.isoformat()} 的信用等级（文登区社会成员信用积分） / Grades on {at.isoformat()} (文登 district scheme)",
               *_truncation_note(grades)],
        meta={"period": period.as_json(), "at": at.isoformat(), "source": grades.source,
              "population": grades.population, "counted": total, "from_score_store": grades.stored},
    )


# --- 信用分级分类监管 (§9.2) --------------------------------------------------------------------

def class_of(grade: str, rules) -> str:
    mapping = rules["supervision.class_by_grade"]
    if grade in mapping:
        return str(mapping[grade])
    if grade.startswith("D") and "D" in mapping:  # DA/DB/DC: D sub-labelled by the grade held before
        return str(mapping["D"])
    raise InvalidInput(f"等级 {grade} 未配置监管类别 / Grade {grade} has no supervision class configured",
                       details={"grade": grade})


def sample_size(count: int, ratio: float) -> int:
    """⌈ratio × count⌉, at most count: a class with subjects and a positive ratio is never skipped."""
    return min(count, math.ceil(Decimal(str(ratio)) * count))


def class_population(grades: GradeSet, rules) -> dict[str, list[int]]:
    population: dict[str, list[int]] = {key: [] for key in rules["supervision.ratio_table"]}
    for g in grades.grades:
        population.setdefault(class_of(g.grade, rules), []).append(g.subject_id)
    return {key: sorted(ids) for key, ids in population.items()}


SUPERVISION_COLUMNS = [
    Column("class", "监管类别", "Class"),
    Column("name", "风险程度", "Risk"),
    Column("grades", "对应信用等级", "Grades"),
    Column("subjects", "主体数", "Subjects", "int"),
    Column("ratio_range", "抽查比例区间", "Ratio range"),
    Column("ratio", "抽查比例", "Spot-check ratio", "rate"),
    Column("frequency", "抽查频次", "Frequency"),
    Column("sample_size", "应抽查数", "Sample size", "int"),
]


def _supervision_grades(session: Session, runtime: Runtime, at: date, cache: dict | None = None) -> GradeSet:
    return subject_grades(session, runtime, at, kinds=list(runtime.rules["supervision.subject_kinds"]), cache=cache)


def supervision_report(session: Session, runtime: Runtime, period: Period, department_id: int | None = None,
                       cache: dict | None = None) -> Report:
    rules = runtime.rules
    at = period_day(period, runtime.today())
    grades = _supervision_grades(session, runtime, at, cache)
    population = class_population(grades, rules)
    table = rules["supervision.ratio_table"]
    by_class: dict[str, list[str]] = defaultdict(list)
    for grade, cls in rules["supervision.class_by_grade"].items():
        by_class[cls].append(grade)
    rows = []
    for cls, conf in table.items():
        n = len(population.get(cls, []))
        rows.append({"class": cls, "name": conf["name_zh"], "name_en": conf["name_en"],
                     "grades": "/".join(by_class.get(cls, [])), "subjects": n,
                     "ratio_range": f"{conf['ratio_min']:.0%}–{conf['ratio_max']:.0%}", "ratio": float(conf["ratio"]),
                     "frequency": conf["frequency_zh"], "frequency_en": conf["frequency_en"],
                     "sample_size": sample_size(n, float(conf["ratio"]))})
    return Report(
        "supervision", "信用分级分类监管", "Risk-graded supervision", SUPERVISION_COLUMNS, rows,
        total={"class": "合计", "name": "", "name_en": "", "grades": "", "subjects": sum(r["subjects"] for r in rows),
               "ratio_range": "", "ratio": None, "frequency": "", "frequency_en": "",
               "sample_size": sum(r["sample_size"] for r in rows)},
        notes=[f"按 {at.isoformat()} 的信用等级分类（法人和非法人组织） / Classed by the grade on {at.isoformat()} "
               f"(legal persons and other organisations)", *_truncation_note(grades)],
        meta={"period": period.as_json(), "at": at.isoformat(), "source": grades.source,
              "population": grades.population},
    )


SUPERVISION_SUBJECT_COLUMNS = [
    Column("subject_id", "主体编号", "Subject id", "int"),
    Column("name", "主体名称", "Name"),
    Column("identifier", "统一社会信用代码", "USCC"),
    Column("kind_label", "主体类型", "Kind"),
    Column("score", "信用积分", "Score", "int"),
    Column("grade", "信用等级", "Grade"),
    Column("class", "监管类别", "Supervision class"),
]


def supervision_subjects_report(session: Session, runtime: Runtime, period: Period,
                                department_id: int | None = None, cache: dict | None = None) -> Report:
    rules = runtime.rules
    at = period_day(period, runtime.today())
    grades = _supervision_grades(session, runtime, at, cache)
    rows = [{"subject_id": g.subject_id, "name": g.name, "identifier": g.identifier,
             "kind": g.kind, "kind_label": SUBJECT_KIND_LABELS[SubjectKind(g.kind)][0],
             "kind_label_en": SUBJECT_KIND_LABELS[SubjectKind(g.kind)][1],
             "score": g.score, "grade": g.grade, "class": class_of(g.grade, rules)} for g in grades.grades]
    return Report(
        "supervision-subjects", "主体监管类别", "Supervision class per subject", SUPERVISION_SUBJECT_COLUMNS, rows,
        notes=[f"{at.isoformat()} 的信用等级与监管类别 / Grade and supervision class on {at.isoformat()}",
               *_truncation_note(grades)],
        meta={"period": period.as_json(), "at": at.isoformat(), "source": grades.source,
              "population": grades.population},
    )


#: name → builder; the web layer offers each as a page section, CSV and JSON.
REPORTS: dict[str, Callable[..., Report]] = {
    "timeliness": timeliness_report,
    "case-sla": case_sla_report,
    "grades": grade_distribution_report,
    "supervision": supervision_report,
    "supervision-subjects": supervision_subjects_report,
}


def build_report(name: str, session: Session, runtime: Runtime, period: Period, actor: Actor,
                 cache: dict | None = None) -> Report:
    builder = REPORTS.get(name)
    if builder is None:
        raise NotFound("报表不存在 / No such report", details={"report": name, "known": sorted(REPORTS)})
    return builder(session, runtime, period, require_report_viewer(actor), cache=cache)


def require_report_viewer(actor: Actor) -> int | None:
    """The department whose rows `actor` sees (None: all), or 403."""
    if actor is None or not can(actor, Permission.REPORT_VIEW):
        raise Forbidden("监管报表仅供工作人员查看 / Supervision reports are for staff")
    return report_department_scope(actor)


# --- spot-check draws (双随机) -------------------------------------------------------------------

def population_sha256(population: dict[str, list[int]]) -> str:
    canonical = json.dumps({k: sorted(v) for k, v in sorted(population.items())}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def draw_sample(seed: int, population: dict[str, list[int]], ratios: dict[str, float]) -> dict[str, list[int]]:
    """The draw itself, a pure function of its inputs: classes in key order, each class's sorted ids
    sampled without replacement by one `random.Random(seed)`. Re-running it reproduces a plan."""
    rng = random.Random(seed)
    drawn = {}
    for cls in sorted(population):
        ids = sorted(population[cls])
        drawn[cls] = sorted(rng.sample(ids, sample_size(len(ids), float(ratios.get(cls, 0)))))
    return drawn


def reproduce(plan: SpotCheckPlan) -> dict[str, Any]:
    """Re-run a stored plan's draw: does it give the same sample from the same population?"""
    if plan.algorithm != DRAW_ALGORITHM:
        return {"reproduced": False, "reason": f"unknown algorithm {plan.algorithm}"}
    again = draw_sample(plan.seed, plan.population, plan.ratios)
    same_population = population_sha256(plan.population) == plan.population_sha256
    return {"reproduced": same_population and again == plan.drawn, "population_intact": same_population,
            "drawn_again": again}


def draw_spot_check(session: Session, runtime: Runtime, actor: Actor, department_code: str, period_value: str,
                    *, seed: int | None = None) -> SpotCheckPlan:
    """Draw and record the sample of `department_code`'s inspection plan for the month `period_value`.

    Administrators and the credit center draw for any department, a department's reviewers for their
    own. The seed is random (never chosen by the caller in the web layer); a plan already drawn for
    the department and month is answered 409, not redrawn. Flushes; the caller commits.
    """
    if not can(actor, Permission.SPOT_CHECK_DRAW):
        raise Forbidden("无权抽取抽查对象 / You may not draw spot-check samples")
    department = session.execute(select(Department).where(Department.code == department_code)).scalar()
    if department is None:
        raise InvalidInput("未知的部门 / Unknown department", details={"fields": {"department": ["unknown"]}})
    scope = report_department_scope(actor)
    if scope is not None and scope != department.id:
        raise Forbidden("只能为本部门抽取抽查对象 / You may draw only for your own department",
                        details={"department": department_code})
    month = parse_month(period_value, "period")
    today = runtime.today()
    if month < today.replace(day=1):
        raise InvalidInput(f"不能为已过去的月份 {month:%Y-%m} 抽取 / Cannot draw for a past month ({month:%Y-%m})",
                           details={"fields": {"period": ["in the past"]}})
    existing = session.execute(select(SpotCheckPlan).where(SpotCheckPlan.department_id == department.id,
                                                           SpotCheckPlan.period == f"{month:%Y-%m}")).scalar()
    if existing is not None:
        drawn_on = existing.drawn_at.astimezone(BEIJING).date()
        raise Conflict(f"{department.name} {month:%Y-%m} 的抽查对象已于 {drawn_on} 抽取，不能重新抽取 / "
                       f"The sample for {department.name_en or department.code} {month:%Y-%m} was drawn already",
                       details={"plan_id": existing.id})
    rules = runtime.rules
    grades = _supervision_grades(session, runtime, today)
    if grades.truncated:
        raise InvalidInput(f"主体数 {grades.population} 超过即时计算上限，无法从完整名录抽取 / "
                           f"{grades.population} subjects exceed the on-the-fly limit: cannot draw from the full list")
    population = class_population(grades, rules)
    ratios = {cls: float(conf["ratio"]) for cls, conf in rules["supervision.ratio_table"].items()}
    seed = secrets.randbits(63) if seed is None else seed
    drawn = draw_sample(seed, population, ratios)
    plan = SpotCheckPlan(
        department_id=department.id, period=f"{month:%Y-%m}", as_of=today, seed=seed, algorithm=DRAW_ALGORITHM,
        ratios=ratios, population=population, population_sha256=population_sha256(population), drawn=drawn,
        size=sum(len(v) for v in drawn.values()), drawn_by_id=getattr(actor, "id", None),
        drawn_by_name=getattr(actor, "name", str(actor)), drawn_at=runtime.clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(plan)
            session.flush()
    except IntegrityError as exc:  # drawn by someone else a moment ago
        raise Conflict("该部门本月抽查对象已抽取 / The sample for this department and month was drawn already",
                       details={"department": department_code, "period": f"{month:%Y-%m}"}) from exc
    return plan


def visible_plans(session: Session, actor: Actor) -> list[SpotCheckPlan]:
    scope = require_report_viewer(actor)
    query = select(SpotCheckPlan).order_by(SpotCheckPlan.period.desc(), SpotCheckPlan.id.desc())
    if scope is not None:
        query = query.where(SpotCheckPlan.department_id == scope)
    return list(session.execute(query).scalars())


def plan_for(session: Session, actor: Actor, plan_id: int) -> SpotCheckPlan:
    scope = require_report_viewer(actor)
    plan = session.get(SpotCheckPlan, plan_id)
    if plan is None or (scope is not None and plan.department_id != scope):
        raise NotFound("抽查计划不存在 / No such spot-check plan", details={"plan_id": plan_id})
    return plan


def plan_payload(session: Session, plan: SpotCheckPlan) -> dict[str, Any]:
    ids = sorted(i for v in plan.drawn.values() for i in v)
    subjects = {s.id: s for s in session.execute(select(Subject).where(Subject.id.in_(ids))).scalars()} if ids else {}
    class_of_id = {i: cls for cls, v in plan.drawn.items() for i in v}
    check = reproduce(plan)
    return {
        "id": plan.id, "department": plan.department.code, "department_name": plan.department.name,
        "period": plan.period, "as_of": plan.as_of.isoformat(), "seed": str(plan.seed), "algorithm": plan.algorithm,
        "ratios": plan.ratios, "population_sizes": {k: len(v) for k, v in plan.population.items()},
        "population_sha256": plan.population_sha256, "size": plan.size, "drawn": plan.drawn,
        "drawn_by": plan.drawn_by_name, "drawn_at": plan.drawn_at.isoformat(),
        "reproduced": check["reproduced"],
        "subjects": [{"id": i, "name": subjects[i].name if i in subjects else None,
                      "uscc": subjects[i].uscc if i in subjects else None, "class": class_of_id[i]} for i in ids],
    }
