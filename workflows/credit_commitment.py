"""Credit commitments (信用承诺).

Lifecycle. A commitment is drafted for one matter (draft) and signed by the promisor, who reads the
text written for its commitment type and accepts it (signed; the text's SHA-256 goes into the
ledger). The credit center publishes it within 7 WD (published) — a natural person's commitment is
only recorded, never published (SD-Cond §20) — and the system puts it straight into fulfilment
tracking (in_fulfilment). The deciding department (受诺单位) confirms fulfilment when a
verification passes or the term ends without breach (fulfilled). When the credit center suspects a
breach (suspected_breach) it serves a prompt interview notice (prompt_interview, 3 WD to attend).
The department records the interview held and orders rectification within a time limit
(rectifying, default 10 WD, the department may set another); a subject that has not come when the
3 WD are over is moved on by the system (miss_interview). The department then finds it rectified
(back to in_fulfilment) or moves to a warning interview (warning_interview) — itself when the
subject refuses, or the system does when the rectification period runs out (miss_rectification).
After the warning interview the department confirms the breach (breached_recorded: one dishonesty
record). A false commitment (虚假承诺) can be found at any point after signing, and
a case that opened the commitment (a repair application, a 容缺 approval) records a breach it has
already decided through the system step `record_breach`. The promisor may withdraw only before
publication (withdrawn).

Who acts. Signing and withdrawal: the promisor (APPLICANT_ACT). Publication, suspicion and the
prompt interview: the credit center (WINDOW_ACT), which tracks fulfilment of every commitment and
receives the data matches and complaints that raise a suspicion (DOMAIN.md §1.1, T5, T6; SD-Cond
§41). Everything that decides the commitment's fate — fulfilment, rectification, the warning, the
breach and a false commitment: the case's department (DEPARTMENT_DECIDE, T4, T7–T11). A commitment
opened by another case belongs to that case's department; one an applicant opens by itself
(voluntary, industry self-discipline) is overseen by the credit center's own department.

Legal basis: DOMAIN.md §1 — 山东省社会信用条例 §20, §32, §33, §41; 国办发〔2019〕35号 (types); the
文登 score annexes (breach deductions, §1.7, §6.6). Time limits §1.5, all assumed and configurable.

Module API for other case types: `open_linked_commitment`, `record_breach`, `commitment_of`.
"""
from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import select

from forms import credit_commitment as forms
from models import (
    CREDIT_CENTER_CODE,
    Case,
    Commitment,
    CreditRecord,
    Deadline,
    Department,
    RecordKind,
    RecordStatus,
    Severity,
    User,
)
from models.permissions import SYSTEM, Permission

from . import deadlines, notify
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .errors import Forbidden, InvalidInput, TransitionNotAllowed
from .records import default_valid_until
from .service import StepContext, fire, linked_cases, linking_cases, open_case


class State(StateEnum):
    DRAFT = "draft", "起草", "Draft"  #: text generated for the type; not yet signed
    SIGNED = "signed", "已签署", "Signed"  #: the credit center publishes within 7 WD
    PUBLISHED = "published", "公示中", "Published"  #: transient: the system starts tracking at once
    IN_FULFILMENT = "in_fulfilment", "履约跟踪", "Fulfilment tracked"  #: monitored by the department
    FULFILLED = "fulfilled", "已履约", "Fulfilled"  #: terminal: verified, or the term ended without breach
    SUSPECTED_BREACH = "suspected_breach", "疑似违诺", "Suspected breach"  #: a lead, not a finding
    PROMPT_INTERVIEW = "prompt_interview", "提示约谈", "Prompt interview"  #: 3 WD to attend
    RECTIFYING = "rectifying", "限期整改", "Rectifying"  #: rectification deadline running
    WARNING_INTERVIEW = "warning_interview", "警示约谈", "Warning interview"  #: the department decides the breach
    BREACHED_RECORDED = "breached_recorded", "违诺已记录", "Breach recorded"  #: terminal: one dishonesty record
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"  #: terminal: by the promisor, before publication only
    LAPSED = "lapsed", "已失效", "Lapsed"  #: terminal: the case it backed ended without effect


TYPE_LABELS = {value: (zh, en) for value, zh, en in forms.COMMITMENT_TYPE_CHOICES}
#: Types whose approval was granted on the commitment: the department owes a first verification.
FIRST_CHECK_TYPES = ("approval_substitute", "certificate_substitute")
BREACH_LABELS = {"breach": ("违反信用承诺", "Breach of a credit commitment"),
                 "false_commitment": ("虚假信用承诺", "False credit commitment")}

#: What the promisor undertakes, per type (DOMAIN.md §1.2; 容缺 content: §6.4 T3; repair: NDRC36).
CLAUSES = {
    "approval_substitute": (
        "一、已知晓行政机关一次性告知的全部审批条件、标准、要求和所需材料；\n"
        "二、本主体符合上述条件、标准和要求，并将在约定期限内提交全部材料；\n"
        "三、所提交的材料和所作的陈述真实、准确、完整，不存在隐瞒或虚假；\n"
        "四、自愿接受行政机关的事中事后核查，如实提供有关情况；\n"
        "五、如承诺不实或不履行承诺，自愿接受撤销审批决定等处理，并依法承担相应法律责任。",
        "The subject knows every condition, standard and material the authority announced, "
        "meets them and will supply everything in time, states everything truthfully, accepts follow-up "
        "verification, and accepts revocation of the approval and legal liability if the commitment is untrue or "
        "not kept.",
    ),
    "deficiency": (
        "一、申请意愿真实，所提交的主要材料真实、合法、有效；\n"
        "二、已知晓尚缺的非主要材料、补齐方式和补齐期限；\n"
        "三、在规定期限内补齐全部所缺材料，且补齐的材料与本承诺一致；\n"
        "四、逾期未补齐或补齐的材料不符合要求的，自愿承担终止办理、撤销已作出的审批决定等后果，"
        "由此造成的损失由本主体承担。",
        "The application is genuine and its main materials are true; the subject "
        "knows which non-core materials are missing, how and by when to supply them, will supply them all in "
        "time, and accepts termination or revocation of the approval and bears the loss if it does not.",
    ),
    "certificate_substitute": (
        "一、已知晓以承诺替代证明的事项、条件以及承诺不实的后果；\n"
        "二、本主体符合所承诺的条件，承诺内容真实，以本承诺代替相关证明材料；\n"
        "三、同意行政机关依法核查，并在要求时提供有关证明；\n"
        "四、承诺不实的，自愿接受终止办理或撤销相关决定，并依法承担相应法律责任。",
        "The subject knows the matter, the conditions and the consequences "
        "of an untrue commitment, meets the conditions, accepts verification and will produce the certificate on "
        "request, and accepts termination or revocation and legal liability if the commitment is untrue.",
    ),
    "industry_self_discipline": (
        "一、遵守国家法律法规和本行业自律公约、行业规范；\n"
        "二、依法诚信经营，不制售假冒伪劣产品，不作虚假宣传，不恶意竞争，不损害消费者合法权益；\n"
        "三、自觉接受行业协会（商会）、有关部门和社会公众的监督；\n"
        "四、违反承诺的，自愿接受行业自律惩戒，并依法承担相应责任。",
        "The subject obeys the law and the industry's self-discipline convention, "
        "trades honestly (no counterfeits, no false advertising, no unfair competition, no harm to consumers), "
        "accepts supervision by its association, the authorities and the public, and accepts the association's "
        "sanctions and legal liability if it breaks this commitment.",
    ),
    "voluntary": (
        "一、遵守法律法规，依法诚信经营（从业），全面履行法定义务；\n"
        "二、向社会公开的信息和向有关部门提供的材料真实、准确、完整；\n"
        "三、自愿公开本承诺，接受有关部门和社会公众的监督；\n"
        "四、违反承诺的，自愿承担相应责任。",
        "The subject obeys the law, fulfils its legal obligations and trades "
        "honestly, publishes and supplies only true information, submits to public supervision of this "
        "commitment, and accepts the consequences if it breaks it.",
    ),
    "repair": (
        "一、已纠正失信行为，履行完毕相关法定责任和义务；\n"
        "二、信用修复申请中提交的全部材料真实、准确、完整；\n"
        "三、今后依法诚信经营，不再发生同类失信行为；\n"
        "四、违反承诺或提供虚假材料的，自愿接受撤销修复决定、恢复公示、重新计算最短公示期、"
        "一定期限内不得再次申请修复等处理，并依法承担相应法律责任。",
        "The act is corrected and the obligations fulfilled, every material of the "
        "repair application is true, the act will not recur, and the subject accepts revocation of the repair, "
        "restored publicity, a restarted minimum period and a bar on re-application if it breaks this "
        "commitment or supplied false material.",
    ),
}

TEXT = (
    "信用承诺书\n"
    "承诺类型：{type_zh}\n"
    "承诺主体：{subject}（{identifier}）\n"
    "承诺事项：{matter}\n"
    "本主体郑重承诺：\n"
    "{clauses}\n"
    "本主体知悉：本承诺书及其履行情况记入信用记录，作为事中事后监管的依据；违反承诺的，"
    "违诺情况记入信用记录，并依法依规实施相应惩戒。\n"
    "{term}\n"
    "{publicity}\n"
    "Credit commitment ({type_en}) on the matter above. {summary} {term_en} {publicity_en} "
    "The commitment and its fulfilment go into the credit record; a breach is recorded as dishonesty."
)


def commitment(case: Case) -> Commitment:
    from models import db

    row = db.session.get(Commitment, case.id)
    assert row is not None, f"case {case.id} has no commitment row"
    return row


def commitment_text(case: Case, commitment_type: str, matter: str, term_until: date | None, public: bool) -> str:
    clauses, summary = CLAUSES[commitment_type]
    type_zh, type_en = TYPE_LABELS[commitment_type]
    if term_until:
        term = f"承诺期限：自签署之日起至 {term_until.isoformat()} 止。"
        term_en = f"The commitment runs until {term_until.isoformat()}."
    else:
        term = "承诺期限：至承诺事项办结并经核查或监督期满。"
        term_en = "The commitment runs until the matter is concluded and verified."
    if public:
        publicity = "本承诺书将在“信用中国（山东威海）”及区信用网站公示，接受社会监督。"
        publicity_en = "It is published on Credit China (Shandong Weihai) and the district credit website."
    else:
        publicity = "本承诺书不向社会公开，仅依法共享或经授权查询。"
        publicity_en = "It is not published: it is only shared by law or queried with authorisation."
    return TEXT.format(type_zh=type_zh, type_en=type_en, subject=case.subject.name,
                       identifier=case.subject.masked_identifier, matter=matter, clauses=clauses, summary=summary,
                       term=term, term_en=term_en, publicity=publicity, publicity_en=publicity_en)


def opener(case: Case) -> Case | None:
    """The case that opened this commitment (a repair application, a 容缺 case), if any."""
    cases = linking_cases(case, "commitment")
    return cases[0] if cases else None


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

def term_not_over(ctx) -> str | None:
    term_until = commitment(ctx.case).term_until
    if term_until is not None and term_until < ctx.today:
        return (f"承诺期限已于 {term_until.isoformat()} 届满，不能再签署 / "
                f"the commitment term ended on {term_until.isoformat()}; it can no longer be signed")
    return None


def not_bound_to_open_case(ctx) -> str | None:
    """A commitment another case opened follows that case: while it is open, the commitment can be
    neither withdrawn nor declared fulfilled on its own (so a breach that case decides can always be
    recorded against it)."""
    source = opener(ctx.case)
    if source is not None and source.closed_at is None:
        return (f"本承诺属于办理中的案件 {source.reference}，须随该案件办理 / "
                f"this commitment belongs to open case {source.reference} and follows it")
    return None


def term_over_when_claimed(ctx) -> str | None:
    if ctx.data.get("basis") != "term_ended":
        return None
    term_until = commitment(ctx.case).term_until
    if term_until is None:
        return "该承诺未设期限，须经核查确认履约 / this commitment has no term: fulfilment rests on a verification"
    if ctx.today <= term_until:
        return (f"承诺期限至 {term_until.isoformat()}，尚未届满 / "
                f"the term runs until {term_until.isoformat()} and has not ended")
    return None


# --- effects ----------------------------------------------------------------------------------

def open_commitment(ctx, data) -> None:
    source = opener(ctx.case)
    if source is None and data["commitment_type"] not in forms.SELF_OPENED_TYPES:
        allowed = "、".join(TYPE_LABELS[t][0] for t in forms.SELF_OPENED_TYPES)
        raise InvalidInput(
            f"只能自行提出{allowed}承诺，其他承诺随审批或修复申请签署 / "
            "only voluntary and industry commitments are opened directly; the others come with their application",
            details={"fields": {"commitment_type": ["not opened directly / 须随相关申请签署"]}})
    if data.get("term_until") is not None and data["term_until"] <= ctx.today:
        raise InvalidInput("承诺期限应晚于今天 / The term must end after today",
                           details={"fields": {"term_until": ["must be after today / 应晚于今天"]}})
    # The deciding department: the opening case's; for a commitment of one's own, the credit center.
    department_id = source.department_id if source is not None else None
    if department_id is None:
        department_id = ctx.session.execute(
            select(Department.id).where(Department.code == CREDIT_CENTER_CODE)).scalar()
    ctx.case.department_id = department_id
    public = not ctx.case.subject.is_natural_person
    ctx.session.add(Commitment(
        case_id=ctx.case.id, commitment_type=data["commitment_type"], matter=data["matter"],
        term_until=data.get("term_until"), public=public,
        text=commitment_text(ctx.case, data["commitment_type"], data["matter"], data.get("term_until"), public),
    ))


def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def sign_commitment(ctx) -> None:
    row = commitment(ctx.case)
    row.signed_by = ctx.data["signer_name"]
    row.signed_at = ctx.now
    row.text_sha256 = hashlib.sha256(row.text.encode("utf-8")).hexdigest()
    ctx.ledger_extra["commitment_sha256"] = row.text_sha256


def publish_commitment(ctx) -> None:
    take_reason(ctx)
    row = commitment(ctx.case)
    row.published_on = ctx.today
    ctx.ledger_extra["public"] = row.public
    if not row.public:
        ctx.reason = ctx.reason or "自然人承诺不向社会公开，仅备案 / a natural person's commitment is recorded, not published"


def start_tracking(ctx) -> None:
    if commitment(ctx.case).commitment_type in FIRST_CHECK_TYPES:
        _open_clock(ctx, "first_check", int(ctx.rules["commitment.first_check_cd"]))


def record_fulfilment(ctx) -> None:
    take_reason(ctx)
    labels = {value: (zh, en) for value, zh, en in forms.FULFILMENT_BASES}
    zh, en = labels[ctx.data["basis"]]
    ctx.reason = f"{zh}。{ctx.reason} / {en}" if ctx.reason else f"{zh} / {en}"
    ctx.ledger_extra["fulfilment"] = {"basis": ctx.data["basis"], "on": ctx.today.isoformat()}


def note_suspicion(ctx) -> None:
    labels = {value: (zh, en) for value, zh, en in forms.SUSPICION_SOURCES}
    zh, en = labels[ctx.data["source"]]
    ctx.reason = f"{zh}：{ctx.data['reason']} / source: {en}"


def order_rectification(ctx) -> None:
    days = ctx.data.get("days") or int(ctx.rules["commitment.rectify_wd"])
    ctx.reason = f"整改要求：{ctx.data['requirements']}（{days}个工作日内） / rectify within {days} working days"
    deadline = _open_clock(ctx, "rectification", days)
    ctx.ledger_extra["rectify_by"] = deadline.due_on.isoformat() if deadline.due_on else None


def _open_clock(ctx, kind: str, budget: int) -> Deadline:
    """Open a declared timer with a budget set for this case (the department's rectification days,
    a first check only for approval types). `deadlines.replan` then finds it live and leaves it."""
    timer = next(t for t in TIMERS if t.kind == kind)
    with ctx.session.no_autoflush:
        deadline = Deadline(case_id=ctx.case.id, kind=timer.kind, unit=timer.unit, budget=budget,
                            start_on=ctx.today, party_deadline=timer.party_deadline,
                            expiry_trigger=timer.expiry_trigger, responsible=timer.responsible, status="open",
                            created_at=ctx.now)
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)
    return deadline


def breach_points(case: Case, row: Commitment, rules) -> int:
    """文登 deductions (§1.7): a broken repair commitment as the repair rules say; otherwise the 告知承诺
    values for a person or an organisation (applied to every type, as §6.6 assumes for 容缺)."""
    if row.commitment_type == "repair":
        return int(rules["repair.breach_points"])
    if case.subject.is_natural_person:
        return int(rules["commitment.breach_points_person"])
    return int(rules["commitment.breach_points_organisation"])


def write_breach(kind: str):
    """Effect of every step that ends in breached_recorded: exactly one dishonesty record."""

    def effect(ctx) -> None:
        take_reason(ctx)
        breach_kind = ctx.data.get("kind", kind)
        row = commitment(ctx.case)
        source = opener(ctx.case)
        points = breach_points(ctx.case, row, ctx.rules)
        label_zh, _ = BREACH_LABELS[breach_kind]
        references = ctx.case.reference + (f"，{source.reference}" if source is not None else "")
        record = CreditRecord(
            subject_id=ctx.case.subject_id, kind=RecordKind.DISHONESTY, severity=Severity.GENERAL,
            title=f"{label_zh}：{row.matter[:120]}（{references}）", description=ctx.reason or "",
            category="false_commitment" if breach_kind == "false_commitment" else "commitment_breach",
            decided_on=ctx.today, department_id=ctx.case.department_id, points=points,
            valid_until=default_valid_until(points, ctx.today, ctx.calendar), status=RecordStatus.ACTIVE,
            created_at=ctx.now,
        )
        ctx.session.add(record)
        row.breach_kind = breach_kind
        row.breach_record = record
        ctx.ledger_extra["breach"] = {"kind": breach_kind, "category": record.category, "points": points,
                                      "valid_until": record.valid_until.isoformat() if record.valid_until else None}
        if row.commitment_type in APPROVAL_TYPES and ctx.step is not None and ctx.step.trigger != "record_breach":
            hand_over_to_approval(ctx, row, source)

    return effect


#: Commitments that stand in for part of an approval (§1.4 T10: a breach feeds revocation, §6, Licensing §69).
APPROVAL_TYPES = ("approval_substitute", "deficiency", "certificate_substitute")


def hand_over_to_approval(ctx, row: Commitment, source: Case | None) -> None:
    """A breach found on the commitment itself goes to the department that granted the approval it
    backed, which decides revocation or termination (on the backing case when there is one)."""
    backing = source.reference if source is not None else row.matter
    ctx.ledger_extra["handed_over_to"] = source.reference if source is not None else None
    notify.queue(
        ctx.session, ctx.case, event="commitment-breach-handover", audience=("department", "window"),
        title_zh=f"承诺违诺移交审批部门处理（{backing}）", title_en=f"Commitment breach handed over ({backing})",
        body_zh=(f"信用承诺 {ctx.case.reference} 已认定{'虚假承诺' if row.breach_kind == 'false_commitment' else '违诺'}。"
                 f"其所支撑的审批事项“{row.matter}”（{backing}）请依法作出撤销或终止等处理。"),
        body_en=(f"Commitment {ctx.case.reference} was found breached. Decide on the approval it backed "
                 f"({backing}): revocation or termination as the law provides."),
        now=ctx.now,
    )


def describe(case: Case, runtime) -> dict:
    """Facts a case page and the API show beside the state."""
    row = commitment(case)
    source = opener(case)
    type_zh, type_en = TYPE_LABELS[row.commitment_type]
    return {
        "commitment_type": row.commitment_type,
        "commitment_type_label_zh": type_zh,
        "commitment_type_label_en": type_en,
        "matter": row.matter,
        "term_until": row.term_until.isoformat() if row.term_until else None,
        "public": row.public,
        "published_on": row.published_on.isoformat() if row.published_on else None,
        "commitment_text": row.text,
        "commitment_signed_by": row.signed_by,
        "signed_at": row.signed_at.isoformat() if row.signed_at else None,
        "text_sha256": row.text_sha256,
        "breach_kind": row.breach_kind,
        "breach_record_id": row.breach_record_id,
        "opened_by": {"id": source.id, "reference": source.reference, "case_type": source.case_type}
        if source is not None else None,
    }


# --- the API other case types call ---------------------------------------------------------------

def open_linked_commitment(ctx: StepContext, *, commitment_type: str, matter: str, signer_name: str,
                           term_until: date | None = None) -> Case:
    """Open a credit_commitment case for ctx.case's subject, linked from ctx.case (link_kind
    "commitment"), with applicant = ctx.case.applicant and department = ctx.case.department_id, and
    sign it at once through fire() as ctx.actor — the promisor, who must act for the subject.
    Returns the commitment case in state "signed". Runs inside the caller's step (nested savepoints).
    """
    if not isinstance(ctx.actor, User) or ctx.actor.role != "applicant":
        raise Forbidden("信用承诺须由承诺主体签署 / A credit commitment is signed by the promisor itself",
                        details={"case_type": "credit_commitment"})
    data = {"commitment_type": commitment_type, "matter": matter}
    if term_until is not None:
        data["term_until"] = term_until.isoformat()
    case = open_case("credit_commitment", ctx.case.subject, ctx.actor, data, runtime=ctx.runtime,
                     link_from=ctx.case, link_kind="commitment", applicant=ctx.case.applicant)
    fire(case, "sign", ctx.actor, {"signer_name": signer_name, "commitment_accepted": True}, runtime=ctx.runtime)
    ctx.ledger_extra["commitment"] = {"case_id": case.id, "reference": case.reference,
                                      "sha256": commitment(case).text_sha256}
    return case


def record_breach(ctx: StepContext, commitment_case: Case | None, *, kind: str, reason: str) -> None:
    """Record on `commitment_case` a breach ctx.case has decided: fires `record_breach` as SYSTEM in
    the same transaction. kind is "breach" or "false_commitment". A commitment whose breach is
    already recorded is left as it is: one breach, one record (WD-Score §18(2): no stacking)."""
    if commitment_case is None:
        raise TransitionNotAllowed(
            "该案件没有关联的信用承诺 / This case has no linked credit commitment",
            details={"state": ctx.case.state, "reasons": ["没有关联的信用承诺 / no linked credit commitment"]})
    # Read the state under the row lock fire() would take: a breach recorded meanwhile is seen.
    commitment_case = ctx.session.execute(
        select(Case).where(Case.id == commitment_case.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if commitment_case.state != State.BREACHED_RECORDED:
        fire(commitment_case, "record_breach", SYSTEM, {"kind": kind, "reason": reason}, runtime=ctx.runtime)
    ctx.ledger_extra["commitment_breach"] = {"reference": commitment_case.reference, "kind": kind,
                                             "record_id": commitment(commitment_case).breach_record_id}


def close_commitment(ctx: StepContext, *, fulfilled: bool, reason: str) -> None:
    """When the case a commitment backs ends, end the commitment with it (same transaction):
    `complete` (fulfilled) when the case succeeded — a repair's monitoring ran out, a 容缺
    certificate was issued — else `lapse` (refused, withdrawn, not accepted). A commitment already
    in a breach procedure or ended is left alone: that procedure decides it."""
    commitment_case = commitment_of(ctx.case)
    if commitment_case is None or commitment_case.state not in (State.SIGNED, State.IN_FULFILMENT):
        return
    fire(commitment_case, "complete" if fulfilled else "lapse", SYSTEM, {}, runtime=ctx.runtime, reason=reason)


def commitment_of(case: Case) -> Case | None:
    """The commitment case linked from `case` (kind "commitment"), the latest if several."""
    cases = linked_cases(case, "commitment")
    return cases[-1] if cases else None


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
#: Where a breach can still be found: every non-terminal state from signing on.
AFTER_SIGNING = (S.SIGNED, S.PUBLISHED, S.IN_FULFILMENT, S.SUSPECTED_BREACH, S.PROMPT_INTERVIEW, S.RECTIFYING,
                 S.WARNING_INTERVIEW)
BREACH_NOTICE = Notice("commitment-breach-recorded", ("applicant", "window"), "信用承诺违诺已记录",
                       "Commitment breach recorded")
WARNING_NOTICE = Notice("commitment-warning-interview", ("applicant", "window", "department"),
                        "信用承诺警示约谈通知", "Commitment: warning interview")

STEPS = [
    Step("sign", (S.DRAFT,), S.SIGNED, P.APPLICANT_ACT, "签署承诺书", "Sign the commitment", forms.SignSchema,
         guards=(term_not_over,), effect=sign_commitment, style="primary",
         notify=(Notice("commitment-signed", ("window",), "信用承诺已签署待公示", "Commitment signed: to publish"),)),
    Step("publish", (S.SIGNED,), S.PUBLISHED, P.WINDOW_ACT, "公示承诺（自然人仅备案）",
         "Publish (natural persons: record only)", forms.PublishSchema, effect=publish_commitment, style="primary",
         notify=(Notice("commitment-published", ("applicant",), "信用承诺已公示（备案）",
                        "Commitment published (recorded)"),)),
    Step("start_fulfilment", (S.PUBLISHED,), S.IN_FULFILMENT, P.SYSTEM, "转入履约跟踪", "Fulfilment tracking starts",
         effect=start_tracking),
    Step("fulfil", (S.IN_FULFILMENT,), S.FULFILLED, P.DEPARTMENT_DECIDE, "确认已履约", "Confirm fulfilment",
         forms.FulfilSchema, guards=(not_bound_to_open_case, term_over_when_claimed), effect=record_fulfilment,
         style="primary",
         notify=(Notice("commitment-fulfilled", ("applicant", "window"), "信用承诺已履约", "Commitment fulfilled"),)),
    Step("suspect_breach", (S.IN_FULFILMENT,), S.SUSPECTED_BREACH, P.WINDOW_ACT, "标记疑似违诺",
         "Flag a suspected breach", forms.SuspectBreachSchema, effect=note_suspicion,
         notify=(Notice("commitment-suspected", ("department",), "信用承诺疑似违诺", "Commitment: suspected breach"),)),
    Step("hold_prompt_interview", (S.SUSPECTED_BREACH,), S.PROMPT_INTERVIEW, P.WINDOW_ACT, "提示约谈",
         "Serve a prompt interview notice", forms.HoldPromptInterviewSchema, effect=take_reason, style="primary",
         notify=(Notice("commitment-prompt-interview", ("applicant", "department"), "信用承诺提示约谈通知",
                        "Commitment: prompt interview"),)),
    Step("order_rectification", (S.PROMPT_INTERVIEW,), S.RECTIFYING, P.DEPARTMENT_DECIDE, "约谈并责令限期整改",
         "Interview held: order rectification", forms.OrderRectificationSchema, effect=order_rectification,
         style="primary",
         notify=(Notice("commitment-rectification-ordered", ("applicant", "window"), "信用承诺限期整改通知",
                        "Commitment: rectification ordered"),)),
    Step("rectified", (S.RECTIFYING,), S.IN_FULFILMENT, P.DEPARTMENT_DECIDE, "整改到位，恢复履约跟踪",
         "Rectified: resume tracking", forms.RectifiedSchema, effect=take_reason, style="primary",
         notify=(Notice("commitment-rectified", ("applicant", "window"), "信用承诺整改到位", "Commitment rectified"),)),
    # The department escalates when the subject refuses at the prompt interview or to rectify; the
    # system does when the attendance or the rectification period runs out (timers below).
    Step("escalate_to_warning", (S.PROMPT_INTERVIEW, S.RECTIFYING), S.WARNING_INTERVIEW, P.DEPARTMENT_DECIDE,
         "转入警示约谈", "Escalate to a warning interview", forms.EscalateToWarningSchema, effect=take_reason,
         style="danger", notify=(WARNING_NOTICE,)),
    Step("miss_interview", (S.PROMPT_INTERVIEW,), S.WARNING_INTERVIEW, P.SYSTEM, "未按期参加提示约谈",
         "Prompt interview not attended in time", notify=(WARNING_NOTICE,)),
    Step("miss_rectification", (S.RECTIFYING,), S.WARNING_INTERVIEW, P.SYSTEM, "整改期满未整改",
         "Rectification period ran out", notify=(WARNING_NOTICE,)),
    Step("confirm_breach", (S.WARNING_INTERVIEW,), S.BREACHED_RECORDED, P.DEPARTMENT_DECIDE, "认定违诺",
         "Confirm the breach", forms.ConfirmBreachSchema, effect=write_breach("breach"), style="danger",
         notify=(BREACH_NOTICE,)),
    Step("find_false_commitment", AFTER_SIGNING, S.BREACHED_RECORDED, P.DEPARTMENT_DECIDE, "认定虚假承诺",
         "Find a false commitment", forms.FindFalseCommitmentSchema, effect=write_breach("false_commitment"),
         style="danger", notify=(BREACH_NOTICE,)),
    Step("record_breach", AFTER_SIGNING, S.BREACHED_RECORDED, P.SYSTEM, "记录关联案件认定的违诺",
         "Record a breach decided by the linked case", forms.RecordBreachSchema, effect=write_breach("breach"),
         notify=(BREACH_NOTICE,)),
    # An on-site verification (workflows/onsite_verification.py) reports into the commitment it
    # checked, in its own transaction (DOMAIN.md §4.3): conforming → fulfilled (T4) unless the
    # commitment follows a case still open; nonconforming → suspected breach (T5), the findings as reason.
    Step("confirm_by_onsite_check", (S.IN_FULFILMENT,), S.FULFILLED, P.SYSTEM, "现场核查符合，确认已履约",
         "On-site check conforming: fulfilled", guards=(not_bound_to_open_case,),
         notify=(Notice("commitment-fulfilled", ("applicant", "window"), "信用承诺已履约", "Commitment fulfilled"),)),
    Step("flag_by_onsite_check", (S.IN_FULFILMENT,), S.SUSPECTED_BREACH, P.SYSTEM, "现场核查不符合，疑似违诺",
         "On-site check nonconforming: suspected breach",
         notify=(Notice("commitment-suspected", ("department",), "信用承诺疑似违诺", "Commitment: suspected breach"),)),
    Step("complete", (S.SIGNED, S.IN_FULFILMENT), S.FULFILLED, P.SYSTEM, "关联案件办结，承诺履行完毕",
         "The case it backed closed: fulfilled",
         notify=(Notice("commitment-fulfilled", ("applicant",), "信用承诺已履行完毕", "Commitment fulfilled"),)),
    Step("lapse", (S.SIGNED, S.IN_FULFILMENT), S.LAPSED, P.SYSTEM, "关联案件终结，承诺失效",
         "The case it backed ended: lapsed",
         notify=(Notice("commitment-lapsed", ("applicant",), "信用承诺已失效", "Commitment lapsed"),)),
    Step("withdraw", (S.DRAFT, S.SIGNED), S.WITHDRAWN, P.APPLICANT_ACT, "撤回承诺", "Withdraw the commitment",
         forms.WithdrawSchema, guards=(not_bound_to_open_case,), effect=take_reason, style="danger",
         notify=(Notice("commitment-withdrawn", ("applicant",), "信用承诺已撤回", "Commitment withdrawn"),)),
]

# --- timers -----------------------------------------------------------------------------------

TIMERS = [
    Timer("publish", "公示（7个工作日）", "Publication (7 working days)", S.SIGNED, (S.SIGNED,),
          lambda r: int(r["commitment.publish_wd"]), "wd", "window"),
    # Opened by start_fulfilment, and only for approval types (FIRST_CHECK_TYPES): it does not run
    # in `published`, so the engine never opens it by itself.
    Timer("first_check", "首次核查（30日）", "First verification (30 days)", S.PUBLISHED, (S.IN_FULFILMENT,),
          lambda r: int(r["commitment.first_check_cd"]), "cd", "department"),
    Timer("attendance", "参加提示约谈（3个工作日）", "Attend the prompt interview (3 working days)",
          S.PROMPT_INTERVIEW, (S.PROMPT_INTERVIEW,), lambda r: int(r["commitment.interview_attend_wd"]), "wd",
          "applicant", party_deadline=True, expiry_trigger="miss_interview"),
    # The department may set another period when it orders rectification (order_rectification opens it).
    Timer("rectification", "限期整改", "Rectification period", S.RECTIFYING, (S.RECTIFYING,),
          lambda r: int(r["commitment.rectify_wd"]), "wd", "applicant", party_deadline=True,
          expiry_trigger="miss_rectification"),
]

CREDIT_COMMITMENT = register(CaseType(
    key="credit_commitment",
    version=1,
    label_zh="信用承诺",
    label_en="Credit commitment",
    states=State,
    initial=S.DRAFT,
    terminal=(S.FULFILLED, S.BREACHED_RECORDED, S.WITHDRAWN, S.LAPSED),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="CN",
    on_open=open_commitment,
    open_schema=forms.OpenCommitmentSchema,
    describe=describe,
    automatic={S.PUBLISHED: "start_fulfilment"},
))
