"""Writing outbox rows: who is told about a step, a reminder or an escalation.

Rows are written inside the caller's transaction; delivery happens only after commit
(`notifications.outbox.commit_and_dispatch`).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CREDIT_CENTER_CODE, Case, Department, OutboxMessage, Role, User


#: Specialist audiences: every active user of the role, unless the case type names its assignees
#: (e.g. the mediators or the two inspectors assigned to one case) through `register_assignees`.
SPECIALIST_AUDIENCES = {"trainer": Role.TRAINER, "mediator": Role.MEDIATOR, "inspector": Role.INSPECTOR}
_ASSIGNEES: dict[tuple[str, str], object] = {}


@dataclass(frozen=True)
class ChannelPolicy:
    """Which channels beyond in-app and e-mail a deployment has configured, and for which events.

    Built by the web app from its configuration (SMS_GATEWAY_URL, WEBHOOK_URL(S)) and the rules
    (`notifications.sms_events`, `notifications.webhook_events`); the default sends neither.
    """

    sms_events: tuple[str, ...] = ()
    webhook_events: tuple[str, ...] = ()
    #: Department codes with a webhook; None: every department (one WEBHOOK_URL for all).
    webhook_departments: frozenset[str] | None = frozenset()

    def sms(self, event: str) -> bool:
        return any(fnmatchcase(event, pattern) for pattern in self.sms_events)

    def webhook(self, event: str, department_code: str | None) -> bool:
        if department_code is None or not any(fnmatchcase(event, p) for p in self.webhook_events):
            return False
        return self.webhook_departments is None or department_code in self.webhook_departments


NO_EXTRA_CHANNELS = ChannelPolicy()
#: The policy of each app's database engine (several apps may live in one process, e.g. in tests).
_POLICIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def configure_channels(engine, policy: ChannelPolicy) -> None:
    _POLICIES[engine] = policy


def channel_policy(session: Session) -> ChannelPolicy:
    try:
        bind = session.get_bind()
    except Exception:  # noqa: BLE001 - an unbound session: the embedded default
        return NO_EXTRA_CHANNELS
    return _POLICIES.get(getattr(bind, "engine", bind), NO_EXTRA_CHANNELS)


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
    context: dict | None = None,
) -> list[OutboxMessage]:
    """One in-app row per recipient, plus an e-mail row for those with an address. Recipients are
    the audiences' users and any `users` named directly (e.g. the other inspector of one check).
    Where configured (`channel_policy`), an SMS row for recipients with a phone number and one
    webhook row for the case's department."""
    seen: set[int] = set()
    rows: list[OutboxMessage] = []
    link = link or f"/cases/{case.id}"
    named = [u for u in users if u is not None and u.active]
    policy = channel_policy(session)
    sms = policy.sms(event)
    extra = dict(context or {})
    for group in [named] + [recipients(session, case, name) for name in audience]:
        for user in group:
            if user.id in seen:
                continue
            seen.add(user.id)
            channels = ["inapp"] + (["email"] if user.email else []) + (["sms"] if sms and user.phone else [])
            for channel in channels:
                rows.append(
                    OutboxMessage(
                        case_id=case.id,
                        event=event,
                        channel=channel,
                        recipient_user_id=user.id,
                        recipient_address={"email": user.email, "sms": user.phone}.get(channel),
                        title=f"{title_zh} / {title_en}",
                        body=f"{body_zh}\n\n{body_en}",
                        link=link,
                        context={"reference": case.reference, "title_zh": title_zh, "title_en": title_en,
                                 **extra},
                        dedupe_key=f"{dedupe}:{user.id}:{channel}" if dedupe else None,
                        status="pending",
                        created_at=now,
                    )
                )
    # Only looked up where webhooks are configured: the embedded default costs no query here.
    department = (case.department.code if case.department is not None else None) if policy.webhook_events else None
    if policy.webhook(event, department):
        # One signed webhook per event for the department whose case it is (its own system).
        rows.append(OutboxMessage(
            case_id=case.id, event=event, channel="webhook", recipient_user_id=None,
            recipient_address=department, title=f"{title_zh} / {title_en}", body=f"{body_zh}\n\n{body_en}",
            link=link, context={"reference": case.reference, "title_zh": title_zh, "title_en": title_en,
                                "case_type": case.case_type, "department": department, **extra},
            dedupe_key=f"{dedupe}:webhook" if dedupe else None, status="pending", created_at=now,
        ))
    session.add_all(rows)
    return rows
