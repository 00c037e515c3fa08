"""调解 — mediation of enterprise credit disputes by the 信调委 (企业信用纠纷人民调解委员会).

Lifecycle. A party applies, in writing or orally (the case's subject is the applying party), or a
court, the police or the credit center refers the dispute and the committee records it with the
source (applied). The other party (the respondent, another subject) is asked: its consent is
recorded by a mediator — the respondent may have no account — or given by a user acting for it; a
clear refusal ends the matter (refused_closed). With consent the committee registers the case
(registered, 受理登记): the conclusion target of one month starts (`mediation.conclusion_months`).
One or more mediators are assigned, chosen by the committee or by the parties (mediator_assigned);
from then on only they act. Before the first session they tell the parties the nature, principles
and effect of mediation and their rights (inform_rights → mediating). Sessions are logged as
structured records (date, participants, each side's statement, proposals); the target may be
extended once by up to `mediation.extension_cd` calendar days with both parties' consent, and when
it runs out the mediators are asked how to proceed — never an automatic termination. Either party
may end the mediation at any time (withdrawn). Without agreement the mediator ends it and the
notice names the other routes: arbitration, administrative and judicial (failed_terminated). An
agreement (agreement_signed) holds the facts, the terms in words and the obligations as rows (who
performs what, how much, by when); it takes effect (agreement_effective) only when every party and
every assigned mediator has signed and the committee's seal is recorded, each recorded one by one.
From then the parties have 30 calendar days (C3) to apply jointly for judicial confirmation
(confirmation_applied): the court accepts within 3 days and decides within
`mediation.court_decision_days` of acceptance (30 under the CPL's outer bound; 15 under SPC2011),
confirming (confirmed) or not (not_confirmed). Performance is monitored obligation by obligation
(performing) with a revisit (回访) `mediation.revisit_after_performance_wd` WD after each due date;
all performed → performed; otherwise not_performed, and a party that performed none of its
obligations gets a dishonesty record with direct grade B (§7.6). Every end state is filed
(archived) with the full dossier. Mediation is free: there are no fees.

Design notes. The engine gives a step one permission, so a party's own answer and a mediator's
record of it are two steps (consent / record_consent, refuse / record_refusal, withdraw /
record_withdrawal). `APPLICANT_ACT` covers users acting for either party (models.permissions reads
mediation_parties); guards tell the two parties apart. Signatures, sessions, the court's acceptance
and obligation checks are self-loops: facts recorded on the case without a change of state. The
timers the engine cannot start on entering a state — the extension (from the first period's end),
the court's decision bound (from the acceptance) and one revisit per obligation (from its due
date) — are opened by their steps; their `starts_in` names a state outside `runs_in`, so the
engine never opens them itself but still closes them when the case leaves `runs_in`.
Only the committee (a mediator) registers a dispute through the engine's open_case; a party's
online application and a credit-center referral are opened through `open_mediation`, which checks
who they act for and records the submitting user (see its docstring).

Legal basis: DOMAIN.md §7 — 人民调解法 §17–33, 司法部《人民调解工作若干规定》§30, §33–35,
威政办发〔2022〕8号 (free of charge), 民事诉讼法 §85, §187, §205–206, SPC2011 §2–10; WD-Score
§10(6), §14(15) (direct grade B for an effective agreement not performed at all).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from forms import mediation as forms
from models import (
    CREDIT_CENTER_CODE,
    Case,
    CreditRecord,
    Deadline,
    Department,
    MediationCase,
    MediationMediator,
    MediationObligation,
    MediationParty,
    MediationSession,
    MediationSignature,
    Role,
    Subject,
    User,
    db,
)
from models.permissions import Permission, SystemActor, acts_for, can, is_credit_center_staff

from . import deadlines, notify
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .errors import Forbidden, InvalidInput

KEY = "mediation"
COMMITTEE_NAME = "文登区企业信用纠纷人民调解委员会"


class State(StateEnum):
    APPLIED = "applied", "已申请·待对方表态", "Applied: awaiting the other party"  #: consent recorded here
    REFUSED_CLOSED = "refused_closed", "对方拒绝·不予调解", "Refused by the other party"  #: end state
    REGISTERED = "registered", "已受理登记", "Registered"  #: conclusion target runs (1 month)
    MEDIATOR_ASSIGNED = "mediator_assigned", "已确定调解员", "Mediators assigned"  #: rights to be told next
    MEDIATING = "mediating", "调解中", "Mediating"  #: sessions logged here
    WITHDRAWN = "withdrawn", "当事人要求终止", "Ended by a party"  #: end state
    FAILED_TERMINATED = "failed_terminated", "调解不成·终止调解", "No agreement: ended"  #: end state, routes told
    AGREEMENT_SIGNED = "agreement_signed", "已达成协议·待签署生效", "Agreement reached: signing"  #: signatures
    AGREEMENT_EFFECTIVE = "agreement_effective", "调解协议已生效", "Agreement in effect"  #: 30 CD window runs
    CONFIRMATION_APPLIED = "confirmation_applied", "已申请司法确认", "Judicial confirmation applied for"
    CONFIRMED = "confirmed", "法院确认有效", "Confirmed by the court"  #: performance follows
    NOT_CONFIRMED = "not_confirmed", "法院不予确认", "Not confirmed by the court"  #: end state
    PERFORMING = "performing", "履行监督·回访", "Performance monitored"  #: one revisit per obligation
    PERFORMED = "performed", "协议已履行", "Agreement performed"  #: end state
    NOT_PERFORMED = "not_performed", "协议未履行", "Agreement not performed"  #: end state, credit effect
    ARCHIVED = "archived", "已立卷归档", "Archived"  #: terminal


PARTY_LABELS = {k: (zh, en) for k, zh, en in forms.PARTY_CHOICES}
SIGNER_LABELS = {k: (zh, en) for k, zh, en in forms.SIGNER_CHOICES}
REFERRAL_LABELS = {k: (zh, en) for k, zh, en in forms.REFERRAL_CHOICES}
CHANNEL_LABELS = {k: (zh, en) for k, zh, en in forms.CHANNEL_CHOICES}
FORM_LABELS = {k: (zh, en) for k, zh, en in forms.FORM_CHOICES}
CHOSEN_BY_LABELS = {k: (zh, en) for k, zh, en in forms.CHOSEN_BY_CHOICES}
OBLIGATION_STATUS_LABELS = {"pending": ("待回访", "Pending"), "performed": ("已履行", "Performed"),
                            "not_performed": ("未履行", "Not performed")}
FAILURE_ROUTES = ("调解不成，当事人可以依法通过仲裁、行政、司法等途径维护自己的权利（《人民调解法》第二十六条）"
                  " / No agreement was reached: the parties may protect their rights through arbitration, "
                  "administrative or judicial channels (People's Mediation Law §26)")
RIGHTS_TOLD = ("已告知调解的性质、原则和效力，以及当事人在调解活动中享有的权利和承担的义务"
               " / told the nature, principles and effect of mediation and the parties' rights and duties")


# --- helpers the guards, effects and pages share ---------------------------------------------------

def mediation(case: Case) -> MediationCase:
    row = db.session.get(MediationCase, case.id)
    assert row is not None, f"case {case.id} has no mediation row"
    return row


def assigned_ids(row: MediationCase) -> set[int]:
    return {m.user_id for m in row.mediators}


def party_name(row: MediationCase, role: str) -> str:
    return row.subject_of(role).name


def missing_signatures(row: MediationCase) -> list[tuple[str, str]]:
    """(中文, English) for every signature the agreement still lacks, in the order they are asked."""
    have = {(s.signer, s.mediator_user_id) for s in row.signatures}
    missing = []
    for role in ("applicant", "respondent"):
        if (role, None) not in have:
            zh, en = PARTY_LABELS[role]
            missing.append((f"{zh}（{party_name(row, role)}）", f"{en} ({party_name(row, role)})"))
    for assignment in row.mediators:
        if ("mediator", assignment.user_id) not in have:
            missing.append((f"调解员 {assignment.user.username}", f"mediator {assignment.user.username}"))
    if ("seal", None) not in have:
        missing.append(("调解委员会印章", "the committee's seal"))
    return missing


def obligation_label(o: MediationObligation) -> tuple[str, str]:
    zh, en = PARTY_LABELS[o.obligor]
    return f"第{o.seq}项（{zh}：{o.description}）", f"no. {o.seq} ({en}: {o.description})"


def _open_deadline(ctx, kind: str, start_on: date, budget: int | None = None) -> Deadline:
    """Open a clock the engine cannot start by itself (its start is not the day of a transition)."""
    timer = next(t for t in TIMERS if t.kind == kind)
    deadline = Deadline(case_id=ctx.case.id, kind=kind, unit=timer.unit,
                        budget=budget if budget is not None else timer.budget(ctx.rules), start_on=start_on,
                        party_deadline=timer.party_deadline, expiry_trigger=timer.expiry_trigger,
                        responsible=timer.responsible, status="open", created_at=ctx.now)
    with ctx.session.no_autoflush:
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)
    return deadline


def _close(deadline: Deadline, status: str, ctx) -> None:
    deadline.status = status
    deadline.closed_at = ctx.now
    deadline.next_action_at = None


def case_mediators(session, case: Case) -> list[User]:
    """The mediators assigned to a case; every active mediator while none is assigned."""
    row = session.get(MediationCase, case.id)
    assigned = [m.user for m in row.mediators] if row is not None else []
    return assigned or list(session.execute(select(User).where(User.role == Role.MEDIATOR).order_by(User.id)).scalars())


notify.register_assignees(KEY, "mediator", case_mediators)


def tell_mediators(ctx, event: str, title_zh: str, title_en: str, body_zh: str, body_en: str) -> None:
    """Outbox rows to the case's mediators, after commit like every other message."""
    reference = ctx.case.reference
    notify.queue(ctx.session, ctx.case, event=event, audience=("mediator",), title_zh=f"{title_zh}（{reference}）",
                 title_en=f"{title_en} ({reference})", body_zh=body_zh, body_en=body_en, now=ctx.now)


# --- guards: each returns why it blocks (bilingual), or None --------------------------------------

def assigned_mediator(ctx) -> str | None:
    row = mediation(ctx.case)
    if row.mediators and getattr(ctx.actor, "id", None) not in assigned_ids(row):
        names = "、".join(m.user.username for m in row.mediators)
        return f"仅本案调解员（{names}）可以办理 / only this case's mediators ({names}) may act"
    return None


def not_answered(ctx) -> str | None:
    if mediation(ctx.case).consent_on is not None:
        return "被申请人已同意调解 / the respondent has already consented"
    return None


def acts_for_respondent(ctx) -> str | None:
    if not acts_for(ctx.actor, mediation(ctx.case).respondent_subject_id):
        return "只有被申请人一方可以表示同意或拒绝 / only the respondent answers the request"
    return None


def respondent_consented(ctx) -> str | None:
    if mediation(ctx.case).consent_on is None:
        return "被申请人尚未同意调解 / the respondent has not consented to mediation yet"
    return None


def session_logged(ctx) -> str | None:
    if not mediation(ctx.case).sessions:
        return "尚无调解记录，请先记录调解过程 / no session has been logged yet"
    return None


def not_extended_before(ctx) -> str | None:
    if any(d.kind == "conclusion_extension" for d in ctx.case.deadlines):
        return "调解期限已延长过一次 / the time limit has already been extended once"
    return None


def not_signed_yet(ctx) -> str | None:
    signer = ctx.data.get("signer")
    if signer is None:
        return None
    row = mediation(ctx.case)
    if signer == "mediator":
        user_id = getattr(ctx.actor, "id", None)
        if user_id not in assigned_ids(row):
            return "只有本案调解员本人可以签名 / only an assigned mediator signs, in person"
        if any(s.signer == "mediator" and s.mediator_user_id == user_id for s in row.signatures):
            return "您已签名 / you have already signed"
        return None
    if any(s.signer == signer for s in row.signatures):
        zh, en = SIGNER_LABELS[signer]
        return f"{zh}已签署 / {en} has already signed"
    return None


def all_signed(ctx) -> str | None:
    missing = missing_signatures(mediation(ctx.case))
    if missing:
        return (f"协议须经各方当事人、调解员签名并加盖调解委员会印章后生效，"
                f"尚未签署：{'、'.join(m[0] for m in missing)}"
                f" / the agreement takes effect only when every party and mediator has signed and "
                f"the seal is recorded; not yet: {', '.join(m[1] for m in missing)}")
    return None


def window_open(ctx) -> str | None:
    live = deadlines.current(ctx.case, "confirmation_window")
    if live is None or live.due_on is None or ctx.today > live.due_on:
        ended = next((d.due_on for d in reversed(ctx.case.deadlines) if d.kind == "confirmation_window"),
                     None)
        return (f"申请司法确认的期限已于 {ended} 届满，当事人仍可就协议提起诉讼 / the window for judicial "
                f"confirmation ended on {ended}; the parties may still sue on the agreement")
    return None


def acceptance_not_recorded(ctx) -> str | None:
    if mediation(ctx.case).court_accepted_on is not None:
        return "已记录法院受理 / the court's acceptance is already recorded"
    return None


def all_performed(ctx) -> str | None:
    open_ = [o for o in mediation(ctx.case).obligations if o.status != "performed"]
    if open_:
        return (f"尚有义务未确认履行：{'、'.join(obligation_label(o)[0] for o in open_)} / not confirmed "
                f"performed: {', '.join(obligation_label(o)[1] for o in open_)}")
    return None


def performance_failed(ctx) -> str | None:
    obligations = mediation(ctx.case).obligations
    pending = [o for o in obligations if o.status == "pending"]
    if pending:
        return (f"尚有义务未回访确认：{'、'.join(obligation_label(o)[0] for o in pending)} / not yet checked: "
                f"{', '.join(obligation_label(o)[1] for o in pending)}")
    if not any(o.status == "not_performed" for o in obligations):
        return "各项义务均已履行 / every obligation was performed"
    return None


# --- effects ---------------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def check_opening_channel(actor, data) -> None:
    """Parties apply; the window records the credit center's own referrals; mediators record any."""
    if isinstance(actor, User) and can(actor, Permission.MEDIATE):
        return
    if isinstance(actor, User) and actor.role == Role.APPLICANT:
        if (data.get("channel") or "application") != "application":
            raise InvalidInput("当事人只能提出调解申请 / A party applies; referrals are recorded by the committee",
                               details={"fields": {"channel": ["application only"]}})
        return
    if is_credit_center_staff(actor):
        if data.get("channel") != "referral" or data.get("referral_source") != "credit_center":
            raise InvalidInput("信用中心只能登记本中心转介的纠纷 / The credit center records its own referrals",
                               details={"fields": {"channel": ["referral by the credit center only"]}})
        return
    if not isinstance(actor, SystemActor):
        raise Forbidden("您不能登记调解案件 / You may not open a mediation")


def open_mediation_row(ctx, data) -> None:
    actor = ctx.actor
    check_opening_channel(actor, data)
    respondent = ctx.session.get(Subject, data["respondent_subject_id"])
    if respondent is None:
        raise InvalidInput("被申请人不存在 / No such respondent",
                           details={"fields": {"respondent_subject_id": ["unknown subject"]}})
    if respondent.id == ctx.case.subject_id:
        raise InvalidInput("申请人与被申请人不能是同一主体 / The two parties must be different subjects",
                           details={"fields": {"respondent_subject_id": ["same as the applicant"]}})
    opened_by = actor if isinstance(actor, User) else ctx.session.get(User, data.get("submitted_by") or 0)
    if ctx.case.department_id is None:
        # The committee sits at the credit center: its records and reminders belong there.
        ctx.case.department_id = ctx.session.execute(
            select(Department.id).where(Department.code == CREDIT_CENTER_CODE)).scalar()
    row = MediationCase(
        case_id=ctx.case.id, channel=data.get("channel") or "application",
        referral_source=data.get("referral_source"),
        application_form=data.get("application_form") or "written", applicant_subject_id=ctx.case.subject_id,
        respondent_subject_id=respondent.id, dispute=data["dispute"], claims=data.get("claims") or "",
        opened_by_id=opened_by.id if opened_by else None)
    row.parties = [MediationParty(subject_id=ctx.case.subject_id, role="applicant"),
                   MediationParty(subject_id=respondent.id, role="respondent")]
    ctx.session.add(row)


def record_consent(ctx) -> None:
    row = mediation(ctx.case)
    row.consent_on = ctx.today
    row.consent_how = (ctx.data.get("how") or "本人在线确认 / consented online")[:60]
    ctx.reason = f"被申请人同意调解：{row.consent_how} / the respondent consents to mediation"
    if ctx.data.get("note"):
        ctx.reason += f"（{ctx.data['note']}）"


def record_refusal(ctx) -> None:
    row = mediation(ctx.case)
    row.ended_by_party = "respondent"
    row.outcome_note = ctx.data["reason"]
    ctx.reason = f"被申请人明确拒绝调解，不予调解：{ctx.data['reason']} / the respondent refused: no mediation"


def register_case(ctx) -> None:
    mediation(ctx.case).registered_on = ctx.today
    take_reason(ctx)


def assign_mediators(ctx) -> None:
    row = mediation(ctx.case)
    typed = ",".join(ctx.data.get("mediators") or []).replace("，", ",").replace(" ", ",")
    names = [n for n in typed.split(",") if n.strip()]
    users = []
    for name in dict.fromkeys(n.strip() for n in names):
        user = ctx.session.execute(select(User).where(User.username == name)).scalar()
        if user is None or user.role != Role.MEDIATOR or not user.active:
            message = f"{name} 不是在职的调解员 / {name} is not an active mediator"
            raise InvalidInput(message, details={"fields": {"mediators": [message]}})
        users.append(user)
    if not users:
        users = [ctx.actor]  # "empty: yourself" — the registering mediator takes the case
    row.mediators = [MediationMediator(user_id=u.id, assigned_at=ctx.now) for u in users]
    row.mediators_chosen_by = ctx.data["chosen_by"]
    zh, en = CHOSEN_BY_LABELS[row.mediators_chosen_by]
    listed = "、".join(u.username for u in users)
    ctx.ledger_extra["mediator_ids"] = [u.id for u in users]
    ctx.reason = f"调解员：{listed}（{zh}） / mediators: {', '.join(u.username for u in users)} ({en})"


def inform_rights(ctx) -> None:
    row = mediation(ctx.case)
    row.rights_informed_on = ctx.today
    row.rights_informed_how = ctx.data["how"]
    zh, en = {"oral": ("口头", "orally"), "written": ("书面", "in writing")}[row.rights_informed_how]
    told_zh, told_en = RIGHTS_TOLD.split(" / ")
    ctx.reason = f"以{zh}方式{told_zh} / {told_en} {en}"
    if ctx.data.get("note"):
        ctx.reason += f"（{ctx.data['note']}）"


def log_session(ctx) -> None:
    row = mediation(ctx.case)
    held_on = ctx.data.get("held_on") or ctx.today
    if held_on > ctx.today:
        raise InvalidInput("调解日期不能晚于今天 / A session cannot be in the future",
                           details={"fields": {"held_on": ["in the future"]}})
    session = MediationSession(
        seq=len(row.sessions) + 1, held_on=held_on, place=ctx.data.get("place") or "",
        participants=ctx.data["participants"], applicant_statement=ctx.data.get("applicant_said") or "",
        respondent_statement=ctx.data.get("respondent_said") or "", proposals=ctx.data.get("proposals") or "",
        proposed_obligations=forms.obligation_lines(ctx.data.get("proposed_obligations") or []),
        recorded_by_id=getattr(ctx.actor, "id", None), recorded_at=ctx.now)
    row.sessions.append(session)
    ctx.ledger_extra["session_seq"] = session.seq
    ctx.reason = f"第{session.seq}次调解（{held_on}） / session {session.seq} ({held_on})"


def extend_conclusion(ctx) -> None:
    limit = int(ctx.rules["mediation.extension_cd"])
    days = ctx.data["days"]
    if days > limit:
        message = f"最多延长{limit}日 / at most {limit} days"
        raise InvalidInput(message, details={"fields": {"days": [message]}})
    first = next((d for d in reversed(ctx.case.deadlines) if d.kind == "conclusion"), None)
    start = first.due_on if first is not None and first.due_on else ctx.today
    if first is not None and first.status in deadlines.OPEN_STATES:
        # The first period is over (expired) or replaced by the agreed extension (cancelled).
        _close(first, "expired" if ctx.today > start else "cancelled", ctx)
    extension = _open_deadline(ctx, "conclusion_extension", start, budget=days)
    ctx.ledger_extra["extended_to"] = extension.due_on.isoformat() if extension.due_on else None
    ctx.reason = (f"经双方当事人同意，调解期限延长{days}日至 {extension.due_on} / extended by {days} days to "
                  f"{extension.due_on} with both parties' consent")
    if ctx.data.get("note"):
        ctx.reason += f"（{ctx.data['note']}）"


def ask_mediators(ctx) -> None:
    """The conclusion target ran out: the mediators decide (extend with consent, or end) — no
    automatic termination (MOJ2002 §33)."""
    ctx.reason = ("调解期限已届满，请征询双方意见：经双方同意延长，或终止调解 / the time limit has run out: ask both "
                  "parties whether to extend, or end the mediation")
    tell_mediators(ctx, "mediation-conclusion-due", "调解期限届满，请决定延长或终止", "Mediation time limit reached",
                   f"案件 {ctx.case.reference} 的调解期限已届满。请征询双方当事人意见：同意延长的，办理延长；否则终止调解。",
                   f"The time limit of {ctx.case.reference} has run out: extend with both parties' consent, "
                   "or end.")


def party_withdraws(ctx) -> None:
    row = mediation(ctx.case)
    row.ended_by_party = "applicant" if acts_for(ctx.actor, row.applicant_subject_id) else "respondent"
    row.outcome_note = ctx.data["reason"]
    zh, en = PARTY_LABELS[row.ended_by_party]
    ctx.reason = f"{zh}要求终止调解：{ctx.data['reason']} / the {en.lower()} ended the mediation"


def record_party_withdrawal(ctx) -> None:
    row = mediation(ctx.case)
    row.ended_by_party = ctx.data["party"]
    row.outcome_note = ctx.data["reason"]
    zh, en = PARTY_LABELS[row.ended_by_party]
    ctx.reason = f"{zh}要求终止调解：{ctx.data['reason']} / the {en.lower()} ended the mediation"


def terminate(ctx) -> None:
    row = mediation(ctx.case)
    row.outcome_note = ctx.data["reason"]
    ctx.ledger_extra["routes"] = ["arbitration", "administrative", "judicial"]
    ctx.reason = f"{ctx.data['reason']}。{FAILURE_ROUTES}"


def record_agreement(ctx) -> None:
    row = mediation(ctx.case)
    row.facts = ctx.data["facts"]
    row.terms = ctx.data["terms"]
    row.agreement_on = ctx.today
    row.obligations = [MediationObligation(seq=n, obligor=o["obligor"], description=o["description"],
                                           amount=o["amount"], due_on=o["due_on"])
                       for n, o in enumerate(ctx.data["obligations"], start=1)]
    ctx.reason = (f"达成调解协议，共{len(row.obligations)}项履行义务 / agreement reached with "
                  f"{len(row.obligations)} obligation(s)")


def sign(ctx) -> None:
    row = mediation(ctx.case)
    signer = ctx.data["signer"]
    if signer == "mediator":
        name = ctx.data.get("signer_name") or ctx.actor.username
        mediator_id = ctx.actor.id
    elif signer == "seal":
        name, mediator_id = ctx.data.get("signer_name") or COMMITTEE_NAME, None
    else:
        name, mediator_id = ctx.data.get("signer_name") or party_name(row, signer), None
    row.signatures.append(MediationSignature(signer=signer, signer_name=name, mediator_user_id=mediator_id,
                                             signed_on=ctx.today,
                                             recorded_by_id=getattr(ctx.actor, "id", None)))
    zh, en = SIGNER_LABELS[signer]
    left = missing_signatures(row)
    ctx.reason = (f"{zh}签署：{name}；尚缺{len(left)}项 / signed by the {en.lower()}: {name}; {len(left)} to go"
                  if left else f"{zh}签署：{name}；签署齐全 / signed by the {en.lower()}: {name}; complete")


def take_effect(ctx) -> None:
    mediation(ctx.case).effective_on = ctx.today
    ctx.reason = "调解协议经各方签名、盖章后生效 / the agreement is signed by all and sealed: in effect"


def close_window(ctx) -> None:
    live = deadlines.current(ctx.case, "confirmation_window")
    if live is not None:
        _close(live, "expired", ctx)
    ctx.reason = ("申请司法确认的期限已届满；当事人仍可就调解协议提起诉讼 / the window for judicial confirmation "
                  "has closed; the parties may still sue on the agreement")


def apply_confirmation(ctx) -> None:
    row = mediation(ctx.case)
    row.court = ctx.data["court"]
    row.confirmation_applied_on = ctx.today
    acceptance = _open_deadline(ctx, "court_acceptance", ctx.today)
    # The decision bound runs from the acceptance: from its last day until the court's actual
    # acceptance is recorded (record_court_acceptance re-bases it).
    decision = _open_deadline(ctx, "court_decision", acceptance.due_on)
    ctx.ledger_extra.update({"court_acceptance_due": acceptance.due_on.isoformat(),
                             "court_decision_due": decision.due_on.isoformat()})
    ctx.reason = (f"双方当事人共同向{row.court}申请司法确认 / both parties applied jointly to {row.court}")


def record_court_acceptance(ctx) -> None:
    row = mediation(ctx.case)
    accepted_on = ctx.data["accepted_on"]
    if accepted_on > ctx.today or (row.confirmation_applied_on and accepted_on < row.confirmation_applied_on):
        message = "受理日应在申请日与今天之间 / the acceptance must lie between the application and today"
        raise InvalidInput(message, details={"fields": {"accepted_on": [message]}})
    row.court_accepted_on = accepted_on
    deadlines.meet(ctx, "court_acceptance")
    decision = deadlines.current(ctx.case, "court_decision")
    if decision is not None:
        with ctx.session.no_autoflush:
            decision.start_on = accepted_on
            deadlines.recompute(decision, ctx.calendar, ctx.rules)
    ctx.reason = f"法院已于 {accepted_on} 受理 / accepted by the court on {accepted_on}"


def record_confirmed(ctx) -> None:
    row = mediation(ctx.case)
    row.court_outcome = "confirmed"
    row.court_ruling_no = ctx.data["ruling_no"]
    ctx.reason = (f"法院裁定确认调解协议有效（{row.court_ruling_no}）；一方拒不履行的，对方可申请强制执行 / confirmed "
                  f"({row.court_ruling_no}); if a party does not perform, the other may apply for "
                  "enforcement")


def record_not_confirmed(ctx) -> None:
    row = mediation(ctx.case)
    row.court_outcome = "not_confirmed"
    row.outcome_note = ctx.data["reason"]
    ctx.reason = (f"法院裁定不予确认：{ctx.data['reason']}。当事人可以通过调解变更原协议或达成新协议，也可以向人民法院"
                  f"提起诉讼 / not confirmed: the parties may re-mediate or sue")


def start_performance(ctx) -> None:
    row = mediation(ctx.case)
    for obligation in row.obligations:
        if obligation.status == "pending":
            obligation.revisit_deadline = _open_deadline(ctx, "revisit", obligation.due_on)
    take_reason(ctx)
    ctx.reason = ctx.reason or "开始履行监督，各项义务履行期限届满后回访 / performance monitored, revisits follow"


def mark_obligation(ctx) -> None:
    row = mediation(ctx.case)
    obligation = next((o for o in row.obligations if o.seq == ctx.data["obligation"]), None)
    if obligation is None:
        message = f"协议中没有第{ctx.data['obligation']}项义务 / no obligation {ctx.data['obligation']}"
        raise InvalidInput(message, details={"fields": {"obligation": [message]}})
    obligation.status = ctx.data["result"]
    obligation.marked_on = ctx.today
    obligation.note = ctx.data.get("note") or ""
    revisit = obligation.revisit_deadline
    if revisit is not None and revisit.status in deadlines.OPEN_STATES:
        _close(revisit, "met", ctx)
    zh, en = obligation_label(obligation)
    s_zh, s_en = OBLIGATION_STATUS_LABELS[obligation.status]
    ctx.ledger_extra["obligation"] = {"seq": obligation.seq, "status": obligation.status}
    ctx.reason = f"回访：{zh}{s_zh} / revisit: {en} {s_en.lower()}"


def revisit_due(ctx) -> None:
    ctx.reason = "履行回访期限已到，请回访并记录履行情况 / a revisit is due: record the performance"
    tell_mediators(ctx, "mediation-revisit-due", "调解协议履行回访到期", "Revisit due",
                   f"案件 {ctx.case.reference} 有义务的回访期限已到，请回访并记录履行情况。",
                   f"A revisit of {ctx.case.reference} is due: record whether the obligations were "
                   "performed.")


def finish_performed(ctx) -> None:
    take_reason(ctx)
    ctx.reason = ctx.reason or "调解协议各项义务均已履行 / every obligation was performed"


def record_nonperformance(ctx) -> None:
    """§7.6: a party that performed none of its obligations under an effective agreement gets a
    dishonesty record with direct grade B (WD-Score §10(6), §14(15)); partial performance does not."""
    row = mediation(ctx.case)
    years = int(ctx.rules["mediation.not_performed_validity_years"])
    valid_until, _ = ctx.calendar.expiry(ctx.today, years, "year")
    written = []
    for role in ("applicant", "respondent"):
        mine = [o for o in row.obligations if o.obligor == role]
        if not mine or any(o.status != "not_performed" for o in mine):
            continue
        subject = row.subject_of(role)
        record = CreditRecord(
            subject_id=subject.id, kind="dishonesty", severity="general", category="mediation_not_performed",
            title=f"生效调解协议完全未履行（{ctx.case.reference}）",
            description=f"{COMMITTEE_NAME}调解协议（{row.effective_on}生效）确定的义务完全未履行",
            document_no=ctx.case.reference, decided_on=ctx.today, act_ended_on=ctx.today,
            department_id=ctx.case.department_id, points=0, direct_grade="B", valid_until=valid_until,
            created_at=ctx.now)
        ctx.session.add(record)
        ctx.session.flush()
        written.append({"subject_id": subject.id, "record_id": record.id, "party": role})
        if row.credit_record_id is None:
            row.credit_record_id = record.id
    ctx.ledger_extra["credit_records"] = written
    note = ctx.data.get("note")
    ctx.reason = ("经督促仍未履行，告知当事人可依法提起诉讼 / not performed after urging: the parties may sue"
                  + (f"；直接判定信用等级为B：{'、'.join(party_name(row, w['party']) for w in written)}"
                     f" / direct grade B for: {', '.join(party_name(row, w['party']) for w in written)}"
                     if written else "") + (f"（{note}）" if note else ""))


def archive(ctx) -> None:
    row = mediation(ctx.case)
    row.archived_on = ctx.today
    ctx.ledger_extra["file"] = {"sessions": len(row.sessions), "obligations": len(row.obligations),
                                "signatures": len(row.signatures), "ended_in": ctx.from_state}
    take_reason(ctx)
    ctx.reason = ctx.reason or "立卷归档（一案一卷） / filed (one case, one file)"


# --- opening a case by a party or a referral --------------------------------------------------------

def open_mediation(subject: Subject, actor, data: dict, *, runtime) -> Case:
    """Open a mediation for `subject` (the applying party): registered by a mediator, applied for
    by a party for a subject it acts for, or a referral recorded by the credit center's window.
    Who may open with which channel is checked by `open_mediation_row` inside the engine."""
    from .service import open_case

    data = dict(data or {})
    data.pop("submitted_by", None)
    return open_case(KEY, subject, actor, data, runtime=runtime)


def find_subjects(query: str, limit: int = 10) -> list[Subject]:
    """Parties by subject id, exact USCC or ID number, or name (contains)."""
    query = (query or "").strip()
    if not query:
        return []
    if query.isdigit() and len(query) < 10:
        subject = db.session.get(Subject, int(query))
        return [subject] if subject else []
    exact = db.session.execute(select(Subject).where(
        (Subject.uscc == query.upper()) | (Subject.id_number == query.upper()))).scalars().all()
    if exact:
        return list(exact)
    return list(db.session.execute(
        select(Subject).where(Subject.name.contains(query)).order_by(Subject.id).limit(limit)).scalars())


# --- what pages and the API show beside the state ---------------------------------------------------

def _party(row: MediationCase, role: str) -> dict:
    subject = row.subject_of(role)
    zh, en = PARTY_LABELS[role]
    return {"role": role, "role_label_zh": zh, "role_label_en": en, "subject_id": subject.id,
            "name": subject.name, "kind": subject.kind, "identifier": subject.masked_identifier}


def _obligation(o: MediationObligation) -> dict:
    zh, en = PARTY_LABELS[o.obligor]
    s_zh, s_en = OBLIGATION_STATUS_LABELS[o.status]
    revisit = o.revisit_deadline
    return {"seq": o.seq, "obligor": o.obligor, "obligor_label_zh": zh, "obligor_label_en": en,
            "description": o.description, "amount": None if o.amount is None else f"{o.amount:.2f}",
            "due_on": o.due_on.isoformat(), "status": o.status,
            "status_label_zh": s_zh, "status_label_en": s_en,
            "marked_on": o.marked_on.isoformat() if o.marked_on else None, "note": o.note,
            "revisit_due": revisit.due_on.isoformat() if revisit is not None and revisit.due_on else None}


def draft_from_sessions(row: MediationCase) -> dict:
    """The agreement drafted from the last session: its proposals as terms, its proposed obligations."""
    last = row.sessions[-1] if row.sessions else None
    return {"terms": row.terms or (last.proposals if last else ""),
            "facts": row.facts or row.dispute,
            "obligations": forms.obligation_lines(row.obligations) if row.obligations else (
                last.proposed_obligations if last else ""),
            "from_session": last.seq if last else None}


def describe(case: Case, runtime) -> dict:
    row = mediation(case)
    channel = CHANNEL_LABELS[row.channel]
    referral = REFERRAL_LABELS.get(row.referral_source or "")
    return {
        "channel": row.channel, "channel_label_zh": channel[0], "channel_label_en": channel[1],
        "referral_source": row.referral_source,
        "referral_label_zh": referral[0] if referral else None,
        "referral_label_en": referral[1] if referral else None,
        "application_form": row.application_form,
        "parties": [_party(row, "applicant"), _party(row, "respondent")],
        "dispute": row.dispute, "claims": row.claims,
        "opened_by": row.opened_by.username if row.opened_by else None,
        "consent_on": row.consent_on.isoformat() if row.consent_on else None, "consent_how": row.consent_how,
        "registered_on": row.registered_on.isoformat() if row.registered_on else None,
        "mediators": [{"user_id": m.user_id, "username": m.user.username,
                       "name": m.user.name} for m in row.mediators],
        "mediators_chosen_by": row.mediators_chosen_by,
        "rights_informed_on": row.rights_informed_on.isoformat() if row.rights_informed_on else None,
        "rights_informed_how": row.rights_informed_how,
        "sessions": [{"seq": s.seq, "held_on": s.held_on.isoformat(), "place": s.place,
                      "participants": s.participants, "applicant_said": s.applicant_statement,
                      "respondent_said": s.respondent_statement, "proposals": s.proposals,
                      "proposed_obligations": s.proposed_obligations,
                      "recorded_by": s.recorded_by.username if s.recorded_by else None}
                     for s in row.sessions],
        "agreement": {"facts": row.facts, "terms": row.terms,
                      "agreement_on": row.agreement_on.isoformat() if row.agreement_on else None,
                      "effective_on": row.effective_on.isoformat() if row.effective_on else None},
        "obligations": [_obligation(o) for o in row.obligations],
        "signatures": [{"signer": s.signer, "signer_label_zh": SIGNER_LABELS[s.signer][0],
                        "signer_label_en": SIGNER_LABELS[s.signer][1], "name": s.signer_name,
                        "signed_on": s.signed_on.isoformat()} for s in row.signatures],
        "missing_signatures": ([{"label_zh": zh, "label_en": en} for zh, en in missing_signatures(row)]
                               if row.agreement_on else []),
        "confirmation": {"court": row.court,
                         "applied_on": (row.confirmation_applied_on.isoformat()
                                        if row.confirmation_applied_on else None),
                         "accepted_on": row.court_accepted_on.isoformat() if row.court_accepted_on else None,
                         "outcome": row.court_outcome, "ruling_no": row.court_ruling_no},
        "ended_by_party": row.ended_by_party, "outcome_note": row.outcome_note,
        "credit_record_id": row.credit_record_id,
        "archived_on": row.archived_on.isoformat() if row.archived_on else None,
        "draft": draft_from_sessions(row),
        "fee": None,  # mediation is free of charge (WH-Med §5)
    }


# --- steps -----------------------------------------------------------------------------------------

S = State
P = Permission
TO_APPLICANT = ("applicant",)
RUNNING = (S.REGISTERED, S.MEDIATOR_ASSIGNED, S.MEDIATING)
ENDS = (S.REFUSED_CLOSED, S.WITHDRAWN, S.FAILED_TERMINATED, S.NOT_CONFIRMED, S.PERFORMED, S.NOT_PERFORMED)
#: `starts_in` of the clocks that steps open themselves: a state outside their `runs_in` (see the docstring).
OPENED_BY_STEP = S.ARCHIVED
MED = (assigned_mediator,)


def self_loop(trigger: str, sources, permission: Permission, label_zh: str, label_en: str, schema=None,
              **kw) -> list[Step]:
    return [Step(trigger, (src,), src, permission, label_zh, label_en, schema, **kw) for src in sources]


STEPS = [
    Step("record_consent", (S.APPLIED,), S.APPLIED, P.MEDIATE, "记录对方同意调解", "Record the respondent's consent",
         forms.RecordConsentSchema, guards=(not_answered,), effect=record_consent, style="primary"),
    Step("consent", (S.APPLIED,), S.APPLIED, P.APPLICANT_ACT, "同意调解", "Consent to mediation",
         forms.ConsentSchema, guards=(acts_for_respondent,
                                      not_answered), effect=record_consent, style="primary"),
    Step("record_refusal", (S.APPLIED,), S.REFUSED_CLOSED, P.MEDIATE, "记录对方拒绝调解",
         "Record the respondent's refusal", forms.RecordRefusalSchema, guards=(not_answered,),
         effect=record_refusal, style="danger",
         notify=(Notice("mediation-refused", TO_APPLICANT, "对方拒绝调解，不予调解", "The other party refused"),)),
    Step("refuse", (S.APPLIED,), S.REFUSED_CLOSED, P.APPLICANT_ACT, "拒绝调解", "Refuse mediation",
         forms.RefuseSchema, guards=(acts_for_respondent,
                                     not_answered), effect=record_refusal, style="danger",
         notify=(Notice("mediation-refused", TO_APPLICANT, "对方拒绝调解，不予调解", "The other party refused"),)),
    Step("register", (S.APPLIED,), S.REGISTERED, P.MEDIATE, "受理登记", "Register the dispute",
         forms.RegisterSchema, guards=(respondent_consented,), effect=register_case, style="primary",
         notify=(Notice("mediation-registered", TO_APPLICANT, "调解申请已受理登记", "Mediation registered"),)),
    Step("assign_mediators", (S.REGISTERED,), S.MEDIATOR_ASSIGNED, P.MEDIATE, "确定调解员", "Assign mediators",
         forms.AssignMediatorsSchema, effect=assign_mediators, style="primary"),
    Step("inform_rights", (S.MEDIATOR_ASSIGNED,), S.MEDIATING, P.MEDIATE, "告知权利义务，开始调解",
         "Tell the parties their rights and start", forms.InformRightsSchema, guards=MED,
         effect=inform_rights, style="primary",
         notify=(Notice("mediation-started", TO_APPLICANT, "调解告知书", "Mediation notice: your rights"),)),
    *self_loop("log_session", (S.MEDIATING,), P.MEDIATE, "记录调解过程", "Log a session", forms.LogSessionSchema,
               guards=MED, effect=log_session, style="primary"),
    *self_loop("extend", (S.MEDIATING,), P.MEDIATE, "经双方同意延长调解期限", "Extend with both parties' consent",
               forms.ExtendSchema, guards=MED + (not_extended_before,), effect=extend_conclusion,
               notify=(Notice("mediation-extended", TO_APPLICANT, "调解期限已延长", "Mediation extended"),)),
    *self_loop("conclusion_due", RUNNING, P.SYSTEM, "调解期限届满，征询调解员", "Time limit reached: mediators asked",
               effect=ask_mediators),
    Step("withdraw", RUNNING, S.WITHDRAWN, P.APPLICANT_ACT, "要求终止调解", "End the mediation",
         forms.WithdrawSchema, effect=party_withdraws, style="danger",
         notify=(Notice("mediation-withdrawn", TO_APPLICANT, "当事人要求终止调解", "Mediation ended by a party"),)),
    Step("record_withdrawal", RUNNING, S.WITHDRAWN, P.MEDIATE, "记录当事人要求终止", "Record a party ending it",
         forms.RecordWithdrawalSchema, guards=MED, effect=record_party_withdrawal, style="danger",
         notify=(Notice("mediation-withdrawn", TO_APPLICANT, "当事人要求终止调解", "Mediation ended by a party"),)),
    Step("terminate", (S.MEDIATING,), S.FAILED_TERMINATED, P.MEDIATE, "调解不成，终止调解",
         "No agreement: end the mediation", forms.TerminateSchema, guards=MED, effect=terminate,
         style="danger",
         notify=(Notice("mediation-failed", TO_APPLICANT, "终止调解告知书", "Mediation ended without agreement"),)),
    Step("record_agreement", (S.MEDIATING,), S.AGREEMENT_SIGNED, P.MEDIATE, "记录调解协议", "Record the agreement",
         forms.RecordAgreementSchema, guards=MED + (session_logged,), effect=record_agreement,
         style="primary"),
    *self_loop("sign", (S.AGREEMENT_SIGNED,), P.MEDIATE, "记录签名或盖章", "Record a signature or the seal",
               forms.SignSchema, guards=MED + (not_signed_yet,), effect=sign, style="primary"),
    Step("take_effect", (S.AGREEMENT_SIGNED,), S.AGREEMENT_EFFECTIVE, P.MEDIATE, "协议生效",
         "Agreement takes effect",
         forms.TakeEffectSchema, guards=MED + (all_signed,), effect=take_effect, style="primary",
         notify=(Notice("mediation-agreement-effective", TO_APPLICANT, "调解协议已生效（可在30日内共同申请司法确认）",
                        "Agreement in effect (judicial confirmation within 30 days)"),)),
    *self_loop("close_confirmation_window", (S.AGREEMENT_EFFECTIVE,), P.SYSTEM, "司法确认申请期限届满",
               "Confirmation window closed", effect=close_window),
    Step("apply_confirmation", (S.AGREEMENT_EFFECTIVE,), S.CONFIRMATION_APPLIED, P.MEDIATE,
         "记录双方共同申请司法确认", "Record the joint application for confirmation", forms.ApplyConfirmationSchema,
         guards=MED + (window_open,), effect=apply_confirmation),
    *self_loop("record_court_acceptance", (S.CONFIRMATION_APPLIED,), P.MEDIATE, "记录法院受理",
               "Record the court's acceptance", forms.CourtAcceptanceSchema,
               guards=MED + (acceptance_not_recorded,), effect=record_court_acceptance, style="primary"),
    Step("record_confirmed", (S.CONFIRMATION_APPLIED,), S.CONFIRMED, P.MEDIATE, "记录法院确认有效",
         "Record the confirmation", forms.ConfirmedSchema, guards=MED, effect=record_confirmed,
         style="primary",
         notify=(Notice("mediation-confirmed", TO_APPLICANT, "调解协议经司法确认有效", "Agreement confirmed"),)),
    Step("record_not_confirmed", (S.CONFIRMATION_APPLIED,), S.NOT_CONFIRMED, P.MEDIATE, "记录法院不予确认",
         "Record the refusal to confirm", forms.NotConfirmedSchema, guards=MED, effect=record_not_confirmed,
         style="danger",
         notify=(Notice("mediation-not-confirmed", TO_APPLICANT, "法院不予确认调解协议", "Agreement not confirmed"),)),
    Step("start_performance", (S.AGREEMENT_EFFECTIVE, S.CONFIRMED), S.PERFORMING, P.MEDIATE, "开始履行监督",
         "Start monitoring performance", forms.StartPerformanceSchema, guards=MED, effect=start_performance,
         style="primary"),
    *self_loop("mark_obligation", (S.PERFORMING,), P.MEDIATE, "回访：记录义务履行情况", "Revisit: record performance",
               forms.MarkObligationSchema, guards=MED, effect=mark_obligation, style="primary"),
    *self_loop("revisit_due", (S.PERFORMING,), P.SYSTEM, "回访期限到期", "Revisit due", effect=revisit_due),
    Step("finish_performed", (S.PERFORMING,), S.PERFORMED, P.MEDIATE, "确认协议已履行", "Agreement performed",
         forms.FinishSchema, guards=MED + (all_performed,), effect=finish_performed, style="primary",
         notify=(Notice("mediation-performed", TO_APPLICANT, "调解协议已履行完毕", "Agreement performed"),)),
    Step("finish_not_performed", (S.PERFORMING,), S.NOT_PERFORMED, P.MEDIATE, "认定协议未履行",
         "Agreement not performed", forms.FinishSchema, guards=MED + (performance_failed,),
         effect=record_nonperformance, style="danger",
         notify=(Notice("mediation-not-performed", TO_APPLICANT, "调解协议未履行", "Agreement not performed"),)),
    Step("archive", ENDS, S.ARCHIVED, P.MEDIATE, "立卷归档", "File the case", forms.ArchiveSchema, guards=MED,
         effect=archive),
]

# --- timers ----------------------------------------------------------------------------------------

TIMERS = [
    Timer("conclusion", "调解期限（受理登记后1个月）", "Conclusion target (1 month from registration)",
          S.REGISTERED, RUNNING, lambda r: int(r["mediation.conclusion_months"]), "month", "window",
          expiry_trigger="conclusion_due", reminders=False),
    Timer("conclusion_extension", "延长的调解期限（双方同意）", "Extended conclusion target (both parties consenting)",
          OPENED_BY_STEP, (S.MEDIATING,), lambda r: int(r["mediation.extension_cd"]), "cd", "window",
          expiry_trigger="conclusion_due", reminders=False),
    Timer("confirmation_window", "共同申请司法确认期限（协议生效后30日）",
          "Joint application for judicial confirmation (30 days from effect)", S.AGREEMENT_EFFECTIVE,
          (S.AGREEMENT_EFFECTIVE,), lambda r: int(r["mediation.confirmation_window_cd"]), "cd", "applicant",
          party_deadline=True, expiry_trigger="close_confirmation_window"),
    Timer("court_acceptance", "法院受理期限（3日）", "Court acceptance (3 days)", OPENED_BY_STEP,
          (S.CONFIRMATION_APPLIED,), lambda r: int(r["mediation.court_acceptance_days"]), "cd", "window",
          party_deadline=True, reminders=False),
    Timer("court_decision", "法院确认期限（受理后）", "Court decision (from acceptance)", OPENED_BY_STEP,
          (S.CONFIRMATION_APPLIED,), lambda r: int(r["mediation.court_decision_days"]), "cd", "window",
          party_deadline=True, reminders=False),
    Timer("revisit", "履行回访（履行期限后）", "Revisit after the due date", OPENED_BY_STEP, (S.PERFORMING,),
          lambda r: int(r["mediation.revisit_after_performance_wd"]), "wd", "window",
          expiry_trigger="revisit_due", reminders=False),
]

MEDIATION = register(CaseType(
    key=KEY,
    version=1,
    label_zh="信用纠纷调解",
    label_en="Credit dispute mediation",
    states=State,
    initial=S.APPLIED,
    terminal=(S.ARCHIVED,),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="TJ",
    on_open=open_mediation_row,
    open_schema=forms.OpenMediationSchema,
    describe=describe,
    create_permission=Permission.MEDIATE,
    also_opened_with=(Permission.CASE_CREATE, Permission.WINDOW_ACT),
))
