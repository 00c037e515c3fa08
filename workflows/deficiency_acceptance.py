"""容缺受理 — acceptance of a licence application with non-core materials missing.

Lifecycle. An applicant applies for a matter on the configured 容缺受理清单 (`rongque.matters`),
declaring its core materials complete and naming the non-core items it still lacks (applied). A
core item declared missing, or a matter not on the list, is refused at once with the reason: no
case is opened and the normal route applies. The credit center's window runs the credit check
(逢办必查) as a linked verification case (credit_checked). A check that does not pass blocks the
commitment and the window refuses the 容缺 route with the check's reason (refused_route); the
applicant may also decline to commit and take the normal route itself (P4). With a clean check the
applicant signs the 容缺 commitment, opened as a linked credit commitment case (commitment_signed).
The department handling the matter accepts with gaps (accepted_with_gaps) and tells the applicant
in one notice (一次性告知) every missing item, the form, the deadline (`rongque.supply_wd` WD) and
what happens if it is late; its licensing decision clock (`licensing.decision_wd` WD, extendable
once by `licensing.extension_wd`) starts at the same time. Review goes on normally (under_review →
decided_pending_supply); the applicant uploads and supplies items one by one, the department checks
each, and issues the certificate only when every item has arrived and conforms (certificate_issued).
A post-issuance check period follows (`commitment.first_check_cd`, the first verification of an
approval-type commitment, §1.5); when it ends without a finding the case is completed. When the
supply deadline passes with items outstanding the system marks the case overdue; the department
does the same when supplied items do not conform, or, within the post-issuance period, when the
conditions turn out not to have been met. Then the department terminates (nothing issued) or
revokes (certificate issued, Licensing §69), and the breach of the 容缺 commitment is recorded at
once through the commitment case (dishonesty_recorded): the subject's next credit check is no
longer clean, so it gets no 容缺 until it has repaired its credit.

Design notes. The engine gives each step one target, so the credit check is a step of its own
(`check_credit`: the check runs in its effect and its finding is kept) and the two outcomes are
two guarded steps out of credit_checked: `sign` (applicant, only when the check passes) and
`refuse_route` (window, only when it does not) — DOMAIN §6.4 T2/T3. The supply clock's end is an
item-level fact, not a state: when the last missing item arrives the supply step closes the clock
as met (as `deadlines.replan` closes a clock whose case left its states), so the sweep never marks
a complete supply overdue. Revocation needs an issued certificate as its source, so
certificate_issued is not terminal; the post-issuance period bounds it, so that an issued case
does not stay open (and its commitment bound to it) for ever. Recording the breach is automatic on
termination or revocation: nothing is left to decide, and a forgotten step would let the subject
keep its 容缺 privilege.

Legal basis: DOMAIN.md §6 — 济南市行政审批容缺受理制度 (list, core/non-core, one-time notice,
certificate after supply), 西安/阜新 (credit precondition, overdue handling, no 容缺 before
repair), 行政许可法 §42 (20 WD + 10 WD), §69 (revocation), §82 (working days).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from forms import deficiency_acceptance as forms
from models import Attachment, Case, Commitment, Department, DeficiencyApplication, DeficiencyItem, db
from models.permissions import Permission

from . import deadlines
from .base import CaseType, Material, Notice, StateEnum, Step, Timer, register
from .clock import BEIJING
from .errors import Conflict, InvalidInput


class State(StateEnum):
    APPLIED = "applied", "已申请待信用核查", "Applied, awaiting the credit check"  #: core declared complete
    CREDIT_CHECKED = "credit_checked", "已信用核查", "Credit checked"  #: pass: may sign; fail: normal route
    REFUSED_ROUTE = "refused_route", "不适用容缺·转一般程序", "No 容缺: normal route"  #: terminal, with the reason
    COMMITMENT_SIGNED = "commitment_signed", "已签署容缺承诺书", "Commitment signed"  #: linked commitment case
    ACCEPTED_WITH_GAPS = "accepted_with_gaps", "容缺受理·待补齐", "Accepted with gaps"  #: notice served; clocks run
    UNDER_REVIEW = "under_review", "审查中·待补齐", "Under review, items pending"  #: review goes on normally
    DECIDED_PENDING_SUPPLY = "decided_pending_supply", "审批通过·待补齐发证", "Approved, certificate after supply"
    REJECTED = "rejected", "不予许可", "Licence refused"  #: terminal: refused on the merits
    #: revocable (Licensing §69) during the post-issuance check period
    CERTIFICATE_ISSUED = "certificate_issued", "已颁发证照·发证后核查", "Certificate issued, post-issuance check"
    COMPLETED = "completed", "已办结", "Completed"  #: terminal: the post-issuance check period ended
    OVERDUE = "overdue", "逾期或补齐不符", "Overdue or nonconforming"  #: supply failed
    TERMINATED = "terminated", "终止办理", "Processing terminated"  #: nothing issued; breach recorded next
    REVOKED = "revoked", "已撤销许可", "Licence revoked"  #: issued, then revoked; breach recorded next
    DISHONESTY_RECORDED = "dishonesty_recorded", "违诺已记入信用记录", "Breach recorded"  #: terminal
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"  #: terminal: by the applicant before committing


NOT_ON_LIST = "该事项不在容缺受理清单内，请按一般程序申请 / This matter is not on the 容缺 list: use the normal route"
CORE_MISSING = "核心材料不全，不适用容缺受理 / core material missing"
NO_DEPARTMENT = "该事项的办理部门尚未登记 / The department handling this matter is not registered"

# --- helpers the guards, effects and pages share ---------------------------------------------------

def application(case: Case) -> DeficiencyApplication:
    row = db.session.get(DeficiencyApplication, case.id)
    assert row is not None, f"case {case.id} has no 容缺 application row"
    return row


def split_label(label: str) -> tuple[str, str]:
    zh, _, en = label.partition(" / ")
    return zh, en or zh


def latest_uploads(case: Case) -> dict[str, Attachment]:
    """The newest uploaded file per item key."""
    latest: dict[str, Attachment] = {}
    for attachment in case.attachments:
        latest[attachment.material_key] = attachment
    return latest


def outstanding(app: DeficiencyApplication) -> list[tuple[DeficiencyItem, str, str]]:
    """Items that stop the certificate: (item, 中文 status, English status)."""
    rows = []
    for item in app.items:
        if item.supplied_at is None:
            rows.append((item, "未补交", "not supplied"))
        elif item.conforms is None:
            rows.append((item, "待查验", "not checked yet"))
        elif not item.conforms:
            rows.append((item, "不符合要求", "does not conform"))
    return rows


def items_phrase(items, *, status: bool = False) -> tuple[str, str]:
    """'营业执照复印件、…' and 'Copy of the business licence, …' for a list of items."""
    zh, en = [], []
    for entry in items:
        item, st_zh, st_en = entry if status else (entry, "", "")
        label_zh, label_en = split_label(item.label)
        zh.append(f"{label_zh}（{st_zh}）" if status else label_zh)
        en.append(f"{label_en} ({st_en})" if status else label_en)
    return "、".join(zh), ", ".join(en)


def matter_of(rules, code: str) -> dict | None:
    return rules["rongque.matters"].get(code)


def check_case(case: Case) -> Case | None:
    app = application(case)
    return db.session.get(Case, app.check_case_id) if app.check_case_id else None


def check_finding(case: Case) -> tuple[str | None, str | None]:
    """(result, reason the 容缺 route is refused or None) of the case's credit check."""
    checked = check_case(case)
    if checked is None:
        return None, None
    from .verification import check_of, passes_for_deficiency

    check = check_of(checked)
    return check.result, passes_for_deficiency(check)


def commitment_matter(app: DeficiencyApplication, rules) -> str:
    """The matter the 容缺 commitment names: the licence, every missing item and the deadline (§6.4 T3)."""
    items_zh, _ = items_phrase(app.items)
    days = int(rules["rongque.supply_wd"])
    return f"{split_label(app.matter_name)[0]}（容缺受理：{items_zh}；受理之日起{days}个工作日内补齐）"[:300]


def commitment_preview(case: Case, app: DeficiencyApplication, rules) -> str:
    """Before signing, the very text the commitment case will hold: what is read is what is signed."""
    from .credit_commitment import commitment_text

    return commitment_text(case, "deficiency", commitment_matter(app, rules), None,
                           not case.subject.is_natural_person)


def supply_due(ctx) -> date:
    """The supply deadline computed exactly as the `supply` timer's row will be (C5, C6)."""
    return ctx.calendar.deadline(ctx.today, int(ctx.rules["rongque.supply_wd"]), "wd",
                                 deemed_receipt=bool(ctx.rules["calendar.deem_nonworking_receipt_next_wd"]))


# --- guards: each returns why it blocks (bilingual), or None --------------------------------------

def check_passed(ctx) -> str | None:
    result, refusal = check_finding(ctx.case)
    if result is None:
        return "尚未进行信用核查 / the credit check has not been run"
    return refusal


def check_failed(ctx) -> str | None:
    result, refusal = check_finding(ctx.case)
    if result is None:
        return "尚未进行信用核查 / the credit check has not been run"
    if refusal is None:
        return "信用核查已通过，可适用容缺受理 / the credit check passed: the 容缺 route applies"
    return None


def not_extended_before(ctx) -> str | None:
    live = deadlines.current(ctx.case, "decision")
    if live is None:
        return "许可决定期限未在计时 / the decision clock is not running"
    if live.extensions:
        return "审批期限已延长过一次 / the time limit has already been extended once"
    return None


def supply_deadline_open(ctx) -> str | None:
    """Nothing counts as supplied after 24:00 of the last day (C10), even before the sweep runs."""
    app = application(ctx.case)
    live = deadlines.current(ctx.case, "supply")
    if live is not None and live.due_at is not None and ctx.now >= live.due_at:
        return (f"补齐期限已于 {live.due_on} 届满 / the supply deadline ended on {live.due_on}")
    if not any(item.supplied_at is None for item in app.items):
        return "材料已全部补齐 / every item has been supplied"
    return None


def something_uploaded(ctx) -> str | None:
    """Without a named item, the step supplies every uploaded missing item: there must be one."""
    if ctx.data.get("items"):
        return None
    app = application(ctx.case)
    uploaded = latest_uploads(ctx.case)
    if not any(item.supplied_at is None and item.item_key in uploaded for item in app.items):
        return "请先上传需补齐的材料 / upload the missing items first"
    return None


def something_to_check(ctx) -> str | None:
    app = application(ctx.case)
    if ctx.data.get("items"):
        return None
    if not any(item.supplied_at is not None and item.conforms is None for item in app.items):
        return "没有待查验的补交材料 / no supplied item awaits a check"
    return None


def all_items_conform(ctx) -> str | None:
    rows = outstanding(application(ctx.case))
    if rows:
        zh, en = items_phrase(rows, status=True)
        return (f"材料补齐并查验符合要求后方可发证，尚有：{zh} / the certificate needs every item supplied and "
                f"conforming; outstanding: {en}")
    return None


def grounds_for_overdue(ctx) -> str | None:
    """Before issuance only a nonconforming supplied item is a ground (lateness is the clock's)."""
    if ctx.case.state == State.CERTIFICATE_ISSUED:
        return None
    if not any(item.conforms is False for item in application(ctx.case).items):
        return ("没有被认定为不符合要求的补交材料 / no supplied item has been found nonconforming "
                "(a late supply is marked overdue by the clock)")
    return None


def nothing_issued(ctx) -> str | None:
    if application(ctx.case).certificate_no:
        return "已颁发证照，应依法撤销 / a certificate was issued: revoke it instead"
    return None


def certificate_was_issued(ctx) -> str | None:
    if not application(ctx.case).certificate_no:
        return "尚未颁发证照，应终止办理 / no certificate was issued: terminate instead"
    return None


# --- effects ---------------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def open_application(ctx, data) -> None:
    matter = matter_of(ctx.rules, data["matter"])
    if matter is None:
        raise InvalidInput(NOT_ON_LIST, details={"fields": {"matter": [NOT_ON_LIST]},
                                                 "reasons": [NOT_ON_LIST]})
    core = {k: (zh, en) for k, zh, en in matter["core"]}
    noncore = {k: (zh, en) for k, zh, en in matter["noncore"]}
    missing = list(dict.fromkeys(data["missing"]))
    core_missing = [k for k in missing if k in core]
    if core_missing:
        names_zh = "、".join(core[k][0] for k in core_missing)
        names_en = ", ".join(core[k][1] for k in core_missing)
        why = f"核心材料不全：{names_zh} / core material missing: {names_en}"
        raise InvalidInput(CORE_MISSING, details={"fields": {"missing": [CORE_MISSING]}, "reasons": [why]})
    unknown = [k for k in missing if k not in noncore]
    if unknown:
        message = (f"不是该事项的材料：{', '.join(unknown)} / not an item of this matter: {', '.join(unknown)}")
        raise InvalidInput(message, details={"fields": {"missing": [message]}, "reasons": [message]})
    department = ctx.session.execute(
        select(Department).where(Department.code == matter.get("department"))).scalar()
    if department is None:
        raise InvalidInput(NO_DEPARTMENT, details={"fields": {"matter": [NO_DEPARTMENT]},
                                                   "reasons": [NO_DEPARTMENT]})
    other = ctx.session.execute(
        select(Case.reference)
        .join(DeficiencyApplication, DeficiencyApplication.case_id == Case.id)
        .where(Case.subject_id == ctx.case.subject_id, Case.closed_at.is_(None), Case.id != ctx.case.id,
               DeficiencyApplication.matter_code == data["matter"])
    ).scalar()
    if other:
        raise Conflict(f"该主体已有办理中的同一事项容缺申请 {other} / application {other} for this matter is still open",
                       details={"reasons": [f"办理中的案件 {other} / open case {other}"]})
    ctx.case.department_id = department.id
    app = DeficiencyApplication(case_id=ctx.case.id, matter_code=data["matter"],
                                matter_name=f"{matter['name_zh']} / {matter['name_en']}")
    for key in missing:
        zh, en = noncore[key]
        app.items.append(DeficiencyItem(item_key=key, label=f"{zh} / {en}"))
    ctx.session.add(app)


def run_credit_check(ctx) -> None:
    """逢办必查: the check is its own case (verification), linked from this one, its snapshot frozen."""
    from .verification import check_of, passes_for_deficiency, run_check

    app = application(ctx.case)
    checked = run_check(
        subject=ctx.case.subject, matter_type="administrative_licensing",
        matter=split_label(app.matter_name)[0],
        purpose=f"容缺受理信用核查（{ctx.case.reference}） / credit check for 容缺 acceptance ({ctx.case.reference})",
        actor=ctx.actor, runtime=ctx.runtime, link_from=ctx.case,
    )
    app.check_case_id = checked.id
    check = check_of(checked)
    refusal = passes_for_deficiency(check)
    ctx.ledger_extra.update({"check_case": checked.reference, "check_result": check.result})
    verdict = ("信用核查通过，可签署容缺受理承诺书 / credit check passed: the applicant may sign the commitment"
               if refusal is None else f"信用核查未通过：{refusal}")
    ctx.reason = "；".join(x for x in (verdict, ctx.data.get("note")) if x)


def refuse(ctx) -> None:
    _, refusal = check_finding(ctx.case)
    why = ctx.data.get("reason") or refusal or ""
    app = application(ctx.case)
    app.refused_reason = why
    ctx.reason = why


def choose_normal_route(ctx) -> None:
    why = "申请人选择不作容缺承诺，按一般程序办理 / the applicant declined to commit: normal route"
    if ctx.data.get("reason"):
        why = f"{why}（{ctx.data['reason']}）"
    application(ctx.case).refused_reason = why
    ctx.reason = why


def sign_commitment(ctx) -> None:
    from .credit_commitment import open_linked_commitment

    app = application(ctx.case)
    commitment = open_linked_commitment(ctx, commitment_type="deficiency",
                                        matter=commitment_matter(app, ctx.rules),
                                        signer_name=ctx.data["signer_name"])
    app.commitment_case_id = commitment.id
    ctx.ledger_extra["commitment_case"] = commitment.reference
    ctx.reason = f"容缺受理承诺书已签署（{commitment.reference}） / commitment signed ({commitment.reference})"


def accept_with_gaps(ctx) -> None:
    """一次性告知: every missing item, the form, the deadline and the overdue handling, in one notice."""
    app = application(ctx.case)
    due = supply_due(ctx)
    app.supply_due_on = due
    for item in app.items:
        item.due_on = due
    items_zh, items_en = items_phrase(app.items)
    days = int(ctx.rules["rongque.supply_wd"])
    notice = (
        f"容缺受理一次性告知：一、尚缺材料：{items_zh}；二、补齐形式：在本系统逐项上传电子件（PDF、PNG、JPEG）并提交；"
        f"三、补齐期限：{due.isoformat()}（受理之日起{days}个工作日）24时前；"
        f"四、逾期未补齐或补齐材料不符合要求的，终止办理（已发证的依法撤销），违诺情况记入信用记录，"
        f"信用修复前不再适用容缺受理。"
    )
    if ctx.data.get("note"):
        notice += f"受理意见：{ctx.data['note']}。"
    notice += (f" / One-time notice: missing: {items_en}. Form: upload each item here (PDF, PNG or "
               f"JPEG) and submit it. Deadline: {due.isoformat()} 24:00 ({days} working days from "
               f"acceptance). If late or nonconforming: processing ends (a certificate issued is revoked), "
               f"the breach is recorded and no 容缺 until repaired.")
    ctx.reason = notice
    ctx.ledger_extra["supply_due_on"] = due.isoformat()


def extend_decision(ctx) -> None:
    take_reason(ctx)
    deadlines.extend(ctx, "decision", int(ctx.rules["licensing.extension_wd"]), ctx.reason)


def record_supply(ctx) -> None:
    app = application(ctx.case)
    missing = {item.item_key: item for item in app.items if item.supplied_at is None}
    uploaded = latest_uploads(ctx.case)
    keys = list(dict.fromkeys(ctx.data.get("items") or [k for k in missing if k in uploaded]))
    problems = []
    for key in keys:
        if key not in missing:
            problems.append(f"{key}：不是待补齐的材料 / {key} is not a missing item")
        elif key not in uploaded:
            problems.append(f"{key}：尚未上传文件 / {key}: no file uploaded")
    if problems:
        raise InvalidInput("补交的材料项有误 / The items supplied are not right",
                           details={"fields": {"items": problems}, "reasons": problems})
    supplied = []
    for key in keys:
        item, attachment = missing[key], uploaded[key]
        item.supplied_at = ctx.now
        item.attachment_id = attachment.id
        supplied.append(item)
    ctx.ledger_extra["supplied"] = [
        {"key": k, "attachment_id": uploaded[k].id, "filename": uploaded[k].filename,
         "sha256": uploaded[k].sha256}
        for k in keys
    ]
    zh, en = items_phrase(supplied)
    ctx.reason = f"已补交：{zh} / supplied: {en}"
    if ctx.data.get("note"):
        ctx.reason = f"{ctx.reason}（{ctx.data['note']}）"
    if all(item.supplied_at is not None for item in app.items):
        _close_supply_clock(ctx)
        ctx.reason = f"材料已全部补齐。{ctx.reason}"


def _close_supply_clock(ctx) -> None:
    """The applicant's part is done: the supply clock is met, so neither a reminder nor the overdue
    trigger follows."""
    deadlines.meet(ctx, "supply")


def check_items(ctx) -> None:
    app = application(ctx.case)
    by_key = {item.item_key: item for item in app.items}
    named = list(dict.fromkeys(ctx.data.get("items") or []))
    if named:
        problems = [f"{k}：不是已补交的材料 / {k} has not been supplied" for k in named
                    if k not in by_key or by_key[k].supplied_at is None]
        if problems:
            raise InvalidInput("查验的材料项有误 / The items checked are not right",
                               details={"fields": {"items": problems}, "reasons": problems})
        items = [by_key[k] for k in named]
    else:
        items = [item for item in app.items if item.supplied_at is not None and item.conforms is None]
    conforms = ctx.data["verdict"] == "conforms"
    for item in items:
        item.conforms = conforms
        item.note = ctx.data.get("note") or None
    ctx.ledger_extra["checked"] = [{"key": item.item_key, "conforms": conforms} for item in items]
    zh, en = items_phrase(items)
    if conforms:
        ctx.reason = f"查验符合要求：{zh} / conforming: {en}"
    else:
        ctx.reason = f"查验不符合要求：{zh}（{ctx.data['note']}） / not conforming: {en} ({ctx.data['note']})"


def issue_certificate(ctx) -> None:
    app = application(ctx.case)
    app.certificate_no = f"RQZ-{ctx.today.year}-{ctx.case.id:06d}"
    app.issued_on = ctx.today
    ctx.ledger_extra["certificate_no"] = app.certificate_no
    ctx.reason = f"颁发证照，证号 {app.certificate_no} / certificate issued: no. {app.certificate_no}"
    if ctx.data.get("note"):
        ctx.reason = f"{ctx.data['note']}；{ctx.reason}"


def mark_overdue(ctx) -> None:
    app = application(ctx.case)
    rows = [r for r in outstanding(app) if r[0].supplied_at is None or r[0].conforms is False]
    zh, en = items_phrase(rows, status=True)
    ctx.reason = (f"补齐期限（{app.supply_due_on}）届满，仍未补齐：{zh} / the supply deadline "
                  f"({app.supply_due_on}) has passed; outstanding: {en}")


def refuse_licence(ctx) -> None:
    from .credit_commitment import close_commitment

    take_reason(ctx)
    close_commitment(ctx, fulfilled=False, reason=f"{ctx.case.reference} 不予许可 / licence refused")


def complete_file(ctx) -> None:
    from .credit_commitment import close_commitment

    # Every item arrived and conformed and the post-issuance check ran out: the 容缺 commitment is kept.
    close_commitment(ctx, fulfilled=True, reason=f"{ctx.case.reference} 已办结 / completed")


def record_dishonesty(ctx) -> None:
    """The breach of the 容缺 commitment goes into the record through the commitment case, once."""
    from .credit_commitment import commitment_of, record_breach

    revoke = next((e for e in reversed(ctx.case.events) if e.trigger == "revoke"), None)
    deception = revoke is not None and revoke.payload.get("grounds") == "deception"
    kind = "false_commitment" if deception else "breach"
    last_reason = next((e.reason for e in reversed(ctx.case.events) if e.trigger in ("terminate", "revoke")),
                       "")
    outcome_zh, outcome_en = ("撤销许可", "licence revoked") if ctx.from_state == State.REVOKED else (
        "终止办理", "processing terminated")
    reason = (f"违反容缺受理承诺（{ctx.case.reference}，{outcome_zh}）：{split_label(last_reason)[0]} / "
              f"broken 容缺 commitment ({ctx.case.reference}, {outcome_en})")
    # record_breach leaves a commitment whose breach is already recorded as it is: one breach, one record.
    record_breach(ctx, commitment_of(ctx.case), kind=kind, reason=reason)
    ctx.reason = reason


# --- what pages and the API show beside the state ---------------------------------------------------

def item_payload(item: DeficiencyItem) -> dict:
    zh, en = split_label(item.label)
    return {"key": item.item_key, "label_zh": zh, "label_en": en,
            "due_on": item.due_on.isoformat() if item.due_on else None,
            "supplied_at": item.supplied_at.isoformat() if item.supplied_at else None,
            "supplied_on": (item.supplied_at.astimezone(BEIJING).date().isoformat()
                            if item.supplied_at else None),
            "attachment_id": item.attachment_id, "conforms": item.conforms, "note": item.note}


def materials_rows(app: DeficiencyApplication) -> list[dict]:
    """The items in the shape the generic case page's materials table draws (present = supplied); their
    deadlines and checks are in `items`, drawn by templates/deficiency/_details.html."""
    rows = []
    for item in app.items:
        zh, en = split_label(item.label)
        rows.append({"key": item.item_key, "kind": "upload", "present": item.supplied_at is not None,
                     "label_zh": zh, "label_en": en})
    return rows


def describe(case: Case, runtime) -> dict:
    app = application(case)
    matter_zh, matter_en = split_label(app.matter_name)
    checked = check_case(case)
    result, refusal = check_finding(case) if checked else (None, None)
    commitment_case = db.session.get(Case, app.commitment_case_id) if app.commitment_case_id else None
    signed = db.session.get(Commitment, app.commitment_case_id) if app.commitment_case_id else None
    outcome = None
    if case.state in (State.TERMINATED, State.REVOKED, State.DISHONESTY_RECORDED):
        outcome = "revoked" if any(e.trigger == "revoke" for e in case.events) else "terminated"
    return {
        "matter": app.matter_code,
        "matter_name_zh": matter_zh,
        "matter_name_en": matter_en,
        "check_case_id": app.check_case_id,
        "check_reference": checked.reference if checked else None,
        "check_result": result,
        "check_passes": (refusal is None) if checked else None,
        "check_refusal": refusal,
        "refused_reason": app.refused_reason,
        "commitment_case_id": app.commitment_case_id,
        "commitment_reference": commitment_case.reference if commitment_case else None,
        "commitment_text": signed.text if signed else commitment_preview(case, app, runtime.rules),
        "commitment_signed_by": signed.signed_by if signed else None,
        "supply_due_on": app.supply_due_on.isoformat() if app.supply_due_on else None,
        "items": [item_payload(item) for item in app.items],
        "materials": materials_rows(app),
        "missing": [item.item_key for item in app.items if item.supplied_at is None],
        "outstanding": [row[0].item_key for row in outstanding(app)],
        "certificate_no": app.certificate_no,
        "issued_on": app.issued_on.isoformat() if app.issued_on else None,
        "outcome": outcome,
    }


def missing_uploads(case: Case) -> list[Material]:
    """The generic upload form offers exactly the items still missing."""
    return [Material(item.item_key, *split_label(item.label)) for item in application(case).items
            if item.supplied_at is None]


# --- steps -----------------------------------------------------------------------------------------

S = State
P = Permission
TO_APPLICANT = ("applicant",)
SUPPLYING = (S.ACCEPTED_WITH_GAPS, S.UNDER_REVIEW, S.DECIDED_PENDING_SUPPLY)
DECIDING = (S.ACCEPTED_WITH_GAPS, S.UNDER_REVIEW)

def self_loop(trigger: str, sources: tuple[str, ...], permission: Permission, label_zh: str, label_en: str,
              schema, **kw) -> list[Step]:
    """A step that leaves the state as it is, from each of `sources` (the engine: one target per step)."""
    return [Step(trigger, (src,), src, permission, label_zh, label_en, schema, **kw) for src in sources]


STEPS = [
    Step("check_credit", (S.APPLIED,), S.CREDIT_CHECKED, P.WINDOW_ACT, "信用核查", "Run the credit check",
         forms.CheckCreditSchema, effect=run_credit_check, style="primary",
         notify=(Notice("rongque-checked", TO_APPLICANT, "容缺受理信用核查已完成", "容缺 credit check done"),)),
    Step("refuse_route", (S.CREDIT_CHECKED,), S.REFUSED_ROUTE, P.WINDOW_ACT, "不予容缺，告知按一般程序办理",
         "Refuse 容缺: normal route", forms.RefuseRouteSchema, guards=(check_failed,), effect=refuse,
         style="danger",
         notify=(Notice("rongque-refused", TO_APPLICANT, "不适用容缺受理，请按一般程序办理",
                        "No 容缺: please use the normal route"),)),
    Step("choose_normal_route", (S.CREDIT_CHECKED,), S.REFUSED_ROUTE, P.APPLICANT_ACT, "不作承诺，按一般程序办理",
         "Decline to commit: normal route", forms.ChooseNormalRouteSchema, effect=choose_normal_route),
    Step("sign", (S.CREDIT_CHECKED,), S.COMMITMENT_SIGNED, P.APPLICANT_ACT, "签署容缺受理承诺书",
         "Sign the 容缺 commitment", forms.SignSchema, guards=(check_passed,), effect=sign_commitment,
         style="primary",
         notify=(Notice("rongque-signed", ("department",), "容缺受理承诺书已签署", "容缺 commitment signed"),)),
    Step("accept", (S.COMMITMENT_SIGNED,), S.ACCEPTED_WITH_GAPS, P.DEPARTMENT_DECIDE, "容缺受理（一次性告知）",
         "Accept with gaps (one-time notice)", forms.AcceptSchema, effect=accept_with_gaps, style="primary",
         notify=(Notice("rongque-accepted", TO_APPLICANT, "容缺受理一次性告知书", "容缺 acceptance: one-time notice"),)),
    Step("start_review", (S.ACCEPTED_WITH_GAPS,), S.UNDER_REVIEW, P.DEPARTMENT_DECIDE, "开始审查",
         "Start the review", forms.StartReviewSchema, effect=take_reason, style="primary"),
    *self_loop("extend", DECIDING, P.DEPARTMENT_DECIDE, "延长审批期限", "Extend the time limit",
               forms.ExtendSchema, guards=(not_extended_before,), effect=extend_decision,
               notify=(Notice("rongque-extended", TO_APPLICANT, "审批期限已延长", "Time limit extended"),)),
    Step("decide_pending_supply", (S.UNDER_REVIEW,), S.DECIDED_PENDING_SUPPLY, P.DEPARTMENT_DECIDE,
         "审批通过，待补齐后发证", "Approve: certificate after supply", forms.DecideSchema, effect=take_reason,
         style="primary",
         notify=(Notice("rongque-approved", TO_APPLICANT, "审批通过，补齐材料后发证",
                        "Approved: the certificate follows the missing items"),)),
    Step("reject", (S.UNDER_REVIEW,), S.REJECTED, P.DEPARTMENT_DECIDE, "不予许可", "Refuse the licence",
         forms.RejectSchema, effect=refuse_licence, style="danger",
         notify=(Notice("rongque-rejected", TO_APPLICANT, "不予行政许可", "Licence refused"),)),
    *self_loop("supply", SUPPLYING, P.APPLICANT_ACT, "提交补齐材料", "Submit the supplied items",
               forms.SupplySchema, guards=(supply_deadline_open, something_uploaded), effect=record_supply,
               style="primary",
               notify=(Notice("rongque-supplied", ("department",), "容缺材料已补交", "容缺 items supplied"),)),
    *self_loop("check_items", SUPPLYING, P.DEPARTMENT_DECIDE, "查验补交材料", "Check the supplied items",
               forms.CheckItemsSchema, guards=(something_to_check,), effect=check_items,
               notify=(Notice("rongque-items-checked", TO_APPLICANT, "补交材料已查验", "Supplied items checked"),)),
    Step("issue_certificate", (S.DECIDED_PENDING_SUPPLY,), S.CERTIFICATE_ISSUED, P.DEPARTMENT_DECIDE, "颁发证照",
         "Issue the certificate", forms.IssueCertificateSchema, guards=(all_items_conform,),
         effect=issue_certificate, style="primary",
         notify=(Notice("rongque-issued", ("applicant", "window"), "证照已颁发", "Certificate issued"),)),
    Step("mark_overdue", SUPPLYING, S.OVERDUE, P.SYSTEM, "补齐期限届满", "Supply deadline passed",
         effect=mark_overdue,
         notify=(Notice("rongque-overdue", ("applicant", "department"), "容缺材料逾期未补齐",
                        "容缺 items not supplied in time"),)),
    Step("declare_overdue", SUPPLYING + (S.CERTIFICATE_ISSUED,), S.OVERDUE, P.DEPARTMENT_DECIDE,
         "认定补齐材料不符合要求", "Declare the supply nonconforming", forms.DeclareOverdueSchema,
         guards=(grounds_for_overdue,), effect=take_reason, style="danger",
         notify=(Notice("rongque-nonconforming", TO_APPLICANT, "补齐材料不符合要求",
                        "Supplied items do not conform"),)),
    Step("terminate", (S.OVERDUE,), S.TERMINATED, P.DEPARTMENT_DECIDE, "终止办理", "Terminate processing",
         forms.TerminateSchema, guards=(nothing_issued,), effect=take_reason, style="danger",
         notify=(Notice("rongque-terminated", ("applicant", "window"), "容缺受理事项终止办理",
                        "容缺 processing terminated"),)),
    Step("revoke", (S.OVERDUE,), S.REVOKED, P.DEPARTMENT_DECIDE, "撤销许可", "Revoke the licence",
         forms.RevokeSchema, guards=(certificate_was_issued,), effect=take_reason, style="danger",
         notify=(Notice("rongque-revoked", ("applicant", "window"), "已撤销行政许可", "Licence revoked"),)),
    Step("record_dishonesty", (S.TERMINATED, S.REVOKED), S.DISHONESTY_RECORDED, P.SYSTEM, "记录违诺失信",
         "Record the breach", effect=record_dishonesty,
         notify=(Notice("rongque-breach-recorded", ("applicant", "window"), "违反容缺受理承诺已记入信用记录",
                        "Breach of the 容缺 commitment recorded"),)),
    Step("close_file", (S.CERTIFICATE_ISSUED,), S.COMPLETED, P.SYSTEM, "发证后核查期届满，办结",
         "Post-issuance check period over: completed", effect=complete_file,
         notify=(Notice("rongque-completed", TO_APPLICANT, "容缺受理事项已办结", "容缺 matter completed"),)),
    Step("withdraw", (S.APPLIED, S.CREDIT_CHECKED), S.WITHDRAWN, P.APPLICANT_ACT, "撤回申请", "Withdraw",
         forms.WithdrawSchema, effect=take_reason, style="danger"),
]

# --- timers ----------------------------------------------------------------------------------------

TIMERS = [
    Timer("supply", "容缺材料补齐期限", "Supply deadline for the missing items", S.ACCEPTED_WITH_GAPS, SUPPLYING,
          lambda r: int(r["rongque.supply_wd"]), "wd", "applicant", party_deadline=True,
          expiry_trigger="mark_overdue"),
    Timer("decision", "许可决定期限", "Licensing decision", S.ACCEPTED_WITH_GAPS, DECIDING,
          lambda r: int(r["licensing.decision_wd"]), "wd", "department"),
    Timer("post_issue_check", "发证后核查期", "Post-issuance check period", S.CERTIFICATE_ISSUED,
          (S.CERTIFICATE_ISSUED,), lambda r: int(r["commitment.first_check_cd"]), "cd", "system",
          expiry_trigger="close_file", reminders=False),
]

DEFICIENCY_ACCEPTANCE = register(CaseType(
    key="deficiency_acceptance",
    version=1,
    label_zh="容缺受理",
    label_en="Acceptance with deferred materials (容缺受理)",
    states=State,
    initial=S.APPLIED,
    terminal=(S.REFUSED_ROUTE, S.REJECTED, S.COMPLETED, S.DISHONESTY_RECORDED, S.WITHDRAWN),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="RQ",
    on_open=open_application,
    open_schema=forms.OpenDeficiencySchema,
    describe=describe,
    automatic={S.TERMINATED: "record_dishonesty", S.REVOKED: "record_dishonesty"},
    uploads=missing_uploads,
    upload_states=SUPPLYING,
))
