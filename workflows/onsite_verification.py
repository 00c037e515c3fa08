"""On-site verification (现场核查) of a credit commitment.

Lifecycle. The credit center, or the department that accepted a commitment (受诺单位), orders an
on-site check of a commitment in fulfilment tracking and assigns two distinct inspectors at once
(assigned); the visit must take place within 10 WD of the assignment. One of the inspectors fixes
the visit date — today or later, and no later than that time limit — (scheduled; it may be moved
within the same limit). On site, the inspectors photograph what they see (uploads checked by type
and size, only by an assigned inspector), write the on-site record (现场核查记录) and have the
subject sign it; a refusal to sign is recorded with its reason. The inspector who writes the
record signs it at once (inspected); the other inspector countersigns it from their own account.
Within 3 WD of the visit, an inspector files the report (reported): conforming or nonconforming
with the findings. The report feeds the commitment in the same transaction: conforming → the
commitment is fulfilled (§1.4 T4) when its own rules allow that now — a commitment bound to a case
still open follows that case — and otherwise the report is noted in this ledger and the commitment
is left as it is; nonconforming → suspected breach (§1.4 T5) with the findings as its reason. The
office that ordered the check may cancel it before the visit (cancelled).

Who acts. Opening and cancelling: credit center staff or the commitment's department — a reviewer
who can see the case is exactly one of these (Permission.CHECK_REQUEST on a visible case). Every
visit step: an inspector (Permission.INSPECT) who is assigned to this case; any other inspector is
refused with the reason (guard `assigned_inspector`). The subject (the commitment's applicant)
sees the case and its result, never the inspectors' internal note.

Legal basis: DOMAIN.md §4.3 (two officers, photographs, a record signed by the subject: all
assumed), §1.4 T4/T5, §9.2 (on-site checks in risk-graded supervision; SD-Cond §26(4), §28(4)).
Time limits: `onsite.visit_wd` and `onsite.report_wd` in workflows/rules.py, assumed.

Module API for the pages: `verification`, `assigned_user_ids`, `is_assigned`, `check_photo_upload`,
`photos`.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from forms import onsite_verification as forms
from models import Attachment, Case, CaseLink, Deadline, Role, User
from models.onsite_verification import OnsiteInspector, OnsiteVerification
from models.permissions import SYSTEM, Actor, Permission, is_credit_center_staff

from . import deadlines, notify
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed
from .service import fire, linked_cases


class State(StateEnum):
    ASSIGNED = "assigned", "已指派核查人员", "Inspectors assigned"  #: the visit clock (10 WD) runs
    SCHEDULED = "scheduled", "已安排核查", "Visit scheduled"  #: a date within the visit clock
    INSPECTED = "inspected", "已现场核查", "Inspected"  #: record signed; the report clock (3 WD) runs
    REPORTED = "reported", "已报告", "Reported"  #: terminal: conforming or nonconforming, fed to the commitment
    CANCELLED = "cancelled", "已取消", "Cancelled"  #: terminal: called off before the visit


PHOTO_KEY = "photo"
#: A photograph is taken at the visit and may be added until the report is filed.
PHOTO_STATES = (State.SCHEDULED, State.INSPECTED)
RESULT_LABELS = {value: (zh, en) for value, zh, en in forms.RESULT_CHOICES}
OUTCOME_LABELS = {
    "fulfilled": ("承诺已确认履约", "Commitment confirmed fulfilled"),
    "suspected_breach": ("承诺转为疑似违诺", "Commitment flagged as a suspected breach"),
    "left": ("承诺状态未变（仅记录）", "Commitment left as it is (noted only)"),
}
#: The credit_commitment system steps a report fires (credit_commitment.py: T4 and T5 from a check).
FEED_TRIGGERS = {"conforming": "confirm_by_onsite_check", "nonconforming": "flag_by_onsite_check"}


def verification(case: Case) -> OnsiteVerification:
    from models import db

    row = db.session.get(OnsiteVerification, case.id)
    assert row is not None, f"case {case.id} has no on-site verification row"
    return row


def assigned_user_ids(case: Case) -> list[int]:
    return [i.user_id for i in verification(case).inspectors]


def is_assigned(case: Case, actor: Actor) -> bool:
    return isinstance(actor, User) and actor.role == Role.INSPECTOR and actor.id in assigned_user_ids(case)


def assigned_inspectors(session, case: Case) -> list[User]:
    """The two inspectors of one check: reminders and escalations of its clocks go to them."""
    return list(session.execute(
        select(User).join(OnsiteInspector, OnsiteInspector.user_id == User.id)
        .where(OnsiteInspector.case_id == case.id).order_by(OnsiteInspector.id)).scalars())


notify.register_assignees("onsite_verification", "inspector", assigned_inspectors)


def photos(case: Case) -> list[Attachment]:
    return [a for a in case.attachments if a.material_key == PHOTO_KEY]


def check_photo_upload(case: Case, actor: Actor) -> None:
    """Who may add a photograph, and when: an assigned inspector, from scheduling until the report.
    Raises Forbidden (403) or TransitionNotAllowed (409) with the reason."""
    if case.case_type != "onsite_verification":
        raise NotFound("案件不存在 / No such on-site check", details={"case_id": case.id})
    if not is_assigned(case, actor):
        raise Forbidden("只有指派的核查人员可以上传现场照片 / Only the assigned inspectors may upload photos",
                        details={"reasons": [NOT_ASSIGNED]})
    if case.state not in PHOTO_STATES:
        zh, en = CT.state_label(case.state)
        raise TransitionNotAllowed(
            f"当前状态（{zh}）不能上传现场照片 / Photos can be added only between scheduling and the report",
            details={"state": case.state, "reasons": [f"当前状态为“{zh}” / the check is {en}"]})


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

NOT_ASSIGNED = "您不是本次现场核查指派的核查人员 / you are not one of the inspectors assigned to this check"


def assigned_inspector(ctx) -> str | None:
    return None if is_assigned(ctx.case, ctx.actor) else NOT_ASSIGNED


def visit_date_allowed(ctx) -> str | None:
    visit_on = ctx.data.get("visit_on")
    if visit_on is None:
        return None
    if visit_on < ctx.today:
        return (f"核查日期 {visit_on.isoformat()} 早于今天 / the visit date {visit_on.isoformat()} is in the past")
    clock = deadlines.current(ctx.case, "visit")
    if clock is not None and clock.due_on is not None and visit_on > clock.due_on:
        return (f"核查须在 {clock.due_on.isoformat()} 前完成，日期 {visit_on.isoformat()} 已超出 / "
                f"the visit must take place by {clock.due_on.isoformat()}; {visit_on.isoformat()} is later")
    return None


def photos_taken(ctx) -> str | None:
    needed = int(ctx.rules["onsite.min_photos"])
    have = len(photos(ctx.case))
    if have < needed:
        return (f"须先上传至少 {needed} 张现场照片（已上传 {have} 张） / "
                f"upload at least {needed} site photo(s) first ({have} so far)")
    return None


def not_signed_yet(ctx) -> str | None:
    mine = next((i for i in verification(ctx.case).inspectors if i.user_id == getattr(ctx.actor, "id", None)), None)
    if mine is not None and mine.signed_at is not None:
        return "您已签名确认现场核查记录 / you have already signed the on-site record"
    return None


def all_inspectors_signed(ctx) -> str | None:
    missing = [i.user.name for i in verification(ctx.case).inspectors if i.signed_at is None]
    if missing:
        names = "、".join(missing)
        return f"现场核查记录尚待核查人员签名：{names} / the on-site record still awaits the signature of {names}"
    return None


# --- effects ----------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.reason


def open_verification(ctx, data) -> None:
    from .credit_commitment import State as CommitmentState

    session, actor = ctx.session, ctx.actor
    commitment_case = session.get(Case, data["commitment_case_id"])
    if (commitment_case is None or commitment_case.case_type != "credit_commitment"
            or commitment_case.subject_id != ctx.case.subject_id):
        raise InvalidInput("该主体没有这件信用承诺 / No such commitment of this subject",
                           details={"fields": {"commitment_case_id": ["该主体没有这件信用承诺 / no such commitment"]}})
    if not (is_credit_center_staff(actor) or (isinstance(actor, User)
                                               and actor.department_id == commitment_case.department_id)):
        raise Forbidden("只有信用中心或受诺单位可以安排现场核查 / Only the credit center or the commitment's "
                        "department may order an on-site check")
    if commitment_case.state != CommitmentState.IN_FULFILMENT:
        zh, en = commitment_case_label(commitment_case)
        raise TransitionNotAllowed(
            "只能对履约跟踪中的承诺安排现场核查 / Only a commitment in fulfilment tracking can be checked on site",
            details={"state": commitment_case.state,
                     "reasons": [f"承诺 {commitment_case.reference} 当前为“{zh}” / the commitment is {en}"]})
    running = [c.reference for c in linked_cases(commitment_case, "onsite_verification") if c.closed_at is None]
    if running:
        raise TransitionNotAllowed(
            f"该承诺已有办理中的现场核查 {running[0]} / on-site check {running[0]} is still open",
            details={"reasons": [f"现场核查 {running[0]} 尚未办结 / {running[0]} is still open"]})
    inspectors = _inspectors(ctx, data["inspector_ids"])
    # The check belongs to the commitment's department (it verifies its own commitment, §1.4 T4), and
    # the commitment's applicant is told its result.
    ctx.case.department_id = commitment_case.department_id
    ctx.case.applicant_user_id = commitment_case.applicant_user_id
    session.add(CaseLink(from_case_id=commitment_case.id, to_case_id=ctx.case.id, kind="onsite_verification",
                         created_at=ctx.now))
    row = OnsiteVerification(case_id=ctx.case.id, commitment_case_id=commitment_case.id, assigned_on=ctx.today)
    row.inspectors = [OnsiteInspector(user_id=u.id) for u in inspectors]
    session.add(row)
    # open_case does not re-plan: the visit clock runs from the assignment (like a withdrawal's).
    timer = next(t for t in TIMERS if t.kind == "visit")
    with session.no_autoflush:
        deadline = Deadline(case_id=ctx.case.id, kind=timer.kind, unit=timer.unit, budget=timer.budget(ctx.rules),
                            start_on=ctx.today, party_deadline=False, expiry_trigger=None,
                            responsible=timer.responsible, status="open", created_at=ctx.now)
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)
    scope = data.get("scope") or ""
    tell_inspectors(ctx, inspectors, "onsite-assigned", "现场核查任务已指派", "On-site check assigned",
                    f"承诺 {commitment_case.reference}（{ctx.case.subject.name}）须于 {deadline.due_on} 前完成现场核查。"
                    + (f"核查事项：{scope}" if scope else ""),
                    f"Check commitment {commitment_case.reference} ({ctx.case.subject.name}) on site by "
                    f"{deadline.due_on}.")


def _inspectors(ctx, ids: list[int]) -> list[User]:
    """Exactly `onsite.inspector_count` distinct, active inspectors (§4.3: two officers)."""
    needed = int(ctx.rules["onsite.inspector_count"])
    problem = None
    if len(set(ids)) != len(ids):
        problem = "同一核查人员不能重复指派 / the same inspector cannot be assigned twice"
    elif len(ids) != needed:
        problem = f"须指派 {needed} 名不同的核查人员（现为 {len(ids)} 名） / assign {needed} different inspectors ({len(ids)} given)"
    users = [ctx.session.get(User, i) for i in ids] if problem is None else []
    if problem is None and any(u is None or u.role != Role.INSPECTOR or not u.active for u in users):
        problem = "所选人员不是在岗核查人员 / every person assigned must be an active inspector"
    if problem:
        raise InvalidInput(problem, details={"fields": {"inspector_ids": [problem]}})
    return users  # type: ignore[return-value]


def commitment_case_label(case: Case) -> tuple[str, str]:
    from .base import get_case_type

    return get_case_type(case.case_type).state_label(case.state)


def schedule_visit(ctx) -> None:
    row = verification(ctx.case)
    row.visit_on = ctx.data["visit_on"]
    row.place = ctx.data.get("place") or row.place
    where = f"，地点：{row.place}" if row.place else ""
    ctx.reason = f"现场核查定于 {row.visit_on.isoformat()}{where} / visit on {row.visit_on.isoformat()}"
    if ctx.from_state == State.SCHEDULED:
        others = [i.user for i in row.inspectors if i.user_id != ctx.actor.id]
        tell_inspectors(ctx, others, "onsite-rescheduled", "现场核查日期已调整", "On-site visit moved",
                        ctx.reason, f"The visit of {ctx.case.reference} is now on {row.visit_on.isoformat()}.")


def record_inspection(ctx) -> None:
    row = verification(ctx.case)
    row.inspected_at = ctx.now
    row.observations = ctx.data["observations"]
    if ctx.data["subject_signature"] == "signed":
        row.subject_signer_name = ctx.data["signer_name"].strip()
        row.subject_signed_at = ctx.now
        row.subject_refusal_reason = None
        ctx.reason = f"当事人 {row.subject_signer_name} 已签字确认 / signed by the subject ({row.subject_signer_name})"
    else:
        row.subject_refusal_reason = ctx.data["refusal_reason"].strip()
        ctx.reason = f"当事人拒绝签字：{row.subject_refusal_reason} / the subject refused to sign"
    _sign(ctx, row)
    # The photos as they stood when the record was signed, fingerprinted in the ledger (the case
    # page shows "materials" of an event as fingerprints).
    ctx.ledger_extra["materials"] = [{"key": a.material_key, "filename": a.filename, "sha256": a.sha256}
                                     for a in photos(ctx.case)]


def countersign(ctx) -> None:
    _sign(ctx, verification(ctx.case))
    ctx.reason = f"核查人员 {ctx.actor.name} 签名确认 / countersigned by {ctx.actor.name}"


def _sign(ctx, row: OnsiteVerification) -> None:
    mine = next(i for i in row.inspectors if i.user_id == ctx.actor.id)
    mine.signed_at = ctx.now
    ctx.ledger_extra["inspector_signed"] = {"user_id": ctx.actor.id, "name": ctx.actor.name}


def file_report(ctx) -> None:
    row = verification(ctx.case)
    result = ctx.data["result"]
    row.result = result
    row.findings = (ctx.data.get("findings") or "").strip() or None
    note = (ctx.data.get("internal_note") or "").strip()
    row.internal_note = note or None
    row.reported_at = ctx.now
    if note:
        ctx.ledger_extra["internal_note_sha256"] = hashlib.sha256(note.encode("utf-8")).hexdigest()
    zh, en = RESULT_LABELS[result]
    ctx.reason = f"{zh}：{row.findings} / {en}" if row.findings else f"{zh} / {en}"
    late = deadlines.current(ctx.case, "report")
    if late is not None and late.due_on is not None and ctx.today > late.due_on:
        ctx.ledger_extra["late_by_days"] = (ctx.today - late.due_on).days
    feed_commitment(ctx, row)


def feed_commitment(ctx, row: OnsiteVerification) -> None:
    """T4 or T5 on the commitment, through fire() in this transaction. A step the commitment's own
    table or guards refuse now (it left fulfilment tracking meanwhile, or it is bound to a case still
    open) changes nothing there: the refusal is noted in this case's ledger instead."""
    commitment_case = ctx.session.execute(
        select(Case).where(Case.id == row.commitment_case_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    trigger = FEED_TRIGGERS[row.result]
    if row.result == "conforming":
        reason = f"现场核查 {ctx.case.reference} 符合承诺 / on-site check {ctx.case.reference}: conforming"
    else:
        reason = (f"现场核查 {ctx.case.reference} 不符合承诺：{row.findings} / "
                  f"on-site check {ctx.case.reference}: nonconforming")
    try:
        fire(commitment_case, trigger, SYSTEM, {}, runtime=ctx.runtime, reason=reason)
    except TransitionNotAllowed as exc:
        row.commitment_outcome = "left"
        ctx.ledger_extra["commitment"] = {"reference": commitment_case.reference, "outcome": "left",
                                          "state": commitment_case.state,
                                          "reasons": list(exc.details.get("reasons", []))}
        return
    row.commitment_outcome = commitment_case.state
    ctx.ledger_extra["commitment"] = {"reference": commitment_case.reference, "outcome": commitment_case.state}


def cancel_check(ctx) -> None:
    take_reason(ctx)
    row = verification(ctx.case)
    tell_inspectors(ctx, [i.user for i in row.inspectors], "onsite-cancelled", "现场核查已取消",
                    "On-site check cancelled", f"{ctx.case.reference}：{ctx.reason}",
                    f"{ctx.case.reference} was cancelled.")


def tell_inspectors(ctx, users: list[User], event: str, title_zh: str, title_en: str, body_zh: str,
                    body_en: str) -> None:
    """Inspectors are told by name (one of them, or both), in the same outbox, after commit."""
    reference = ctx.case.reference
    notify.queue(ctx.session, ctx.case, event=event, audience=(), users=users, title_zh=f"{title_zh}（{reference}）",
                 title_en=f"{title_en} ({reference})", body_zh=body_zh, body_en=body_en, now=ctx.now,
                 link=f"/inspection/visits/{ctx.case.id}")


def describe(case: Case, runtime) -> dict:
    """Facts every viewer of the case may read. The inspectors' internal note is not among them."""
    row = verification(case)
    commitment_case = row.commitment_case
    visit = deadlines.current(case, "visit")
    result_zh, result_en = RESULT_LABELS.get(row.result or "", (None, None))
    outcome_zh, outcome_en = OUTCOME_LABELS.get(row.commitment_outcome or "", (None, None))
    return {
        "commitment_case_id": commitment_case.id,
        "commitment_reference": commitment_case.reference,
        "inspectors": [{"user_id": i.user_id, "name": i.user.name,
                        "signed_at": i.signed_at.isoformat() if i.signed_at else None} for i in row.inspectors],
        "assigned_on": row.assigned_on.isoformat(),
        "visit_due": visit.due_on.isoformat() if visit is not None and visit.due_on else None,
        "visit_on": row.visit_on.isoformat() if row.visit_on else None,
        "place": row.place,
        "inspected_at": row.inspected_at.isoformat() if row.inspected_at else None,
        "observations": row.observations,
        "subject_signature": ("signed" if row.subject_signed_at else "refused" if row.subject_refusal_reason
                              else None),
        "subject_signer_name": row.subject_signer_name,
        "subject_signed_at": row.subject_signed_at.isoformat() if row.subject_signed_at else None,
        "subject_refusal_reason": row.subject_refusal_reason,
        "photo_count": len(photos(case)),
        "result": row.result,
        "result_label_zh": result_zh,
        "result_label_en": result_en,
        "findings": row.findings,
        "reported_at": row.reported_at.isoformat() if row.reported_at else None,
        "commitment_outcome": row.commitment_outcome,
        "commitment_outcome_label_zh": outcome_zh,
        "commitment_outcome_label_en": outcome_en,
    }


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
REPORT_NOTICE = Notice("onsite-reported", ("applicant", "department", "window"), "现场核查结果",
                       "On-site check result")

STEPS = [
    Step("schedule", (S.ASSIGNED,), S.SCHEDULED, P.INSPECT, "安排核查日期", "Schedule the visit",
         forms.ScheduleSchema, guards=(assigned_inspector, visit_date_allowed), effect=schedule_visit,
         style="primary"),
    Step("reschedule", (S.SCHEDULED,), S.SCHEDULED, P.INSPECT, "调整核查日期", "Move the visit",
         forms.ScheduleSchema, guards=(assigned_inspector, visit_date_allowed), effect=schedule_visit),
    Step("inspect", (S.SCHEDULED,), S.INSPECTED, P.INSPECT, "记录现场核查并签名", "Record the visit and sign",
         forms.InspectSchema, guards=(assigned_inspector, photos_taken), effect=record_inspection, style="primary"),
    Step("countersign", (S.INSPECTED,), S.INSPECTED, P.INSPECT, "核查人员会签", "Countersign the record",
         forms.CountersignSchema, guards=(assigned_inspector, not_signed_yet), effect=countersign,
         style="primary"),
    Step("report", (S.INSPECTED,), S.REPORTED, P.INSPECT, "提交核查报告", "File the report", forms.ReportSchema,
         guards=(assigned_inspector, all_inspectors_signed), effect=file_report, style="primary",
         notify=(REPORT_NOTICE,)),
    # CHECK_REQUEST on a case the reviewer can see = credit center staff or the case's department.
    Step("cancel", (S.ASSIGNED, S.SCHEDULED), S.CANCELLED, P.CHECK_REQUEST, "取消现场核查", "Cancel the check",
         forms.CancelSchema, effect=cancel_check, style="danger",
         notify=(Notice("onsite-cancelled", ("department",), "现场核查已取消", "On-site check cancelled"),)),
]

# --- timers -----------------------------------------------------------------------------------

TIMERS = [
    # Opened by open_verification from the assignment day (a case is opened in `assigned`).
    Timer("visit", "现场核查（指派后10个工作日）", "Visit (10 working days from assignment)", S.ASSIGNED,
          (S.ASSIGNED, S.SCHEDULED), lambda r: int(r["onsite.visit_wd"]), "wd", "inspector"),
    Timer("report", "核查报告（核查后3个工作日）", "Report (3 working days from the visit)", S.INSPECTED,
          (S.INSPECTED,), lambda r: int(r["onsite.report_wd"]), "wd", "inspector"),
]

CT = ONSITE_VERIFICATION = register(CaseType(
    key="onsite_verification",
    version=1,
    label_zh="现场核查",
    label_en="On-site verification",
    states=State,
    initial=S.ASSIGNED,
    terminal=(S.REPORTED, S.CANCELLED),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="XC",
    on_open=open_verification,
    open_schema=forms.OpenOnsiteVerificationSchema,
    describe=describe,
    create_permission=Permission.CHECK_REQUEST,
))
