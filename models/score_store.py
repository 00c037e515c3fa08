"""The stored scores (DESIGN.md rule 5 "Scores are derived", DOMAIN.md §8.4).

A score is a pure function of a subject's credit items at a date; these tables only keep what the
set-based recomputation (`workflows.score_recompute`) derived, so that lists, reports and risk
classes can read 1,000,000 scores without recomputing them:

- `subject_scores`: one row per subject, the latest stored score and grade, replaced in place.
- `score_snapshots`: append-only history, one row whenever a subject's score or grade changed (and
  at its first computation), with the reasons (items counted, bonus freeze, floor, direct grade).
  Immutable: no code updates or deletes a row, the mapper refuses it, and a database trigger
  refuses it on SQLite and PostgreSQL (DOMAIN.md §8.4 item 5: kept for objections and audits).
- `score_dirty`: the queue of subjects whose items changed since the last recomputation. It is
  filled inside the same transaction as the change by a session listener below, so every `fire()`
  that creates, revokes, repairs or re-dates a credit record marks its subject without the case
  type modules knowing about scores.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, DDL, BigInteger, Date, Index, Integer, String, event, insert, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base
from .subject import CreditRecord

#: An autoincrementing 64-bit id on PostgreSQL (history grows without bound); SQLite's rowid.
SnapshotId = BigInteger().with_variant(Integer, "sqlite")
ReasonsJSON = JSON().with_variant(JSONB(), "postgresql")


class SubjectScore(Base):
    """The latest stored score of one subject. `as_of` is the date the stored value was computed
    for; a recomputation that finds the same value leaves the row alone (see
    workflows.score_recompute: the run's own date is kept in `score.last_as_of`)."""

    __tablename__ = "subject_scores"

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


class ScoreSnapshot(Base):
    """One immutable entry of a subject's score history, with the reasons."""

    __tablename__ = "score_snapshots"
    __table_args__ = (Index("ix_score_snapshots_subject_as_of", "subject_id", "as_of", "id"),)

    id: Mapped[int] = mapped_column(SnapshotId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column()  # no foreign key, as in subject_scores
    scheme: Mapped[str] = mapped_column(String(40))
    as_of: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(4))
    grade_label: Mapped[str] = mapped_column(String(4))
    direct_grade: Mapped[str | None] = mapped_column(String(4))
    previous_score: Mapped[int | None] = mapped_column(Integer)
    previous_grade: Mapped[str | None] = mapped_column(String(4))
    previous_label: Mapped[str | None] = mapped_column(String(4))
    reasons: Mapped[dict] = mapped_column(
        ReasonsJSON, comment="base, items counted with their points, bonus freeze, floor, direct grade")
    created_at: Mapped[datetime]


class ScoreDirty(Base):
    """A subject whose items changed since the last recomputation (one row per subject)."""

    __tablename__ = "score_dirty"

    subject_id: Mapped[int] = mapped_column(primary_key=True)
    since: Mapped[datetime | None] = mapped_column(comment="First change not yet recomputed")


# The incremental run finds items whose validity ends or begins without anyone acting by date
# range: these indexes keep that lookup independent of the number of records.
Index("ix_credit_records_valid_until", CreditRecord.valid_until)
Index("ix_credit_records_decided_on", CreditRecord.decided_on)
Index("ix_credit_records_repaired_on", CreditRecord.repaired_on)
# On PostgreSQL, everything a recomputation reads of an item, in the index by subject: an
# incremental run probes a few thousand subjects with index-only scans instead of heap fetches.
Index("ix_credit_records_score_items", CreditRecord.subject_id, postgresql_include=[
    "points", "direct_grade", "decided_on", "valid_until", "status", "repaired_on", "item_code"]).ddl_if(
    dialect="postgresql")


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
        mark_dirty(session.connection(), subjects, _utcnow())


def _utcnow() -> datetime:
    from datetime import timezone

    return datetime.now(timezone.utc)
