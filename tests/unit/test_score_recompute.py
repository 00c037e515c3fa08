"""Set-based score recomputation (workflows.score_recompute) against the one-subject semantics.

Every stored score, grade and direct grade is compared with `workflows.scoring.score_at` (the
one-subject engine, which applies bonus freeze and floor) and with the reference below, written
from the rule set every part of issue 6 shares (DOMAIN.md §8.1, §8.4): active items on t, the worst
direct grade, bonus freeze under a direct grade, the direct grade's floor, the worse of the two
grades. The D sub-label follows the grade stored before the drop (checked against the sequence of
stored grades; score_at derives it from the item history instead, which agrees when every change
day is recomputed, as in S15).
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from models import (AppSetting, CreditRecord, RecentSubjectScore, ScoreDirty, ScoreSnapshot, Subject, SubjectScore,
                    db)
from models.score_store import current_stored_score
from webapp.views.common import commit
from workflows.clock import BEIJING
from workflows.records import is_active_on
from workflows.score_recompute import DEFAULT_DIRECT_GRADE_FLOORS, DEFAULT_D_LABELS, recompute
from workflows.scoring import grade_for, score_at, worse_grade


def reference(records, at: date, base: int = 1000) -> tuple[int, str, str | None]:
    active = [r for r in records if (r.points or r.direct_grade) and is_active_on(r, at)
              and not (r.item_code or "").startswith("HB-")]  # another scheme's item
    direct = None
    for r in active:
        if r.direct_grade:
            direct = worse_grade(direct, r.direct_grade) if direct else r.direct_grade
    score = base + sum(r.points for r in active if r.points < 0 or direct is None)
    if direct:
        score = min(score, DEFAULT_DIRECT_GRADE_FLOORS[direct])
    grade = grade_for(score)[0]
    return score, (worse_grade(grade, direct) if direct else grade), direct


def expected_label(grade: str, previous: tuple[str, str] | None) -> str:
    if grade != "D":
        return grade
    if previous is None:
        return "D"
    prev_grade, prev_label = previous
    return prev_label if prev_grade == "D" else DEFAULT_D_LABELS[prev_grade]


def at_day(clock, day: date) -> None:
    clock.set(datetime(day.year, day.month, day.day, 9, tzinfo=BEIJING))


def add_subject(n: int, person: bool = False) -> Subject:
    subject = Subject(kind="natural_person" if person else "legal_person", name=f"测试主体{n}",
                      id_number=f"37108219900101{n:04d}" if person else None,
                      uscc=None if person else f"91371000MA{n:08d}")
    db.session.add(subject)
    db.session.flush()
    return subject


def add_record(subject: Subject, decided_on: date, points: int, valid_until: date | None, *,
               direct_grade: str | None = None, status: str = "active", repaired_on: date | None = None,
               title: str = "测试记录", item_code: str | None = None) -> CreditRecord:
    record = CreditRecord(subject_id=subject.id, kind="positive" if points > 0 else "dishonesty",
                          severity=None if points > 0 else "general", title=title, category="c",
                          decided_on=decided_on, points=points, valid_until=valid_until,
                          direct_grade=direct_grade, status=status, repaired_on=repaired_on, item_code=item_code)
    db.session.add(record)
    return record


def stored() -> dict[int, SubjectScore | RecentSubjectScore]:
    """Every subject's current stored score: what incremental runs wrote since the last full run
    (PostgreSQL's `subject_scores_recent`) before the full run's row."""
    rows = {row.subject_id: row for row in db.session.execute(select(SubjectScore)).scalars()}
    rows.update({row.subject_id: row for row in db.session.execute(select(RecentSubjectScore)).scalars()})
    return rows


def random_world(rng: random.Random, subjects: int = 40, items: int = 400) -> list[Subject]:
    people = [add_subject(1000 + n, person=n % 3 == 0) for n in range(subjects)]
    start = date(2025, 1, 1)
    for _ in range(items):
        subject = rng.choice(people)
        decided = start + timedelta(days=rng.randrange(0, 900))
        points = rng.choice([-100, -60, -40, -20, -10, -5, -3, 0, 3, 5, 10, 20, 40])
        valid_until = None if rng.random() < 0.1 else decided + timedelta(days=rng.choice([0, 30, 365, 730, 1825]))
        direct = rng.choice(["B", "C", "D"]) if rng.random() < 0.12 else None
        status, repaired_on = "active", None
        roll = rng.random()
        if roll < 0.1:
            status, repaired_on = "repaired", decided + timedelta(days=rng.randrange(0, 400))
        elif roll < 0.15:
            status = "revoked"
        code = "HB-TEST" if rng.random() < 0.05 else None  # 海贝分 items do not count in the district score
        add_record(subject, decided, points, valid_until, direct_grade=direct, status=status, repaired_on=repaired_on,
                   item_code=code)
    db.session.flush()
    return people


def check_against_reference(people, at: date, previous: dict[int, tuple[str, str]]) -> None:
    rows = stored()
    for subject in people:
        records = db.session.execute(select(CreditRecord).where(CreditRecord.subject_id == subject.id)).scalars().all()
        score, grade, direct = reference(records, at)
        row = rows[subject.id]
        assert (row.score, row.grade, row.direct_grade) == (score, grade, direct), (subject.id, at)
        assert row.grade_label == expected_label(grade, previous.get(subject.id)), (subject.id, at)
        single = score_at(records, at)
        assert (single.score, single.grade, single.direct_grade) == (score, grade, direct), (subject.id, at)
        previous[subject.id] = (row.grade, row.grade_label)


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_set_based_equals_the_one_subject_rules_on_random_items(ctx, runtime, clock, mode):
    rng = random.Random(6)
    people = random_world(rng)
    commit()
    days = sorted({date(2025, 1, 1) + timedelta(days=rng.randrange(0, 1300)) for _ in range(14)})
    previous: dict[int, tuple[str, str]] = {}
    # The first run stores everyone (a full one); then either full runs or incremental runs on
    # irregular dates, which must find every item that began, ended or was repaired in between.
    at_day(clock, days[0])
    recompute(db.session, runtime, mode="full")
    commit()
    check_against_reference(people, days[0], previous)
    seen_direct = seen_freeze = seen_floor = False
    for day in days[1:]:
        at_day(clock, day)
        stats = recompute(db.session, runtime, mode=mode)
        commit()
        assert stats.as_of == day
        check_against_reference(people, day, previous)
        for snap in db.session.execute(select(ScoreSnapshot).where(ScoreSnapshot.as_of == day)).scalars():
            seen_direct |= snap.direct_grade is not None
            seen_freeze |= snap.reasons["bonus_frozen"]
            seen_floor |= snap.reasons["floor_applied"]
    assert seen_direct and seen_freeze and seen_floor  # the random world exercises every rule


def test_snapshots_only_on_change_with_reasons(ctx, runtime, clock):
    subject = add_subject(1)
    add_record(subject, date(2026, 1, 5), -20, date(2027, 1, 5), title="较重罚款")
    bonus = add_record(subject, date(2026, 2, 1), 10, date(2027, 2, 1), title="无偿献血")
    commit()
    at_day(clock, date(2026, 3, 1))
    first = recompute(db.session, runtime, mode="incremental")
    commit()
    assert (first.dirty, first.changed, first.snapshots) == (1, 1, 1)
    again = recompute(db.session, runtime, mode="full")
    commit()
    assert (again.changed, again.snapshots) == (0, 0)  # same value: nothing written

    listed = add_record(subject, date(2026, 3, 1), 0, date(2031, 3, 1), direct_grade="D", title="失信被执行人")
    commit()
    recompute(db.session, runtime)
    commit()
    snaps = db.session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == subject.id)
                               .order_by(ScoreSnapshot.id)).scalars().all()
    assert [(s.score, s.grade, s.grade_label) for s in snaps] == [(990, "A", "A"), (599, "D", "DA")]
    reasons = snaps[-1].reasons
    assert (snaps[-1].previous_score, snaps[-1].previous_grade) == (990, "A")
    assert reasons["direct_grade"] == "D" and reasons["floor"] == 599 and reasons["floor_applied"] is True
    assert reasons["bonus_frozen"] is True and reasons["frozen_points"] == 10
    assert reasons["score_before_floor"] == 980 and reasons["grade_from_score"] == "D"
    counted = {item["record_id"]: (item["points"], item["counted"]) for item in reasons["items"]}
    assert counted == {bonus.id: (10, False), listed.id: (0, True), bonus.id - 1: (-20, True)}


def test_s15_lifecycle_with_expiry_on_the_right_day(ctx, runtime, clock):
    """DOMAIN.md §10 S15, by incremental runs only; expiry days have no change and no dirty mark."""
    person = add_subject(15, person=True)
    commit()
    timeline = [
        (date(2026, 3, 2), lambda: add_record(person, date(2026, 3, 2), -20, date(2027, 3, 2)), (980, "A", "A")),
        (date(2026, 6, 15), lambda: add_record(person, date(2026, 6, 15), -40, date(2027, 6, 15)), (940, "B", "B")),
        (date(2026, 7, 1), lambda: add_record(person, date(2026, 7, 1), 10, date(2027, 7, 1)), (950, "B", "B")),
        (date(2026, 8, 3), lambda: add_record(person, date(2026, 8, 3), 0, date(2031, 8, 3), direct_grade="D",
                                              title="失信被执行人"), (599, "D", "DB")),
    ]
    for day, change, expected in timeline:
        at_day(clock, day)
        change()
        commit()
        recompute(db.session, runtime)
        commit()
        row = stored()[person.id]
        assert (row.score, row.grade, row.grade_label) == expected, day
        assert score_at(person.records, day).grade_display == row.grade_label  # the one-subject engine agrees

    # 2026-10-12: fully performed; the D is repaired and replaced by −50 for 2 years.
    at_day(clock, date(2026, 10, 12))
    listed = db.session.execute(select(CreditRecord).where(CreditRecord.direct_grade == "D")).scalar_one()
    listed.status, listed.repaired_on = "repaired", date(2026, 10, 12)
    add_record(person, date(2026, 10, 12), -50, date(2028, 10, 12))
    commit()
    recompute(db.session, runtime)
    commit()
    assert (stored()[person.id].score, stored()[person.id].grade) == (900, "B")

    for day, expected in [(date(2027, 3, 2), (900, "B")), (date(2027, 3, 3), (920, "B")),
                          (date(2027, 6, 15), (920, "B")), (date(2027, 6, 16), (960, "A")),
                          (date(2027, 7, 2), (950, "B")), (date(2028, 10, 12), (950, "B")),
                          (date(2028, 10, 13), (1000, "A"))]:
        at_day(clock, day)
        stats = recompute(db.session, runtime)
        commit()
        assert stats.dirty == 0
        row = stored()[person.id]
        assert (row.score, row.grade) == expected, day
    assert db.session.get(AppSetting, "score.last_as_of").value == "2028-10-13"
    history = [(s.as_of.isoformat(), s.score, s.grade_label) for s in db.session.execute(
        select(ScoreSnapshot).where(ScoreSnapshot.subject_id == person.id).order_by(ScoreSnapshot.id)).scalars()]
    assert history == [("2026-03-02", 980, "A"), ("2026-06-15", 940, "B"), ("2026-07-01", 950, "B"),
                       ("2026-08-03", 599, "DB"), ("2026-10-12", 900, "B"), ("2027-03-03", 920, "B"),
                       ("2027-06-16", 960, "A"), ("2027-07-02", 950, "B"), ("2028-10-13", 1000, "A")]


def test_snapshots_are_immutable(ctx, runtime, clock):
    subject = add_subject(2)
    add_record(subject, date(2026, 1, 5), -20, date(2027, 1, 5))
    commit()
    recompute(db.session, runtime)
    commit()
    snap = db.session.execute(select(ScoreSnapshot)).scalar_one()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(update(ScoreSnapshot.__table__).values(score=1))
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text("DELETE FROM score_snapshots"))
    db.session.rollback()
    snap = db.session.execute(select(ScoreSnapshot)).scalar_one()
    snap.score = 1
    with pytest.raises(ValueError, match="immutable"):
        db.session.flush()
    db.session.rollback()
    assert db.session.execute(select(ScoreSnapshot.score)).scalar_one() == 980


def test_dirty_marks_only_score_relevant_changes(ctx, runtime):
    subject = add_subject(3)
    record = add_record(subject, date(2026, 1, 5), -20, date(2027, 1, 5))
    commit()
    assert db.session.execute(select(ScoreDirty.subject_id)).scalars().all() == [subject.id]
    recompute(db.session, runtime)
    commit()
    assert db.session.execute(select(ScoreDirty)).scalars().all() == []
    record.description = "更正说明"
    commit()
    assert db.session.execute(select(ScoreDirty)).scalars().all() == []
    record.under_objection = True
    commit()
    assert db.session.execute(select(ScoreDirty.subject_id)).scalars().all() == [subject.id]
    db.session.rollback()


def test_an_upheld_objection_marks_the_subject_inside_fire(app, api, demo, runtime):
    with app.app_context():
        recompute(db.session, runtime, mode="full")
        commit()
        assert db.session.execute(select(ScoreDirty)).scalars().all() == []
        assert current_stored_score(db.session, 1).score == 980
    enterprise = api.as_user("enterprise")
    opened = enterprise.post("/api/v1/cases", json={"case_type": "objection", "subject_id": 1, "data": {
        "record_id": 1, "grounds": "inaccurate", "statement": "处罚决定已被复议撤销"}})
    case_id = opened.get_json()["id"]
    steps = [(enterprise, "submit", {"statement": "处罚决定已被复议撤销"}), (api.as_user("window"), "accept", {}),
             (api.as_user("window"), "route_to_provider", {"letter": "请核查"})]
    for client, trigger, data in steps:
        assert client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data}).status_code == 200
    with app.app_context():
        # Accepting set 异议处理中 on the record: already a mark (and no change to the score).
        assert db.session.execute(select(ScoreDirty.subject_id)).scalars().all() == [1]
        assert recompute(db.session, runtime).changed == 0
        commit()
    decided = api.as_user("reviewer").post(f"/api/v1/cases/{case_id}/actions/uphold", json={
        "data": {"correction": "delete", "reason": "处罚决定已被复议撤销"}})
    assert decided.status_code == 200, decided.get_json()
    with app.app_context():
        assert db.session.execute(select(ScoreDirty.subject_id)).scalars().all() == [1]
        stats = recompute(db.session, runtime)
        commit()
        assert (stats.dirty, stats.snapshots) == (1, 1)
        assert current_stored_score(db.session, 1).score == 1000


def test_snapshot_endpoint_follows_the_score_endpoints_access_rules(app, api, demo, runtime):
    with app.app_context():
        recompute(db.session, runtime, mode="full")
        commit()
    enterprise = api.as_user("enterprise")
    body = enterprise.get("/api/v1/subjects/1/score/snapshots").get_json()
    assert body["current"]["score"] == enterprise.get("/api/v1/subjects/1/score").get_json()["score"] == 980
    assert [(s["score"], s["grade"], s["previous_score"]) for s in body["snapshots"]] == [(980, "A", None)]
    assert body["snapshots"][0]["reasons"]["items"][0]["record_id"] == 1
    for username in ("person", "window", "auditor"):
        client = api.as_user(username)
        score = client.get("/api/v1/subjects/1/score")
        snapshots = client.get("/api/v1/subjects/1/score/snapshots")
        assert snapshots.status_code == score.status_code, username
    assert enterprise.get("/api/v1/subjects/1/score/snapshots?limit=0").status_code == 422
    # A natural person's snapshots: staff need a purpose (政务共享), as for the score itself.
    window = api.as_user("window")
    for query, status in (("", 403), ("?purpose=调解履行核查", 200)):
        assert window.get(f"/api/v1/subjects/3/score{query}").status_code == status
        assert window.get(f"/api/v1/subjects/3/score/snapshots{query}").status_code == status


def test_cli_and_the_sweepers_incremental_run(app, demo, runtime, clock):
    from webapp.cli import run_sweep_once

    result = app.test_cli_runner().invoke(args=["scores", "recompute", "--full"])
    assert result.exit_code == 0, result.output
    assert "subjects=3" in result.output and "snapshots=3" in result.output
    with app.app_context():
        record = db.session.get(CreditRecord, 1)
        at_day(clock, record.valid_until + timedelta(days=1))  # the −20 of record 1 lapses today
    swept = run_sweep_once(app)
    assert swept["scores"]["window"] >= 1 and not swept["errors"]
    with app.app_context():
        subject = db.session.get(Subject, 1)
        expected = score_at(subject.records, runtime.today())  # record 2 (2026-08-10) counts, record 1 no more
        assert (current_stored_score(db.session, 1).score, current_stored_score(db.session, 1).grade) == (
            expected.score, expected.grade)
        assert expected.score != 980


def test_one_incremental_run_updates_inserts_and_leaves_unchanged_subjects_alone(ctx, runtime, clock):
    """The three kinds of target in one run: a stored subject whose score changed, a stored subject
    queued without a change, and a subject never stored before (PostgreSQL takes three paths)."""
    changed, unchanged = add_subject(21), add_subject(22)
    add_record(changed, date(2026, 1, 5), -20, date(2027, 1, 5))
    kept = add_record(unchanged, date(2026, 1, 5), -10, date(2027, 1, 5))
    commit()
    at_day(clock, date(2026, 3, 1))
    assert recompute(db.session, runtime, mode="full").changed == 2
    commit()
    before = {s: (row.version, row.as_of, row.snapshot_id) for s, row in stored().items()}

    at_day(clock, date(2026, 3, 2))
    add_record(changed, date(2026, 3, 2), -40, date(2027, 3, 2))
    kept.description = "不影响积分的更正"
    kept.under_objection = True  # queues the subject; its score stays
    new = add_subject(23)
    add_record(new, date(2026, 3, 2), 10, date(2027, 3, 2))
    commit()
    stats = recompute(db.session, runtime)
    commit()
    assert (stats.subjects, stats.dirty, stats.changed, stats.snapshots) == (3, 3, 2, 2)
    rows = stored()
    assert (rows[changed.id].score, rows[changed.id].version) == (940, 2)
    assert (rows[unchanged.id].version, rows[unchanged.id].as_of, rows[unchanged.id].snapshot_id) == \
        before[unchanged.id]
    assert (rows[new.id].score, rows[new.id].grade, rows[new.id].version) == (1010, "A", 1)
    snaps = {s.subject_id: s for s in db.session.execute(
        select(ScoreSnapshot).where(ScoreSnapshot.as_of == date(2026, 3, 2))).scalars()}
    assert set(snaps) == {changed.id, new.id}
    assert snaps[changed.id].previous_id == before[changed.id][2] and snaps[new.id].previous_id is None
    assert rows[changed.id].snapshot_id == snaps[changed.id].id and rows[new.id].snapshot_id == snaps[new.id].id


def test_a_full_run_over_a_partly_stored_population(ctx, runtime, clock):
    """Full mode with stored rows (compared, updated when changed) and a subject added since (inserted)."""
    old = add_subject(31)
    add_record(old, date(2026, 1, 5), -20, date(2026, 6, 30))
    commit()
    at_day(clock, date(2026, 3, 1))
    recompute(db.session, runtime, mode="full")
    commit()
    added = add_subject(32)
    add_record(added, date(2026, 5, 1), -100, date(2027, 5, 1), direct_grade="C")
    db.session.execute(ScoreDirty.__table__.delete())  # only the full run may find it
    commit()
    at_day(clock, date(2026, 7, 1))
    stats = recompute(db.session, runtime, mode="full")
    commit()
    assert (stats.subjects, stats.changed, stats.snapshots) == (2, 2, 2)
    rows = stored()
    assert (rows[old.id].score, rows[old.id].version) == (1000, 2)  # the −20 lapsed on 2026-06-30
    assert (rows[added.id].score, rows[added.id].grade, rows[added.id].direct_grade) == (600, "C", "C")


def test_snapshots_store_compact_reasons_and_chain_per_subject(ctx, runtime, clock):
    from workflows.score_recompute import snapshot_history

    subject = add_subject(41)
    first = add_record(subject, date(2026, 1, 5), -20, date(2027, 1, 5), title="较重罚款")
    commit()
    days = [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    for number, day in enumerate(days):
        at_day(clock, day)
        add_record(subject, day, -5 - number, date(2027, 1, 1), title=f"警告{number}")
        commit()
        recompute(db.session, runtime)
        commit()
    snaps = db.session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == subject.id)
                               .order_by(ScoreSnapshot.id)).scalars().all()
    assert [s.previous_id for s in snaps] == [None, snaps[0].id, snaps[1].id]
    assert stored()[subject.id].snapshot_id == snaps[-1].id
    # Stored: ids and points only; shown: titles, dates and the derived figures, in decision order.
    assert sorted(map(tuple, snaps[0].stored_reasons["items"])) == sorted([(first.id, -20), (first.id + 1, -5)])
    assert set(snaps[0].stored_reasons) == {"base", "items"}
    shown = snaps[0].reasons
    assert [i["title"] for i in shown["items"]] == ["较重罚款", "警告0"]
    assert shown["items"][0]["decided_on"] == "2026-01-05" and shown["score_before_floor"] == 975
    db.session.expire_all()
    history = snapshot_history(db.session, subject.id, limit=2)
    assert [s.id for s in history] == [snaps[2].id, snaps[1].id]
    assert [s.score for s in snapshot_history(db.session, subject.id)] == [962, 969, 975]
    assert snapshot_history(db.session, add_subject(42).id) == []


# --- batches side by side (the recompute-scores flow's plan) -----------------------------------------

@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_batches_side_by_side_equal_the_one_subject_rules(ctx, runtime, clock, mode):
    """The flow's plan: ranges of subjects, each in its own transaction on its own connection, two at
    a time on PostgreSQL (one after the other on SQLite), then the run's date. Same results as the
    reference on every day, snapshot chains intact, the queue emptied, the date recorded."""
    from workflows.score_recompute import last_as_of, recompute_batches

    rng = random.Random(61)
    people = random_world(rng, subjects=30, items=300)
    commit()
    days = sorted({date(2025, 1, 1) + timedelta(days=rng.randrange(0, 1300)) for _ in range(8)})
    previous: dict[int, tuple[str, str]] = {}
    for number, day in enumerate(days):
        at_day(clock, day)
        db.session.rollback()  # no transaction of the test's own open beside the batches
        results = recompute_batches(db.engine, runtime, mode="full" if number == 0 else mode, workers=2,
                                    batch_subjects=7)
        db.session.expire_all()
        if number == 0 or mode == "full" or db.engine.dialect.name == "postgresql":
            assert len(results) > 1  # ranges (SQLite runs an incremental run as one batch)
        assert all(stats.as_of == day for stats in results)
        check_against_reference(people, day, previous)
        assert last_as_of(db.session) == day
        assert db.session.execute(select(ScoreDirty)).first() is None
    rows = stored()
    for subject in people:  # every stored row names its subject's latest snapshot, and the chain holds
        snaps = db.session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == subject.id)
                                   .order_by(ScoreSnapshot.as_of, ScoreSnapshot.id)).scalars().all()
        assert rows[subject.id].snapshot_id == snaps[-1].id
        assert [s.previous_id for s in snaps] == [None] + [s.id for s in snaps[:-1]]


def test_plan_batches_covers_every_subject_once(ctx):
    from workflows.score_recompute import MAX_SUBJECT_ID, plan_batches

    conn = db.session.connection()
    assert plan_batches(conn, "full", workers=2) == []
    assert plan_batches(conn, "incremental", workers=2) == [None]
    ids = [add_subject(200 + n).id for n in range(10)]
    pg = db.engine.dialect.name == "postgresql"
    assert plan_batches(conn, "incremental", workers=1) == [None]
    assert plan_batches(conn, "full", workers=1) == [None]  # one batch: the run over everything
    for mode, workers, width in (("full", 2, 100), ("full", 1, 3), ("incremental", 3, 100)):
        ranges = plan_batches(conn, mode, workers=workers, batch_subjects=width)
        expected = max(workers if pg else 1, -(-10 // width) if mode == "full" else 1)  # SQLite: one writer
        if expected == 1:
            assert ranges == [None], (mode, workers, width)
            continue
        assert len(ranges) == expected, (mode, workers, width, ranges)
        assert ranges[0][0] == ids[0] and ranges[-1][1] == MAX_SUBJECT_ID
        assert all(lo <= hi and lo == prev_hi + 1 for (lo, hi), (_, prev_hi) in zip(ranges[1:], ranges))


@pytest.mark.postgresql_only
def test_batches_of_different_ranges_run_together_a_run_over_everything_waits(ctx):
    """A batch holds the recomputation lock shared and its range exclusively: another range proceeds,
    the same range and a run over all subjects wait (here: time out at once). PostgreSQL's advisory
    locks: SQLite has one writer and runs one batch at a time (test_plan_batches_covers_every_subject_once)."""
    from sqlalchemy.exc import OperationalError

    from workflows.score_recompute import _session_settings

    engine = db.engine
    first, second, third = engine.connect(), engine.connect(), engine.connect()
    try:
        first.begin()
        _session_settings(first, "full", (1, 100))
        second.begin()
        second.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
        _session_settings(second, "incremental", (101, 200))  # another range: no wait
        for id_range in ((1, 100), None):  # the same range, and a run over everything
            third.begin()
            third.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(OperationalError, match="lock timeout"):
                _session_settings(third, "full", id_range)
            third.rollback()
        first.rollback()
        second.rollback()
        third.begin()
        third.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
        _session_settings(third, "full", None)  # free again
        third.rollback()
    finally:
        for conn in (first, second, third):
            conn.close()


@pytest.mark.postgresql_only
def test_a_run_cut_into_batches_holds_the_run_lock_from_plan_to_date(ctx):
    """Two runs' ranges may overlap without being equal: a second run cut into batches waits for the
    first (PostgreSQL: a session-level advisory lock; SQLite has one writer and needs none)."""
    from workflows.score_recompute import RUN_LOCK_KEY, run_lock

    engine = db.engine
    other = engine.connect()
    try:
        with run_lock(engine):
            assert other.exec_driver_sql(f"SELECT pg_try_advisory_lock({RUN_LOCK_KEY})").scalar() is False
        assert other.exec_driver_sql(f"SELECT pg_try_advisory_lock({RUN_LOCK_KEY})").scalar() is True
        other.exec_driver_sql(f"SELECT pg_advisory_unlock({RUN_LOCK_KEY})")
    finally:
        other.close()


def test_incremental_writes_go_to_the_recent_rows_until_a_full_run_folds_them(ctx, runtime, clock):
    """PostgreSQL: an incremental run writes `subject_scores_recent` (a few pages) and leaves the full
    run's row alone; every reader takes the recent row first; the next full run moves it into
    `subject_scores`. SQLite: one table, written in place. The values are the same either way."""
    from models.score_store import current_stored_scores
    from workflows.score_recompute import snapshot_history

    pg = db.engine.dialect.name == "postgresql"
    subject = add_subject(51)
    add_record(subject, date(2026, 1, 5), -20, date(2027, 1, 5))
    commit()
    at_day(clock, date(2026, 2, 1))
    recompute(db.session, runtime, mode="full")
    commit()
    add_record(subject, date(2026, 3, 1), -10, date(2027, 3, 1))
    commit()
    at_day(clock, date(2026, 3, 1))
    assert recompute(db.session, runtime).changed == 1
    commit()
    db.session.expire_all()

    current = current_stored_score(db.session, subject.id)
    assert (current.score, current.version) == (970, 2)
    recent, base = db.session.get(RecentSubjectScore, subject.id), db.session.get(SubjectScore, subject.id)
    if pg:
        assert (recent.score, base.score, base.version) == (970, 980, 1)  # the full run's row untouched
    else:
        assert recent is None and base.score == 970
    history = snapshot_history(db.session, subject.id)
    assert [s.score for s in history] == [970, 980] and current.snapshot_id == history[0].id
    scores = current_stored_scores()
    union = db.session.execute(select(scores).where(scores.c.subject_id == subject.id)).all()
    assert [(row.score, row.grade) for row in union] == [(970, "A")]

    at_day(clock, date(2026, 3, 2))
    stats = recompute(db.session, runtime, mode="full")
    commit()
    db.session.expire_all()
    assert (stats.folded, stats.changed, stats.snapshots) == ((1, 0, 0) if pg else (0, 0, 0))
    assert db.session.get(RecentSubjectScore, subject.id) is None
    base = db.session.get(SubjectScore, subject.id)
    assert (base.score, base.version, base.snapshot_id) == (970, 2, history[0].id)
    assert [s.score for s in snapshot_history(db.session, subject.id)] == [970, 980]
