"""Pages for the public, without logging in: published credit commitments (信用承诺公示) and the
red and black lists (信用红黑名单).

Only commitments of organisations (法人 and 非法人组织) are listed: a natural person's commitment
is never published (SD-Cond §20), which is checked twice — the commitment's own `public` flag,
set when it was opened, and the subject's kind. A suspicion or an interview in progress is not a
finding, so the public sees such commitments simply as being tracked.

The black list shows the serious dishonesty listings while they are published and in force
(listed, or listed with an early removal under review); the red list shows organisations' positive
records (honours and the like) while they count. Natural persons are excluded from both, in the
query and again row by row.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import or_, select

from models import (
    Case,
    Commitment,
    CreditRecord,
    Deadline,
    Department,
    ListingCase,
    RecordKind,
    RecordStatus,
    Subject,
    SubjectKind,
    db,
)
from workflows.blacklist import State as ListingState
from workflows.credit_commitment import TYPE_LABELS, State
from workflows.records import is_active_on

from ..runtime import current_runtime

bp = Blueprint("public", __name__)

LIMIT = 200
#: What the public sees of each state a published commitment can be in.
PUBLIC_STATUS = {
    State.PUBLISHED: ("公示中", "Published"),
    State.IN_FULFILMENT: ("履约中", "In fulfilment"),
    State.SUSPECTED_BREACH: ("履约中", "In fulfilment"),
    State.PROMPT_INTERVIEW: ("履约中", "In fulfilment"),
    State.RECTIFYING: ("履约中", "In fulfilment"),
    State.WARNING_INTERVIEW: ("履约中", "In fulfilment"),
    State.FULFILLED: ("已履约", "Fulfilled"),
    State.BREACHED_RECORDED: ("违诺已记录", "Breach recorded"),
}


@bp.get("/public/commitments")
def commitments():
    needle = (request.args.get("q") or "").strip()[:100]
    query = (
        select(Case, Commitment, Subject)
        .join(Commitment, Commitment.case_id == Case.id)
        .join(Subject, Subject.id == Case.subject_id)
        .where(
            Case.case_type == "credit_commitment",
            Case.state.in_([str(s) for s in PUBLIC_STATUS]),
            Commitment.public.is_(True),
            Commitment.published_on.is_not(None),
            Subject.kind != SubjectKind.NATURAL_PERSON,
        )
    )
    if needle:
        query = query.where(or_(Subject.name.contains(needle, autoescape=True),
                                Subject.uscc.contains(needle.upper(), autoescape=True)))
    rows = db.session.execute(
        query.order_by(Commitment.published_on.desc(), Case.id.desc()).limit(LIMIT + 1)
    ).all()
    items = [{
        "reference": case.reference,
        "type": TYPE_LABELS[commitment.commitment_type],
        "matter": commitment.matter,
        "subject": subject.name,
        "uscc": subject.uscc,
        "published_on": commitment.published_on,
        "term_until": commitment.term_until,
        "status": PUBLIC_STATUS[State(case.state)],
    } for case, commitment, subject in rows[:LIMIT]]
    return render_template("public/commitments.html", items=items, q=needle, truncated=len(rows) > LIMIT)


#: The listing states in which a listing is published and in force. decided_list is in force but
#: not yet published; the exits and dropped are never shown.
PUBLISHED_LISTING_STATES = (ListingState.LISTED, ListingState.REPAIR_PENDING)


def _search(query, needle: str):
    if not needle:
        return query
    return query.where(or_(Subject.name.contains(needle, autoescape=True),
                           Subject.uscc.contains(needle.upper(), autoescape=True)))


@bp.get("/public/lists")
def lists():
    needle = (request.args.get("q") or "").strip()[:100]
    runtime = current_runtime()
    today = runtime.today()
    criteria = runtime.rules["blacklist.criteria"]

    black = db.session.execute(_search(
        select(Case, ListingCase, Subject)
        .join(ListingCase, ListingCase.case_id == Case.id)
        .join(Subject, Subject.id == Case.subject_id)
        .where(
            Case.case_type == "blacklist",
            Case.state.in_([str(s) for s in PUBLISHED_LISTING_STATES]),
            ListingCase.published_on.is_not(None),
            ListingCase.exit_kind.is_(None),
            Subject.kind != SubjectKind.NATURAL_PERSON,
        ), needle).order_by(ListingCase.published_on.desc(), Case.id.desc()).limit(LIMIT + 1)
    ).all()
    # SD-Cond §20, the second time: whatever the query returned, never a natural person.
    black_shown = [(case, listing, subject) for case, listing, subject in black[:LIMIT]
                   if not subject.is_natural_person and case.state in PUBLISHED_LISTING_STATES]
    planned_end = dict(db.session.execute(
        select(Deadline.case_id, Deadline.due_on).where(
            Deadline.case_id.in_([case.id for case, _, _ in black_shown]),
            Deadline.kind == "expiry", Deadline.status == "open")
    ).all()) if black_shown else {}
    black_items = [{
        "reference": case.reference,
        "subject": subject.name,
        "uscc": subject.uscc,
        "criterion": (criteria.get(listing.criteria_key, {}).get("name_zh") or listing.criteria_key,
                      criteria.get(listing.criteria_key, {}).get("name_en") or listing.criteria_key),
        "legal_basis": listing.legal_basis,
        "published_on": listing.published_on,
        "planned_end": planned_end.get(case.id),
        "repair_pending": case.state == ListingState.REPAIR_PENDING,
    } for case, listing, subject in black_shown]

    red = db.session.execute(_search(
        select(CreditRecord, Subject, Department)
        .join(Subject, Subject.id == CreditRecord.subject_id)
        .outerjoin(Department, Department.id == CreditRecord.department_id)
        .where(
            CreditRecord.kind == RecordKind.POSITIVE,
            CreditRecord.status == RecordStatus.ACTIVE,
            CreditRecord.decided_on <= today,
            or_(CreditRecord.valid_until.is_(None), CreditRecord.valid_until >= today),
            Subject.kind != SubjectKind.NATURAL_PERSON,
        ), needle).order_by(CreditRecord.decided_on.desc(), CreditRecord.id.desc()).limit(LIMIT + 1)
    ).all()
    red_items = [{
        "id": record.id,
        "subject": subject.name,
        "uscc": subject.uscc,
        "title": record.title,
        "document_no": record.document_no,
        "department": department,
        "decided_on": record.decided_on,
        "valid_until": record.valid_until,
    } for record, subject, department in red[:LIMIT]
        if not subject.is_natural_person and is_active_on(record, today)]
    return render_template("public/lists.html", black=black_items, red=red_items, q=needle,
                           black_truncated=len(black) > LIMIT, red_truncated=len(red) > LIMIT)
