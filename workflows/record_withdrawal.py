"""Withdrawing a record whose decision was revoked or changed (信息撤回 / 更正).

Lifecycle. The department that provided a record (信息提供单位, the 认定单位) reports that the
legal document behind it — a penalty decision, a judgment, a listing basis — was revoked or changed
(reported). From the day of the revocation it has 3 WD to withdraw or correct the record and report
to the platform (SD-Cond §40; for 双公示 penalties Penalty §48: within 3 days, with reasons). Carrying
it out (done) deletes the record from display and score — and with it, inside the same transaction,
every objection still open against the record is upheld (DOMAIN.md §2.3 T10, the fast path) and
every list entry resting only on it ends (§2.6) — or corrects it. A report made in error is
cancelled with the reason. A late department is escalated to its head by the sweep.

Legal basis: DOMAIN.md §2.3 T10, §2.4, §9.1 — 山东省社会信用条例 §40; 行政处罚法 §48, §85.
"""
from __future__ import annotations

from sqlalchemy import select

from forms import record_withdrawal as forms
from models import Case, CreditRecord, Deadline, RecordStatus, RecordWithdrawal, User
from models.permissions import Permission, is_credit_center_staff

from . import deadlines
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed
from .records import revoke_record


class State(StateEnum):
    REPORTED = "reported", "已报告·待撤回", "Reported: to be withdrawn"  #: 3 WD from the revocation
    DONE = "done", "已撤回或更正", "Withdrawn or corrected"  #: terminal
    CANCELLED = "cancelled", "报告有误·已撤销", "Report cancelled"  #: terminal


def withdrawal(case: Case) -> RecordWithdrawal:
    from models import db

    row = db.session.get(RecordWithdrawal, case.id)
    assert row is not None, f"case {case.id} has no withdrawal row"
    return row


def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def record_still_in_force(ctx) -> str | None:
    if withdrawal(ctx.case).record.status == RecordStatus.REVOKED:
        return "该记录已删除 / this record has already been deleted"
    return None


def carry_out(ctx) -> None:
    take_reason(ctx)
    row = withdrawal(ctx.case)
    record = row.record
    row.done_on = ctx.today
    why = f"{row.document_no}：{row.grounds}"
    if row.change == "revoke":
        revoke_record(ctx, record, why)
        ctx.ledger_extra["withdrawn"] = {"record_id": record.id, "document_no": row.document_no}
    else:
        before = {"title": record.title, "points": record.points}
        if row.new_title:
            record.title = row.new_title
        if row.new_points is not None:
            record.points = row.new_points
        ctx.ledger_extra["corrected"] = {"record_id": record.id, "before": before,
                                         "after": {"title": record.title, "points": record.points}}
    late = deadlines.current(ctx.case, "withdraw")
    if late is not None and late.due_on is not None and ctx.today > late.due_on:
        ctx.ledger_extra["late_by_days"] = (ctx.today - late.due_on).days
    ctx.reason = ctx.reason or why


def open_withdrawal(ctx, data) -> None:
    from .blacklist import open_listing_for_record

    actor = ctx.actor
    record = ctx.session.get(CreditRecord, data["record_id"])
    if record is None or record.subject_id != ctx.case.subject_id:
        raise NotFound("该主体没有这条记录 / No such record for this subject", details={"record_id": data["record_id"]})
    if record.department_id is None:
        raise InvalidInput("该记录没有信息提供单位 / This record has no providing department",
                           details={"fields": {"record_id": ["no providing department"]}})
    if not isinstance(actor, User) or not (actor.department_id == record.department_id
                                           or is_credit_center_staff(actor)):
        raise Forbidden("只有信息提供单位可以撤回该信息 / Only the providing department may withdraw this record")
    if record.status == RecordStatus.REVOKED:
        raise TransitionNotAllowed("该记录已删除 / This record has been deleted",
                                   details={"reasons": ["record is " + record.status]})
    listing = open_listing_for_record(ctx.session, record.id)
    if listing is not None:
        raise InvalidInput(f"名单信息请在名单案件{listing.reference}中撤销 / Revoke a listing in its case "
                           f"{listing.reference}", details={"fields": {"record_id": [f"listing {listing.reference}"]}})
    if data["revoked_on"] > ctx.today:
        raise InvalidInput("撤销之日不能晚于今天 / The revocation cannot be in the future",
                           details={"fields": {"revoked_on": ["in the future"]}})
    other = ctx.session.execute(
        select(Case.reference).join(RecordWithdrawal, RecordWithdrawal.case_id == Case.id)
        .where(RecordWithdrawal.record_id == record.id, Case.closed_at.is_(None))
    ).scalar()
    if other:
        raise TransitionNotAllowed(f"该记录已有办理中的撤回 {other} / withdrawal {other} is still open",
                                   details={"reasons": [f"withdrawal {other} is still open"]})
    ctx.case.department_id = record.department_id
    ctx.session.add(RecordWithdrawal(
        case_id=ctx.case.id, record_id=record.id, change=data["change"], revoked_on=data["revoked_on"],
        document_no=data["document_no"], grounds=data["reason"], new_title=data.get("title") or None,
        new_points=data.get("points"),
    ))
    # The 3 WD run from the revocation, not from the report: a late report is late at once.
    timer = TIMERS[0]
    deadline = Deadline(case_id=ctx.case.id, kind=timer.kind, unit=timer.unit, budget=timer.budget(ctx.rules),
                        start_on=data["revoked_on"], party_deadline=False, expiry_trigger=None,
                        responsible=timer.responsible, status="open", created_at=ctx.now)
    with ctx.session.no_autoflush:
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)


def describe(case: Case, runtime) -> dict:
    row = withdrawal(case)
    labels = {k: (zh, en) for k, zh, en in forms.CHANGE_CHOICES}
    return {
        "record_id": row.record_id,
        "record_title": row.record.title,
        "record_status": row.record.status,
        "change": row.change,
        "change_label_zh": labels[row.change][0],
        "change_label_en": labels[row.change][1],
        "revoked_on": row.revoked_on.isoformat(),
        "document_no": row.document_no,
        "grounds": row.grounds,
        "done_on": row.done_on.isoformat() if row.done_on else None,
    }


S = State
P = Permission

STEPS = [
    Step("carry_out", (S.REPORTED,), S.DONE, P.DEPARTMENT_DECIDE, "撤回或更正并报送平台",
         "Withdraw or correct and report to the platform", forms.WithdrawSchema, guards=(record_still_in_force,),
         effect=carry_out, style="primary",
         notify=(Notice("record-withdrawn", ("applicant", "window"), "信用信息已撤回或更正",
                        "Record withdrawn or corrected"),)),
    Step("cancel", (S.REPORTED,), S.CANCELLED, P.DEPARTMENT_DECIDE, "报告有误，撤销", "Cancel the report",
         forms.CancelSchema, effect=take_reason, style="danger"),
]

TIMERS = [
    # Opened by `open_withdrawal` from the revocation day; a late department is escalated by the sweep.
    Timer("withdraw", "撤回或更正（原决定撤销后3个工作日）", "Withdraw or correct (3 WD after the revocation)",
          S.REPORTED, (S.REPORTED,), lambda r: int(r["objection.revoked_document_wd"]), "wd", "department"),
]

RECORD_WITHDRAWAL = register(CaseType(
    key="record_withdrawal",
    version=1,
    label_zh="信息撤回",
    label_en="Record withdrawal",
    states=State,
    initial=S.REPORTED,
    terminal=(S.DONE, S.CANCELLED),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="CH",
    on_open=open_withdrawal,
    open_schema=forms.OpenWithdrawalSchema,
    describe=describe,
    create_permission=Permission.CHECK_REQUEST,
))
