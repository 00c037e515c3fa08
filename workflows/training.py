"""Credit repair training (信用修复专题培训).

Lifecycle. A trainer schedules a session (§4.1 `SCHEDULED`: title, day and time, on site or online,
hours, capacity). Sessions are not cases: they have no clock of their own. An applicant enrols a
subject it acts for (enrolled): refused once the session is full or enrolment has closed (1 WD
before the session day, `training.enrolment_close_wd`), or when the subject is enrolled already. On
or after the session day the trainer marks each enrollee as attended or absent (absent ends the
case); the certificate clock then runs from the session day (3 WD, `training.certificate_wd`). The
trainer records the assessment, passed or failed (§4.1 `ASSESSED`; failed ends the case), and issues
the certificate to those who passed (certificate_issued): a serial number that names the case and
carries a random part (so numbers cannot be enumerated), the subject and its USCC or ID number, the
session day, the hours, and a validity for repair use of 12 months from the session
(`training.certificate_valid_m`). The applicant may cancel the enrolment before the session day; the
trainer may cancel it with a reason (also when a whole session is cancelled).

A credit repair that needs a certificate (serious records with
`repair.require_training_certificate_for_serious`) links one by its serial: `link_certificate`
checks that it exists, belongs to the repair's subject and is still valid, and records the link.

Legal basis: DOMAIN.md §4.1 (527号 practice: 严重 repairs needed a repair-training certificate;
since 国办发〔2025〕22号 an optional local requirement), §3.4 (materials), §12 (defaults, assumed).
"""
from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import func, select

from forms import training as forms
from models import Case, CaseLink, Deadline, TrainingCertificate, TrainingEnrolment, TrainingSession
from models.permissions import Actor, Permission, can
from models.subject import mask_id_number

from . import deadlines
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed


class State(StateEnum):
    ENROLLED = "enrolled", "已报名", "Enrolled"  #: waits for the session day
    ATTENDED = "attended", "已参训·待考核", "Attended, to be assessed"  #: certificate clock runs from the session
    ABSENT = "absent", "缺席", "Absent"  #: terminal: no certificate
    PASSED = "passed", "考核合格·待发证", "Passed, certificate due"  #: certificate within 3 WD of the session
    FAILED = "failed", "考核不合格", "Assessment failed"  #: terminal: no certificate
    CERTIFICATE_ISSUED = "certificate_issued", "已发培训证明", "Certificate issued"  #: terminal
    CANCELLED = "cancelled", "已取消报名", "Enrolment cancelled"  #: terminal: the place is free again


MODE_LABELS = {key: (zh, en) for key, zh, en in forms.MODE_CHOICES}
#: CaseLink.kind from a repair case to the training case whose certificate it relies on.
CERTIFICATE_LINK = "training_certificate"
#: Serial suffix alphabet: no 0/O, 1/I, so a number read out over the phone is not misheard.
SERIAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SERIAL_RANDOM_LEN = 6


def enrolment(case: Case) -> TrainingEnrolment:
    from models import db

    row = db.session.get(TrainingEnrolment, case.id)
    assert row is not None, f"case {case.id} has no training enrolment row"
    return row


def enrolment_last_day(session: TrainingSession, calendar, rules) -> date:
    """The last day to enrol (inclusive): N working days before the session day (§4.1)."""
    return calendar.subtract_working_days(session.held_on, int(rules["training.enrolment_close_wd"]))


def certificate_due_on(session: TrainingSession, calendar, rules) -> date:
    return calendar.deadline(session.held_on, int(rules["training.certificate_wd"]), "wd",
                             deemed_receipt=bool(rules["calendar.deem_nonworking_receipt_next_wd"]))


def places_taken(db_session, session_id: int) -> int:
    """Enrolments that hold a place: every one not cancelled (attendance does not free a place)."""
    return db_session.execute(
        select(func.count()).select_from(TrainingEnrolment).join(Case, Case.id == TrainingEnrolment.case_id)
        .where(TrainingEnrolment.session_id == session_id, Case.state != State.CANCELLED)
    ).scalar_one()


def enrolment_refusal(db_session, session: TrainingSession, today: date, calendar, rules) -> str | None:
    """Why nobody can enrol in `session` now (bilingual), or None while enrolment is open."""
    if session.status == "cancelled":
        return "该场培训已取消 / this session has been cancelled"
    last = enrolment_last_day(session, calendar, rules)
    if today > last:
        return (f"报名已于 {last.isoformat()} 截止（培训日 {session.held_on.isoformat()} 前"
                f"{int(rules['training.enrolment_close_wd'])}个工作日） / enrolment closed on {last.isoformat()} "
                f"(session on {session.held_on.isoformat()})")
    taken = places_taken(db_session, session.id)
    if taken >= session.capacity:
        return (f"本场培训名额已满（共{session.capacity}人） / the session is full "
                f"(capacity {session.capacity})")
    return None


# --- sessions (not cases: a trainer's plain records; they flush and never commit) ---------------

def _require_trainer(actor: Actor) -> None:
    if not can(actor, Permission.TRAIN):
        raise Forbidden("仅培训人员可以管理培训场次 / Only trainers manage training sessions")


def create_session(db_session, data: dict[str, Any], actor: Actor, *, runtime) -> TrainingSession:
    _require_trainer(actor)
    if data["held_on"] < runtime.today():
        raise InvalidInput("培训日期不能早于今天 / The session cannot be in the past",
                           details={"fields": {"held_on": ["不能早于今天 / in the past"]}})
    session = TrainingSession(
        title=data["title"], held_on=data["held_on"], starts_at=data["starts_at"], mode=data["mode"],
        place=data["place"], hours=data["hours"], capacity=data["capacity"],
        description=data.get("description") or "", trainer_id=actor.id, status="scheduled",
        created_at=runtime.clock.now(),
    )
    db_session.add(session)
    db_session.flush()
    return session


def cancel_session(db_session, session: TrainingSession, actor: Actor, reason: str, *, runtime) -> list[Case]:
    """Cancel a session nobody has been marked for yet; each open enrolment is cancelled through fire()."""
    from .service import fire

    _require_trainer(actor)
    if session.status == "cancelled":
        raise TransitionNotAllowed("该场培训已取消 / This session is already cancelled",
                                   details={"reasons": ["该场培训已取消 / already cancelled"]})
    marked = [e.case.reference for e in session.enrolments
              if e.case.state not in (State.ENROLLED, State.CANCELLED)]
    if marked:
        raise TransitionNotAllowed(
            "已有学员签到或考核，不能取消本场培训 / Attendance is already recorded: the session cannot be cancelled",
            details={"reasons": [f"已办理 / already marked: {', '.join(marked)}"]})
    now = runtime.clock.now()
    session.status = "cancelled"
    session.cancel_reason = reason
    session.cancelled_at = now
    cancelled = []
    for row in session.enrolments:
        if row.case.state == State.ENROLLED:
            fire(row.case, "cancel", actor, {"reason": f"培训取消：{reason} / session cancelled"}, runtime=runtime)
            cancelled.append(row.case)
    db_session.flush()
    return cancelled


def session_payload(db_session, session: TrainingSession, runtime) -> dict[str, Any]:
    calendar = runtime.calendar(db_session)
    mode_zh, mode_en = MODE_LABELS[session.mode]
    taken = places_taken(db_session, session.id)
    refusal = enrolment_refusal(db_session, session, runtime.today(), calendar, runtime.rules)
    return {
        "id": session.id,
        "title": session.title,
        "held_on": session.held_on.isoformat(),
        "starts_at": session.starts_at.strftime("%H:%M"),
        "mode": session.mode,
        "mode_label_zh": mode_zh,
        "mode_label_en": mode_en,
        "place": session.place,
        "hours": session.hours,
        "capacity": session.capacity,
        "places_taken": taken,
        "places_left": max(session.capacity - taken, 0),
        "description": session.description,
        "trainer": session.trainer.name,
        "status": session.status,
        "cancel_reason": session.cancel_reason,
        "enrolment_last_day": enrolment_last_day(session, calendar, runtime.rules).isoformat(),
        "enrolment_open": refusal is None,
        "enrolment_refusal": refusal,
        "certificate_due_on": certificate_due_on(session, calendar, runtime.rules).isoformat(),
    }


# --- guards -----------------------------------------------------------------------------------

def session_held(ctx) -> str | None:
    held_on = enrolment(ctx.case).session.held_on
    if ctx.today < held_on:
        return f"培训尚未举行（培训日 {held_on.isoformat()}） / the session is on {held_on.isoformat()}"
    return None


def before_session(ctx) -> str | None:
    held_on = enrolment(ctx.case).session.held_on
    if ctx.today >= held_on:
        return (f"培训已于 {held_on.isoformat()} 开始，不能再取消报名 / the session began on {held_on.isoformat()}: "
                "the enrolment can no longer be cancelled")
    return None


# --- effects ----------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def start_certificate_clock(ctx) -> None:
    """The 3 WD run from the session day, not from the day attendance is recorded (a late sign-in
    sheet does not buy the trainer time)."""
    take_reason(ctx)
    row = enrolment(ctx.case)
    if deadlines.current(ctx.case, "certificate") is not None:
        return
    timer = TIMERS[0]
    deadline = Deadline(case_id=ctx.case.id, kind=timer.kind, unit=timer.unit, budget=timer.budget(ctx.rules),
                        start_on=row.session.held_on, party_deadline=False, expiry_trigger=None,
                        responsible=timer.responsible, status="open", created_at=ctx.now)
    with ctx.session.no_autoflush:
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)


def assess(ctx) -> None:
    take_reason(ctx)
    row = enrolment(ctx.case)
    row.score = ctx.data.get("score")
    row.assessment_note = ctx.reason or None


def new_serial(case: Case) -> str:
    suffix = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(SERIAL_RANDOM_LEN))
    return f"{case.reference}-{suffix}"


def issue(ctx) -> None:
    take_reason(ctx)
    row = enrolment(ctx.case)
    session = row.session
    subject = ctx.case.subject
    valid_until, _ = ctx.calendar.expiry(session.held_on, int(ctx.rules["training.certificate_valid_m"]), "month")
    certificate = TrainingCertificate(
        serial=new_serial(ctx.case), case_id=ctx.case.id, subject_id=subject.id, subject_name=subject.name,
        subject_identifier=subject.identifier, session_title=session.title, session_date=session.held_on,
        hours=session.hours, issued_on=ctx.today, valid_until=valid_until, issued_by_id=ctx.actor.id,
    )
    ctx.session.add(certificate)
    ctx.session.flush()
    ctx.ledger_extra["certificate"] = {"serial": certificate.serial, "valid_until": valid_until.isoformat(),
                                       "hours": session.hours, "session_date": session.held_on.isoformat()}
    ctx.reason = ctx.reason or (f"培训证明 {certificate.serial}，有效期至 {valid_until.isoformat()} / certificate "
                                f"{certificate.serial}, valid until {valid_until.isoformat()}")


def open_enrolment(ctx, data) -> None:
    session = ctx.session.execute(
        select(TrainingSession).where(TrainingSession.id == data["session_id"]).with_for_update()
    ).scalar_one_or_none()
    if session is None:
        raise NotFound("培训场次不存在 / No such training session", details={"session_id": data["session_id"]})
    refusal = enrolment_refusal(ctx.session, session, ctx.today, ctx.calendar, ctx.rules)
    if refusal:
        raise TransitionNotAllowed(f"不能报名：{refusal}", details={
            "reasons": [refusal], "capacity": session.capacity,
            "enrolment_last_day": enrolment_last_day(session, ctx.calendar, ctx.rules).isoformat()})
    other = ctx.session.execute(
        select(Case.reference).join(TrainingEnrolment, TrainingEnrolment.case_id == Case.id)
        .where(TrainingEnrolment.session_id == session.id, Case.subject_id == ctx.case.subject_id,
               Case.id != ctx.case.id, Case.state != State.CANCELLED)
    ).scalar()
    if other:
        reason = f"该主体已报名本场培训（{other}） / this subject is already enrolled ({other})"
        raise TransitionNotAllowed(f"不能报名：{reason}", details={"reasons": [reason]})
    # The center runs the training: its staff see the enrolment, its head hears of a late certificate.
    ctx.case.department_id = session.trainer.department_id
    ctx.session.add(TrainingEnrolment(
        case_id=ctx.case.id, session_id=session.id, attendee_name=data["attendee_name"],
        attendee_phone=data.get("attendee_phone") or None, enrolled_on=ctx.today,
    ))


# --- certificates for credit repair -----------------------------------------------------------

def normalise_serial(text: str) -> str:
    return (text or "").strip().upper()


def certificate_by_serial(db_session, serial: str) -> TrainingCertificate | None:
    return db_session.execute(
        select(TrainingCertificate).where(TrainingCertificate.serial == normalise_serial(serial))
    ).scalar_one_or_none()


def usable_certificate(db_session, serial: str, subject_id: int, on: date, *, field: str) -> TrainingCertificate:
    """The certificate `serial` if `subject_id` may use it for a repair on `on`; else 422 saying why."""
    certificate = certificate_by_serial(db_session, serial)
    if certificate is None:
        message = f"培训证明编号不存在：{normalise_serial(serial)} / no such certificate: {normalise_serial(serial)}"
        raise InvalidInput(message, details={"fields": {field: [message]}})
    if certificate.subject_id != subject_id:
        # Whose certificate it is stays unsaid: a number must not reveal another subject.
        message = "该培训证明不属于本主体 / this certificate was issued to another subject"
        raise InvalidInput(message, details={"fields": {field: [message]}})
    if certificate.valid_until < on:
        until = certificate.valid_until.isoformat()
        message = f"培训证明已过期（有效期至 {until}） / the certificate has expired (valid until {until})"
        raise InvalidInput(message, details={"fields": {field: [message]}, "valid_until": until})
    return certificate


def link_certificate(ctx, serial: str, *, field: str) -> TrainingCertificate:
    """Link the certificate to ctx.case (a repair) after checking it; a new number replaces the old."""
    certificate = usable_certificate(ctx.session, serial, ctx.case.subject_id, ctx.today, field=field)
    for link in ctx.session.execute(
        select(CaseLink).where(CaseLink.from_case_id == ctx.case.id, CaseLink.kind == CERTIFICATE_LINK)
    ).scalars():
        ctx.session.delete(link)
    ctx.session.flush()
    ctx.session.add(CaseLink(from_case_id=ctx.case.id, to_case_id=certificate.case_id, kind=CERTIFICATE_LINK,
                             created_at=ctx.now))
    ctx.ledger_extra["training_certificate"] = {"serial": certificate.serial,
                                                "valid_until": certificate.valid_until.isoformat()}
    return certificate


def linked_certificate(case: Case) -> TrainingCertificate | None:
    from models import db

    return db.session.execute(
        select(TrainingCertificate).join(CaseLink, CaseLink.to_case_id == TrainingCertificate.case_id)
        .where(CaseLink.from_case_id == case.id, CaseLink.kind == CERTIFICATE_LINK)
        .order_by(CaseLink.id.desc()).limit(1)
    ).scalar_one_or_none()


def certificate_payload(certificate: TrainingCertificate, *, full_identifier: bool = False) -> dict[str, Any]:
    identifier = certificate.subject_identifier
    subject = certificate.subject
    if subject is not None and subject.is_natural_person and not full_identifier:
        identifier = mask_id_number(identifier)
    return {
        "serial": certificate.serial,
        "case_id": certificate.case_id,
        "subject_id": certificate.subject_id,
        "subject_name": certificate.subject_name,
        "subject_identifier": identifier,
        "session_title": certificate.session_title,
        "session_date": certificate.session_date.isoformat(),
        "hours": certificate.hours,
        "issued_on": certificate.issued_on.isoformat(),
        "valid_until": certificate.valid_until.isoformat(),
    }


def certificates_of(db_session, subject_ids: list[int]) -> list[TrainingCertificate]:
    if not subject_ids:
        return []
    return list(db_session.execute(
        select(TrainingCertificate).where(TrainingCertificate.subject_id.in_(subject_ids))
        .order_by(TrainingCertificate.issued_on.desc(), TrainingCertificate.id.desc())
    ).scalars())


def describe(case: Case, runtime) -> dict[str, Any]:
    from models import db

    row = enrolment(case)
    details = {
        "session": session_payload(db.session, row.session, runtime),
        "attendee_name": row.attendee_name,
        "attendee_phone": row.attendee_phone,
        "enrolled_on": row.enrolled_on.isoformat(),
        "score": row.score,
        "assessment_note": row.assessment_note,
        "certificate": certificate_payload(row.certificate) if row.certificate else None,
    }
    return details


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
TO_APPLICANT = ("applicant",)

STEPS = [
    Step("withdraw", (S.ENROLLED,), S.CANCELLED, P.APPLICANT_ACT, "取消报名", "Cancel my enrolment",
         forms.WithdrawSchema, guards=(before_session,), effect=take_reason, style="danger"),
    Step("cancel", (S.ENROLLED,), S.CANCELLED, P.TRAIN, "取消该学员报名", "Cancel this enrolment",
         forms.CancelSchema, effect=take_reason, style="danger",
         notify=(Notice("training-enrolment-cancelled", TO_APPLICANT, "培训报名已取消", "Training enrolment cancelled"),)),
    Step("mark_attended", (S.ENROLLED,), S.ATTENDED, P.TRAIN, "签到：已参训", "Attended",
         forms.MarkAttendedSchema, guards=(session_held,), effect=start_certificate_clock, style="primary"),
    Step("mark_absent", (S.ENROLLED,), S.ABSENT, P.TRAIN, "缺席", "Absent", forms.MarkAbsentSchema,
         guards=(session_held,), effect=take_reason,
         notify=(Notice("training-absent", TO_APPLICANT, "培训缺席，未取得培训证明", "Absent from training: no certificate"),)),
    Step("pass_assessment", (S.ATTENDED,), S.PASSED, P.TRAIN, "考核合格", "Passed", forms.PassSchema,
         effect=assess, style="primary"),
    Step("fail_assessment", (S.ATTENDED,), S.FAILED, P.TRAIN, "考核不合格", "Failed", forms.FailSchema,
         effect=assess, style="danger",
         notify=(Notice("training-failed", TO_APPLICANT, "培训考核不合格", "Training assessment failed"),)),
    Step("issue_certificate", (S.PASSED,), S.CERTIFICATE_ISSUED, P.TRAIN, "出具培训证明", "Issue the certificate",
         forms.IssueCertificateSchema, effect=issue, style="primary",
         notify=(Notice("training-certificate-issued", TO_APPLICANT, "信用修复培训证明已出具",
                        "Repair training certificate issued"),)),
]

TIMERS = [
    # Opened by `start_certificate_clock` from the session day; a late trainer is escalated by the sweep.
    Timer("certificate", "出具培训证明（培训后3个工作日）", "Certificate (3 working days after the session)",
          S.ATTENDED, (S.ATTENDED, S.PASSED), lambda r: int(r["training.certificate_wd"]), "wd", "trainer"),
]

TRAINING = register(CaseType(
    key="training",
    version=1,
    label_zh="信用修复培训",
    label_en="Repair training",
    states=State,
    initial=S.ENROLLED,
    terminal=(S.ABSENT, S.FAILED, S.CERTIFICATE_ISSUED, S.CANCELLED),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="PX",
    on_open=open_enrolment,
    open_schema=forms.OpenEnrolmentSchema,
    describe=describe,
))

