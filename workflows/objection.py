"""Objections to credit information (异议).

Lifecycle. A subject's applicant drafts an objection against one record of its own subject, giving
the grounds and optional evidence (draft), and files it (submitted): the overall clock starts, 3 WD
from receipt when the credit center can decide alone. The window returns it for supplement (ID or
proof missing; the clock stops until resubmission), refuses it (not_accepted), or accepts it
(accepted): from then until the decision the record carries the 异议标注 "异议处理中". The window
then reviews it in house (in_house_review) or sends a 协查函 to the record's provider, the case's
department (provider_verifying): the overall clock becomes 7 WD from receipt and the provider has
its own 4 WD sub-deadline, which escalates to the provider's head when missed. The decision —
upheld (the record corrected or deleted, the score follows since it is derived from the records;
the correction is pushed within 3 WD), partly upheld (corrected), rejected (with reasons) or
unresolved (the dispute noted) — removes the label; the applicant is told in writing (notified)
and the case closes (closed).

Legal basis: DOMAIN.md §2 — 山东省社会信用条例 §39 (3 WD / 7 WD, 书面告知), §40 (3 WD correction),
§59(4); 文登 rural scheme (异议标注, reasons for a refusal).
"""
from __future__ import annotations

import json

from sqlalchemy import select

from forms import objection as forms
from models import Case, CreditRecord, ObjectionApplication, RecordStatus
from models.permissions import SYSTEM, Permission

from . import deadlines
from .base import CaseType, Material, Notice, StateEnum, Step, Timer, register
from .errors import NotFound, TransitionNotAllowed
from .records import on_record_revoked, revoke_record


class State(StateEnum):
    DRAFT = "draft", "草稿", "Draft"  #: being prepared by the applicant
    SUBMITTED = "submitted", "已提交", "Submitted"  #: overall clock runs from receipt
    RETURNED_FOR_SUPPLEMENT = "returned_for_supplement", "补正中", "Returned for supplement"  #: clock stopped
    NOT_ACCEPTED = "not_accepted", "不予受理", "Not accepted"  #: terminal
    ACCEPTED = "accepted", "已受理（异议标注）", "Accepted (record labelled)"  #: 异议处理中 shown on the record
    IN_HOUSE_REVIEW = "in_house_review", "本单位核查", "Reviewed in house"  #: 3 WD from receipt
    PROVIDER_VERIFYING = "provider_verifying", "提供单位协查", "Provider verifying"  #: 7 WD total, provider 4 WD
    DECIDED_UPHELD = "decided_upheld", "异议成立", "Upheld"  #: record corrected or deleted
    DECIDED_PARTLY_UPHELD = "decided_partly_upheld", "异议部分成立", "Partly upheld"  #: record corrected
    DECIDED_REJECTED = "decided_rejected", "异议不成立", "Rejected"  #: record kept, reasons given
    DECIDED_UNRESOLVED = "decided_unresolved", "无法确认", "Cannot be confirmed"  #: dispute noted
    NOTIFIED = "notified", "已书面告知", "Applicant notified"  #: 异议处理结果告知书 sent
    CLOSED = "closed", "已结案", "Closed"  #: terminal
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"  #: terminal: by the applicant before acceptance


MATERIALS = {
    "id_proof": Material("id_proof", "身份证明或营业执照", "ID or business licence"),
    "evidence": Material("evidence", "证明材料（决定书、撤销决定书、判决书等）",
                         "Proof (decision, revocation, judgment...)"),
}

OUTCOME_LABELS = {
    "upheld": ("异议成立", "upheld"),
    "partly_upheld": ("异议部分成立", "partly upheld"),
    "rejected": ("异议不成立", "rejected"),
    "unresolved": ("无法确认", "cannot be confirmed"),
}


def application(case: Case) -> ObjectionApplication:
    from models import db

    row = db.session.get(ObjectionApplication, case.id)
    assert row is not None, f"case {case.id} has no objection row"
    return row


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

def record_in_force(ctx) -> str | None:
    record = application(ctx.case).record
    if record.status == RecordStatus.REVOKED:
        return "该记录已删除 / this record has already been deleted"
    return None


def no_other_open_objection(ctx) -> str | None:
    app = application(ctx.case)
    other = ctx.session.execute(
        select(Case.reference)
        .join(ObjectionApplication, ObjectionApplication.case_id == Case.id)
        .where(ObjectionApplication.record_id == app.record_id, Case.id != ctx.case.id, Case.closed_at.is_(None),
               Case.state != State.DRAFT)
    ).scalar()
    if other:
        return f"该记录已有办理中的异议 {other} / objection {other} to this record is still open"
    return None


def has_provider(ctx) -> str | None:
    if ctx.case.department_id is None:
        return "该记录没有信息提供单位 / this record has no providing department"
    return None


# --- effects ----------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def record_materials(ctx) -> None:
    """Put the uploaded files' fingerprints in the ledger: what was submitted can never be swapped."""
    ctx.ledger_extra["materials"] = [
        {"key": a.material_key, "filename": a.filename, "sha256": a.sha256} for a in ctx.case.attachments
    ]


def record_submission(ctx) -> None:
    app = application(ctx.case)
    app.statement = ctx.data["statement"]
    if ctx.data.get("contact_phone"):
        app.contact_phone = ctx.data["contact_phone"]
    app.submitted_on = ctx.calendar.deemed_receipt(ctx.today)
    record_materials(ctx)


def resubmit_effect(ctx) -> None:
    take_reason(ctx)
    record_materials(ctx)


def accept_effect(ctx) -> None:
    """T1: the 异议标注 goes on the disputed item."""
    take_reason(ctx)
    app = application(ctx.case)
    app.accepted_on = ctx.today
    app.record.under_objection = True


def review_in_house(ctx) -> None:
    take_reason(ctx)
    application(ctx.case).route = "in_house"


def route_to_provider(ctx) -> None:
    """T5: 协查函 to the provider; the overall limit becomes 7 WD from receipt."""
    app = application(ctx.case)
    app.route = "provider"
    app.provider_department_id = ctx.case.department_id
    app.provider_letter = ctx.data["letter"]
    app.provider_letter_on = ctx.today
    extra = int(ctx.rules["objection.with_provider_wd"]) - int(ctx.rules["objection.in_scope_wd"])
    ctx.reason = "需提供单位协查"
    if extra > 0:
        deadlines.extend(ctx, "decision", extra, "需提供单位协查 / the provider must verify")


def decide(outcome: str):
    def effect(ctx) -> None:
        take_reason(ctx)
        app = application(ctx.case)
        record = app.record
        app.outcome = outcome
        app.decided_by_id = ctx.actor.id  # None when the system decides (T10 fast path)
        app.decided_on = ctx.today
        app.decision_reason = ctx.reason or None
        record.under_objection = False
        if outcome in ("upheld", "partly_upheld"):
            correct_record(ctx, app, record)
            _open_push_clock(ctx)
        elif outcome == "unresolved":
            app.correction_details = json.dumps({"dispute": ctx.reason}, ensure_ascii=False)
        zh, en = OUTCOME_LABELS[outcome]
        ctx.ledger_extra["outcome"] = outcome
        ctx.reason = f"{zh}：{ctx.reason} / {en}" if ctx.reason else f"{zh} / {en}"

    return effect


def correct_record(ctx, app: ObjectionApplication, record: CreditRecord) -> None:
    """Upheld: delete the record (status revoked: it leaves display and score) or correct it."""
    correction = ctx.data.get("correction") or "correct"
    before = {"title": record.title, "description": record.description, "points": record.points,
              "status": record.status}
    if correction == "delete":
        revoke_record(ctx, record, f"异议成立（{ctx.case.reference}），记录已删除 / objection upheld: record deleted")
    else:
        if ctx.data.get("title"):
            record.title = ctx.data["title"]
        if ctx.data.get("description"):
            record.description = ctx.data["description"]
        if ctx.data.get("points") is not None:
            record.points = int(ctx.data["points"])
    after = {"title": record.title, "description": record.description, "points": record.points,
             "status": record.status}
    app.correction = correction
    app.correction_details = json.dumps({"before": before, "after": after}, ensure_ascii=False)
    ctx.ledger_extra["correction"] = {"kind": correction, "before": before, "after": after}


def _open_push_clock(ctx) -> None:
    """The corrected data is pushed within 3 WD of the decision (upheld or partly upheld)."""
    from models import Deadline

    timer = next(t for t in TIMERS if t.kind == "push_correction")
    if deadlines.current(ctx.case, timer.kind) is not None:
        return
    with ctx.session.no_autoflush:
        deadline = Deadline(case_id=ctx.case.id, kind=timer.kind, unit=timer.unit, budget=timer.budget(ctx.rules),
                            start_on=ctx.today, party_deadline=False, expiry_trigger=None,
                            responsible=timer.responsible, status="open", created_at=ctx.now)
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)


def document_revoked_effect(ctx) -> None:
    """T10: the legal document behind the record was revoked and the provider withdrew the record:
    the objection is upheld by that fact (SD-Cond §40)."""
    ctx.data = {**ctx.data, "correction": "delete"}  # already revoked by the withdrawal: nothing cascades twice
    decide("upheld")(ctx)
    ctx.ledger_extra["fast_path"] = True


@on_record_revoked
def uphold_open_objections(ctx, record: CreditRecord, reason: str) -> None:
    """Any objection still open against a record that has just been revoked is upheld (T10)."""
    from .service import fire

    open_cases = ctx.session.execute(
        select(Case).join(ObjectionApplication, ObjectionApplication.case_id == Case.id)
        .where(ObjectionApplication.record_id == record.id, Case.case_type == "objection",
               Case.state.in_([s.value for s in FAST_PATH_FROM]), Case.id != ctx.case.id)
        .order_by(Case.id)
    ).scalars().all()
    for case in open_cases:
        fire(case, "document_revoked", SYSTEM, {}, runtime=ctx.runtime,
             reason=f"原决定已撤销，信息已撤回（{ctx.case.reference}）：{reason} / the decision behind the record "
                    f"was revoked and the record withdrawn")


def notify_effect(ctx) -> None:
    app = application(ctx.case)
    app.notified_on = ctx.today
    zh, en = OUTCOME_LABELS[app.outcome]
    note = ctx.data.get("note") or ""
    ctx.reason = f"异议处理结果告知书：{zh}。{app.decision_reason or ''}{note} / Written notice: {en}."


def open_application(ctx, data) -> None:
    record = ctx.session.get(CreditRecord, data["record_id"])
    if record is None or record.subject_id != ctx.case.subject_id:
        raise NotFound("该主体没有这条记录 / No such record for this subject", details={"record_id": data["record_id"]})
    if record.status == RecordStatus.REVOKED:
        raise TransitionNotAllowed("该记录已删除 / This record has been deleted",
                                   details={"reasons": ["record is " + record.status]})
    # The provider (提供单位) verifies when asked: it is the case's department.
    ctx.case.department_id = record.department_id
    ctx.session.add(ObjectionApplication(
        case_id=ctx.case.id, record_id=record.id, grounds=data["grounds"],
        statement=data.get("statement") or "", contact_phone=data.get("contact_phone") or None,
    ))


def describe(case: Case, runtime) -> dict:
    """Facts a case page and the API show beside the state."""
    app = application(case)
    grounds = {k: (zh, en) for k, zh, en in forms.GROUNDS_CHOICES}[app.grounds]
    return {
        "record_id": app.record_id,
        "record_title": app.record.title,
        "under_objection": bool(app.record.under_objection),
        "grounds": app.grounds,
        "grounds_label_zh": grounds[0],
        "grounds_label_en": grounds[1],
        "statement": app.statement,
        "submitted_on": app.submitted_on.isoformat() if app.submitted_on else None,
        "route": app.route,
        "provider_department": app.provider_department.name if app.provider_department else None,
        "provider_letter_on": app.provider_letter_on.isoformat() if app.provider_letter_on else None,
        "outcome": app.outcome,
        "correction": app.correction,
        "correction_details": json.loads(app.correction_details) if app.correction_details else None,
        "decision_reason": app.decision_reason,
        "notified_on": app.notified_on.isoformat() if app.notified_on else None,
    }


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
TO_APPLICANT = ("applicant",)
REVIEW_STATES = (S.IN_HOUSE_REVIEW, S.PROVIDER_VERIFYING)
DECIDED = (S.DECIDED_UPHELD, S.DECIDED_PARTLY_UPHELD, S.DECIDED_REJECTED, S.DECIDED_UNRESOLVED)
#: T10 reaches an objection wherever it is still undecided.
FAST_PATH_FROM = (S.SUBMITTED, S.RETURNED_FOR_SUPPLEMENT, S.ACCEPTED, *REVIEW_STATES)

DECISIONS = [
    ("uphold", S.DECIDED_UPHELD, "upheld", "异议成立", "Uphold", forms.UpholdSchema, "primary"),
    ("partly_uphold", S.DECIDED_PARTLY_UPHELD, "partly_upheld", "异议部分成立", "Partly uphold",
     forms.PartlyUpholdSchema, "default"),
    ("reject", S.DECIDED_REJECTED, "rejected", "异议不成立", "Reject", forms.RejectSchema, "danger"),
    ("unresolved", S.DECIDED_UNRESOLVED, "unresolved", "无法确认", "Cannot be confirmed",
     forms.UnresolvedSchema, "default"),
]


def _decision_steps() -> list[Step]:
    steps = []
    # In house the credit center decides; on the provider route the provider's reviewer does.
    for source, permission in ((S.IN_HOUSE_REVIEW, P.WINDOW_ACT), (S.PROVIDER_VERIFYING, P.DEPARTMENT_DECIDE)):
        for trigger, target, outcome, zh, en, schema, style in DECISIONS:
            steps.append(Step(trigger, (source,), target, permission, zh, en, schema, effect=decide(outcome),
                              style=style,
                              notify=(Notice(f"objection-{outcome}", ("applicant", "window"), f"异议处理决定：{zh}",
                                             f"Objection decided: {en}"),)))
    return steps


STEPS = [
    Step("submit", (S.DRAFT,), S.SUBMITTED, P.APPLICANT_ACT, "提交异议", "File the objection", forms.SubmitSchema,
         guards=(record_in_force, no_other_open_objection), effect=record_submission, style="primary",
         notify=(Notice("objection-submitted", ("applicant", "window"), "异议申请已提交", "Objection filed"),)),
    Step("return_for_supplement", (S.SUBMITTED,), S.RETURNED_FOR_SUPPLEMENT, P.WINDOW_ACT, "退回补正",
         "Return for supplement", forms.ReturnForSupplementSchema, effect=take_reason,
         notify=(Notice("objection-returned", TO_APPLICANT, "异议申请需补正", "Objection: supplement needed"),)),
    Step("resubmit", (S.RETURNED_FOR_SUPPLEMENT,), S.SUBMITTED, P.APPLICANT_ACT, "补正后重新提交", "Resubmit",
         forms.ResubmitSchema, effect=resubmit_effect, style="primary",
         notify=(Notice("objection-resubmitted", ("window",), "异议申请已补正", "Objection supplemented"),)),
    Step("not_accept", (S.SUBMITTED,), S.NOT_ACCEPTED, P.WINDOW_ACT, "不予受理", "Do not accept",
         forms.NotAcceptSchema, effect=take_reason, style="danger",
         notify=(Notice("objection-not-accepted", TO_APPLICANT, "异议申请不予受理", "Objection not accepted"),)),
    Step("accept", (S.SUBMITTED,), S.ACCEPTED, P.WINDOW_ACT, "受理（异议标注）", "Accept (label the record)",
         forms.NoteSchema, guards=(record_in_force,), effect=accept_effect, style="primary",
         notify=(Notice("objection-accepted", TO_APPLICANT, "异议申请已受理", "Objection accepted"),)),
    Step("review_in_house", (S.ACCEPTED,), S.IN_HOUSE_REVIEW, P.WINDOW_ACT, "本单位核查", "Review in house",
         forms.NoteSchema, effect=review_in_house, style="primary"),
    Step("route_to_provider", (S.ACCEPTED,), S.PROVIDER_VERIFYING, P.WINDOW_ACT, "发协查函（提供单位核查）",
         "Ask the provider to verify", forms.RouteToProviderSchema, guards=(has_provider,), effect=route_to_provider,
         notify=(Notice("objection-provider", ("department",), "异议协查函", "Objection: please verify"),)),
    *_decision_steps(),
    Step("document_revoked", FAST_PATH_FROM, S.DECIDED_UPHELD, P.SYSTEM, "原决定撤销，信息已撤回（异议成立）",
         "Decision revoked, record withdrawn: upheld", effect=document_revoked_effect,
         notify=(Notice("objection-upheld", ("applicant", "window"), "异议处理决定：异议成立",
                        "Objection decided: upheld"),)),
    Step("notify", DECIDED, S.NOTIFIED, P.WINDOW_ACT, "书面告知申请人", "Notify the applicant in writing",
         forms.NotifySchema, effect=notify_effect, style="primary",
         notify=(Notice("objection-notified", TO_APPLICANT, "异议处理结果告知书", "Objection: written notice"),)),
    Step("close", (S.NOTIFIED,), S.CLOSED, P.WINDOW_ACT, "结案", "Close", forms.NoteSchema, effect=take_reason),
    Step("withdraw", (S.DRAFT, S.SUBMITTED, S.RETURNED_FOR_SUPPLEMENT), S.WITHDRAWN, P.APPLICANT_ACT, "撤回异议",
         "Withdraw", forms.WithdrawSchema, effect=take_reason, style="danger",
         notify=(Notice("objection-withdrawn", ("applicant",), "异议申请已撤回", "Objection withdrawn"),)),
]

# --- timers -----------------------------------------------------------------------------------

TIMERS = [
    # 3 WD from receipt; +4 WD (7 WD in all) when routed to the provider (route_to_provider extends it).
    Timer("decision", "异议处理期限（3个工作日，需协查7个工作日）", "Objection time limit (3 WD; 7 WD with the provider)",
          S.SUBMITTED, (S.SUBMITTED, S.ACCEPTED, *REVIEW_STATES, *DECIDED),
          lambda r: int(r["objection.in_scope_wd"]), "wd", "window", suspended_in=(S.RETURNED_FOR_SUPPLEMENT,)),
    # No expiry trigger: a late provider is escalated to its head by the sweep.
    Timer("provider_reply", "提供单位协查回复（4个工作日）", "Provider's reply (4 working days)", S.PROVIDER_VERIFYING,
          (S.PROVIDER_VERIFYING,), lambda r: int(r["objection.provider_reply_wd"]), "wd", "department"),
    # Opened by the decision effect for upheld and partly upheld outcomes.
    Timer("push_correction", "更正信息推送（3个工作日）", "Push the correction (3 working days)", S.DECIDED_UPHELD,
          (S.DECIDED_UPHELD, S.DECIDED_PARTLY_UPHELD, S.NOTIFIED), lambda r: int(r["objection.push_correction_wd"]),
          "wd", "window"),
]

OBJECTION = register(CaseType(
    key="objection",
    version=1,
    label_zh="异议",
    label_en="Objection",
    states=State,
    initial=S.DRAFT,
    terminal=(S.NOT_ACCEPTED, S.CLOSED, S.WITHDRAWN),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="YY",
    on_open=open_application,
    open_schema=forms.OpenObjectionSchema,
    describe=describe,
    uploads=lambda case: list(MATERIALS.values()),
    upload_states=(S.DRAFT, S.RETURNED_FOR_SUPPLEMENT),
))


# --- 文登 residents deleting their own positive items (DOMAIN.md §2.6) ---------------------------
# A resident asks for one of its own positive items (表彰, 志愿, 捐赠) to be deleted; the credit
# center (on behalf of the village or 镇街) deletes it within 3 WD and archives it: the row stays,
# status revoked, so it leaves display and score.


class DeletionState(StateEnum):
    DRAFT = "draft", "草稿", "Draft"
    SUBMITTED = "submitted", "已申请删除", "Deletion requested"  #: deleted within 3 WD
    DELETED = "deleted", "已删除并归档", "Deleted and archived"  #: terminal
    REFUSED = "refused", "不予删除", "Refused"  #: terminal
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"  #: terminal


def open_positive_deletion(ctx, data) -> None:
    from .errors import InvalidInput

    record = ctx.session.get(CreditRecord, data["record_id"])
    if record is None or record.subject_id != ctx.case.subject_id:
        raise NotFound("该主体没有这条记录 / No such record for this subject", details={"record_id": data["record_id"]})
    if record.kind != "positive" or not ctx.case.subject.is_natural_person:
        raise InvalidInput("只有个人的表彰、志愿、捐赠等正面信息可申请删除 / Only a resident's own positive items",
                           details={"fields": {"record_id": ["not a resident's positive item"]}})
    if record.status == RecordStatus.REVOKED:
        raise TransitionNotAllowed("该记录已删除 / This record has been deleted",
                                   details={"reasons": ["record is " + record.status]})
    ctx.case.department_id = record.department_id
    ctx.session.add(ObjectionApplication(case_id=ctx.case.id, record_id=record.id, grounds="delete_own_positive",
                                         statement=data.get("statement") or ""))


def delete_positive(ctx) -> None:
    take_reason(ctx)
    app = application(ctx.case)
    record = app.record
    app.correction = "delete"
    app.correction_details = json.dumps({"before": {"status": record.status}, "after": {"status": "revoked"}})
    revoke_record(ctx, record, f"本人申请删除正面信息（{ctx.case.reference}） / deleted at the resident's request")


def describe_deletion(case: Case, runtime) -> dict:
    app = application(case)
    return {"record_id": app.record_id, "record_title": app.record.title, "record_status": app.record.status,
            "statement": app.statement}


D = DeletionState
DELETION_STEPS = [
    Step("submit", (D.DRAFT,), D.SUBMITTED, P.APPLICANT_ACT, "申请删除", "Request deletion", forms.NoteSchema,
         guards=(record_in_force,), effect=take_reason, style="primary",
         notify=(Notice("positive-deletion-submitted", ("applicant", "window"), "正面信息删除申请已提交",
                        "Deletion of a positive item requested"),)),
    Step("delete", (D.SUBMITTED,), D.DELETED, P.WINDOW_ACT, "删除并归档", "Delete and archive", forms.NoteSchema,
         effect=delete_positive, style="primary",
         notify=(Notice("positive-deleted", TO_APPLICANT, "正面信息已删除", "Positive item deleted"),)),
    Step("refuse", (D.SUBMITTED,), D.REFUSED, P.WINDOW_ACT, "不予删除", "Refuse", forms.NotAcceptSchema,
         effect=take_reason, style="danger",
         notify=(Notice("positive-deletion-refused", TO_APPLICANT, "正面信息删除申请不予办理",
                        "Deletion refused"),)),
    Step("withdraw", (D.DRAFT, D.SUBMITTED), D.WITHDRAWN, P.APPLICANT_ACT, "撤回申请", "Withdraw",
         forms.WithdrawSchema, effect=take_reason, style="danger"),
]

DELETION_TIMERS = [
    Timer("deletion", "删除并归档（3个工作日）", "Delete and archive (3 working days)", D.SUBMITTED, (D.SUBMITTED,),
          lambda r: int(r["objection.positive_deletion_wd"]), "wd", "window"),
]

POSITIVE_DELETION = register(CaseType(
    key="positive_deletion",
    version=1,
    label_zh="正面信息删除",
    label_en="Deletion of own positive item",
    states=DeletionState,
    initial=D.DRAFT,
    terminal=(D.DELETED, D.REFUSED, D.WITHDRAWN),
    steps=DELETION_STEPS,
    timers=DELETION_TIMERS,
    reference_prefix="SC",
    on_open=open_positive_deletion,
    open_schema=forms.OpenPositiveDeletionSchema,
    describe=describe_deletion,
))
