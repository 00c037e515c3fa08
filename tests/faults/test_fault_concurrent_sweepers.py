"""Fault: two sweepers run at once (an overlapping Prefect run, two servers' embedded sweepers).

Two threads, each with its own app context, session and database connection, start
`workflows.sweep.sweep` together (batch size 1, so their batches interleave) at every moment a
deadline acts: each reminder rung, escalation and expiry. On PostgreSQL the claims use
`FOR UPDATE SKIP LOCKED`, so each sweeper takes rows the other has not; on SQLite `BEGIN IMMEDIATE`
queues the two writers and the second sees what the first committed. Either way no deadline fires
twice: one ledger event per expiry, one `deadline_reminders` row and one set of messages per rung,
and neither sweeper fails.
"""
from __future__ import annotations

import io
import threading
from collections import Counter

import pytest
from celery import _state as celery_state
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from models import Case, CaseEvent, CreditRecord, Deadline, DeadlineReminder, OutboxMessage, User, db
from webapp.views.common import commit, save_upload
from workflows.service import fire, open_case
from workflows.sweep import SweepResult, sweep

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
RETURN = {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"}
CASES = 8


@pytest.fixture(autouse=True)
def celery_join_flag():
    """Eager delivery (the embedded default) in two threads at once races on a process-global flag
    of Celery's (`denied_join_result` saves and restores it without a lock) and can leave it set,
    which would make a later test's `result.get()` raise. Put it back as it was."""
    before = celery_state.task_join_will_block()
    yield
    celery_state._set_task_join_will_block(before)


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def repair_cases(runtime, count: int) -> tuple[list[int], list[int]]:
    """`count` submitted repair cases of the demo company, on copies of its record 1; every other
    one returned for supplement (its supplement clock expires into `close_unsupplied`)."""
    enterprise, window = user("enterprise"), user("window")
    template = db.session.get(CreditRecord, 1)
    columns = [c.key for c in CreditRecord.__table__.columns if c.key not in ("id", "document_no")]
    submitted, returned = [], []
    for n in range(count):
        record = CreditRecord(**{key: getattr(template, key) for key in columns},
                              document_no=f"文综执罚〔2026〕{100 + n}号")
        db.session.add(record)
        db.session.flush()
        case = open_case("credit_repair", template.subject, enterprise, {"record_id": record.id}, runtime=runtime)
        save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"), enterprise, runtime)
        fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
        if n % 2:
            fire(case, "return_for_supplement", window, RETURN, runtime=runtime)
            returned.append(case.id)
        else:
            submitted.append(case.id)
        commit()
    return submitted, returned


def sweep_together(app, runtime) -> list[SweepResult]:
    barrier = threading.Barrier(2)
    results: list[SweepResult] = []
    failures: list[BaseException] = []

    def sweeper() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(sweep(db.session, runtime, batch_size=1, commit=commit))
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a sweeper hung"
    assert failures == [], failures
    return results


def next_action(app):
    with app.app_context():
        moment = db.session.execute(
            select(func.min(Deadline.next_action_at)).where(Deadline.status == "open")).scalar()
        db.session.rollback()
        return moment


def test_two_sweepers_at_once_never_act_on_a_deadline_twice(app, demo, runtime, clock):
    with app.app_context():
        submitted, returned = repair_cases(runtime, CASES)

    totals = SweepResult()
    moments = 0
    while (moment := next_action(app)) is not None and moments < 30:
        clock.set(moment)
        moments += 1
        for result in sweep_together(app, runtime):
            assert result.errors == []
            totals.add(result)
    assert next_action(app) is None, "the ladder did not finish"
    assert moments >= 4  # T-3, T-1 and overdue of both clocks, each its own sweep moment

    with app.app_context():
        # One expiry per returned case: one ledger event, the case withdrawn.
        lapsed = Counter(db.session.execute(
            select(CaseEvent.case_id).where(CaseEvent.trigger == "close_unsupplied")).scalars())
        assert lapsed == Counter(returned)
        states = dict(db.session.execute(select(Case.id, Case.state).where(Case.id.in_(submitted + returned))).all())
        assert {states[i] for i in returned} == {"withdrawn"}
        assert {states[i] for i in submitted} == {"submitted"}
        assert totals.fired == len(returned)

        # Every rung acted on once: one reminder row each, counted once by one of the sweepers.
        rungs = db.session.execute(select(DeadlineReminder.deadline_id, DeadlineReminder.rung)).all()
        assert len(rungs) == len(set(rungs))
        assert totals.reminders + totals.escalations + totals.fired == len(rungs) == totals.claimed
        per_case_rungs = Counter(
            rung for deadline_id, rung in rungs
            if db.session.get(Deadline, deadline_id).case_id in submitted + returned)
        # Each case: T-3 and T-1 of its running clock, then its escalation or expiry.
        assert per_case_rungs == {"T-3": CASES, "T-1": CASES, "overdue": CASES}

        # One set of messages per rung: the dedupe keys of reminders and escalations are unique.
        reminders = db.session.execute(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.event.in_(("deadline-reminder", "deadline-overdue")))).scalars().all()
        assert reminders and len(reminders) == len(set(reminders))
        reminded = {tuple(key.split(":")[1:3]) for key in reminders if key.startswith("reminder:")}
        assert reminded == {(str(d), r) for d, r in rungs if r != "overdue"}
