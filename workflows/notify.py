"""Writing outbox rows: who is told about a step, a reminder or an escalation.

Rows are written inside the caller's transaction; delivery happens only after commit
(`notifications.outbox.commit_and_dispatch`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CREDIT_CENTER_CODE, Case, Department, OutboxMessage, Role, User


#: Specialist audiences: every active user of the role, unless the case type names its assignees
#: (e.g. the mediators or the two inspectors assigned to one case) through `register_assignees`.
SPECIALIST_AUDIENCES = {"trainer": Role.TRAINER, "mediator": Role.MEDIATOR, "inspector": Role.INSPECTOR}
_ASSIGNEES: dict[tuple[str, str], object] = {}


def register_assignees(case_type: str, audience: str, resolve) -> None:
    """`resolve(session, case) -> list[User]`: the users of `audience` assigned to one case."""
    _ASSIGNEES[(case_type, audience)] = resolve


def recipients(session: Session, case: Case, audience: str) -> list[User]:
    """Resolve an audience name of a Notice or Timer to active users."""
    if audience == "applicant":
        users = [case.applicant] if case.applicant else []
    elif audience == "window":
        users = list(
            session.execute(
                select(User)
                .join(Department, User.department_id == Department.id)
                .where(Department.code == CREDIT_CENTER_CODE, User.role == Role.REVIEWER)
            ).scalars()
        )
    elif audience == "department":
        users = (
            list(
                session.execute(
                    select(User).where(User.department_id == case.department_id, User.role == Role.REVIEWER)
                ).scalars()
            )
            if case.department_id
            else []
        )
    elif audience == "department_head":
        head = case.department.head if case.department else None
        users = [head] if head else []
    elif (case.case_type, audience) in _ASSIGNEES:
        users = list(_ASSIGNEES[(case.case_type, audience)](session, case))
    elif audience in SPECIALIST_AUDIENCES:
        users = list(session.execute(
            select(User).where(User.role == SPECIALIST_AUDIENCES[audience]).order_by(User.id)).scalars())
    else:
        raise ValueError(f"unknown audience {audience!r}")
    return [u for u in users if u is not None and u.active]


def queue(
    session: Session,
    case: Case,
    *,
    event: str,
    audience: tuple[str, ...] | list[str],
    title_zh: str,
    title_en: str,
    body_zh: str,
    body_en: str,
    now: datetime,
    dedupe: str | None = None,
    users: list[User] | tuple[User, ...] = (),
    link: str | None = None,
) -> list[OutboxMessage]:
    """One in-app row per recipient, plus an e-mail row for those with an address. Recipients are
    the audiences' users and any `users` named directly (e.g. the other inspector of one check)."""
    seen: set[int] = set()
    rows: list[OutboxMessage] = []
    link = link or f"/cases/{case.id}"
    named = [u for u in users if u is not None and u.active]
    for group in [named] + [recipients(session, case, name) for name in audience]:
        for user in group:
            if user.id in seen:
                continue
            seen.add(user.id)
            channels = ["inapp"] + (["email"] if user.email else [])
            for channel in channels:
                rows.append(
                    OutboxMessage(
                        case_id=case.id,
                        event=event,
                        channel=channel,
                        recipient_user_id=user.id,
                        recipient_address=user.email if channel == "email" else None,
                        title=f"{title_zh} / {title_en}",
                        body=f"{body_zh}\n\n{body_en}",
                        link=link,
                        context={"reference": case.reference, "title_zh": title_zh, "title_en": title_en},
                        dedupe_key=f"{dedupe}:{user.id}:{channel}" if dedupe else None,
                        status="pending",
                        created_at=now,
                    )
                )
    session.add_all(rows)
    return rows
