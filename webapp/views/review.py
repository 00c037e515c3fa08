"""The reviewers' inbox: the open cases a reviewer may see, most urgent clock first.

Ordering is done by the database (earliest open deadline first, suspended or clock-less cases
last); the on-track / at-risk / overdue mark comes from `workflows.deadlines.time_left_status`.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import func, or_, select

from models import Case, Deadline, Department, Role, Subject, db
from models.permissions import Actor, visible_cases
from workflows.base import all_case_types
from workflows.errors import Forbidden

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import case_time_left, deadline_label, load_cases, state_label, subject_identifier, type_label

bp = Blueprint("review", __name__)

#: Roles that work cases from the inbox (auditors read it); applicants use the portal instead.
INBOX_ROLES = {Role.REVIEWER, Role.ADMIN, Role.AUDITOR}
STATUS_ORDER = ("overdue", "at_risk", "on_track", "suspended", "none")
LIMIT = 500


def may_use_inbox(user: Actor) -> bool:
    return getattr(user, "active", False) and getattr(user, "role", None) in INBOX_ROLES


@bp.get("/review")
@login_required
def inbox():
    user = current_user()
    if not may_use_inbox(user):
        raise Forbidden("待办案件仅供审核人员使用 / The case inbox is for reviewing staff")
    runtime = current_runtime()
    filters = {key: (request.args.get(key) or "").strip()
               for key in ("case_type", "department", "subject", "state", "status")}

    next_due = (
        select(Deadline.case_id, func.min(Deadline.due_at).label("due_at"))
        .where(Deadline.status == "open")
        .group_by(Deadline.case_id)
        .subquery()
    )
    query = visible_cases(user).where(Case.closed_at.is_(None)).outerjoin(next_due, next_due.c.case_id == Case.id)
    if filters["case_type"]:
        query = query.where(Case.case_type == filters["case_type"])
    if filters["state"]:
        query = query.where(Case.state == filters["state"])
    if filters["department"]:
        query = query.join(Department, Case.department_id == Department.id).where(
            Department.code == filters["department"])
    if filters["subject"]:
        needle = filters["subject"]
        query = query.join(Subject, Case.subject_id == Subject.id).where(
            or_(Subject.name.contains(needle, autoescape=True), Subject.uscc.contains(needle.upper(), autoescape=True)))
    query = query.order_by(next_due.c.due_at.is_(None), next_due.c.due_at, Case.id).limit(LIMIT)
    cases = db.session.execute(load_cases(query)).scalars().all()

    rows = []
    counts = dict.fromkeys(STATUS_ORDER, 0)
    for case in cases:
        status, deadline = case_time_left(case, runtime)
        counts[status] = counts.get(status, 0) + 1
        if filters["status"] and status != filters["status"]:
            continue
        rows.append({"case": case, "type": type_label(case), "state": state_label(case), "time_left": status, "deadline": deadline,
                     "identifier": subject_identifier(case.subject, user),
                     "deadline_label": deadline_label(deadline) if deadline else None})

    case_types = all_case_types()
    states = [(ct.key, s.value, s.label_zh, s.label_en) for ct in case_types for s in ct.states
              if not filters["case_type"] or ct.key == filters["case_type"]]
    departments = db.session.execute(select(Department).order_by(Department.id)).scalars().all()
    # Each counter toggles the time-left filter and keeps the others.
    counter_links = {
        status: url_for("review.inbox", **{k: v for k, v in {**filters, "status": status}.items()
                                           if v and not (k == "status" and filters["status"] == status)})
        for status in STATUS_ORDER
    }
    return render_template(
        "review/inbox.html", rows=rows, counts=counts, counter_links=counter_links, status_order=STATUS_ORDER, filters=filters,
        case_types=case_types, states=states, departments=departments, truncated=len(cases) >= LIMIT,
        now=runtime.clock.now(),
    )
