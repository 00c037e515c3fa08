"""Set-based score recomputation into `subject_scores` and `score_snapshots` (DESIGN.md rule 5).

`recompute(session, runtime, mode=..., as_of=...)` derives every affected subject's score and grade
at `as_of` with a handful of SQL statements over all of them at once, never one ORM round trip per
subject. The semantics are the ones `workflows.scoring.score_at` implements for one subject
(DOMAIN.md §8.1, §8.4, the brief of issue 6):

1. an item counts on day t when `decided_on ≤ t ≤ valid_until` and it is neither revoked nor
   repaired on or before t (`workflows.records.is_active_on`);
2. the direct grade is the worst direct grade of the counting items;
3. score = base + Σ points of counting items, positive points excluded while a direct grade stands
   (bonus freeze, WD-Score §17);
4. under a direct grade the score is capped at that grade's floor (B 850, C 600, D 599);
5. grade = the worse of the grade from the score and the direct grade; a D is labelled DA, DB or DC
   by the grade stored just before the drop (a first computation that is already D stays "D").

Statements (both on SQLite and PostgreSQL, through SQLAlchemy Core):
  targets   incremental only: claim the `score_dirty` queue and add the subjects with an item whose
            validity ended, began or was repaired between the previous run's date and `as_of`
            (expiry takes effect on the right day without anyone acting);
  stage     INSERT … SELECT … GROUP BY with CASE expressions: the new value of every target subject
            whose stored row differs (or is missing), joined with that stored row;
  snapshots INSERT … SELECT from the stage where score or grade changed, with reasons (items
            counted with their points, bonus freeze, floor, direct grade) built in SQL;
  store     upsert (INSERT … ON CONFLICT DO UPDATE) of the changed rows into `subject_scores`.
A subject whose value did not change is not written at all: its row keeps the `as_of` at which the
value was established, and `score.last_as_of` (AppSetting) records the date of the last run.
The caller owns the transaction (it commits); nothing here commits.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (Column, Integer, MetaData, String, Table, and_, bindparam, case, delete, func, insert,
                        literal, not_, or_, select, text, true)
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from models import AppSetting, CreditRecord, RecordStatus, ScoreDirty, ScoreSnapshot, Subject, SubjectScore
from models.base import UTCDateTime

from . import scoring

LAST_AS_OF_KEY = "score.last_as_of"

#: WD-Score §18(7): a D is shown with the grade held before the drop (D after A → DA, …).
DEFAULT_D_LABELS = {"AAA": "DA", "AA": "DA", "A": "DA", "B": "DB", "C": "DC"}
#: DOMAIN.md §8.1 / §12 `score.direct_grade_floor` (sourced): the score ceiling under a direct grade.
DEFAULT_DIRECT_GRADE_FLOORS = {"B": 850, "C": 600, "D": 599}

records = CreditRecord.__table__
subjects = Subject.__table__
stored = SubjectScore.__table__
snapshots = ScoreSnapshot.__table__
dirty = ScoreDirty.__table__

# Work tables, private to the transaction's connection (PostgreSQL drops them at commit).
_work = MetaData()
targets = Table("score_targets", _work, Column("subject_id", Integer, primary_key=True, autoincrement=False),
                prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
stage = Table(
    "score_stage", _work,
    Column("subject_id", Integer), Column("score", Integer), Column("grade", String(4)),
    Column("grade_label", String(4)), Column("direct_grade", String(4)), Column("active_items", Integer),
    Column("raw_score", Integer), Column("bonus", Integer), Column("floor", Integer),
    Column("score_grade", String(4)), Column("prev_score", Integer), Column("prev_grade", String(4)),
    Column("prev_label", String(4)), Column("prev_version", Integer), Column("snap", Integer),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


@dataclass(frozen=True)
class SchemeParams:
    """What the set-based statements need from the scoring scheme (plain values)."""

    key: str
    base: int
    grades: tuple[tuple[int | None, str], ...]  #: (lowest score or None, grade), best first
    floors: dict[str, int]
    bonus_freeze: bool = True
    d_labels: dict[str, str] | None = None
    code_prefix: str | None = None  #: items with another scheme's catalogue code are not evaluated

    @property
    def order(self) -> list[str]:
        return [grade for _floor, grade in self.grades]


def scheme_params(runtime) -> SchemeParams:
    """The default 文登 scheme: a scheme object of workflows.scoring when it offers one, else the
    module's grade table with the configured base and floors."""
    rules = runtime.rules
    scheme = next((getattr(scoring, name) for name in ("DEFAULT_SCHEME", "WENDENG_SCHEME", "WENDENG")
                   if getattr(scoring, name, None) is not None and hasattr(getattr(scoring, name), "grades")), None)
    if scheme is not None:
        grades = tuple((row[0], row[1]) for row in scheme.grades)
        floors = dict(getattr(scheme, "direct_grade_floors", None) or getattr(scheme, "floors", None)
                      or DEFAULT_DIRECT_GRADE_FLOORS)
        options = dict(getattr(scheme, "options", None) or {})
        return SchemeParams(key=str(getattr(scheme, "key", "wendeng")), base=int(getattr(scheme, "base", 1000)),
                            grades=grades, floors={k: int(v) for k, v in floors.items()},
                            bonus_freeze=bool(getattr(scheme, "bonus_freeze", True)),
                            d_labels=dict(options["d_labels"]) if options.get("d_labels") else None,
                            code_prefix=getattr(scheme, "code_prefix", None))
    floors = rules.get("score.direct_grade_floor") or DEFAULT_DIRECT_GRADE_FLOORS
    return SchemeParams(key="wendeng", base=int(rules.get("score.base", 1000)),
                        grades=tuple((row[0], row[1]) for row in scoring.WENDENG_GRADES),
                        floors={k: int(v) for k, v in floors.items()})


@dataclass
class RecomputeStats:
    mode: str
    as_of: date
    subjects: int = 0        #: subjects evaluated
    dirty: int = 0           #: of which taken from the dirty queue
    window: int = 0          #: of which found by validity start/end/repair dates
    changed: int = 0         #: subject_scores rows written
    snapshots: int = 0       #: snapshots written
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


# --- dialect helpers --------------------------------------------------------------------------------

def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def _json_object(dialect: str, pairs: list[tuple[str, Any]]):
    args: list[Any] = []
    for key, value in pairs:
        args += [literal(key), value]
    return (func.jsonb_build_object if dialect == "postgresql" else func.json_object)(*args)


def _json_bool(dialect: str, condition):
    if dialect == "postgresql":
        return case((condition, true()), else_=literal(False))
    return case((condition, func.json("true")), else_=func.json("false"))


def _active(t, table=records, scheme: SchemeParams | None = None):
    """is_active_on(record, t) as SQL (workflows/records.py), for the items `scheme` owns (the
    default scheme owns items without a catalogue code: workflows.scoring.Scheme.owns)."""
    owned = true()
    if scheme is not None and scheme.code_prefix and "item_code" in table.c:
        owned = or_(table.c.item_code.is_(None), table.c.item_code == "",
                    table.c.item_code.like(scheme.code_prefix + "-%"))
    return and_(
        owned,
        table.c.decided_on <= t,
        or_(table.c.valid_until.is_(None), table.c.valid_until >= t),
        table.c.status != RecordStatus.REVOKED.value,
        not_(and_(table.c.status == RecordStatus.REPAIRED.value, table.c.repaired_on.is_not(None),
                  table.c.repaired_on <= t)),
        or_(table.c.points != 0, table.c.direct_grade.is_not(None)),
    )


def _prepare_work_tables(conn) -> None:
    for table in (targets, stage):
        conn.execute(CreateTable(table, if_not_exists=True))
        conn.execute(delete(table))


# --- the statements ---------------------------------------------------------------------------------

def _collect_targets(conn, dialect: str, as_of: date, last: date | None,
                     id_range: tuple[int, int] | None, stats: RecomputeStats) -> None:
    """Claim the dirty queue and add the subjects whose items start or stop counting in the window."""
    in_range = dirty.c.subject_id.between(*id_range) if id_range else true()
    if dialect == "postgresql":
        # Claim atomically: a change committed after this statement re-marks its subject.
        claimed = delete(dirty).where(in_range).returning(dirty.c.subject_id).cte("claimed")
        result = conn.execute(insert(targets).from_select(["subject_id"], select(claimed.c.subject_id))
                                 .add_cte(claimed))
    else:
        # SQLite has one writer: a commit between these two statements makes the DELETE fail.
        result = conn.execute(insert(targets).from_select(["subject_id"], select(dirty.c.subject_id)
                                                             .where(in_range)))
        conn.execute(delete(dirty).where(dirty.c.subject_id.in_(select(targets.c.subject_id))))
    stats.dirty = max(result.rowcount or 0, 0)

    lo, hi = (min(last, as_of), max(last, as_of)) if last is not None else (as_of - timedelta(days=1), as_of)
    if lo == hi:
        return
    # Active on lo but not on hi (validity ended, repair took effect), or the reverse (began).
    window = or_(
        and_(records.c.valid_until >= lo, records.c.valid_until < hi),
        and_(records.c.decided_on > lo, records.c.decided_on <= hi),
        and_(records.c.repaired_on > lo, records.c.repaired_on <= hi),
    )
    if id_range:
        window = and_(window, records.c.subject_id.between(*id_range))
    found = select(records.c.subject_id).where(window).distinct()
    result = conn.execute(_upsert(dialect)(targets).from_select(["subject_id"], found)
                             .on_conflict_do_nothing(index_elements=["subject_id"]))
    stats.window = max(result.rowcount or 0, 0)


def _computed(dialect: str, scheme: SchemeParams, t: date, mode: str, id_range: tuple[int, int] | None):
    """SELECT the new value of every considered subject beside its stored row.

    Each level is fenced with OFFSET 0 so the planner evaluates its CASE once per row instead of
    inlining it into every reference above (which multiplies the expression)."""
    order = scheme.order
    rank_of = {grade: index for index, grade in enumerate(order)}
    direct_rank = case(*[(records.c.direct_grade == g, rank_of[g]) for g in scheme.floors if g in rank_of])
    agg_where = [_active(t, records, scheme)]
    if mode == "full":
        base_q = select(subjects.c.id.label("sid"))
        if id_range:
            base_q = base_q.where(subjects.c.id.between(*id_range))
            agg_where.append(records.c.subject_id.between(*id_range))
        agg_from = records
    else:
        # Targets come from credit records (a foreign key to subjects) and their dirty marks: no
        # join with subjects needed.
        base_q = select(targets.c.subject_id.label("sid"))
        agg_from = records.join(targets, targets.c.subject_id == records.c.subject_id)
    base_sq = base_q.subquery("considered")
    sums = (func.sum(case((records.c.points < 0, records.c.points), else_=0)).label("neg"),
            func.sum(case((records.c.points > 0, records.c.points), else_=0)).label("pos"),
            func.max(direct_rank).label("drank"),
            func.count().label("n"))
    # A few thousand targets among millions of items on PostgreSQL: one index probe per subject
    # (LATERAL), whatever the statistics of the fresh work table say. Otherwise one grouped pass.
    probe = dialect == "postgresql" and mode == "incremental"
    if probe:
        agg = (select(records.c.subject_id.label("sid"), *sums)
               .where(records.c.subject_id == base_sq.c.sid, *agg_where)
               .group_by(records.c.subject_id).lateral("items"))
    else:
        agg = (select(records.c.subject_id.label("sid"), *sums)
               .select_from(agg_from).where(*agg_where).group_by(records.c.subject_id).subquery("items"))

    drank = agg.c.drank
    pos = func.coalesce(agg.c.pos, 0)
    counted_pos = case((drank.is_(None), pos), else_=0) if scheme.bonus_freeze else pos
    raw = (literal(scheme.base) + func.coalesce(agg.c.neg, 0) + counted_pos)
    floor = case(*[(drank == rank_of[g], literal(v)) for g, v in scheme.floors.items() if g in rank_of],
                 else_=None)
    level1 = (select(base_sq.c.sid, raw.label("raw"), pos.label("pos"), drank.label("drank"), floor.label("floor"),
                     func.coalesce(agg.c.n, 0).label("n"))
              .select_from(base_sq.outerjoin(agg, true() if probe else agg.c.sid == base_sq.c.sid))
              .offset(0).subquery("l1"))

    score = case((and_(level1.c.floor.is_not(None), level1.c.raw > level1.c.floor), level1.c.floor),
                 else_=level1.c.raw)
    level2 = select(level1, score.label("score")).offset(0).subquery("l2")

    score_rank = case(*[(level2.c.score >= lowest, index) for index, (lowest, _g) in enumerate(scheme.grades)
                        if lowest is not None], else_=len(order) - 1)
    level3 = select(level2, score_rank.label("srank")).offset(0).subquery("l3")
    final_rank = case((and_(level3.c.drank.is_not(None), level3.c.drank > level3.c.srank), level3.c.drank),
                      else_=level3.c.srank)
    level4 = select(level3, final_rank.label("rank")).offset(0).subquery("l4")

    def grade_name(rank_col):
        return case(*[(rank_col == index, literal(g)) for index, g in enumerate(order)])

    worst = len(order) - 1
    d_labels = scheme.d_labels or DEFAULT_D_LABELS
    p = stored
    if probe:
        p = select(stored).where(stored.c.subject_id == level4.c.sid).limit(1).lateral("p")  # LIMIT: keep the probe
    label = case(
        (level4.c.rank != worst, grade_name(level4.c.rank)),
        (p.c.grade == order[worst], p.c.grade_label),
        *[(p.c.grade == g, literal(lab)) for g, lab in d_labels.items()],
        else_=literal(order[worst]))
    joined = (select(level4.c.sid, level4.c.score, grade_name(level4.c.rank).label("grade"), label.label("label"),
                     grade_name(level4.c.drank).label("direct"), level4.c.n, level4.c.raw, level4.c.pos,
                     level4.c.floor, grade_name(level4.c.srank).label("score_grade"),
                     p.c.subject_id.label("prev_sid"), p.c.score.label("prev_score"),
                     p.c.grade.label("prev_grade"), p.c.grade_label.label("prev_label"),
                     p.c.direct_grade.label("prev_direct"), p.c.active_items.label("prev_n"),
                     p.c.scheme.label("prev_scheme"), p.c.version.label("prev_version"))
              .select_from(level4.outerjoin(p, true() if probe else p.c.subject_id == level4.c.sid))
              .offset(0).subquery("j"))
    j = joined.c
    first = j.prev_sid.is_(None)
    snap = or_(first, j.prev_score != j.score, j.prev_grade != j.grade)
    changed = or_(snap, j.prev_label != j.label, func.coalesce(j.prev_direct, "") != func.coalesce(j.direct, ""),
                  j.prev_n != j.n, j.prev_scheme != scheme.key)
    return (select(j.sid, j.score, j.grade, j.label, j.direct, j.n, j.raw, j.pos, j.floor, j.score_grade,
                   j.prev_score, j.prev_grade, j.prev_label, j.prev_version, case((snap, 1), else_=0))
            .where(changed))


def _reasons(dialect: str, scheme: SchemeParams, t: date, probe: bool = False):
    """The snapshot rows' reasons in SQL: (reasons expression, FROM clause over the stage).

    `probe`: few snapshots among many items, one correlated index probe per snapshot."""
    r = records.alias("r")
    grouped = dialect == "postgresql" and not probe
    owner = stage.alias("owner") if grouped else stage
    frozen = and_(owner.c.direct_grade.is_not(None), r.c.points > 0) if scheme.bonus_freeze else literal(False)
    item = _json_object(dialect, [
        ("record_id", r.c.id), ("title", r.c.title), ("points", r.c.points),
        ("counted", _json_bool(dialect, not_(frozen))), ("direct_grade", r.c.direct_grade),
        ("category", r.c.category), ("decided_on", r.c.decided_on), ("valid_until", r.c.valid_until),
    ])
    if grouped:
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        # One grouped pass over the changed subjects' items (a hash or index join, as the
        # statistics of the analysed stage say), not one subquery per snapshot.
        per_subject = (select(owner.c.subject_id.label("sid"),
                              func.jsonb_agg(aggregate_order_by(item, r.c.decided_on, r.c.id)).label("item_list"))
                       .select_from(owner.join(r, r.c.subject_id == owner.c.subject_id))
                       .where(owner.c.snap == 1, _active(t, r, scheme)).group_by(owner.c.subject_id).subquery("reason_items"))
        items = func.coalesce(per_subject.c.item_list, text("'[]'::jsonb"))
        from_clause = stage.outerjoin(per_subject, per_subject.c.sid == stage.c.subject_id)
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        where = and_(r.c.subject_id == stage.c.subject_id, _active(t, r, scheme))
        items = func.coalesce(select(func.jsonb_agg(aggregate_order_by(item, r.c.decided_on, r.c.id)))
                              .where(where).scalar_subquery(), text("'[]'::jsonb"))
        from_clause = stage
    else:
        where = and_(r.c.subject_id == stage.c.subject_id, _active(t, r, scheme))
        items = func.json(select(func.json_group_array(item)).where(where).scalar_subquery())
        from_clause = stage
    frozen_points = case((and_(stage.c.direct_grade.is_not(None), literal(scheme.bonus_freeze)), stage.c.bonus),
                         else_=0)
    return _json_object(dialect, [
        ("scheme", literal(scheme.key)), ("base", literal(scheme.base)), ("as_of", literal(t.isoformat())),
        ("score_before_floor", stage.c.raw_score), ("grade_from_score", stage.c.score_grade),
        ("direct_grade", stage.c.direct_grade), ("bonus_points", stage.c.bonus),
        ("bonus_frozen", _json_bool(dialect, frozen_points > 0)), ("frozen_points", frozen_points),
        ("floor", stage.c.floor),
        ("floor_applied", _json_bool(dialect, and_(stage.c.floor.is_not(None), stage.c.raw_score > stage.c.floor))),
        ("items", items),
    ]), from_clause


def recompute(session: Session, runtime, *, mode: str = "incremental", as_of: date | None = None,
              id_range: tuple[int, int] | None = None) -> RecomputeStats:
    """Recompute stored scores at `as_of` (default: today on the runtime's clock). The caller commits.

    mode "incremental": the subjects in the dirty queue plus those with an item whose validity
    ended, began or was repaired since the previous run; "full": every subject. `id_range` limits
    either mode to subjects with ids in [lo, hi] (the Prefect flow's batches); only an unlimited
    run records its date as `score.last_as_of`.
    """
    if mode not in ("incremental", "full"):
        raise ValueError(f"unknown recompute mode {mode!r}")
    started = time.perf_counter()
    t = as_of or runtime.today()
    scheme = scheme_params(runtime)
    session.flush()  # pending ORM changes first (their dirty marks included); then Core on the same connection
    conn = session.connection().execution_options(preserve_rowcount=True)
    dialect = conn.dialect.name
    now = runtime.clock.now()
    stats = RecomputeStats(mode=mode, as_of=t)
    if dialect == "postgresql":
        # Compiling these CASE chains costs more than running them (seconds at 1M rows).
        conn.execute(text("SET LOCAL jit = off"))
    _prepare_work_tables(conn)

    if mode == "incremental":
        _collect_targets(conn, dialect, t, last_as_of(conn), id_range, stats)
        stats.subjects = stats.dirty + stats.window
        if not stats.subjects:
            _finish(conn, dialect, t, id_range, stats, started)
            return stats
    else:
        count = select(func.count()).select_from(subjects)
        if id_range:
            count = count.where(subjects.c.id.between(*id_range))
        stats.subjects = conn.execute(count).scalar_one()

    columns = ["subject_id", "score", "grade", "grade_label", "direct_grade", "active_items", "raw_score", "bonus",
               "floor", "score_grade", "prev_score", "prev_grade", "prev_label", "prev_version", "snap"]
    stats.changed = max(conn.execute(insert(stage).from_select(columns, _computed(dialect, scheme, t, mode, id_range)))
                        .rowcount or 0, 0)
    if dialect == "postgresql" and mode == "full":
        conn.execute(text("ANALYZE score_stage"))  # a fresh temp table has no statistics (full: joins by plan)

    if stats.changed:
        now_param = bindparam("now", now, type_=UTCDateTime())
        reasons, from_clause = _reasons(dialect, scheme, t, probe=mode == "incremental")
        snap_rows = (select(stage.c.subject_id, literal(scheme.key), literal(t), stage.c.score, stage.c.grade,
                            stage.c.grade_label, stage.c.direct_grade, stage.c.prev_score, stage.c.prev_grade,
                            stage.c.prev_label, reasons, now_param)
                     .select_from(from_clause).where(stage.c.snap == 1))
        stats.snapshots = max(conn.execute(insert(snapshots).from_select(
            ["subject_id", "scheme", "as_of", "score", "grade", "grade_label", "direct_grade", "previous_score",
             "previous_grade", "previous_label", "reasons", "created_at"], snap_rows)).rowcount or 0, 0)

        rows = select(stage.c.subject_id, literal(scheme.key), stage.c.score, stage.c.grade, stage.c.grade_label,
                      stage.c.direct_grade, stage.c.active_items, func.coalesce(stage.c.prev_version, 0) + 1,
                      literal(t), now_param).where(true())  # SQLite needs a WHERE before ON CONFLICT
        upsert = _upsert(dialect)(stored).from_select(
            ["subject_id", "scheme", "score", "grade", "grade_label", "direct_grade", "active_items", "version",
             "as_of", "computed_at"], rows)
        conn.execute(upsert.on_conflict_do_update(index_elements=["subject_id"], set_={
            name: upsert.excluded[name] for name in ("scheme", "score", "grade", "grade_label", "direct_grade",
                                                     "active_items", "version", "as_of", "computed_at")}))
    _finish(conn, dialect, t, id_range, stats, started)
    return stats


def _finish(conn, dialect: str, t: date, id_range, stats: RecomputeStats, started: float) -> None:
    if stats.mode == "full":
        # Everything in range is now current: queued marks are satisfied.
        conn.execute(delete(dirty).where(dirty.c.subject_id.between(*id_range)) if id_range else delete(dirty))
    if id_range is None:
        set_last_as_of(conn, dialect, t)
    if dialect == "sqlite":
        conn.execute(delete(stage))
        conn.execute(delete(targets))
    stats.seconds = round(time.perf_counter() - started, 4)


def last_as_of(conn) -> date | None:
    """The date of the last unlimited run (a Session or a Connection)."""
    value = conn.execute(select(AppSetting.value).where(AppSetting.key == LAST_AS_OF_KEY)).scalar()
    return date.fromisoformat(value) if value else None


def set_last_as_of(conn, dialect: str, t: date) -> None:
    """Record that every subject's stored value holds at `t` (modulo queued changes)."""
    table = AppSetting.__table__
    stmt = _upsert(dialect)(table).values(key=LAST_AS_OF_KEY, value=t.isoformat())
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))


def snapshot_history(session: Session, subject_id: int, limit: int = 100) -> list[ScoreSnapshot]:
    """A subject's snapshots, newest first."""
    return list(session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == subject_id)
                                .order_by(ScoreSnapshot.as_of.desc(), ScoreSnapshot.id.desc()).limit(limit))
                .scalars())
