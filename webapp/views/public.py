"""Pages for the public, without logging in: published credit commitments (信用承诺公示).

Only commitments of organisations (法人 and 非法人组织) are listed: a natural person's commitment
is never published (SD-Cond §20), which is checked twice — the commitment's own `public` flag,
set when it was opened, and the subject's kind. A suspicion or an interview in progress is not a
finding, so the public sees such commitments simply as being tracked.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import or_, select

from models import Case, Commitment, Subject, SubjectKind, db
from workflows.credit_commitment import TYPE_LABELS, State

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
