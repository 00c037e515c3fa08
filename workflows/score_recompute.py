"""Set-based score recomputation into the stored scores and `score_snapshots` (DESIGN.md rule 5).

`recompute(session, runtime, mode=..., as_of=...)` derives every affected subject's score and grade
at `as_of` with one SQL statement over all of them at once (PostgreSQL), never one ORM round trip per
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

How (PostgreSQL): one round trip sets the transaction's settings and takes the lock, one runs the
work as a single statement of data-modifying CTEs (the text is generated once per process):
  full       first the rows incremental runs wrote to `subject_scores_recent` are moved into
             `subject_scores` (one statement); then every subject in one ordered pass — subjects,
             the GroupAggregate of their counting items over the covering index
             `ix_credit_records_score_items` (index-only), the stored rows (merge joins) — the
             changed rows materialised, then the snapshots INSERTed, the stored rows UPDATEd by their
             address (ctid) and the missing ones INSERTed; the queue is emptied. A first computation
             (nothing stored yet) skips the comparison: two INSERTs. After rows were updated in
             place, `subject_scores` is vacuumed (`tidy_stored_scores`, by the batch runners).
  incremental  the targets: the `score_dirty` queue claimed (DELETE … RETURNING) plus the subjects
             with an item whose validity ended, began or was repaired between the previous run's
             date and `as_of` (expiry takes effect on the right day without anyone acting); their
             items in one index-only scan (= ANY of the sorted targets); each target's stored row
             read (its `subject_scores_recent` row, else its `subject_scores` row); the changed ones
             get their snapshots and are upserted into `subject_scores_recent`. `subject_scores` is
             not written: updating 10,000 rows scattered over a million changes ~7,000 pages, and
             after a checkpoint each is first written to the WAL whole — most of such a run's cost.
A subject whose value did not change is not written at all: its row keeps the `as_of` at which the
value was established, and `score.last_as_of` (AppSetting) records the date of the last run.
Readers take a subject's recent row first (`models.score_store.current_stored_score`,
`current_stored_scores`).
SQLite (tests, development) runs the same SELECT into a temporary stage table, then the writes, all
into `subject_scores` (one writer, no full-page writes: the recent table stays empty there).

Snapshots (models.score_store.ScoreSnapshot) store their reasons compactly: the base, the counted
items as `[record id, points]` (`[id, points, direct grade]`), and under a direct grade the floor,
the grade from the score and whether the bonus freeze applied. Everything else the API shows
(score before the floor, bonus and frozen points, floor applied, each item's title, category and
dates) is derived from those when read (`ScoreSnapshot.reasons`), in the same shape as before. A
subject's snapshots form a chain (the stored row's `snapshot_id` → `previous_id` → …), so the table
needs no index by subject: appending a million snapshots touches only its last pages.

Runs are serialised on PostgreSQL by transaction-level advisory locks (two runs over the same
subjects at once would race for the same new rows): a run over all subjects excludes every other,
while the batches of one run — disjoint ranges of subject ids (`id_range`) — run side by side, each
on its own connection (`plan_batches`, `run_in_batches`, the Prefect flow's workers: on two CPUs a
million subjects take ~20 % less time, 10,000 changed ones ~30 % less); such a run holds the run
lock (`run_lock`) from its plan to its date, so the batches of two runs never interleave. Settings are
`SET LOCAL`, for this transaction only (see `_PG_SETTINGS`). The caller of `recompute` owns the
transaction (it commits); nothing in `recompute` commits.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Integer, bindparam, func, literal, select, text
from sqlalchemy.orm import Session

from models import AppSetting, RecordStatus, ScoreSnapshot, Subject, SubjectScore
from models.base import UTCDateTime
from models.score_store import SnapshotId as SnapshotIdType
from models.score_store import current_stored_score, expand_reasons

from . import scoring

LAST_AS_OF_KEY = "score.last_as_of"

#: WD-Score §18(7): a D is shown with the grade held before the drop (D after A → DA, …).
DEFAULT_D_LABELS = {"AAA": "DA", "AA": "DA", "A": "DA", "B": "DB", "C": "DC"}
#: DOMAIN.md §8.1 / §12 `score.direct_grade_floor` (sourced): the score ceiling under a direct grade.
DEFAULT_DIRECT_GRADE_FLOORS = {"B": 850, "C": 600, "D": 599}

#: pg_advisory_xact_lock key of a recomputation ("scores" in ASCII). A run over all subjects takes it
#: exclusively (one such run at a time, and no batch beside it); a batch (an `id_range`) takes it
#: shared plus the exclusive lock of its own range, so the batches of one run, disjoint ranges of
#: subjects, run side by side on their own connections (the Prefect flow's workers).
ADVISORY_LOCK_KEY = 0x73636F726573
#: First key of the two-key advisory lock of one batch; the second is the batch's lowest subject id.
RANGE_LOCK_KEY = 0x73636F72
#: Session-level advisory lock a run cut into batches holds from its plan to its date
#: (`run_lock`): the ranges of two such runs may overlap without being equal, so their batches
#: must not run side by side ("scorerun" in ASCII).
RUN_LOCK_KEY = 0x73636F726572756E
#: The highest subject id (PostgreSQL integer): the last batch of a run reaches it.
MAX_SUBJECT_ID = 2**31 - 1
#: Subjects per full-mode batch: big enough that set-based statements dominate, small enough that a
#: retried batch redoes little.
DEFAULT_BATCH_SUBJECTS = 250_000

#: Per-transaction PostgreSQL settings (SET LOCAL: they end with the recomputation's transaction).
#: - jit off: compiling the CASE chains costs more than running them;
#: - work_mem: the materialised rows of a first computation (≈130 MB for 1,000,000 subjects) stay in
#:   memory instead of a temporary file;
#: - synchronous_commit off: the commit does not wait for the WAL flush. Safe here because a
#:   recomputation is derived data: if the server crashes in the few hundred milliseconds before the
#:   WAL reaches disk, the whole transaction is lost atomically — stored scores, snapshots, the run
#:   date AND the claimed dirty marks — so the next run recomputes exactly the same subjects from
#:   their items. Only applied when the transaction had written nothing before the recomputation
#:   (see `_session_settings`), so a caller's own changes keep the server's durability.
_PG_SETTINGS = {"jit": "off", "work_mem": "256MB"}
_PG_ASYNC_COMMIT = {"synchronous_commit": "off"}
#: Full mode streams a million subjects in id order: a sorted GroupAggregate over the covering index
#: (string_agg keeps ~1 KB of state per group, so hashing 500k groups spills to disk) and merge joins.
_PG_FULL_SETTINGS = {"enable_hashagg": "off", "enable_hashjoin": "off", "enable_bitmapscan": "off"}
#: Incremental mode touches thousands of subjects among millions: every join is an index probe.
_PG_INCREMENTAL_SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off", "enable_seqscan": "off",
                            "enable_memoize": "off"}


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

    def fingerprint(self) -> str:
        """A hashable identity of everything the SQL text depends on (the statement cache key)."""
        return repr((self.key, self.base, self.grades, sorted(self.floors.items()), self.bonus_freeze,
                     sorted((self.d_labels or {}).items()), self.code_prefix))


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
    changed: int = 0         #: stored scores written (subject_scores, or subject_scores_recent)
    snapshots: int = 0       #: snapshots written
    folded: int = 0          #: full mode: recent rows moved into subject_scores first
    updated: int = 0         #: subject_scores rows updated in place (they leave dead row versions)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


# --- SQL text ---------------------------------------------------------------------------------------
#
# The statements are plain SQL generated once per (dialect, scheme, variant) and cached for the
# process: no expression compilation per run (the cost of a first run in a process), and exactly the
# text that was measured. Scheme values are inlined as literals after validation (they come from the
# scheme files and the rules, never from a request); dates, ids and the clock are bound parameters.

_WORD = re.compile(r"[A-Za-z0-9_.\-]{1,40}\Z")


def _lit(value: str) -> str:
    """A scheme word (grade, label, key, code prefix) as a quoted SQL literal."""
    if not _WORD.match(value):
        raise ValueError(f"unexpected scheme value {value!r}")
    return f"'{value}'"


def _case(subject: str, pairs, else_: str = "NULL") -> str:
    whens = " ".join(f"WHEN {when} THEN {then}" for when, then in pairs)
    return f"CASE {subject} {whens} ELSE {else_} END" if whens else else_


class _Sql:
    """The SQL of one scheme in one dialect."""

    def __init__(self, dialect: str, scheme: SchemeParams) -> None:
        self.pg = dialect == "postgresql"
        self.scheme = scheme
        order = scheme.order
        self.order = order
        self.worst = len(order) - 1
        rank_of = {grade: index for index, grade in enumerate(order)}
        self.floor_by_rank = {rank_of[g]: int(v) for g, v in scheme.floors.items() if g in rank_of}
        self.base = int(scheme.base)
        self.base_rank = next((i for i, (low, _g) in enumerate(scheme.grades) if low is None or self.base >= low),
                              self.worst)
        self.key = _lit(scheme.key)
        self._rank_of = rank_of

    # -- expressions -------------------------------------------------------------------------------

    def grade(self, rank: str) -> str:
        return _case(rank, [(i, _lit(g)) for i, g in enumerate(self.order)])

    def active(self, r: str = "r") -> str:
        """is_active_on(record, :as_of) (workflows/records.py) for the items the scheme owns (the
        default scheme owns items without a catalogue code: workflows.scoring.Scheme.owns)."""
        owned = ""
        if self.scheme.code_prefix:
            prefix = self.scheme.code_prefix
            if not _WORD.match(prefix):
                raise ValueError(f"unexpected code prefix {prefix!r}")
            owned = f"({r}.item_code IS NULL OR {r}.item_code = '' OR {r}.item_code LIKE '{prefix}-%') AND "
        revoked, repaired = _lit(RecordStatus.REVOKED.value), _lit(RecordStatus.REPAIRED.value)
        return (f"{owned}{r}.decided_on <= :as_of AND ({r}.valid_until IS NULL OR {r}.valid_until >= :as_of) "
                f"AND {r}.status <> {revoked} AND NOT ({r}.status = {repaired} AND {r}.repaired_on IS NOT NULL "
                f"AND {r}.repaired_on <= :as_of) AND ({r}.points <> 0 OR {r}.direct_grade IS NOT NULL)")

    def aggregates(self, r: str = "r") -> str:
        """The per-subject columns of one group of counting items: d (rank of the worst direct
        grade), n, score, srank (rank of the grade from the score), rank (final), list (the compact
        reasons' items). Identical aggregate calls are computed once per group; the expressions over
        them are cheap."""
        d = "max(" + _case(f"{r}.direct_grade", [(_lit(g), i) for g, i in self._rank_of.items()]) + ")"
        neg = f"coalesce(sum(CASE WHEN {r}.points < 0 THEN {r}.points ELSE 0 END), 0)"
        pos = f"coalesce(sum(CASE WHEN {r}.points > 0 THEN {r}.points ELSE 0 END), 0)"
        counted_pos = f"CASE WHEN {d} IS NULL THEN {pos} ELSE 0 END" if self.scheme.bonus_freeze else pos
        raw = f"({self.base} + {neg} + {counted_pos})"
        floor = _case(d, sorted(self.floor_by_rank.items()))
        if self.pg:
            score = f"LEAST({raw}, {floor})"  # LEAST ignores NULL: no floor, no cap
        else:
            score = f"(CASE WHEN {floor} < {raw} THEN {floor} ELSE {raw} END)"
        srank = self._score_rank(score)
        rank = f"GREATEST({srank}, {d})" if self.pg else f"(CASE WHEN {d} > {srank} THEN {d} ELSE {srank} END)"
        grade_tail = self.concat("',\"'", f"{r}.direct_grade", "'\"]'")
        item = self.concat("'['", f"{r}.id", "','", f"{r}.points",
                           f"CASE WHEN {r}.direct_grade IS NULL THEN ']' ELSE {grade_tail} END")
        items = f"string_agg({item}, ',')" if self.pg else f"group_concat({item}, ',')"
        return f"{d} AS d, count(*) AS n, {score} AS score, {srank} AS srank, {rank} AS rank, {items} AS list"

    def _score_rank(self, score: str) -> str:
        lows = [low for low, _g in self.scheme.grades]
        if (self.pg and lows and lows[-1] is None and all(low is not None for low in lows[:-1])
                and all(a > b for a, b in zip(lows[:-1], lows[1:-1]))):
            # One evaluation of the score: the bucket among the ascending lower bounds.
            bounds = ", ".join(str(int(low)) for low in reversed(lows[:-1]))
            return f"({self.worst} - width_bucket({score}, ARRAY[{bounds}]))"
        whens = " ".join(f"WHEN {score} >= {int(low)} THEN {i}" for i, (low, _g) in enumerate(self.scheme.grades)
                         if low is not None)
        return f"(CASE {whens} ELSE {self.worst} END)"

    def label(self, rank: str, prev_grade: str, prev_label: str) -> str:
        d_labels = self.scheme.d_labels or DEFAULT_D_LABELS
        worst = _lit(self.order[self.worst])
        whens = " ".join(f"WHEN {prev_grade} = {_lit(g)} THEN {_lit(lab)}" for g, lab in d_labels.items())
        return (f"CASE WHEN {rank} <> {self.worst} THEN {self.grade(rank)} WHEN {prev_grade} = {worst} "
                f"THEN {prev_label} {whens} ELSE {worst} END")

    def reasons(self) -> str:
        """The compact reasons as JSON text (over the `changed` columns)."""
        floors = _case("d", [(rank, f"'{floor}'") for rank, floor in sorted(self.floor_by_rank.items())], "'null'")
        score_grade = _case("srank", [(i, f"'\"{g}\"'") for i, g in enumerate(self.order)], "'null'")
        freeze = "'true'" if self.scheme.bonus_freeze else "'false'"
        # Every ':' of the JSON is followed by a quote: text() must not read ':1000' as a parameter.
        direct = self.concat("',\"floor\":'", floors, "',\"score_grade\":'", score_grade, "',\"freeze\":'", freeze,
                             "'}'")
        sql = self.concat("'{\"base\":'", str(self.base), "',\"items\":['", "coalesce(list, '')", "']'",
                          f"CASE WHEN d IS NULL THEN '}}' ELSE {direct} END")
        return f"CAST({sql} AS json)" if self.pg else sql

    def concat(self, *parts: str) -> str:
        """Text concatenation: PostgreSQL's concat() builds the result once (a chain of || copies it
        at every step); SQLite has only ||. Callers keep NULLs out (concat skips them, || does not)."""
        return f"concat({', '.join(parts)})" if self.pg else "(" + " || ".join(parts) + ")"

    # -- the considered subjects with their new values beside the stored row --------------------------

    def changed(self, source: str, id_range: bool = False, prev: str | None = None) -> str:
        """Rows of `source` (sid, d, n, score, srank, rank, list; NULLs for a subject
        without counting items) whose stored row is missing or differs, with the stored values.
        `id_range`: the source is a batch's subjects, so only the batch's stored rows are read."""
        base_rank = self.base_rank
        if prev is None and self.pg:
            in_range = " WHERE ps.subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
            prev = f"LEFT JOIN (SELECT ps.ctid AS row_ctid, ps.* FROM subject_scores ps{in_range}) p ON p.subject_id = c.sid"
        elif prev is None:
            prev = "LEFT JOIN subject_scores p ON p.subject_id = c.sid"
        # PostgreSQL: the stored row's physical address, so the UPDATE below fetches it directly (a TID
        # scan) instead of probing the primary key a second time. Runs are serialised by the
        # advisory lock and only they write the table, so the address is still the row's.
        prev_ctid = "p.row_ctid AS prev_ctid, " if self.pg else ""
        rank = f"coalesce(c.rank, {base_rank})"
        fence = " OFFSET 0" if self.pg else ""  # evaluate the CASE chains once per row, not per reference
        # The new snapshot's id is drawn here, so the snapshot, its link to the previous one and the
        # stored row's link to it are written by the sibling statements from the same value.
        if self.pg:
            snap_id = "CASE WHEN y.snap THEN nextval((SELECT pg_get_serial_sequence('score_snapshots', 'id'))::regclass) END"
        else:  # SQLite has one writer: the next ids after the highest
            snap_id = ("CASE WHEN y.snap THEN (SELECT coalesce(max(id), 0) FROM score_snapshots) "
                       "+ row_number() OVER (PARTITION BY y.snap ORDER BY y.sid) END")
        return f"""
SELECT y.*, {snap_id} AS snap_id FROM (
SELECT x.*, (x.prev_sid IS NULL OR x.prev_score <> x.score OR x.prev_grade <> x.grade) AS snap FROM (
  SELECT c.sid, coalesce(c.score, {self.base}) AS score, coalesce(c.srank, {base_rank}) AS srank, c.d,
         coalesce(c.n, 0) AS n, c.list, {self.grade(rank)} AS grade,
         {self.label(rank, 'p.grade', 'p.grade_label')} AS label, {self.grade('c.d')} AS direct,
         {prev_ctid}p.subject_id AS prev_sid, p.score AS prev_score, p.grade AS prev_grade, p.grade_label AS prev_label,
         p.version AS prev_version, p.direct_grade AS prev_direct, p.active_items AS prev_n, p.scheme AS prev_scheme,
         p.snapshot_id AS prev_snapshot
  FROM ({source}) c {prev}{fence}
) x
WHERE x.prev_sid IS NULL OR x.prev_score <> x.score OR x.prev_grade <> x.grade OR x.prev_label <> x.label
   OR coalesce(x.prev_direct, '') <> coalesce(x.direct, '') OR x.prev_n <> x.n OR x.prev_scheme <> {self.key}
) y"""

    def full_source(self, id_range: bool) -> str:
        in_range = " AND r.subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        subjects_in_range = " WHERE s.id BETWEEN :id_lo AND :id_hi" if id_range else ""
        return (f"SELECT s.id AS sid, a.d, a.n, a.score, a.srank, a.rank, a.list FROM subjects s "
                f"LEFT JOIN (SELECT r.subject_id AS sid, {self.aggregates()} FROM credit_records r "
                f"WHERE {self.active()}{in_range} GROUP BY r.subject_id) a ON a.sid = s.id{subjects_in_range}")

    def window(self, id_range: bool) -> str:
        """Subjects with an item that starts or stops counting between the previous run (:lo) and
        this one (:hi): validity ended, began, or a repair took effect. Three index range scans
        (index-only on PostgreSQL: the date indexes include the subject)."""
        in_range = " AND r.subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        return " UNION ALL ".join(
            f"SELECT r.subject_id FROM credit_records r WHERE {condition}{in_range}" for condition in (
                "r.valid_until >= :lo AND r.valid_until < :hi", "r.decided_on > :lo AND r.decided_on <= :hi",
                "r.repaired_on > :lo AND r.repaired_on <= :hi"))

    # -- PostgreSQL: one statement ---------------------------------------------------------------------

    def pg_statement(self, mode: str, id_range: bool, window: bool) -> str:
        if mode == "fill":
            return self.pg_fill(id_range)
        return self.pg_full(id_range) if mode == "full" else self.pg_incremental(id_range, window)

    def _snapshot_insert(self, source: str) -> str:
        return f"""snaps AS (
  INSERT INTO score_snapshots (id, previous_id, subject_id, scheme, as_of, score, grade, grade_label, direct_grade,
                               previous_score, previous_grade, previous_label, reasons, created_at)
  SELECT snap_id, prev_snapshot, sid, {self.key}, :as_of, score, grade, label, direct, prev_score, prev_grade,
         prev_label, {self.reasons()}, :now
  FROM ({source}) s RETURNING 1)"""

    def pg_full(self, id_range: bool) -> str:
        """Every subject (in range): one ordered pass over subjects, their items and stored rows
        (merge joins), the changed rows materialised, then the writes."""
        dirty_range = " WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        subjects = "(SELECT count(*) FROM subjects" + (" WHERE id BETWEEN :id_lo AND :id_hi)" if id_range else ")")
        ctes = [f"changed AS MATERIALIZED ({self.changed(self.full_source(id_range), id_range)})",
                self._snapshot_insert("SELECT * FROM changed WHERE snap"),
                f"""upd AS (
  UPDATE subject_scores t SET scheme = {self.key}, score = c.score, grade = c.grade, grade_label = c.label,
         direct_grade = c.direct, active_items = c.n, version = c.prev_version + 1, as_of = :as_of, computed_at = :now,
         snapshot_id = coalesce(c.snap_id, c.prev_snapshot)
  FROM changed c WHERE c.prev_sid IS NOT NULL AND t.ctid = c.prev_ctid AND t.subject_id = c.sid RETURNING 1)""",
                # New rows: a plain INSERT (no speculative ON CONFLICT insertion: twice as fast); the
                # advisory lock keeps a concurrent run from inserting the same subject.
                f"""ins AS (
  INSERT INTO subject_scores (subject_id, scheme, score, grade, grade_label, direct_grade, active_items, version,
                              as_of, computed_at, snapshot_id)
  SELECT sid, {self.key}, score, grade, label, direct, n, 1, :as_of, :now, snap_id FROM changed WHERE prev_sid IS NULL
  RETURNING 1)""",
                # Everything in range is now current: queued marks are satisfied.
                f"cleared AS (DELETE FROM score_dirty{dirty_range} RETURNING 1)"]
        return ("WITH " + ",\n".join(ctes) + f"\nSELECT {subjects} AS subjects, 0 AS dirty, 0 AS window, "
                "(SELECT count(*) FROM snaps) AS snapshots, (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) "
                "AS changed, (SELECT count(*) FROM upd) AS updated, (SELECT count(*) FROM cleared) AS cleared")

    def pg_fold(self, id_range: bool) -> str:
        """Move the rows incremental runs wrote to `subject_scores_recent` (in range) into
        `subject_scores`: updated in place, or inserted for a subject first stored by an incremental
        run. A full run does this first, then compares with `subject_scores` alone."""
        in_range = " WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        cols = "scheme, score, grade, grade_label, direct_grade, active_items, version, as_of, computed_at, snapshot_id"
        moved = ", ".join(f"m.{name.strip()}" for name in cols.split(","))
        return f"""WITH moved AS (DELETE FROM subject_scores_recent{in_range} RETURNING subject_id, {cols}),
upd AS (UPDATE subject_scores b SET ({cols}) = ({moved}) FROM moved m WHERE b.subject_id = m.subject_id
        RETURNING b.subject_id),
ins AS (INSERT INTO subject_scores (subject_id, {cols}) SELECT m.subject_id, {moved} FROM moved m
        WHERE m.subject_id NOT IN (SELECT subject_id FROM upd) RETURNING 1)
SELECT (SELECT count(*) FROM moved) AS folded, (SELECT count(*) FROM upd) AS updated"""

    def pg_fill(self, id_range: bool) -> str:
        """The first computation (full mode with nothing stored in range): every subject is new, so
        there is no stored row to join, compare or update — one ordered pass, then two inserts."""
        dirty_range = " WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        rank = f"coalesce(c.rank, {self.base_rank})"
        # A run over all subjects draws its snapshot ids as one block: the first from the sequence,
        # the rest numbered in subject order, the sequence then set past the block (its exclusive
        # advisory lock keeps every other run out; no other code inserts snapshots) — one nextval()
        # instead of a million. A batch runs beside the other batches of its run, which draw from the
        # same sequence, so it draws one id per snapshot (≈0.25 µs each).
        seq = "(SELECT pg_get_serial_sequence('score_snapshots', 'id'))::regclass"
        if id_range:
            snap_id = f"nextval({seq})"
        else:
            snap_id = "(SELECT id FROM first_id) + row_number() OVER (ORDER BY c.sid) - 1"
        ctes = [f"first_id AS MATERIALIZED (SELECT nextval({seq}) AS id)"] if not id_range else []
        ctes.append(f"""changed AS MATERIALIZED (
  SELECT c.sid, coalesce(c.score, {self.base}) AS score, coalesce(c.srank, {self.base_rank}) AS srank, c.d,
         coalesce(c.n, 0) AS n, c.list, {self.grade(rank)} AS grade, {self.label(rank, 'NULL', 'NULL')} AS label,
         {self.grade('c.d')} AS direct, {snap_id} AS snap_id
  FROM ({self.full_source(id_range)}) c)""")
        ctes += [self._snapshot_insert(
                    "SELECT sid, snap_id, CAST(NULL AS bigint) AS prev_snapshot, score, grade, label, direct, "
                    "CAST(NULL AS integer) AS prev_score, CAST(NULL AS varchar) AS prev_grade, "
                    "CAST(NULL AS varchar) AS prev_label, d, srank, list FROM changed"),
                f"""ins AS (
  INSERT INTO subject_scores (subject_id, scheme, score, grade, grade_label, direct_grade, active_items, version,
                              as_of, computed_at, snapshot_id)
  SELECT sid, {self.key}, score, grade, label, direct, n, 1, :as_of, :now, snap_id FROM changed RETURNING 1)""",
                f"cleared AS (DELETE FROM score_dirty{dirty_range} RETURNING 1)"]
        block_end = "" if id_range else (
            f", setval({seq}, (SELECT id FROM first_id) + greatest((SELECT count(*) FROM changed), 1) - 1) AS last_id")
        return ("WITH " + ",\n".join(ctes) + "\nSELECT (SELECT count(*) FROM changed) AS subjects, 0 AS dirty, "
                "0 AS window, (SELECT count(*) FROM snaps) AS snapshots, (SELECT count(*) FROM ins) AS changed, "
                "(SELECT count(*) FROM cleared) AS cleared" + block_end)

    def pg_incremental(self, id_range: bool, window: bool) -> str:
        """The queued and window subjects, in subject order: their items in one ordered index-only
        scan, each one's stored row looked up (its `subject_scores_recent` row, else its
        `subject_scores` row: read, never written), the changed ones given a snapshot and upserted
        into `subject_scores_recent`. Writing there instead of updating `subject_scores` in place
        keeps an incremental run's writes on a few pages of a small table: updating thousands of
        scattered rows changed as many pages, each written to the WAL whole after a checkpoint."""
        dirty_range = " WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        ctes = [f"claimed AS (DELETE FROM score_dirty{dirty_range} RETURNING subject_id)"]
        found = "SELECT subject_id FROM claimed"
        if window:
            ctes.append(f"win AS ({self.window(id_range)})")
            found += " UNION SELECT subject_id FROM win"
        ctes.append(f"targets AS MATERIALIZED (SELECT subject_id AS sid FROM ({found}) u ORDER BY subject_id)")
        ctes.append(f"""items AS MATERIALIZED (
  SELECT r.subject_id AS sid, {self.aggregates()} FROM credit_records r
  WHERE r.subject_id = ANY(CAST((SELECT array_agg(sid) FROM targets) AS integer[])) AND {self.active()}
  GROUP BY r.subject_id ORDER BY r.subject_id)""")
        ctes.append(f"""computed AS MATERIALIZED (
  SELECT * FROM items UNION ALL
  SELECT t.sid, NULL, 0, {self.base}, {self.base_rank}, {self.base_rank}, NULL FROM targets t
  WHERE t.sid NOT IN (SELECT sid FROM items))""")
        # The stored row: the recent one if any (then the full run's row is not read at all).
        cols = "subject_id, scheme, score, grade, grade_label, direct_grade, active_items, version, snapshot_id"
        prev = (f"LEFT JOIN LATERAL (SELECT NULL::tid AS row_ctid, {cols} FROM subject_scores_recent r "
                f"WHERE r.subject_id = c.sid UNION ALL SELECT NULL::tid, {cols} FROM subject_scores b "
                f"WHERE b.subject_id = c.sid LIMIT 1) p ON true")
        ctes.append(f"changed AS MATERIALIZED ({self.changed('SELECT * FROM computed ORDER BY sid', prev=prev)})")
        ctes.append(self._snapshot_insert("SELECT * FROM changed WHERE snap"))
        ctes.append(f"""ups AS (
  INSERT INTO subject_scores_recent (subject_id, scheme, score, grade, grade_label, direct_grade, active_items,
                                     version, as_of, computed_at, snapshot_id)
  SELECT sid, {self.key}, score, grade, label, direct, n, coalesce(prev_version, 0) + 1, :as_of, :now,
         coalesce(snap_id, prev_snapshot) FROM changed
  ON CONFLICT (subject_id) DO UPDATE SET scheme = excluded.scheme, score = excluded.score, grade = excluded.grade,
     grade_label = excluded.grade_label, direct_grade = excluded.direct_grade, active_items = excluded.active_items,
     version = excluded.version, as_of = excluded.as_of, computed_at = excluded.computed_at,
     snapshot_id = excluded.snapshot_id
  RETURNING 1)""")
        return ("WITH " + ",\n".join(ctes) + "\nSELECT (SELECT count(*) FROM targets) AS subjects, "
                "(SELECT count(*) FROM claimed) AS dirty, (SELECT count(*) FROM targets) - (SELECT count(*) FROM claimed) "
                "AS window, (SELECT count(*) FROM snaps) AS snapshots, (SELECT count(*) FROM ups) AS changed")

    # -- SQLite: the same SELECT into a stage table, then the writes -------------------------------------

    def sqlite_stage(self, mode: str, id_range: bool) -> str:
        if mode == "full":
            source = self.full_source(id_range)
        else:
            source = (f"SELECT t.subject_id AS sid, a.d, a.n, a.score, a.srank, a.rank, a.list "
                      f"FROM temp.score_targets t LEFT JOIN (SELECT r.subject_id AS sid, {self.aggregates()} "
                      f"FROM credit_records r JOIN temp.score_targets tt ON tt.subject_id = r.subject_id "
                      f"WHERE {self.active()} GROUP BY r.subject_id) a ON a.sid = t.subject_id")
        return f"CREATE TEMP TABLE score_stage AS {self.changed(source)}"

    def sqlite_writes(self) -> tuple[str, str]:
        snaps = (f"INSERT INTO score_snapshots (id, previous_id, subject_id, scheme, as_of, score, grade, grade_label, "
                 f"direct_grade, previous_score, previous_grade, previous_label, reasons, created_at) "
                 f"SELECT snap_id, prev_snapshot, sid, {self.key}, :as_of, score, grade, label, direct, prev_score, "
                 f"prev_grade, prev_label, {self.reasons()}, :now FROM temp.score_stage WHERE snap ORDER BY sid")
        store = (f"INSERT INTO subject_scores (subject_id, scheme, score, grade, grade_label, direct_grade, "
                 f"active_items, version, as_of, computed_at, snapshot_id) "
                 f"SELECT sid, {self.key}, score, grade, label, direct, n, coalesce(prev_version, 0) + 1, :as_of, :now, "
                 f"coalesce(snap_id, prev_snapshot) "
                 f"FROM temp.score_stage WHERE true ON CONFLICT (subject_id) DO UPDATE SET scheme = excluded.scheme, "
                 f"score = excluded.score, grade = excluded.grade, grade_label = excluded.grade_label, "
                 f"direct_grade = excluded.direct_grade, active_items = excluded.active_items, "
                 f"version = excluded.version, as_of = excluded.as_of, computed_at = excluded.computed_at, "
                 f"snapshot_id = excluded.snapshot_id")
        return snaps, store


_BIND_TYPES = {"as_of": Date(), "lo": Date(), "hi": Date(), "now": UTCDateTime(), "id_lo": Integer(),
               "id_hi": Integer()}
_CACHE: dict[tuple, Any] = {}


def _statement(dialect: str, scheme: SchemeParams, variant: tuple, build) -> Any:
    """The text() of one statement, built once per process."""
    key = (dialect, scheme.fingerprint(), variant)
    stmt = _CACHE.get(key)
    if stmt is None:
        sql = build(_Sql(dialect, scheme))
        unknown = set(text(sql)._bindparams) - set(_BIND_TYPES)
        if unknown:  # a ':word' inside a literal would silently become a parameter
            raise ValueError(f"unexpected parameters {sorted(unknown)} in the recomputation SQL")
        stmt = text(sql).bindparams(*[bindparam(name, type_=type_) for name, type_ in _BIND_TYPES.items()
                                      if re.search(rf":{name}\b", sql)])
        _CACHE[key] = stmt
    return stmt


def statement_sql(dialect: str, mode: str = "incremental", *, window: bool = True, id_range: bool = False,
                  runtime=None, scheme: SchemeParams | None = None) -> str:
    """The SQL a run executes (for EXPLAIN and review): the PostgreSQL statement, or SQLite's stage."""
    scheme = scheme or scheme_params(runtime)
    sql = _Sql(dialect, scheme)
    return sql.pg_statement(mode, id_range, window) if dialect == "postgresql" else sql.sqlite_stage(mode, id_range)


# --- the run ----------------------------------------------------------------------------------------

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
    session.flush()  # pending ORM changes first (their dirty marks included); then SQL on the same connection
    conn = session.connection()
    dialect = conn.dialect.name
    stats = RecomputeStats(mode=mode, as_of=t)
    params: dict[str, Any] = {"as_of": t, "now": runtime.clock.now()}
    if id_range:
        params.update(id_lo=int(id_range[0]), id_hi=int(id_range[1]))
    window = False
    if dialect == "postgresql":
        _session_settings(conn, mode, id_range)
    if mode == "incremental":
        last = last_as_of(conn)
        lo, hi = (min(last, t), max(last, t)) if last is not None else (t - timedelta(days=1), t)
        window = lo != hi
        if window:
            params.update(lo=lo, hi=hi)

    if dialect == "postgresql":
        variant = mode
        if mode == "full":
            fold = _statement(dialect, scheme, ("fold", bool(id_range)), lambda sql: sql.pg_fold(bool(id_range)))
            folded = conn.execute(fold, params).mappings().one()
            stats.folded, stats.updated = folded["folded"], folded["updated"]
            if _nothing_stored(conn, id_range):
                variant = "fill"  # the first computation
        stmt = _statement(dialect, scheme, (variant, bool(id_range), window),
                          lambda sql: sql.pg_statement(variant, bool(id_range), window))
        row = conn.execute(stmt, params).mappings().one()
        stats.subjects, stats.dirty, stats.window = row["subjects"], row["dirty"], row["window"]
        stats.changed, stats.snapshots = row["changed"], row["snapshots"]
        stats.updated += row.get("updated") or 0
    else:
        _sqlite_run(conn, scheme, mode, id_range, window, params, stats)
    if id_range is None:
        set_last_as_of(conn, dialect, t)
    stats.seconds = round(time.perf_counter() - started, 4)
    return stats


def plan_batches(conn, mode: str, *, workers: int = 1,
                 batch_subjects: int = DEFAULT_BATCH_SUBJECTS) -> list[tuple[int, int] | None]:
    """The batches of one run: `None` for one batch over every subject, else ranges of subject ids.

    An incremental run on one connection is one batch over everything (it records its own date);
    otherwise the ids from the lowest to the highest are cut into equal consecutive ranges, at
    least `workers` of them (so every connection has work) and, in full mode, none wider than
    `batch_subjects`. The last range reaches `MAX_SUBJECT_ID`, so subjects created while the run goes
    on fall into a batch too. SQLite has one writer: a plan there is for one connection."""
    if conn.dialect.name != "postgresql":
        workers = 1
    if mode == "incremental" and workers <= 1:
        return [None]
    subjects = Subject.__table__
    low, high = conn.execute(select(func.min(subjects.c.id), func.max(subjects.c.id))).one()
    if low is None:
        return [None] if mode == "incremental" else []
    span = high - low + 1
    count = max(workers, 1)
    if mode == "full":
        count = max(count, -(-span // max(int(batch_subjects), 1)))
    if count == 1:
        return [None]
    size = -(-span // count)
    ranges = [(start, start + size - 1) for start in range(low, high + 1, size)]
    ranges[-1] = (ranges[-1][0], MAX_SUBJECT_ID)
    return ranges


def run_in_batches(engine, mode: str, as_of: date, run_ranges, *, workers: int = 1,
                   batch_subjects: int = DEFAULT_BATCH_SUBJECTS) -> list[RecomputeStats]:
    """The frame of one run cut into batches, shared by `recompute_batches` and the Prefect flow
    `recompute-scores`: under the run lock, the plan (`plan_batches`); then `run_ranges(ranges,
    workers)` runs every batch (`recompute` for `as_of` with the batch's `id_range`, in a transaction
    of its own) at most `workers` at a time and returns their statistics; then, when the batches were
    ranges, the run's date is recorded (a batch does not record it: the run is complete only when all
    are); and after a run that updated rows in place, `tidy_stored_scores`. A failed batch raises
    from `run_ranges`: what the committed batches wrote stays valid and the next run redoes the rest."""
    if engine.dialect.name != "postgresql":
        workers = 1  # SQLite has one writer
    with run_lock(engine):
        with engine.connect() as conn:
            ranges = plan_batches(conn, mode, workers=workers, batch_subjects=batch_subjects)
        results = run_ranges(ranges, min(workers, max(len(ranges), 1)))
        if ranges != [None]:
            with engine.begin() as conn:
                set_last_as_of(conn, conn.dialect.name, as_of)
    if sum(stats.updated for stats in results):
        tidy_stored_scores(engine)
    return results


def recompute_batches(engine, runtime, *, mode: str = "incremental", workers: int = 1,
                      batch_subjects: int = DEFAULT_BATCH_SUBJECTS, as_of: date | None = None) -> list[RecomputeStats]:
    """One run (`run_in_batches`) without Prefect, for the benchmark and scripts: each batch on its
    own connection, `workers` of them at a time on a thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    t = as_of or runtime.today()

    def one(id_range):
        with Session(engine) as session:
            stats = recompute(session, runtime, mode=mode, as_of=t, id_range=id_range)
            session.commit()
            return stats

    def run_ranges(ranges, side_by_side: int) -> list[RecomputeStats]:
        if side_by_side <= 1:
            return [one(id_range) for id_range in ranges]
        with ThreadPoolExecutor(max_workers=side_by_side, thread_name_prefix="recompute") as pool:
            return list(pool.map(one, ranges))

    return run_in_batches(engine, mode, t, run_ranges, workers=workers, batch_subjects=batch_subjects)


def tidy_stored_scores(engine) -> None:
    """VACUUM `subject_scores` after a run that updated rows in place (PostgreSQL; a full run): the
    pages keep the rows' dead versions until something prunes them, and the next run reading such a
    page after a checkpoint would prune it and write it to the WAL whole — the cost is taken here,
    once, instead (≈0.25 s for a million rows). Autovacuum would do it too, later (the table asks
    for it after 10,000 changed rows: models.score_store.SUBJECT_SCORES_STORAGE)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM subject_scores")


@contextmanager
def run_lock(engine) -> Iterator[None]:
    """Hold the run lock (PostgreSQL: a session-level advisory lock on a connection of its own) for
    one run cut into batches, from its plan to its date: a second such run waits for it. A run over
    all subjects at once needs none (its transaction lock excludes everything else), nor does SQLite
    (one writer). The lock goes with the connection if the process dies."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_advisory_lock({RUN_LOCK_KEY})"))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({RUN_LOCK_KEY})"))
            conn.commit()


def _nothing_stored(conn, id_range) -> bool:
    """Is no score stored (for subjects in `id_range`)? Then a full run is the first computation."""
    stored = SubjectScore.__table__
    probe = select(stored.c.subject_id).limit(1)
    if id_range:
        probe = probe.where(stored.c.subject_id.between(int(id_range[0]), int(id_range[1])))
    return conn.execute(probe).first() is None


def _session_settings(conn, mode: str, id_range: tuple[int, int] | None = None) -> None:
    """SET LOCAL the settings of `_PG_SETTINGS` and take the advisory locks, in one round trip: a run
    over all subjects the recomputation lock exclusively, a batch that lock shared and its range's."""
    settings = dict(_PG_SETTINGS)
    settings.update(_PG_FULL_SETTINGS if mode == "full" else _PG_INCREMENTAL_SETTINGS)
    calls = [f"set_config('{name}', '{value}', true)" for name, value in settings.items()]
    # Asynchronous commit only for a transaction that is nothing but this derived-data recomputation.
    calls += [f"CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN set_config('{name}', '{value}', true) END"
              for name, value in _PG_ASYNC_COMMIT.items()]
    if id_range is None:
        locks = f"pg_advisory_xact_lock({ADVISORY_LOCK_KEY})"
    else:
        locks = (f"pg_advisory_xact_lock_shared({ADVISORY_LOCK_KEY}), "
                 f"pg_advisory_xact_lock({RANGE_LOCK_KEY}, {int(id_range[0])})")
    conn.execute(text(f"SELECT {', '.join(calls)}, {locks}"))


def _sqlite_run(conn, scheme: SchemeParams, mode: str, id_range, window: bool, params: dict,
                stats: RecomputeStats) -> None:
    def run(sql: str, variant: tuple = ()):
        stmt = _statement("sqlite", scheme, ("raw", sql) + variant, lambda _sql: sql)
        return conn.execute(stmt, params)

    run("DROP TABLE IF EXISTS temp.score_stage")
    if mode == "incremental":
        in_range = " WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""
        run("DROP TABLE IF EXISTS temp.score_targets")
        run("CREATE TEMP TABLE score_targets (subject_id INTEGER PRIMARY KEY, dirty INTEGER NOT NULL)")
        # SQLite has one writer: a commit between these two statements makes the DELETE wait or fail.
        stats.dirty = run(f"INSERT INTO temp.score_targets SELECT subject_id, 1 FROM score_dirty{in_range}").rowcount
        run("DELETE FROM score_dirty WHERE subject_id IN (SELECT subject_id FROM temp.score_targets)")
        if window:
            found = _Sql("sqlite", scheme).window(bool(id_range))
            stats.window = run(f"INSERT OR IGNORE INTO temp.score_targets SELECT subject_id, 0 FROM ({found})").rowcount
        stats.subjects = stats.dirty + stats.window
    else:
        count = "SELECT count(*) FROM subjects" + (" WHERE id BETWEEN :id_lo AND :id_hi" if id_range else "")
        stats.subjects = run(count).scalar_one()
    stage = _statement("sqlite", scheme, ("stage", mode, bool(id_range)), lambda sql: sql.sqlite_stage(mode, bool(id_range)))
    conn.execute(stage, params)
    stats.changed = run("SELECT count(*) FROM temp.score_stage").scalar_one()
    if stats.changed:
        snaps, store = _Sql("sqlite", scheme).sqlite_writes()
        stats.snapshots = run(snaps).rowcount
        run(store)
    if mode == "full":
        run("DELETE FROM score_dirty" + (" WHERE subject_id BETWEEN :id_lo AND :id_hi" if id_range else ""))
    run("DROP TABLE temp.score_stage")
    if mode == "incremental":
        run("DROP TABLE temp.score_targets")


def last_as_of(conn) -> date | None:
    """The date of the last unlimited run (a Session or a Connection)."""
    table = AppSetting.__table__  # Core, not the ORM entity: no mapper configuration in a fresh process
    value = conn.execute(select(table.c.value).where(table.c.key == LAST_AS_OF_KEY)).scalar()
    return date.fromisoformat(value) if value else None


def set_last_as_of(conn, dialect: str, t: date) -> None:
    """Record that every subject's stored value holds at `t` (modulo queued changes)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    table = AppSetting.__table__
    stmt = dialect_insert(table).values(key=LAST_AS_OF_KEY, value=t.isoformat())
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))


def snapshot_history(session: Session, subject_id: int, limit: int = 100) -> list[ScoreSnapshot]:
    """A subject's latest `limit` snapshots, newest first, their reasons expanded (one query for the
    items). The history is followed as a chain from the current stored row (`current_stored_score`:
    its `snapshot_id`, then each snapshot's `previous_id`): one primary-key probe per snapshot, no
    index by subject."""
    snapshots = ScoreSnapshot.__table__
    row = current_stored_score(session, subject_id)
    if row is None:
        return []
    if row.snapshot_id is None:  # a row stored before the chain existed
        snaps = list(session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == subject_id)
                                     .order_by(ScoreSnapshot.as_of.desc(), ScoreSnapshot.id.desc()).limit(limit))
                     .scalars())
        expand_reasons(session, snaps)
        return snaps
    chain = select(literal(row.snapshot_id, SnapshotIdType).label("id"), literal(1).label("depth")).cte(
        "chain", recursive=True)
    step = snapshots.alias("step")
    chain = chain.union_all(select(step.c.previous_id, chain.c.depth + 1)
                            .where(step.c.id == chain.c.id, step.c.previous_id.is_not(None), chain.c.depth < limit))
    snaps = list(session.execute(select(ScoreSnapshot).where(ScoreSnapshot.id.in_(select(chain.c.id)))
                                 .order_by(ScoreSnapshot.as_of.desc(), ScoreSnapshot.id.desc()).limit(limit))
                 .scalars())
    expand_reasons(session, snaps)
    return snaps
