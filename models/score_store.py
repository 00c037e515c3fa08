"""The stored scores (DESIGN.md rule 5 "Scores are derived", DOMAIN.md §8.4).

A score is a pure function of a subject's credit items at a date; these tables only keep what the
set-based recomputation (`workflows.score_recompute`) derived, so that lists, reports and risk
classes can read 1,000,000 scores without recomputing them:

- `subject_scores`: one row per subject, the stored score and grade as the last full run left them,
  replaced in place.
- `subject_scores_recent` (PostgreSQL): the subjects an incremental run changed since the last full
  run, superseding their `subject_scores` row (`current_stored_score`, `current_stored_scores`).
- `score_snapshots`: append-only history, one row whenever a subject's score or grade changed (and
  at its first computation), with the reasons (items counted, bonus freeze, floor, direct grade).
  A subject's history is a chain: its stored row's `snapshot_id` names the latest snapshot and each
  snapshot its `previous_id`. The table therefore needs no index by subject, whose random inserts
  (one leaf page per changed subject) were the largest cost of writing snapshots.
  Immutable: no code updates or deletes a row, the mapper refuses it, and a database trigger
  refuses it on SQLite and PostgreSQL (DOMAIN.md §8.4 item 5: kept for objections and audits).
  The reasons are stored compactly (a million are written by a first computation) and expanded
  when read: see `ScoreSnapshot.reasons` and `expand_reasons`.
- `score_dirty`: the queue of subjects whose items changed since the last recomputation. It is
  filled inside the same transaction as the change by a session listener below, so every `fire()`
  that creates, revokes, repairs or re-dates a credit record marks its subject without the case
  type modules knowing about scores.
"""
from __future__ import annotations

from datetime import date, datetime

from typing import Any, Iterable

from sqlalchemy import JSON, DDL, BigInteger, Date, Index, Integer, String, event, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session

from .base import Base
from .subject import CreditRecord

#: An autoincrementing 64-bit id on PostgreSQL (history grows without bound); SQLite's rowid.
SnapshotId = BigInteger().with_variant(Integer, "sqlite")
#: `json` (text, validated) rather than `jsonb` on PostgreSQL: the reasons are written by the million
#: and only ever read whole; jsonb's parse into its binary form doubled the cost of writing them.
#: (A database created with jsonb keeps working: json is assigned to jsonb by an implicit cast.)
ReasonsJSON = JSON()


class _StoredScoreColumns:
    """The columns of a stored score (both `subject_scores` and `subject_scores_recent`)."""

    # No foreign key: rows are only written by the set-based statements from `subjects` itself, and
    # a per-row key check would cost seconds at a million rows.
    subject_id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(40), comment="Scoring scheme key, e.g. wendeng")
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(4), comment="AAA, AA, A, B, C or D")
    grade_label: Mapped[str] = mapped_column(
        String(4), comment="The grade, or DA/DB/DC for a D: the grade held just before the drop")
    direct_grade: Mapped[str | None] = mapped_column(String(4), comment="Worst direct grade in force")
    active_items: Mapped[int] = mapped_column(Integer, default=0, comment="Items that counted")
    version: Mapped[int] = mapped_column(Integer, default=1, comment="Number of stored changes")
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime]
    snapshot_id: Mapped[int | None] = mapped_column(SnapshotId, comment="The latest snapshot (no foreign key)")


class SubjectScore(_StoredScoreColumns, Base):
    """The stored score of one subject as the last full run (or, on SQLite, any run) left it. `as_of`
    is the date the stored value was computed for; a recomputation that finds the same value leaves
    the row alone (see workflows.score_recompute: the run's own date is kept in `score.last_as_of`).
    On PostgreSQL an incremental run writes `subject_scores_recent` instead: read a subject's
    current stored score with `current_stored_score`, which looks there first."""

    __tablename__ = "subject_scores"


class RecentSubjectScore(_StoredScoreColumns, Base):
    """The stored scores that incremental runs changed since the last full run (PostgreSQL).

    Why a table of its own: an incremental run changes a few thousand subjects scattered over the
    million rows of `subject_scores`; updating them there changes one page per subject, and after
    each checkpoint every such page is first written to the WAL whole (full_page_writes) — that was
    most of the cost of a 10,000-subject run. Here the same rows land on a few pages of a small
    table. The next full run folds them into `subject_scores` and empties this table. A row here
    supersedes the subject's row in `subject_scores`."""

    __tablename__ = "subject_scores_recent"


def current_stored_score(session: Session, subject_id: int) -> SubjectScore | RecentSubjectScore | None:
    """A subject's current stored score: the row an incremental run wrote since the last full run,
    else the full run's row, else None."""
    return session.get(RecentSubjectScore, subject_id) or session.get(SubjectScore, subject_id)


def current_stored_scores():
    """All current stored scores as one selectable (subject_id, scheme, score, grade, grade_label,
    direct_grade, as_of): the recent rows, and the full run's rows of the other subjects."""
    from sqlalchemy import exists, union_all

    recent, base = RecentSubjectScore.__table__, SubjectScore.__table__
    columns = ("subject_id", "scheme", "score", "grade", "grade_label", "direct_grade", "as_of")
    return union_all(
        select(*[recent.c[name] for name in columns]),
        select(*[base.c[name] for name in columns]).where(
            ~exists().where(recent.c.subject_id == base.c.subject_id)),
    ).subquery("current_scores")


#: Room on every page of `subject_scores` for the next version of its rows: a full run's UPDATE
#: then stays on the page (a HOT update, no new index entry). Autovacuum is asked to tidy the table
#: after 10,000 changed rows (the default waits for a fifth of the table, 200,000 rows): pages left
#: with dead row versions would be pruned by the next run that reads them, and after a checkpoint
#: each such page is first written to the WAL whole. The table is created with both (PostgreSQL).
SUBJECT_SCORES_FILLFACTOR = 85
SUBJECT_SCORES_STORAGE = (f"ALTER TABLE subject_scores SET (fillfactor = {SUBJECT_SCORES_FILLFACTOR}, "
                          "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000)")
event.listen(SubjectScore.__table__, "after_create", DDL(SUBJECT_SCORES_STORAGE).execute_if(dialect="postgresql"))


class ScoreSnapshot(Base):
    """One immutable entry of a subject's score history, with the reasons.

    `stored_reasons` (column `reasons`) is what the recomputation wrote — compactly:

        {"base": 1000, "items": [[record_id, points], [record_id, points, "D"], ...]}
        plus, while a direct grade stands: "floor" (the cap, or null), "score_grade" (the grade the
        score alone gives) and "freeze" (the bonus freeze applied);

    `reasons` is the expanded, documented shape (scheme, base, as_of, score_before_floor,
    grade_from_score, direct_grade, bonus_points, bonus_frozen, frozen_points, floor, floor_applied,
    items [{record_id, title, points, counted, direct_grade, category, decided_on, valid_until}] in
    decision order). What decided the score — the items, their points and direct grades, the base,
    the floor, the freeze — is in the snapshot itself; an item's title, category and dates are
    descriptive and read from the item when shown. Rows written before the compact form are
    returned as stored.
    """

    __tablename__ = "score_snapshots"

    id: Mapped[int] = mapped_column(SnapshotId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column()  # no foreign key, as in subject_scores; no index: see previous_id
    previous_id: Mapped[int | None] = mapped_column(
        SnapshotId, comment="The subject's snapshot before this one (the history chain; no foreign key)")
    scheme: Mapped[str] = mapped_column(String(40))
    as_of: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(4))
    grade_label: Mapped[str] = mapped_column(String(4))
    direct_grade: Mapped[str | None] = mapped_column(String(4))
    previous_score: Mapped[int | None] = mapped_column(Integer)
    previous_grade: Mapped[str | None] = mapped_column(String(4))
    previous_label: Mapped[str | None] = mapped_column(String(4))
    stored_reasons: Mapped[dict] = mapped_column(
        "reasons", ReasonsJSON,
        comment="Compact: base, items as [record id, points(, direct grade)], floor, grade from score, freeze")
    created_at: Mapped[datetime]

    @property
    def reasons(self) -> dict[str, Any]:
        """The reasons in full (items with their titles and dates); see the class docstring."""
        expanded = self.__dict__.get("_expanded_reasons")
        if expanded is None:
            expand_reasons(object_session(self), [self])
            expanded = self.__dict__["_expanded_reasons"]
        return expanded


class ScoreDirty(Base):
    """A subject whose items changed since the last recomputation (one row per subject)."""

    __tablename__ = "score_dirty"

    subject_id: Mapped[int] = mapped_column(primary_key=True)
    since: Mapped[datetime | None] = mapped_column(comment="First change not yet recomputed")


# The incremental run finds items whose validity ends or begins without anyone acting by date
# range: these indexes keep that lookup independent of the number of records (and, on PostgreSQL,
# answer it from the index alone: the subject is included).
Index("ix_credit_records_valid_until", CreditRecord.valid_until, postgresql_include=["subject_id"])
Index("ix_credit_records_decided_on", CreditRecord.decided_on, postgresql_include=["subject_id"])
Index("ix_credit_records_repaired_on", CreditRecord.repaired_on, postgresql_include=["subject_id"],
      postgresql_where=CreditRecord.repaired_on.is_not(None))  # PostgreSQL: only the repaired few
# On PostgreSQL, everything a recomputation reads of an item, in the index by subject: an
# incremental run probes a few thousand subjects with index-only scans instead of heap fetches.
# The id is included for the snapshot reasons, so a recomputation never visits the table itself.
Index("ix_credit_records_score_items", CreditRecord.subject_id, postgresql_include=[
    "id", "points", "direct_grade", "decided_on", "valid_until", "status", "repaired_on", "item_code"]).ddl_if(
    dialect="postgresql")


# --- the reasons, expanded when read -------------------------------------------------------------

def _is_compact(stored: Any) -> bool:
    return isinstance(stored, dict) and "score_before_floor" not in stored and all(
        isinstance(item, list) for item in stored.get("items", []))


def expand_reasons(session: Session | None, snapshots: Iterable[ScoreSnapshot]) -> None:
    """Expand the compact reasons of `snapshots` in place (one query for all their items)."""
    pending = [snap for snap in snapshots if "_expanded_reasons" not in snap.__dict__]
    compact = {id(snap): snap for snap in pending if _is_compact(snap.stored_reasons)}
    ids = sorted({int(item[0]) for snap in compact.values() for item in snap.stored_reasons.get("items", [])})
    details: dict[int, Any] = {}
    table = CreditRecord.__table__
    for start in range(0, len(ids) if session is not None else 0, 500):
        rows = session.execute(select(table.c.id, table.c.title, table.c.category, table.c.decided_on,
                                      table.c.valid_until).where(table.c.id.in_(ids[start:start + 500])))
        details.update((row.id, row) for row in rows)
    for snap in pending:
        stored = snap.stored_reasons
        snap.__dict__["_expanded_reasons"] = _expand(snap, stored, details) if id(snap) in compact else stored


def _expand(snap: ScoreSnapshot, stored: dict[str, Any], details: dict[int, Any]) -> dict[str, Any]:
    base = int(stored.get("base", 0))
    direct = snap.direct_grade
    freeze = bool(stored.get("freeze")) and direct is not None
    items: list[dict[str, Any]] = []
    raw, bonus = base, 0
    for entry in stored.get("items", []):
        record_id, points = int(entry[0]), int(entry[1])
        counted = not (freeze and points > 0)
        raw += points if counted else 0
        bonus += max(points, 0)
        row = details.get(record_id)
        items.append({
            "record_id": record_id, "title": row.title if row else None, "points": points, "counted": counted,
            "direct_grade": entry[2] if len(entry) > 2 else None, "category": row.category if row else None,
            "decided_on": row.decided_on.isoformat() if row and row.decided_on else None,
            "valid_until": row.valid_until.isoformat() if row and row.valid_until else None,
        })
    items.sort(key=lambda item: (item["decided_on"] or "9999-12-31", item["record_id"]))
    floor = stored.get("floor") if direct is not None else None
    frozen = bonus if freeze else 0
    return {
        "scheme": snap.scheme, "base": base, "as_of": snap.as_of.isoformat() if snap.as_of else None,
        "score_before_floor": raw, "grade_from_score": stored.get("score_grade") or snap.grade,
        "direct_grade": direct, "bonus_points": bonus, "bonus_frozen": frozen > 0, "frozen_points": frozen,
        "floor": floor, "floor_applied": floor is not None and raw > floor, "items": items,
    }


# --- immutability of the history ------------------------------------------------------------------

@event.listens_for(ScoreSnapshot, "before_update")
@event.listens_for(ScoreSnapshot, "before_delete")
def _refuse_snapshot_change(_mapper, _connection, target: ScoreSnapshot) -> None:
    raise ValueError(f"积分快照不可修改 / score snapshot {target.id} is immutable")


event.listen(ScoreSnapshot.__table__, "after_create", DDL(
    "CREATE TRIGGER score_snapshots_immutable BEFORE UPDATE ON score_snapshots "
    "BEGIN SELECT RAISE(ABORT, 'score_snapshots is append-only'); END").execute_if(dialect="sqlite"))
event.listen(ScoreSnapshot.__table__, "after_create", DDL(
    "CREATE TRIGGER score_snapshots_no_delete BEFORE DELETE ON score_snapshots "
    "BEGIN SELECT RAISE(ABORT, 'score_snapshots is append-only'); END").execute_if(dialect="sqlite"))
event.listen(ScoreSnapshot.__table__, "after_create", DDL(
    "CREATE OR REPLACE FUNCTION score_snapshots_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'score_snapshots is append-only'; END $$").execute_if(dialect="postgresql"))
event.listen(ScoreSnapshot.__table__, "after_create", DDL(
    "CREATE TRIGGER score_snapshots_immutable BEFORE UPDATE OR DELETE ON score_snapshots "
    "FOR EACH ROW EXECUTE FUNCTION score_snapshots_refuse()").execute_if(dialect="postgresql"))


# --- dirty marking inside the changing transaction -----------------------------------------------

#: A change to any of these makes a record count differently (DOMAIN.md §8.4 items 1–3).
SCORE_ATTRIBUTES = ("points", "status", "valid_until", "direct_grade", "under_objection", "decided_on",
                    "repaired_on", "subject_id")


def _changed_subjects(session: Session) -> set[int]:
    subjects: set[int] = set()
    for obj in session.new:
        if isinstance(obj, CreditRecord) and obj.subject_id is not None:
            subjects.add(obj.subject_id)
    for obj in session.deleted:
        if isinstance(obj, CreditRecord) and obj.subject_id is not None:
            subjects.add(obj.subject_id)
    for obj in session.dirty:
        if not isinstance(obj, CreditRecord):
            continue
        state = inspect(obj)
        for key in SCORE_ATTRIBUTES:
            history = state.attrs[key].history
            if history.has_changes():
                subjects.add(obj.subject_id)
                if key == "subject_id":
                    subjects.update(v for v in history.deleted if v is not None)
    return subjects


def mark_dirty(connection, subject_ids, since: datetime | None) -> None:
    """Queue `subject_ids` for the next recomputation, keeping the earliest `since` (idempotent)."""
    rows = [{"subject_id": s, "since": since} for s in sorted(subject_ids)]
    if not rows:
        return
    table = ScoreDirty.__table__
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    elif connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    else:  # pragma: no cover - the two supported databases
        connection.execute(insert(table), rows)
        return
    connection.execute(upsert(table).on_conflict_do_nothing(index_elements=["subject_id"]), rows)


@event.listens_for(Session, "after_flush")
def _queue_changed_subjects(session: Session, _flush_context) -> None:
    """After the flush (subject ids assigned, history still present), in the same transaction.

    One cheap pass over the flushed objects; one INSERT only when a credit record changed. It runs
    on the flush's own connection, so it never flushes again.
    """
    subjects = _changed_subjects(session)
    if subjects:
        mark_dirty(session.connection(), subjects, _now())


def _now() -> datetime:
    """The app's clock (the injectable one: tests and demo runs move it) inside an app context, else
    the wall clock (a script working on a bare Session)."""
    from datetime import timezone

    from flask import current_app, has_app_context

    runtime = current_app.extensions.get("creditdesk") if has_app_context() else None
    return runtime.clock.now() if runtime is not None else datetime.now(timezone.utc)
