"""Credit repair with commitment (信用修复).

Lifecycle. An enterprise or person drafts an application against one of its dishonesty records
(draft) and submits it with a signed credit commitment once the minimum publicity period has run
(submitted). The credit center's window prechecks eligibility and materials: it returns the
application for supplement listing everything missing at once (returned_for_supplement, the
overall clock stops until resubmission), refuses it (not_accepted), or pushes it to the deciding
department (pushed). The department accepts within 3 WD (under_review) or refuses; it decides
within 10 WD of receipt, extendable once with a reason. Approval repairs the record at once
(publicity ends, the record leaves the score) and local platforms sync within 3 WD (syncing).
Then the commitment is monitored (monitoring): a broken commitment or forged material revokes the
repair (revoked: publicity restored, the minimum period restarts, re-application is barred and the
breach is recorded); otherwise the case closes as repaired when the monitoring period ends.

Legal basis: DOMAIN.md §3 — NDRC 令第36号 (from 2026-04-01) and 令第58号 (before), 国办发〔2025〕22号
(3 WD acceptance, 10 WD result), 信用中国 practice (3 WD sync), 山东省社会信用条例 §38.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from forms import credit_repair as forms
from models import Case, CreditRecord, RecordKind, RecordStatus, RepairApplication, Severity
from models.permissions import Permission

from . import blacklist, deadlines
from .base import CaseType, Material, Notice, StateEnum, Step, Timer, register
from .credit_commitment import commitment_of, open_linked_commitment, record_breach
from .errors import InvalidInput, NotFound, TransitionNotAllowed
from .records import REGIME_LABELS, publicity_periods, regime_for
from .training import certificate_payload, link_certificate, linked_certificate


class State(StateEnum):
    DRAFT = "draft", "草稿", "Draft"  #: being prepared by the applicant
    SUBMITTED = "submitted", "已提交待预审", "Submitted, awaiting precheck"  #: at the window
    RETURNED_FOR_SUPPLEMENT = "returned_for_supplement", "补正中", "Returned for supplement"  #: clock stopped
    PUSHED = "pushed", "已推送待受理", "Pushed to the department"  #: department accepts within 3 WD
    NOT_ACCEPTED = "not_accepted", "不予受理", "Not accepted"  #: terminal
    UNDER_REVIEW = "under_review", "已受理审查中", "Accepted, under review"  #: result within 10 WD
    REJECTED = "rejected", "不予修复", "Repair refused"  #: terminal
    SYNCING = "syncing", "准予修复·同步中", "Approved, synchronising"  #: record repaired; platforms sync in 3 WD
    MONITORING = "monitoring", "已修复·承诺监督期", "Repaired, commitment monitored"  #: revocable
    REPAIRED = "repaired", "已修复·结案", "Repaired, closed"  #: terminal: monitoring ended without breach
    REVOKED = "revoked", "修复已撤销", "Repair revoked"  #: terminal: publicity restored, breach recorded
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"  #: terminal: by the applicant, or supplement not supplied


MATERIALS = {
    "application": Material("application", "修复申请书", "Repair application", "form"),
    "commitment": Material("commitment", "信用承诺书", "Signed credit commitment", "signature"),
    "fulfilment_proof": Material("fulfilment_proof", "履行法定义务证明（如罚款缴纳凭证）",
                                 "Proof the legal obligations are fulfilled (e.g. fine receipt)"),
    "credit_report": Material("credit_report", "信用报告", "Credit report"),
    # Linked by its serial number on the submission form (workflows.training), never uploaded.
    "training_certificate": Material("training_certificate", "信用修复培训证明", "Repair training certificate", "form"),
}

COMMITMENT_TEXT = (
    "信用承诺书\n"
    "本主体（{subject}，{identifier}）就“{record}”申请信用修复，郑重承诺：\n"
    "一、已纠正失信行为，履行完毕相关法定责任和义务；\n"
    "二、所提交的全部材料真实、准确、完整，不存在虚假记载；\n"
    "三、自觉接受社会监督，今后依法诚信经营，不再发生同类失信行为；\n"
    "四、如违反承诺或提供虚假材料，自愿接受撤销修复决定、恢复公示、重新计算最短公示期、"
    "一定期限内不得再次申请修复，并承担相应法律责任，违诺情况记入信用记录。\n"
    "Credit commitment: the subject above applies for repair of this record and undertakes that the act is "
    "corrected and the obligations fulfilled, that all materials are true, and that it accepts revocation of "
    "the repair, restored publicity, a restarted minimum period, a bar on re-application and a recorded breach "
    "if it breaks this commitment or supplied false material."
)


def application(case: Case) -> RepairApplication:
    from models import db

    row = db.session.get(RepairApplication, case.id)
    assert row is not None, f"case {case.id} has no repair application row"
    return row


def required_materials(severity: str, rules) -> list[Material]:
    keys = ["application", "commitment", "fulfilment_proof"]
    if severity == Severity.SERIOUS:
        keys.append("credit_report")
        if rules["repair.require_training_certificate_for_serious"]:
            keys.append("training_certificate")
    return [MATERIALS[k] for k in keys]


def materials_status(case: Case, app: RepairApplication, rules) -> list[dict]:
    uploaded = {a.material_key for a in case.attachments}
    status = []
    for material in required_materials(app.severity, rules):
        if material.key == "training_certificate":
            present = linked_certificate(case) is not None
        elif material.kind == "form":
            present = bool(app.statement)
        elif material.kind == "signature":
            present = app.commitment_signed_at is not None
        else:
            present = material.key in uploaded
        status.append({"key": material.key, "label_zh": material.label_zh, "label_en": material.label_en,
                       "kind": material.kind, "present": present})
    return status


def missing_materials(case: Case, app: RepairApplication, rules) -> list[dict]:
    return [m for m in materials_status(case, app, rules) if not m["present"]]


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

def eligible_now(ctx) -> str | None:
    app = application(ctx.case)
    record = app.record
    if record.status != RecordStatus.ACTIVE:
        return "该记录当前无需修复 / this record is not active (already repaired or revoked)"
    receipt = ctx.calendar.deemed_receipt(ctx.today)
    periods = publicity_periods(record, regime_for(receipt, ctx.rules), ctx.rules, ctx.calendar)
    if receipt < periods.eligible_from:
        return (f"最短公示期未满，最早可于 {periods.eligible_from.isoformat()} 申请修复 / "
                f"the minimum publicity period has not run; you may apply from {periods.eligible_from.isoformat()}")
    return None


def no_other_open_repair(ctx) -> str | None:
    app = application(ctx.case)
    other = ctx.session.execute(
        select(Case.reference)
        .join(RepairApplication, RepairApplication.case_id == Case.id)
        .where(RepairApplication.record_id == app.record_id, Case.id != ctx.case.id, Case.closed_at.is_(None),
               Case.state != State.DRAFT)
    ).scalar()
    if other:
        return f"该记录已有办理中的修复申请 {other} / repair case {other} for this record is still open"
    return None


def materials_complete(ctx) -> str | None:
    missing = missing_materials(ctx.case, application(ctx.case), ctx.rules)
    if missing:
        names_zh = "、".join(m["label_zh"] for m in missing)
        names_en = ", ".join(m["label_en"] for m in missing)
        return f"材料不齐：{names_zh} / materials missing: {names_en}"
    return None


def uploads_complete(ctx) -> str | None:
    """Before resubmission every uploaded material must be present (the form parts come with it)."""
    missing = [m for m in missing_materials(ctx.case, application(ctx.case), ctx.rules) if m["kind"] == "upload"]
    if missing:
        names_zh = "、".join(m["label_zh"] for m in missing)
        names_en = ", ".join(m["label_en"] for m in missing)
        return f"仍缺少材料：{names_zh} / still missing: {names_en}"
    return None


def not_extended_before(ctx) -> str | None:
    live = deadlines.current(ctx.case, "result")
    if live is not None and live.extensions:
        return "办理期限已延长过一次 / the time limit has already been extended once"
    return None


# --- effects ----------------------------------------------------------------------------------

def record_submission(ctx) -> None:
    app = application(ctx.case)
    link_training_certificate(ctx, app)
    app.statement = ctx.data["statement"]
    if ctx.data.get("contact_phone"):
        app.contact_phone = ctx.data["contact_phone"]
    receipt = ctx.calendar.deemed_receipt(ctx.today)
    app.submitted_on = receipt
    app.regime = regime_for(receipt, ctx.rules)
    app.commitment_text = commitment_text(ctx.case, app)
    app.commitment_signed_by = ctx.data["signer_name"]
    app.commitment_signed_at = ctx.now
    ctx.ledger_extra["commitment_sha256"] = hashlib.sha256(app.commitment_text.encode("utf-8")).hexdigest()
    # The commitment is also its own case (信用修复型): published, tracked, and where a breach is recorded.
    open_linked_commitment(ctx, commitment_type="repair", matter=app.record.title,
                           signer_name=ctx.data["signer_name"])
    # A serious-dishonesty listing record: this repair is the listing's early-removal application.
    blacklist.repair_started(ctx, app.record)
    record_materials(ctx)
    regime_zh, regime_en = REGIME_LABELS[app.regime]
    ctx.reason = ctx.reason or f"适用{regime_zh} / regime: {regime_en}"


def record_materials(ctx) -> None:
    """Put the uploaded files' fingerprints in the ledger: what was submitted can never be swapped."""
    ctx.ledger_extra["materials"] = [
        {"key": a.material_key, "filename": a.filename, "sha256": a.sha256} for a in ctx.case.attachments
    ]


def resubmit_effect(ctx) -> None:
    take_reason(ctx)
    link_training_certificate(ctx, application(ctx.case))
    record_materials(ctx)


def link_training_certificate(ctx, app: RepairApplication) -> None:
    """A certificate number given is checked (exists, this subject's, still valid: else 422) and
    linked; where the checklist needs a certificate (§3.4, §4.1), none linked blocks the step."""
    number = ctx.data.get("training_certificate_no")
    if number:
        link_certificate(ctx, number, field="training_certificate_no")
    elif (any(m.key == "training_certificate" for m in required_materials(app.severity, ctx.rules))
          and linked_certificate(ctx.case) is None):
        why = ("严重失信信息修复须关联有效的信用修复培训证明，请填写证明编号 / a serious record's repair needs a "
               "valid repair training certificate: enter its number")
        raise TransitionNotAllowed("不满足办理条件 / The conditions for this action are not met",
                                   details={"state": ctx.from_state, "reasons": [why],
                                            "fields": {"training_certificate_no": [why]}})


def commitment_text(case: Case, app: RepairApplication) -> str:
    return COMMITMENT_TEXT.format(subject=case.subject.name, identifier=case.subject.masked_identifier,
                                  record=app.record.title)


def list_missing(ctx) -> None:
    labels = {k: (zh, en) for k, zh, en in forms.MATERIAL_CHOICES}
    zh = "、".join(labels[k][0] for k in ctx.data["missing"])
    en = ", ".join(labels[k][1] for k in ctx.data["missing"])
    ctx.reason = f"请补正以下全部材料：{zh}。{ctx.data['reason']} / Please supply all of: {en}. "


def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def decide(decision: str):
    def effect(ctx) -> None:
        take_reason(ctx)
        app = application(ctx.case)
        app.decision = decision
        app.decided_by_id = ctx.actor.id
        app.decided_on = ctx.today
        app.decision_reason = ctx.reason or None
        if decision != "approved":
            lapse_commitment(ctx)
        if decision == "approved":
            record = app.record
            record.status = RecordStatus.REPAIRED
            record.repaired_on = ctx.today
            record.repair_case_id = ctx.case.id
            from .scoring import apply_repair  # §3.8: what stays in the score (e.g. 失信被执行人 D → −50 for 2 Y)

            apply_repair(ctx.session, record, ctx.today, calendar=ctx.calendar, repair_case_id=ctx.case.id,
                         remove_deduction=bool(ctx.rules["repair.remove_district_deduction_on_national_repair"]))
            blacklist.repair_approved(ctx, record)

    return effect


def lapse_commitment(ctx) -> None:
    """The application ended without a repair: its commitment lapses, a listing stays listed."""
    from .credit_commitment import close_commitment

    close_commitment(ctx, fulfilled=False, reason=f"信用修复申请{ctx.case.reference}已终结 / repair case ended")
    blacklist.repair_ended(ctx, application(ctx.case).record)


def withdraw_effect(ctx) -> None:
    take_reason(ctx)
    lapse_commitment(ctx)


def monitoring_ended(ctx) -> None:
    from .credit_commitment import close_commitment

    close_commitment(ctx, fulfilled=True, reason=f"信用修复{ctx.case.reference}承诺监督期届满 / monitoring ended")


def extend_result(ctx) -> None:
    take_reason(ctx)
    deadlines.extend(ctx, "result", int(ctx.rules["repair.extension_wd"]), ctx.reason)


def revoke_repair(ctx) -> None:
    take_reason(ctx)
    app = application(ctx.case)
    record = app.record
    app.revoked_on = ctx.today
    app.revocation_grounds = ctx.data["grounds"]
    record.status = RecordStatus.ACTIVE
    record.repaired_on = None
    record.repair_case_id = None
    from .scoring import revoke_repair_replacement  # the repair's replacement item leaves the score again

    revoke_repair_replacement(ctx.session, record)
    if ctx.rules["repair.restart_min_period_on_revocation"]:
        record.publicity_restarted_on = ctx.today
    bar_last_day, _ = ctx.calendar.expiry(ctx.today, int(ctx.rules["repair.reapply_bar_years"]), "year")
    record.repair_barred_until = bar_last_day
    # The breach is recorded once, against the repair's commitment (one dishonesty record there).
    grounds = ctx.data["grounds"]
    grounds_zh = {"broken_commitment": "违反信用修复承诺", "forged_material": "信用修复中提供虚假材料"}[grounds]
    record_breach(ctx, commitment_of(ctx.case), kind="false_commitment" if grounds == "forged_material" else "breach",
                  reason=f"{grounds_zh}（{ctx.case.reference}）：{ctx.reason}")


def open_application(ctx, data) -> None:
    record = ctx.session.get(CreditRecord, data["record_id"])
    if record is None or record.subject_id != ctx.case.subject_id:
        raise NotFound("该主体没有这条记录 / No such record for this subject", details={"record_id": data["record_id"]})
    if record.kind != RecordKind.DISHONESTY:
        raise InvalidInput("只有失信记录可以申请修复 / Only dishonesty records can be repaired",
                           details={"fields": {"record_id": ["not a dishonesty record"]}})
    if record.status != RecordStatus.ACTIVE:
        raise TransitionNotAllowed("该记录当前无需修复 / This record is not active",
                                   details={"reasons": ["record is " + record.status]})
    ctx.case.department_id = record.department_id
    ctx.session.add(RepairApplication(
        case_id=ctx.case.id, record_id=record.id, severity=record.severity or Severity.GENERAL,
        statement=data.get("statement") or "", contact_phone=data.get("contact_phone") or None,
    ))


def describe(case: Case, runtime) -> dict:
    """Facts a case page and the API show beside the state."""
    app = application(case)
    calendar = runtime.calendar()
    on = app.submitted_on or calendar.deemed_receipt(runtime.today())
    regime = app.regime or regime_for(on, runtime.rules)
    periods = publicity_periods(app.record, regime, runtime.rules, calendar)
    return {
        "record_id": app.record_id,
        "record_title": app.record.title,
        "severity": app.severity,
        "regime": regime,
        "regime_label_zh": REGIME_LABELS[regime][0],
        "regime_label_en": REGIME_LABELS[regime][1],
        "eligible_from": periods.eligible_from.isoformat(),
        "publicity_max_last_day": periods.max_last_day.isoformat(),
        "submitted_on": app.submitted_on.isoformat() if app.submitted_on else None,
        "decision": app.decision,
        "decision_reason": app.decision_reason,
        "materials": materials_status(case, app, runtime.rules),
        "missing": [m["key"] for m in missing_materials(case, app, runtime.rules)],
        "commitment_text": app.commitment_text or commitment_text(case, app),
        "commitment_signed_by": app.commitment_signed_by,
        "training_certificate": (certificate_payload(cert) if (cert := linked_certificate(case)) else None),
    }


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
TO_APPLICANT = ("applicant",)
OPEN_BEFORE_DECISION = (S.DRAFT, S.SUBMITTED, S.RETURNED_FOR_SUPPLEMENT, S.PUSHED, S.UNDER_REVIEW)

STEPS = [
    Step("submit", (S.DRAFT,), S.SUBMITTED, P.APPLICANT_ACT, "提交申请", "Submit", forms.SubmitSchema,
         guards=(eligible_now, no_other_open_repair), effect=record_submission, style="primary",
         notify=(Notice("repair-submitted", ("applicant", "window"), "信用修复申请已提交", "Repair application submitted"),)),
    Step("return_for_supplement", (S.SUBMITTED,), S.RETURNED_FOR_SUPPLEMENT, P.WINDOW_ACT, "退回补正",
         "Return for supplement", forms.ReturnForSupplementSchema, effect=list_missing,
         notify=(Notice("repair-returned", TO_APPLICANT, "信用修复申请需补正材料", "Repair application: materials needed"),)),
    Step("resubmit", (S.RETURNED_FOR_SUPPLEMENT,), S.SUBMITTED, P.APPLICANT_ACT, "补正后重新提交", "Resubmit",
         forms.ResubmitSchema, guards=(uploads_complete,), effect=resubmit_effect, style="primary",
         notify=(Notice("repair-resubmitted", ("window",), "信用修复申请已补正", "Repair application supplemented"),)),
    Step("push", (S.SUBMITTED,), S.PUSHED, P.WINDOW_ACT, "预审通过，推送认定单位", "Precheck passed: push to department",
         forms.PushSchema, guards=(eligible_now, materials_complete), effect=take_reason, style="primary",
         notify=(Notice("repair-pushed", ("department", "applicant"), "信用修复申请已推送认定单位",
                        "Repair application pushed to the department"),)),
    Step("not_accept", (S.SUBMITTED,), S.NOT_ACCEPTED, P.WINDOW_ACT, "不予受理", "Do not accept",
         forms.NotAcceptSchema, effect=decide("not_accepted"), style="danger",
         notify=(Notice("repair-not-accepted", TO_APPLICANT, "信用修复申请不予受理", "Repair application not accepted"),)),
    Step("not_accept", (S.PUSHED,), S.NOT_ACCEPTED, P.DEPARTMENT_DECIDE, "不予受理", "Do not accept",
         forms.NotAcceptSchema, effect=decide("not_accepted"), style="danger",
         notify=(Notice("repair-not-accepted", TO_APPLICANT, "信用修复申请不予受理", "Repair application not accepted"),)),
    Step("accept", (S.PUSHED,), S.UNDER_REVIEW, P.DEPARTMENT_DECIDE, "受理", "Accept", forms.AcceptSchema,
         effect=take_reason, style="primary",
         notify=(Notice("repair-accepted", TO_APPLICANT, "信用修复申请已受理", "Repair application accepted"),)),
    Step("extend", (S.UNDER_REVIEW,), S.UNDER_REVIEW, P.DEPARTMENT_DECIDE, "延长办理期限", "Extend the time limit",
         forms.ExtendSchema, guards=(not_extended_before,), effect=extend_result,
         notify=(Notice("repair-extended", TO_APPLICANT, "信用修复办理期限已延长", "Repair time limit extended"),)),
    Step("approve", (S.UNDER_REVIEW,), S.SYNCING, P.DEPARTMENT_DECIDE, "准予修复", "Approve the repair",
         forms.ApproveSchema, guards=(materials_complete,), effect=decide("approved"), style="primary",
         notify=(Notice("repair-approved", ("applicant", "window"), "准予信用修复", "Credit repair approved"),)),
    Step("reject", (S.UNDER_REVIEW,), S.REJECTED, P.DEPARTMENT_DECIDE, "不予修复", "Refuse the repair",
         forms.RejectSchema, effect=decide("rejected"), style="danger",
         notify=(Notice("repair-rejected", TO_APPLICANT, "不予信用修复", "Credit repair refused"),)),
    Step("confirm_sync", (S.SYNCING,), S.MONITORING, P.WINDOW_ACT, "确认已同步各平台", "Confirm platforms synchronised",
         forms.ConfirmSyncSchema, effect=take_reason, style="primary"),
    Step("revoke", (S.SYNCING, S.MONITORING), S.REVOKED, P.DEPARTMENT_DECIDE, "撤销修复", "Revoke the repair",
         forms.RevokeSchema, effect=revoke_repair, style="danger",
         notify=(Notice("repair-revoked", ("applicant", "window"), "信用修复已撤销", "Credit repair revoked"),)),
    Step("withdraw", OPEN_BEFORE_DECISION, S.WITHDRAWN, P.APPLICANT_ACT, "撤回申请", "Withdraw",
         forms.WithdrawSchema, effect=withdraw_effect, style="danger",
         notify=(Notice("repair-withdrawn", ("applicant",), "信用修复申请已撤回", "Repair application withdrawn"),)),
    Step("close_unsupplied", (S.RETURNED_FOR_SUPPLEMENT,), S.WITHDRAWN, P.SYSTEM, "补正期满未补正",
         "Supplement period ran out", effect=lapse_commitment,
         notify=(Notice("repair-lapsed", TO_APPLICANT, "补正期满，申请视为撤回", "Supplement period over: application lapsed"),)),
    Step("close_monitoring", (S.MONITORING,), S.REPAIRED, P.SYSTEM, "承诺监督期届满", "Monitoring period ended",
         effect=monitoring_ended,
         notify=(Notice("repair-closed", TO_APPLICANT, "信用修复承诺监督期届满", "Repair monitoring period ended"),)),
]

# --- timers -----------------------------------------------------------------------------------

TIMERS = [
    Timer("result", "办理结果（10个工作日）", "Result (10 working days)", S.SUBMITTED,
          (S.SUBMITTED, S.PUSHED, S.UNDER_REVIEW), lambda r: int(r["repair.result_wd"]), "wd", "department",
          suspended_in=(S.RETURNED_FOR_SUPPLEMENT,)),
    Timer("acceptance", "认定单位受理（3个工作日）", "Department acceptance (3 working days)", S.PUSHED,
          (S.PUSHED,), lambda r: int(r["repair.acceptance_wd"]), "wd", "department"),
    Timer("supplement", "申请人补正期限", "Applicant's supplement period", S.RETURNED_FOR_SUPPLEMENT,
          (S.RETURNED_FOR_SUPPLEMENT,), lambda r: int(r["repair.supplement_cd"]), "cd", "applicant",
          party_deadline=True, expiry_trigger="close_unsupplied"),
    Timer("sync", "平台同步（3个工作日）", "Platform sync (3 working days)", S.SYNCING, (S.SYNCING,),
          lambda r: int(r["repair.sync_wd"]), "wd", "window"),
    Timer("monitoring", "承诺监督期", "Commitment monitoring period", S.MONITORING, (S.MONITORING,),
          lambda r: int(r["repair.monitoring_months"]), "month", "system", expiry_trigger="close_monitoring",
          reminders=False),
]

CREDIT_REPAIR = register(CaseType(
    key="credit_repair",
    version=1,
    label_zh="信用修复",
    label_en="Credit repair",
    states=State,
    initial=S.DRAFT,
    terminal=(S.NOT_ACCEPTED, S.REJECTED, S.REPAIRED, S.REVOKED, S.WITHDRAWN),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="XF",
    on_open=open_application,
    open_schema=forms.OpenRepairSchema,
    describe=describe,
    uploads=lambda case: [m for m in MATERIALS.values() if m.kind == "upload"],
    upload_states=(S.DRAFT, S.RETURNED_FOR_SUPPLEMENT),
))

