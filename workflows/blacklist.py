"""Serious dishonesty list (严重失信主体名单): entry and exit.

Lifecycle. A reviewer of the deciding department (认定单位) proposes a listing with the facts, the
list criterion chosen from the configured criteria (rules `blacklist.criteria`, each with its legal
basis) and the day the act ended (candidate). Another reviewer of the same department approves the
proposal (four eyes: the proposer may not approve, 403) and the 告知书 is served with the facts,
reasons, basis, rights and deadline (notice_served); service being confirmed, the statement period
of 5 WD runs (statement_period). A statement or objection filed in time is verified and answered in
writing (objection_verifying), then the department decides to list (decided_list) or not
(dropped); with no statement, the period's expiry lists by itself. The credit center publishes
within 7 WD of the decision, with the credit repair notice served together with the decision
(两书同达): a serious dishonesty record is written on the subject, the legal representative is
marked and the enforcing departments are told (listed). The listing ends by early removal after
repair (removed_early: the party applies for credit repair of the listing record from 1 Y after
the decision — a linked credit_repair case — which puts the listing in repair_pending and, when the
department approves the repair, removes it), by expiry (3 Y from the decision, never later than
5 Y from the end of the act: expired_removed), by revocation of the underlying decision
(revoked_removed), or by itself when every record it rests on is revoked (an upheld objection, a
withdrawn decision: revoked_removed; dropped before the decision). Each exit makes the listing
record stop counting and being shown, tells the enforcing departments, and opens the 3 WD clock in
which the window confirms that the platforms stopped display (closed).

A natural person's listing is never published (SD-Cond §20): nothing here marks a record public.

Legal basis: DOMAIN.md §5 — 国办发〔2020〕49号 §(六)–(八), 山东省社会信用条例 §29–31, §38, §40,
NDRC 令第36号 (1 Y / 3 Y), SAMR 2021 (early removal), 国办发〔2025〕22号 (两书同达).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from forms import blacklist as forms
from models import (
    Case, CreditRecord, Deadline, ListingCase, RecordKind, RecordStatus, Severity, SubjectKind, User,
)
from models.people import CREDIT_CENTER_CODE, user_subjects
from models.permissions import SYSTEM, Permission

from . import deadlines, notify
from .base import CaseType, Notice, StateEnum, Step, Timer, register
from .calendar import CalendarYearNotLoaded
from .errors import Forbidden, InvalidInput, NotFound
from .records import on_record_revoked

CATEGORY = "serious_dishonesty_list"


class State(StateEnum):
    CANDIDATE = "candidate", "拟列入", "Proposed for listing"  #: awaiting a second reviewer's approval
    NOTICE_SERVED = "notice_served", "已告知", "Notice served"  #: 告知书 served; service confirmed at once
    STATEMENT_PERIOD = "statement_period", "陈述申辩期", "Statement period"  #: 5 WD for the party
    OBJECTION_VERIFYING = "objection_verifying", "异议核实", "Verifying the statement"  #: answer within 7 WD
    DECIDED_LIST = "decided_list", "作出列入决定", "Decided: list"  #: publish within 7 WD
    DROPPED = "dropped", "不予列入", "Not listed"  #: terminal
    LISTED = "listed", "已列入", "Listed"  #: published; punishment active
    REPAIR_PENDING = "repair_pending", "修复申请中", "Repair applied for"  #: early removal under review
    REMOVED_EARLY = "removed_early", "提前移出", "Removed early"  #: after repair; platforms sync in 3 WD
    EXPIRED_REMOVED = "expired_removed", "期满移出", "Removed at expiry"  #: term ran out; platforms sync in 3 WD
    REVOKED_REMOVED = "revoked_removed", "决定撤销移出", "Removed: decision revoked"  #: platforms sync in 3 WD
    CLOSED = "closed", "已移出·同步完成", "Removed and synchronised"  #: terminal: display stopped everywhere


def listing(case: Case) -> ListingCase:
    from models import db

    row = db.session.get(ListingCase, case.id)
    assert row is not None, f"case {case.id} has no listing row"
    return row


def criterion(rules, key: str) -> dict:
    return rules["blacklist.criteria"][key]


def cap_last_day(row: ListingCase, calendar, rules) -> date:
    """Last day the listing may last: 5 Y from the end of the act (SD-Cond §38)."""
    return calendar.expiry(row.act_ended_on, int(rules["blacklist.cap_years_from_act_end"]), "year")[0]


def expiry_plan(row: ListingCase, decided_on: date, calendar, rules) -> tuple[date, int]:
    """(start, years) of the automatic removal clock: max_years from the decision, or the cap from
    the end of the act when that comes first."""
    max_years = int(rules["blacklist.max_years"])
    cap_years = int(rules["blacklist.cap_years_from_act_end"])
    by_decision = calendar.expiry(decided_on, max_years, "year")[0]
    by_act = calendar.expiry(row.act_ended_on, cap_years, "year")[0]
    return (row.act_ended_on, cap_years) if by_act < by_decision else (decided_on, max_years)


def early_removal_from(row: ListingCase, calendar, rules) -> date | None:
    if row.decided_on is None:
        return None
    return calendar.waiting_period_end(row.decided_on, int(rules["blacklist.min_years"]), "year")[1]


def statement_deadline(case: Case) -> Deadline | None:
    return next((d for d in reversed(case.deadlines) if d.kind == "statement"), None)


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

def statement_period_open(ctx) -> str | None:
    row = listing(ctx.case)
    if row.statement_filed:
        return "已提交过陈述申辩 / a statement was already filed"
    period = statement_deadline(ctx.case)
    if period is None or period.due_on is None:
        return "陈述申辩期尚未开始 / the statement period has not started"
    if period.status != "open" or ctx.today > period.due_on:
        closed = period.due_on.isoformat()
        return (f"陈述申辩期已于 {closed} 届满 / the statement period closed on {closed} (24:00)")
    return None


def min_term_served(ctx) -> str | None:
    row = listing(ctx.case)
    eligible = early_removal_from(row, ctx.calendar, ctx.rules)
    if eligible is None or ctx.today < eligible:
        when = eligible.isoformat() if eligible else "-"
        return (f"列入未满最短期限，最早可于 {when} 提前移出 / "
                f"the minimum listing term has not run; early removal is possible from {when}")
    return None


# --- effects ----------------------------------------------------------------------------------

def take_reason(ctx) -> None:
    ctx.reason = ctx.data.get("reason") or ctx.data.get("note") or ctx.reason


def approve_proposal(ctx) -> None:
    row = listing(ctx.case)
    if row.proposer_id is not None and row.proposer_id == getattr(ctx.actor, "id", None):
        raise Forbidden("拟列入须由提出人以外的审核人批准 / The proposer may not approve the proposal (four eyes)",
                        details={"trigger": "approve_proposal", "rule": "four_eyes"})
    take_reason(ctx)
    row.approver_id = ctx.actor.id
    row.notice_served_on = ctx.today
    crit = criterion(ctx.rules, row.criteria_key)
    ctx.ledger_extra["notice"] = {
        "facts": row.facts, "criterion": row.criteria_key, "criterion_zh": crit["name_zh"],
        "legal_basis": row.legal_basis, "served_on": ctx.today.isoformat(),
        "statement_wd": int(ctx.rules["blacklist.statement_wd"]),
    }


def file_statement(ctx) -> None:
    row = listing(ctx.case)
    row.statement_filed = True
    row.statement = ctx.data["statement"]


def decide_list(ctx) -> None:
    row = listing(ctx.case)
    row.decision = "list"
    row.decided_on = ctx.today
    if ctx.data.get("answer"):
        row.answer = ctx.data["answer"]
        ctx.reason = ctx.reason or row.answer
    elif not ctx.reason:
        ctx.reason = "陈述申辩期届满未提出陈述申辩 / no statement within the period"
    open_expiry(ctx, row)


def open_expiry(ctx, row: ListingCase) -> Deadline:
    """Open the automatic-removal clock here (before `replan`), so it runs to the earlier of the
    decision + max_years and the act's end + cap years; `replan` then finds it open."""
    start, years = expiry_plan(row, row.decided_on, ctx.calendar, ctx.rules)
    deadline = Deadline(
        case_id=ctx.case.id, kind="expiry", unit="year", budget=years, start_on=start, party_deadline=False,
        expiry_trigger="expire", responsible="system", status="open", created_at=ctx.now,
    )
    with ctx.session.no_autoflush:
        ctx.case.deadlines.append(deadline)
        deadlines.recompute(deadline, ctx.calendar, ctx.rules)
    ctx.ledger_extra["expires_after"] = deadline.due_on.isoformat()
    return deadline


def drop(ctx) -> None:
    take_reason(ctx)
    row = listing(ctx.case)
    row.decision = "drop"
    row.decided_on = ctx.today
    row.answer = ctx.reason or None


def publish(ctx) -> None:
    take_reason(ctx)
    row = listing(ctx.case)
    case = ctx.case
    subject = case.subject
    crit = criterion(ctx.rules, row.criteria_key)
    expiry = deadlines.current(case, "expiry")
    legal_rep = None
    if subject.kind != SubjectKind.NATURAL_PERSON and subject.legal_representative:
        legal_rep = subject.legal_representative
    description = f"{row.facts}\n列入依据 / basis: {row.legal_basis}"
    if legal_rep:
        description += f"\n法定代表人（主要负责人）：{legal_rep} / legal representative: {legal_rep}"
    record = CreditRecord(
        subject_id=subject.id, kind=RecordKind.DISHONESTY,
        title=f"列入严重失信主体名单：{crit['name_zh']}", description=description,
        severity=Severity.SERIOUS, category=CATEGORY, document_no=case.reference, decided_on=row.decided_on,
        act_ended_on=row.act_ended_on, department_id=case.department_id,
        points=int(ctx.rules["blacklist.points"]),
        valid_until=expiry.due_on if expiry else None, status=RecordStatus.ACTIVE, created_at=ctx.now,
    )
    ctx.session.add(record)
    ctx.session.flush([record])
    row.listing_record_id = record.id
    # The legal representative / principal is marked on the personal record (联奖联罚, §5.5, §8.1).
    from .scoring import mirror_to_legal_representative

    mirrored = mirror_to_legal_representative(ctx.session, record, calendar=ctx.calendar)
    if mirrored is not None:
        ctx.ledger_extra["legal_representative_record_id"] = mirrored.id
    row.published_on = ctx.today
    row.legal_rep_marked = legal_rep
    ctx.ledger_extra.update({
        "listing_record_id": record.id,
        "two_notices": {"listing_decision": case.reference, "repair_notice": True,
                        "served_on": ctx.today.isoformat()},
        "legal_representative": legal_rep,
        "public": subject.kind != SubjectKind.NATURAL_PERSON,
    })


def exit_listing(kind: str):
    def effect(ctx) -> None:
        take_reason(ctx)
        if not ctx.reason and kind == "expired_removed":
            ctx.reason = "列入期限届满 / the listing term ended"
        row = listing(ctx.case)
        row.exit_kind = kind
        row.exited_on = ctx.today
        if row.listing_record_id is not None:
            record = ctx.session.get(CreditRecord, row.listing_record_id)
            if record.status == RecordStatus.ACTIVE:  # an early removal finds it repaired already
                # Set directly, not through records.revoke_record: the listing ending is not a finding
                # that the listing was wrong, so objections to it are not upheld by this.
                record.status = RecordStatus.REVOKED
                record.under_objection = False
            end_legal_rep_mark(ctx, record)
        if ctx.data.get("document_no"):
            ctx.ledger_extra["document_no"] = ctx.data["document_no"]
        open_sync_clock(ctx)

    return effect


def end_legal_rep_mark(ctx, record: CreditRecord) -> None:
    """The mark on the legal representative's personal record ends with the listing: repaired with
    it after an early removal, withdrawn otherwise."""
    from .scoring import MIRROR_MARK

    marks = ctx.session.execute(select(CreditRecord).where(
        CreditRecord.description.contains(MIRROR_MARK.format(id=record.id)),
        CreditRecord.status == RecordStatus.ACTIVE)).scalars().all()
    for mark in marks:
        if record.status == RecordStatus.REPAIRED:
            mark.status, mark.repaired_on = RecordStatus.REPAIRED, record.repaired_on or ctx.today
        else:
            mark.status = RecordStatus.REVOKED
        ctx.ledger_extra.setdefault("legal_representative_marks_ended", []).append(mark.id)


def open_sync_clock(ctx) -> Deadline | None:
    """QY58: the platforms stop display within 3 WD of the removal; the window confirms it.

    The removal itself never waits for the calendar: when the year of the removal has no holiday
    data yet (an expiry years ahead), the removal happens, the ledger says the sync date could not
    be computed and the administrators are told to load the year."""
    deadline = Deadline(case_id=ctx.case.id, kind="sync", unit="wd", budget=int(ctx.rules["blacklist.sync_wd"]),
                        start_on=ctx.today, party_deadline=False, expiry_trigger=None, responsible="window",
                        status="open", created_at=ctx.now)
    try:
        calendar = ctx.calendar
        with ctx.session.no_autoflush:
            deadlines.recompute(deadline, calendar, ctx.rules)
    except CalendarYearNotLoaded as exc:
        ctx.ledger_extra["sync_by"] = None
        ctx.ledger_extra["sync_calendar_missing"] = exc.year
        notify.queue(
            ctx.session, ctx.case, event="calendar-year-missing", audience=("window",),
            title_zh=f"{exc.year}年节假日未加载，无法计算同步期限（{ctx.case.reference}）",
            title_en=f"Holidays for {exc.year} not loaded: sync deadline unknown ({ctx.case.reference})",
            body_zh=f"请管理员加载{exc.year}年节假日安排，并在3个工作日内确认各平台已停止公示。",
            body_en=f"An administrator must load the {exc.year} holidays; confirm the platforms stopped display "
                    f"within 3 working days.", now=ctx.now)
        return None
    with ctx.session.no_autoflush:
        ctx.case.deadlines.append(deadline)
    ctx.ledger_extra["sync_by"] = deadline.due_on.isoformat()
    return deadline


def confirm_sync(ctx) -> None:
    take_reason(ctx)
    ctx.reason = ctx.reason or "各平台已停止公示 / display stopped on every platform"


# --- links to other case types ------------------------------------------------------------------

def open_listing_for_record(session, record_id: int) -> Case | None:
    """The listing case whose published record is `record_id`, while it is still open."""
    return session.execute(
        select(Case).join(ListingCase, ListingCase.case_id == Case.id)
        .where(ListingCase.listing_record_id == record_id, Case.closed_at.is_(None))
    ).scalars().first()


def repair_started(ctx, record: CreditRecord) -> None:
    """A credit_repair case was filed against the listing record: early removal is under way (T7)."""
    from models import CaseLink

    from .service import fire

    case = open_listing_for_record(ctx.session, record.id)
    if case is None:
        return
    if case.state != S.LISTED:
        label_zh, label_en = BLACKLIST.state_label(case.state)
        raise InvalidInput(f"名单案件{case.reference}处于“{label_zh}”，不能申请提前移出 / "
                           f"listing {case.reference} is {label_en}: early removal cannot be applied for",
                           details={"fields": {"record_id": [f"listing {case.reference} is {case.state}"]}})
    fire(case, "apply_repair", SYSTEM, {}, runtime=ctx.runtime,
         reason=f"当事人申请信用修复（{ctx.case.reference}） / credit repair {ctx.case.reference} filed")
    ctx.session.add(CaseLink(from_case_id=case.id, to_case_id=ctx.case.id, kind="early_removal_repair",
                             created_at=ctx.now))


def repair_approved(ctx, record: CreditRecord) -> None:
    """The repair of the listing record was approved: the listing is removed early (T8)."""
    from .service import fire

    case = open_listing_for_record(ctx.session, record.id)
    if case is not None and case.state == S.REPAIR_PENDING:
        fire(case, "remove_early", SYSTEM, {}, runtime=ctx.runtime,
             reason=f"准予信用修复（{ctx.case.reference}），提前移出 / repair {ctx.case.reference} approved")


def repair_ended(ctx, record: CreditRecord) -> None:
    """The repair ended without approval (refused, not accepted, withdrawn, lapsed): still listed."""
    from .service import fire

    case = open_listing_for_record(ctx.session, record.id)
    if case is not None and case.state == S.REPAIR_PENDING:
        fire(case, "refuse_repair", SYSTEM, {}, runtime=ctx.runtime,
             reason=f"信用修复（{ctx.case.reference}）未获准予：{ctx.reason} / repair {ctx.case.reference} "
                    f"ended without approval")


@on_record_revoked
def end_listings_resting_on(ctx, record: CreditRecord, reason: str) -> None:
    """A revoked record takes down the listings that rest only on it (DOMAIN.md §2.6): the
    listing published on that record, or a listing all of whose basis records are now revoked."""
    from models.blacklist import listing_basis_records

    from .service import fire

    by_basis = select(listing_basis_records.c.case_id).where(listing_basis_records.c.record_id == record.id)
    cases = ctx.session.execute(
        select(Case).join(ListingCase, ListingCase.case_id == Case.id)
        .where(Case.closed_at.is_(None), Case.id != ctx.case.id,
               (ListingCase.listing_record_id == record.id) | ListingCase.case_id.in_(by_basis))
        .order_by(Case.id)
    ).scalars().all()
    for case in cases:
        row = listing(case)
        rests_on_it = row.listing_record_id == record.id or all(
            r.status == RecordStatus.REVOKED for r in row.basis_records)
        if rests_on_it and case.state in BASIS_WITHDRAWN_FROM:
            fire(case, "basis_withdrawn", SYSTEM, {}, runtime=ctx.runtime,
                 reason=f"据以列入的记录已撤销（{ctx.case.reference}）：{reason} / the record the listing rests "
                        f"on was revoked")


def open_listing(ctx, data) -> None:
    actor = ctx.actor
    if (not isinstance(actor, User) or actor.role != "reviewer" or actor.department is None
            or actor.department.code == CREDIT_CENTER_CODE):
        # The credit center publishes and pushes; only a deciding department (认定单位) lists (§5.2).
        raise Forbidden("只有认定单位的审核人可以提出列入 / Only a deciding department's reviewer may propose a listing")
    criteria = ctx.rules["blacklist.criteria"]
    if data["criteria_key"] not in criteria:
        raise InvalidInput("未配置的列入标准 / Not a configured list criterion",
                           details={"fields": {"criteria_key": [f"allowed: {', '.join(sorted(criteria))}"]}})
    act_ended_on = data["act_ended_on"]
    if act_ended_on > ctx.today:
        raise InvalidInput("失信行为终止日不能晚于今天 / The act cannot end in the future",
                           details={"fields": {"act_ended_on": ["in the future"]}})
    cap = ctx.calendar.expiry(act_ended_on, int(ctx.rules["blacklist.cap_years_from_act_end"]), "year")[0]
    if cap < ctx.today:
        raise InvalidInput(
            f"失信行为终止已超过公示上限，至 {cap.isoformat()} 止 / The disclosure cap ran out on {cap.isoformat()}",
            details={"fields": {"act_ended_on": [f"cap ran out on {cap.isoformat()}"]}})
    basis = []
    for record_id in dict.fromkeys(data.get("basis_record_ids") or []):
        record = ctx.session.get(CreditRecord, record_id)
        if record is None or record.subject_id != ctx.case.subject_id:
            raise NotFound("该主体没有这条记录 / No such record for this subject", details={"record_id": record_id})
        if record.kind != RecordKind.DISHONESTY or record.status != RecordStatus.ACTIVE:
            raise InvalidInput("列入须以有效的失信记录为依据 / A listing rests on active dishonesty records",
                               details={"fields": {"basis_record_ids": [f"record {record_id} is not an active "
                                                                        f"dishonesty record"]}})
        basis.append(record)
    # The party (its registered clerk, if any) receives the notices: the 告知书, the decision, removals.
    ctx.case.applicant = ctx.session.execute(
        select(User).join(user_subjects, user_subjects.c.user_id == User.id)
        .where(user_subjects.c.subject_id == ctx.case.subject_id, User.role == "applicant",
               User.active.is_(True))
        .order_by(User.id)
    ).scalars().first()
    ctx.session.add(ListingCase(
        case_id=ctx.case.id, criteria_key=data["criteria_key"],
        legal_basis=data.get("legal_basis") or criteria[data["criteria_key"]]["legal_basis"],
        facts=data["facts"], act_ended_on=act_ended_on, proposer_id=actor.id, statement_filed=False,
        basis_records=basis,
    ))


def describe(case: Case, runtime) -> dict:
    """Facts a case page and the API show beside the state."""
    row = listing(case)
    calendar = runtime.calendar()
    crit = runtime.rules["blacklist.criteria"].get(row.criteria_key, {})
    expiry = deadlines.current(case, "expiry")
    early = early_removal_from(row, calendar, runtime.rules)
    return {
        "criteria_key": row.criteria_key,
        "criteria_label_zh": crit.get("name_zh"),
        "criteria_label_en": crit.get("name_en"),
        "legal_basis": row.legal_basis,
        "facts": row.facts,
        "act_ended_on": row.act_ended_on.isoformat(),
        "cap_last_day": cap_last_day(row, calendar, runtime.rules).isoformat(),
        "proposer": row.proposer.name if row.proposer else None,
        "approver": row.approver.name if row.approver else None,
        "notice_served_on": row.notice_served_on.isoformat() if row.notice_served_on else None,
        "statement_filed": row.statement_filed,
        "decision": row.decision,
        "decided_on": row.decided_on.isoformat() if row.decided_on else None,
        "answer": row.answer,
        "published_on": row.published_on.isoformat() if row.published_on else None,
        "listing_record_id": row.listing_record_id,
        "legal_rep_marked": row.legal_rep_marked,
        "early_removal_from": early.isoformat() if early else None,
        "expires_after": expiry.due_on.isoformat() if expiry and expiry.due_on else None,
        "basis_records": [{"id": r.id, "title": r.title, "document_no": r.document_no, "status": r.status}
                          for r in row.basis_records],
        # The party applies for early removal with a credit repair of this record (from early_removal_from).
        "repair_record_id": row.listing_record_id if case.state == S.LISTED else None,
        "exit_kind": row.exit_kind,
        "exited_on": row.exited_on.isoformat() if row.exited_on else None,
        # SD-Cond §20: a natural person's listing is shared or queried with authorisation only.
        "public": case.subject.kind != SubjectKind.NATURAL_PERSON,
    }


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission
TO_PARTY = ("applicant",)
IN_FORCE = (S.DECIDED_LIST, S.LISTED, S.REPAIR_PENDING)
PRE_DECISION = (S.CANDIDATE, S.NOTICE_SERVED, S.STATEMENT_PERIOD, S.OBJECTION_VERIFYING)
BASIS_WITHDRAWN_FROM = (*PRE_DECISION, *IN_FORCE)
EXITED = (S.REMOVED_EARLY, S.EXPIRED_REMOVED, S.REVOKED_REMOVED)

STEPS = [
    Step("approve_proposal", (S.CANDIDATE,), S.NOTICE_SERVED, P.DEPARTMENT_DECIDE, "批准拟列入并送达告知书",
         "Approve the proposal and serve the notice", forms.ApproveProposalSchema, effect=approve_proposal,
         style="primary",
         notify=(Notice("blacklist-notice", TO_PARTY, "拟列入严重失信主体名单告知书",
                        "Notice of intended listing as a seriously dishonest subject"),)),
    Step("drop", (S.CANDIDATE, S.OBJECTION_VERIFYING), S.DROPPED, P.DEPARTMENT_DECIDE, "不予列入", "Do not list",
         forms.DropSchema, effect=drop, style="danger",
         notify=(Notice("blacklist-dropped", TO_PARTY, "不予列入严重失信主体名单", "Not listed"),)),
    Step("confirm_service", (S.NOTICE_SERVED,), S.STATEMENT_PERIOD, P.SYSTEM, "告知书送达确认，陈述申辩期开始",
         "Service confirmed: the statement period runs"),
    Step("file_statement", (S.STATEMENT_PERIOD, S.DECIDED_LIST), S.OBJECTION_VERIFYING, P.APPLICANT_ACT,
         "提出陈述申辩", "File a statement or objection", forms.FileStatementSchema,
         guards=(statement_period_open,), effect=file_statement, style="primary",
         notify=(Notice("blacklist-statement", ("department",), "当事人提出陈述申辩",
                        "The party filed a statement"),)),
    Step("close_statement_period", (S.STATEMENT_PERIOD,), S.DECIDED_LIST, P.SYSTEM, "陈述申辩期届满，作出列入决定",
         "Statement period over: listing decided", effect=decide_list,
         notify=(Notice("blacklist-decided", ("applicant", "window"), "作出列入严重失信主体名单决定",
                        "Decision to list"),)),
    Step("decide_list", (S.OBJECTION_VERIFYING,), S.DECIDED_LIST, P.DEPARTMENT_DECIDE, "答复并作出列入决定",
         "Answer and decide to list", forms.DecideListSchema, effect=decide_list, style="primary",
         notify=(Notice("blacklist-decided", ("applicant", "window"), "作出列入严重失信主体名单决定",
                        "Decision to list"),)),
    Step("publish", (S.DECIDED_LIST,), S.LISTED, P.WINDOW_ACT, "公示并推送联合惩戒（两书同达）",
         "Publish and push the measures (with the repair notice)", forms.PublishSchema, effect=publish,
         style="primary",
         notify=(Notice("blacklist-listed", ("applicant", "window", "department"), "已列入严重失信主体名单，请实施联合惩戒",
                        "Listed as seriously dishonest: apply the joint measures"),)),
    # Early removal runs through a credit_repair case of the listing record (repair_started and
    # friends above): the repair's department decision drives these three system steps.
    Step("apply_repair", (S.LISTED,), S.REPAIR_PENDING, P.SYSTEM, "申请信用修复（提前移出）",
         "Credit repair applied for (early removal)", guards=(min_term_served,), effect=take_reason,
         notify=(Notice("blacklist-repair-applied", ("department",), "申请提前移出严重失信主体名单",
                        "Early removal applied for"),)),
    Step("refuse_repair", (S.REPAIR_PENDING,), S.LISTED, P.SYSTEM, "信用修复未获准予，继续列入",
         "Repair not granted: still listed", effect=take_reason,
         notify=(Notice("blacklist-repair-refused", TO_PARTY, "不予提前移出", "Early removal refused"),)),
    Step("remove_early", (S.REPAIR_PENDING,), S.REMOVED_EARLY, P.SYSTEM, "信用修复后提前移出",
         "Removed early after repair", guards=(min_term_served,), effect=exit_listing("removed_early"),
         notify=(Notice("blacklist-removed", ("applicant", "window", "department"), "已提前移出严重失信主体名单",
                        "Removed early from the list"),)),
    Step("revoke", IN_FORCE, S.REVOKED_REMOVED, P.DEPARTMENT_DECIDE, "原决定撤销，移出名单",
         "Underlying decision revoked: remove", forms.RevokeSchema, effect=exit_listing("revoked_removed"),
         style="danger",
         notify=(Notice("blacklist-revoked", ("applicant", "window", "department"), "列入决定撤销，已移出名单",
                        "Decision revoked: removed from the list"),)),
    Step("expire", IN_FORCE, S.EXPIRED_REMOVED, P.SYSTEM, "期满自动移出", "Term ended: removed",
         effect=exit_listing("expired_removed"),
         notify=(Notice("blacklist-expired", ("applicant", "window", "department"), "列入期限届满，已移出名单",
                        "Listing term ended: removed"),)),
    Step("basis_withdrawn", PRE_DECISION, S.DROPPED, P.SYSTEM, "据以列入的记录已撤销，不予列入",
         "The records it rests on were revoked: not listed", effect=drop,
         notify=(Notice("blacklist-dropped", TO_PARTY, "不予列入严重失信主体名单", "Not listed"),)),
    Step("basis_withdrawn", IN_FORCE, S.REVOKED_REMOVED, P.SYSTEM, "据以列入的记录已撤销，移出名单",
         "The records it rests on were revoked: removed", effect=exit_listing("revoked_removed"),
         notify=(Notice("blacklist-revoked", ("applicant", "window", "department"), "据以列入的记录已撤销，已移出名单",
                        "Records revoked: removed from the list"),)),
    Step("confirm_sync", EXITED, S.CLOSED, P.WINDOW_ACT, "确认各平台已停止公示", "Confirm display stopped everywhere",
         forms.ConfirmSyncSchema, effect=confirm_sync, style="primary"),
]

# --- timers -----------------------------------------------------------------------------------

TIMERS = [
    Timer("statement", "陈述申辩期（5个工作日）", "Statement period (5 working days)", S.STATEMENT_PERIOD,
          (S.STATEMENT_PERIOD,), lambda r: int(r["blacklist.statement_wd"]), "wd", "applicant",
          party_deadline=True, expiry_trigger="close_statement_period"),
    Timer("objection_answer", "异议核实答复（7个工作日）", "Answer to the statement (7 working days)",
          S.OBJECTION_VERIFYING, (S.OBJECTION_VERIFYING,), lambda r: int(r["blacklist.objection_answer_wd"]),
          "wd", "department"),
    Timer("publish", "作出决定后公示（7个工作日）", "Publication after the decision (7 working days)", S.DECIDED_LIST,
          (S.DECIDED_LIST,), lambda r: int(r["blacklist.publish_wd"]), "wd", "window"),
    # Opened by the decision's effect (`open_expiry`) to the earlier of the two ends; this budget is
    # only the fallback. Year arithmetic without rollover needs no holiday data.
    Timer("expiry", "列入期限（最长3年，自行为终止不超过5年）", "Listing term (3 years; at most 5 from the act's end)",
          S.DECIDED_LIST, IN_FORCE, lambda r: int(r["blacklist.max_years"]), "year", "system",
          expiry_trigger="expire", reminders=False),
    # Opened by the exit's effect (`open_sync_clock`), never by entering a state: `starts_in` is the
    # terminal state, which is outside `runs_in`; confirm_sync closes it as met.
    Timer("sync", "各平台停止公示（3个工作日）", "Platforms stop display (3 working days)", S.CLOSED, EXITED,
          lambda r: int(r["blacklist.sync_wd"]), "wd", "window"),
]

BLACKLIST = register(CaseType(
    key="blacklist",
    version=1,
    label_zh="严重失信主体名单",
    label_en="Serious dishonesty list",
    states=State,
    initial=S.CANDIDATE,
    terminal=(S.DROPPED, S.CLOSED),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="HM",
    on_open=open_listing,
    open_schema=forms.OpenListingSchema,
    describe=describe,
    create_permission=Permission.CHECK_REQUEST,
    automatic={S.NOTICE_SERVED: "confirm_service"},
))
