"""The deadline sweep: claim due deadlines in batches, send reminder rungs, fire expiry triggers
through `fire()`, escalate overdue SLA clocks to the department head.

The same functions run in the embedded server's background loop, in `creditdesk sweep` and in the
Prefect flow `sweep-deadlines`. Each batch is one transaction owned by the caller. Claims use
`FOR UPDATE SKIP LOCKED` on PostgreSQL so concurrent sweepers never take the same row; every rung
is recorded in `deadline_reminders` (unique per deadline and rung), so nothing is sent twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Deadline, DeadlineReminder
from models.permissions import SYSTEM

from . import deadlines, notify
from .base import get_case_type
from .service import Runtime, fire

def rung_text(rung: str) -> tuple[str, str]:
    """The (Chinese, English) phrase of a reminder rung: "T-3", "due" or "overdue+2"."""
    if rung == "due":
        return "今天是办理期限的最后一天", "the time limit ends today"
    if rung.startswith("overdue+"):
        n = int(rung.removeprefix("overdue+"))
        return f"已超过办理期限{n}个工作日", f"{n} working day{'s' if n != 1 else ''} overdue"
    n = int(rung.removeprefix("T-"))
    return f"距办理期限还有{n}个工作日", f"{n} working day{'s' if n != 1 else ''} left"


@dataclass
class SweepResult:
    claimed: int = 0
    fired: int = 0
    reminders: int = 0
    escalations: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SweepResult) -> None:
        self.claimed += other.claimed
        self.fired += other.fired
        self.reminders += other.reminders
        self.escalations += other.escalations
        self.errors.extend(other.errors)


def claim_due(session: Session, runtime: Runtime, limit: int) -> list[Deadline]:
    now = runtime.clock.now()
    query = (
        select(Deadline)
        .where(Deadline.status == "open", Deadline.next_action_at <= now)
        .order_by(Deadline.next_action_at, Deadline.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def sweep_batch(session: Session, runtime: Runtime, limit: int = 500) -> SweepResult:
    """Process up to `limit` deadlines whose next action is due. The caller commits."""
    result = SweepResult()
    calendar = runtime.calendar(session)
    now = runtime.clock.now()
    for deadline in claim_due(session, runtime, limit):
        result.claimed += 1
        case = deadline.case
        case_type = get_case_type(case.case_type)
        timer = next((t for t in case_type.timers if t.kind == deadline.kind), None) if case_type else None
        sent = {r.rung for r in deadline.reminders}
        schedule = [rung for rung, when in deadlines.reminder_schedule(deadline, calendar, runtime.rules)
                    if when <= now and rung not in sent]
        split = schedule.index("overdue") if "overdue" in schedule else None
        before, after = (schedule, []) if split is None else (schedule[:split], schedule[split + 1:])
        # A late sweep (server down, clock moved) must not send "3 days left" after "1 day left" or
        # after the expiry: only the latest due rung goes out; the ones it overtook are recorded unsent.
        for rung in before[:-1] if split is None else before:
            deadline.reminders.append(DeadlineReminder(rung=rung, sent_at=now))
        if split is None and before:
            _send_rung(session, runtime, deadline, before[-1], timer, now, result)
        if split is not None:
            _act_on_overdue(session, runtime, deadline, now, result)
        # Rungs after the due day go out while the clock is still open once its expiry was handled
        # (an SLA clock escalated, not one closed by its expiry trigger or waiting for a retry).
        if after and deadline.status == "open" and "overdue" in {r.rung for r in deadline.reminders}:
            for rung in after[:-1]:
                deadline.reminders.append(DeadlineReminder(rung=rung, sent_at=now))
            _send_rung(session, runtime, deadline, after[-1], timer, now, result)
        if deadline.status == "open" and deadline.next_action_at is not None and deadline.next_action_at <= now:
            deadline.next_action_at = deadlines.next_action(deadline, calendar, runtime.rules)
    session.flush()
    return result


RETRY_FAILED_EXPIRY = timedelta(hours=1)


def _send_rung(session: Session, runtime: Runtime, deadline: Deadline, rung: str, timer, now,
               result: SweepResult) -> None:
    deadline.reminders.append(DeadlineReminder(rung=rung, sent_at=now))
    if timer is None or timer.reminders:
        audience = next((r.audience for r in deadlines.ladder_for(deadline, runtime.rules) if r.name == rung),
                        "responsible")
        _remind(session, deadline, rung, audience, now)
        result.reminders += 1


def _act_on_overdue(session: Session, runtime: Runtime, deadline: Deadline, now, result: SweepResult) -> None:
    rung = "overdue"
    case = deadline.case
    if not deadline.expiry_trigger:
        deadline.reminders.append(DeadlineReminder(rung=rung, sent_at=now))
        _escalate(session, deadline, now)
        result.escalations += 1
        return
    try:
        fire(case, deadline.expiry_trigger, SYSTEM, {}, runtime=runtime,
             reason=f"期限届满（{deadline.due_on}） / time limit ended ({deadline.due_on})")
    except Exception as exc:  # noqa: BLE001 - one bad case must not stop the sweep
        # fire() rolled its savepoint back. Tell the department head once and try again later:
        # an expiry is never dropped silently.
        result.errors.append(f"{case.reference}: {exc}")
        if deadline.escalated_at is None:
            _escalate(session, deadline, now)
            result.escalations += 1
        deadline.next_action_at = now + RETRY_FAILED_EXPIRY
        return
    deadline.reminders.append(DeadlineReminder(rung=rung, sent_at=now))
    result.fired += 1


def _audience(deadline: Deadline) -> tuple[str, ...]:
    return {"applicant": ("applicant",), "window": ("window",), "department": ("department",),
            "trainer": ("trainer",), "mediator": ("mediator",), "inspector": ("inspector",)}.get(
        deadline.responsible, ()
    )


def _remind(session: Session, deadline: Deadline, rung: str, audience: str, now) -> None:
    zh, en = rung_text(rung)
    case = deadline.case
    before_due = rung.startswith("T-") or rung == "due"
    notify.queue(
        session, case, event="deadline-reminder",
        audience=_audience(deadline) if audience == "responsible" else (audience,),
        title_zh=f"办理提醒：{zh}（{case.reference}）", title_en=f"Reminder: {en} ({case.reference})",
        body_zh=(f"案件 {case.reference} 的期限将于 {deadline.due_on} 届满，请及时办理。" if before_due else
                 f"案件 {case.reference} 的办理期限已于 {deadline.due_on} 届满，尚未办结，请督促办理。"),
        body_en=(f"The time limit of case {case.reference} ends on {deadline.due_on}." if before_due else
                 f"The time limit of case {case.reference} ended on {deadline.due_on} and it is still open."),
        now=now, dedupe=f"reminder:{deadline.id}:{rung}",
        context={"rung": rung, "due_on": deadline.due_on.isoformat() if deadline.due_on else None,
                 "deadline_kind": deadline.kind},
    )


def _escalate(session: Session, deadline: Deadline, now) -> None:
    case = deadline.case
    deadline.escalated_at = now
    notify.queue(
        session, case, event="deadline-overdue", audience=("department_head",) + _audience(deadline),
        title_zh=f"超期督办（{case.reference}）", title_en=f"Overdue: escalated ({case.reference})",
        body_zh=f"案件 {case.reference} 的办理期限已于 {deadline.due_on} 届满，尚未办结，已提请部门负责人督办。",
        body_en=f"The time limit of case {case.reference} ended on {deadline.due_on}; escalated to the head.",
        now=now, dedupe=f"overdue:{deadline.id}",
    )


def sweep(session: Session, runtime: Runtime, *, batch_size: int = 500, commit=None) -> SweepResult:
    """Sweep until nothing is due. `commit` is called after each batch (the entry point's commit)."""
    total = SweepResult()
    while True:
        batch = sweep_batch(session, runtime, batch_size)
        if commit is not None:
            commit()
        total.add(batch)
        if batch.claimed < batch_size:
            return total
