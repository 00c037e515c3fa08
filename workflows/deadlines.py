"""Statutory clocks as rows: open, suspend, resume, extend and close them; derive `due_on`/`due_at`.

`replan` runs inside every `fire()` after the state changes. `recompute` derives the due date from
the row's budget, start, suspensions and extensions; nothing else writes `due_on`.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING


from models import Case, Deadline, DeadlineExtension, DeadlineSuspension

from .base import Rung, Timer, get_case_type
from .calendar import CalendarYearNotLoaded, StatutoryCalendar
from .clock import end_of_day, start_of_day
from .rules import Rules

if TYPE_CHECKING:
    from .service import StepContext

OPEN_STATES = ("open", "suspended")


def current(case: Case, kind: str) -> Deadline | None:
    """The live (open or suspended) deadline of a timer kind on a case."""
    for deadline in reversed(case.deadlines):
        if deadline.kind == kind and deadline.status in OPEN_STATES:
            return deadline
    return None


def replan(ctx: StepContext) -> None:
    # No autoflush while rows are half-updated (an open deadline must have its due date).
    with ctx.session.no_autoflush:
        _replan(ctx)


def _replan(ctx: StepContext) -> None:
    case, case_type = ctx.case, ctx.case_type
    for timer in case_type.timers:
        live = current(case, timer.kind)
        state = case.state
        if state in timer.runs_in:
            if live is None and state == timer.starts_in and ctx.from_state != state:
                _open(ctx, timer)
            elif live is not None and live.status == "suspended":
                _resume(ctx, live)
        elif state in timer.suspended_in:
            if live is not None and live.status == "open":
                _suspend(ctx, live)
        elif live is not None:
            if live.status == "suspended":
                # The case ended while this clock was stopped (e.g. the supplement never came):
                # it was neither met nor missed.
                for suspension in live.suspensions:
                    if suspension.until_on is None:
                        suspension.until_on = ctx.today
                live.status = "cancelled"
            else:
                expired = ctx.step is not None and ctx.step.trigger == timer.expiry_trigger
                live.status = "expired" if expired else "met"
            live.closed_at = ctx.now
            live.next_action_at = None


def extend(ctx: StepContext, kind: str, amount: int, reason: str) -> Deadline:
    live = current(ctx.case, kind)
    if live is None:
        raise LookupError(kind)
    with ctx.session.no_autoflush:
        live.extensions.append(
            DeadlineExtension(amount=amount, reason=reason, approved_by_id=ctx.actor.id, approved_at=ctx.now)
        )
        recompute(live, ctx.calendar, ctx.rules)
    return live


def meet(ctx: StepContext, kind: str) -> Deadline | None:
    """Close a running clock as met before its case leaves the clock's states (e.g. every 容缺 item
    has arrived while the case still awaits the department)."""
    live = current(ctx.case, kind)
    if live is None or live.status != "open":
        return None
    live.status = "met"
    live.closed_at = ctx.now
    live.next_action_at = None
    return live


def _open(ctx: StepContext, timer: Timer) -> Deadline:
    deadline = Deadline(
        case_id=ctx.case.id,
        kind=timer.kind,
        unit=timer.unit,
        budget=timer.budget(ctx.rules),
        start_on=ctx.today,
        party_deadline=timer.party_deadline,
        expiry_trigger=timer.expiry_trigger,
        responsible=timer.responsible,
        status="open",
        created_at=ctx.now,
    )
    ctx.case.deadlines.append(deadline)
    recompute(deadline, ctx.calendar, ctx.rules)
    return deadline


def _suspend(ctx: StepContext, deadline: Deadline) -> None:
    deadline.suspensions.append(DeadlineSuspension(from_on=ctx.today, reason=ctx.step.trigger if ctx.step else ""))
    deadline.status = "suspended"
    recompute(deadline, ctx.calendar, ctx.rules)


def _resume(ctx: StepContext, deadline: Deadline) -> None:
    for suspension in deadline.suspensions:
        if suspension.until_on is None:
            suspension.until_on = ctx.today
    deadline.status = "open"
    recompute(deadline, ctx.calendar, ctx.rules)


def due_date(deadline: Deadline, calendar: StatutoryCalendar, rules: Rules) -> date | None:
    """The last day of the deadline, or None while its clock is stopped."""
    if any(s.until_on is None for s in deadline.suspensions):
        return None
    amount = deadline.budget + deadline.extended_by
    skip = [(s.from_on, s.until_on) for s in deadline.suspensions if s.until_on is not None]
    if deadline.unit == "wd":
        return calendar.deadline(
            deadline.start_on,
            amount,
            "wd",
            deemed_receipt=bool(rules["calendar.deem_nonworking_receipt_next_wd"]),
            skip=skip,
        )
    rollover = deadline.party_deadline and bool(rules["calendar.rest_day_rollover_for_party_deadlines"])
    return calendar.deadline(deadline.start_on, amount, deadline.unit, rollover=rollover, skip=skip)  # type: ignore[arg-type]


def ladder_for(deadline: Deadline, rules: Rules) -> tuple[Rung, ...]:
    """The reminder ladder of a deadline's timer: the rules' per-timer override
    (`reminders.ladders["<case_type>.<kind>"]`), else the timer's own `ladder`, else the rules'
    default `reminders.ladder`."""
    case_type = deadline.case.case_type if deadline.case is not None else None
    override = rules["reminders.ladders"].get(f"{case_type}.{deadline.kind}")
    if override is not None:
        return parse_ladder(override)
    declared = get_case_type(case_type) if case_type else None
    timer = next((t for t in declared.timers if t.kind == deadline.kind), None) if declared else None
    if timer is not None and timer.ladder is not None:
        return tuple(sorted(timer.ladder, key=lambda rung: rung.offset_wd))
    return parse_ladder(rules["reminders.ladder"])


def parse_ladder(spec) -> tuple[Rung, ...]:
    """Rungs from configuration: `{"offset_wd": -3, "audience": "responsible"}` or a bare offset."""
    rungs: dict[int, Rung] = {}
    for item in spec:
        if isinstance(item, int):
            rung = Rung(item)
        elif isinstance(item, dict) and isinstance(item.get("offset_wd"), int):
            rung = Rung(int(item["offset_wd"]), str(item.get("audience", "responsible")))
        else:
            raise ValueError(f"提醒阶梯配置无效 / invalid reminder rung: {item!r}")
        rungs[rung.offset_wd] = rung
    return tuple(rungs[offset] for offset in sorted(rungs))


def reminder_schedule(deadline: Deadline, calendar: StatutoryCalendar, rules: Rules) -> list[tuple[str, datetime]]:
    """(rung, when) pairs in order: the ladder's rungs up to the due day at 00:00 of their working
    day, then 'overdue' (the expiry trigger or the escalation), then the rungs after the due day."""
    if deadline.due_on is None:
        return []
    before: list[tuple[str, datetime]] = []
    after: list[tuple[str, datetime]] = []
    # Waiting periods run by themselves (responsible "system"): no one to remind, only the expiry.
    for rung in ladder_for(deadline, rules) if deadline.responsible != "system" else ():
        try:
            if rung.offset_wd > 0:
                day = calendar.add_working_days(deadline.due_on, rung.offset_wd)
            else:
                day = calendar.subtract_working_days(deadline.due_on, -rung.offset_wd)
        except CalendarYearNotLoaded:
            # The reminder day lies in a year whose holidays are not published yet; the expiry
            # itself is still swept. Loading the year and touching the case re-plans the rungs.
            continue
        if rung.offset_wd > 0:
            after.append((rung.name, start_of_day(day)))
        elif day > deadline.start_on:
            before.append((rung.name, start_of_day(day)))
    return before + [("overdue", expiry_moment(deadline.due_on, calendar))] + after


def expiry_moment(due_on: date, calendar: StatutoryCalendar) -> datetime:
    """When the system acts on a missed deadline: the start of the first working day after the
    last day (DOMAIN.md §10 S10: due Friday 03-13, overdue Monday 03-16). The deadline itself still
    ends at 24:00 of its last day (`due_at`)."""
    try:
        return start_of_day(calendar.next_working_day(due_on))
    except CalendarYearNotLoaded:
        return end_of_day(due_on)


def recompute(deadline: Deadline, calendar: StatutoryCalendar, rules: Rules) -> None:
    deadline.due_on = due_date(deadline, calendar, rules)
    deadline.due_at = end_of_day(deadline.due_on) if deadline.due_on else None
    deadline.next_action_at = next_action(deadline, calendar, rules)


def next_action(deadline: Deadline, calendar: StatutoryCalendar, rules: Rules) -> datetime | None:
    if deadline.status != "open" or deadline.due_on is None:
        return None
    sent = {r.rung for r in deadline.reminders}
    pending = [when for rung, when in reminder_schedule(deadline, calendar, rules) if rung not in sent]
    return min(pending) if pending else None


def time_left_status(deadline: Deadline, now: datetime, calendar: StatutoryCalendar) -> str:
    """on_track / at_risk (≤1 working day left) / overdue / suspended / closed."""
    if deadline.status == "suspended":
        return "suspended"
    if deadline.status != "open" or deadline.due_on is None or deadline.due_at is None:
        return "closed"
    if now >= deadline.due_at:
        return "overdue"
    today = (now + timedelta(hours=8)).date()  # Beijing date without a zoneinfo lookup per row
    try:
        left = calendar.working_days_between(today, deadline.due_on)
    except CalendarYearNotLoaded:  # a due date in a year not loaded yet is far away: on track
        left = 99
    return "at_risk" if left <= 1 else "on_track"
