"""The reviewers' inbox: the open cases a reviewer may see, most urgent clock first.

Ordering is done by the database (earliest open deadline first, suspended or clock-less cases
last); the on-track / at-risk / overdue mark comes from `workflows.deadlines.time_left_status`.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import func, or_, select

from models import Case, Deadline, Department, ObjectionApplication, Role, Subject, db
from models.permissions import Actor, visible_cases
from workflows.base import all_case_types
from workflows.errors import Forbidden

from ..auth import current_user, login_required
from ..runtime import current_runtime
from workflows.deadlines import time_left_status

from .cases import (
    case_time_left,
    deadline_label,
    load_cases,
    state_label,
    subject_identifier,
    type_label,
    working_days_left,
)

bp = Blueprint("review", __name__)

#: Roles that work cases from the inbox (auditors read it); applicants use the portal instead.
INBOX_ROLES = {Role.REVIEWER, Role.ADMIN, Role.AUDITOR}
STATUS_ORDER = ("overdue", "at_risk", "on_track", "suspended", "none")
LIMIT = 500
#: Case types whose department clocks make up the provider work queue (协查待办).
PROVIDER_QUEUE_TYPES = ("objection", "blacklist", "record_withdrawal")


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


@bp.get("/review/provider-queue")
@login_required
def provider_queue():
    """协查待办: every running clock a department must meet on objections, listings and record
    withdrawals, earliest last day first (so the overdue ones lead). A department's reviewer sees
    the clocks of its own department's cases and of objections sent to it for verification;
    administrators and auditors see them all."""
    user = current_user()
    if not may_use_inbox(user):
        raise Forbidden("协查待办仅供审核人员使用 / The verification queue is for reviewing staff")
    runtime = current_runtime()
    query = (
        visible_cases(user)
        .join(Deadline, Deadline.case_id == Case.id)
        .outerjoin(ObjectionApplication, ObjectionApplication.case_id == Case.id)
        .where(Case.case_type.in_(PROVIDER_QUEUE_TYPES), Deadline.status == "open",
               Deadline.responsible == "department")
        .add_columns(Deadline, ObjectionApplication.provider_department_id)
    )
    if user.role == Role.REVIEWER:
        query = query.where(or_(Case.department_id == user.department_id,
                                ObjectionApplication.provider_department_id == user.department_id))
    query = query.order_by(Deadline.due_on, Deadline.due_at, Deadline.id).limit(LIMIT + 1)
    found = db.session.execute(load_cases(query)).all()
    departments = {d.id: d for d in db.session.execute(select(Department)).scalars()}
    calendar = runtime.calendar()
    now, today = runtime.clock.now(), runtime.today()
    rows = []
    for case, deadline, provider_id in found[:LIMIT]:
        rows.append({
            "case": case, "deadline": deadline, "type": type_label(case), "state": state_label(case),
            "identifier": subject_identifier(case.subject, user), "label": deadline_label(deadline),
            "department": case.department, "provider": departments.get(provider_id) if provider_id else None,
            "time_left": time_left_status(deadline, now, calendar),
            "days_left": working_days_left(calendar, today, deadline.due_on),
            "escalated": deadline.escalated_at is not None,
        })
    return render_template("review/provider_queue.html", rows=rows, truncated=len(found) > LIMIT, now=now)
