"""One place that decides who may see and do what, down to the single case.

Permissions are `resource:action` strings. A step of a case type names the permission it needs;
`can()` answers for a user and (optionally) a case. Views, the API and the engine all ask here.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Select, false, select, true

from .case import Case
from .people import Role, User, user_subjects
from .subject import Subject


class Permission(enum.StrEnum):
    CASE_VIEW = "case:view"
    CASE_CREATE = "case:create"            #: open a case for a subject one acts for
    APPLICANT_ACT = "case:applicant-act"   #: the applicant's own steps (submit, supplement, withdraw)
    WINDOW_ACT = "case:window-act"         #: the credit center window: precheck, push, sync
    DEPARTMENT_DECIDE = "case:decide"      #: the deciding department: accept, decide, extend, revoke
    SYSTEM = "case:system"                 #: timer triggers, fired only by the clock
    CHECK_REQUEST = "check:request"        #: a department asks for a credit check (逢办必查)
    MEDIATE = "case:mediate"               #: 信调委 mediators: register, log sessions, record agreements
    TRAIN = "case:train"                   #: trainers: sessions, attendance, assessment, certificates
    INSPECT = "case:inspect"               #: inspectors: on-site verification visits and reports
    SUBJECT_VIEW = "subject:view"
    SUBJECT_CREATE = "subject:create"
    RECORD_CREATE = "record:create"
    LEDGER_AUDIT = "ledger:audit"
    REPORT_VIEW = "report:view"            #: supervision reports; a department sees its own rows (report_department_scope)
    SPOT_CHECK_DRAW = "report:draw-sample"  #: draw a 双随机 spot-check sample for a department's inspection plan
    ADMIN_CALENDAR = "admin:calendar"
    ADMIN_CLOCK = "admin:clock"
    ADMIN_USERS = "admin:users"
    ADMIN_CATALOGUE = "admin:catalogue"    #: edit scoring schemes' item catalogues (DOMAIN.md §8.1 §21)


@dataclass(frozen=True)
class SystemActor:
    """The clock: deadlines, reminders, escalations. Never a logged-in user."""

    id: None = None
    role: str = "system"
    username: str = "system"
    name: str = "系统 / system"
    department_id: None = None


SYSTEM = SystemActor()
Actor = User | SystemActor

#: Case types about a subject that its applicants do not see: a credit check is 政务共享 between
#: departments (who asked and why is accountable to auditors, not shown to the checked subject).
STAFF_ONLY_CASE_TYPES = frozenset({"verification"})

#: Specialist staff see the case types of their trade (and nothing else); finer rules, such as only
#: the assigned mediators acting on a mediation, are guards of the case type.
SPECIALIST_CASE_TYPES = {
    Role.MEDIATOR: frozenset({"mediation"}),
    Role.TRAINER: frozenset({"training"}),
    Role.INSPECTOR: frozenset({"onsite_verification"}),
}

STAFF_ROLES = {Role.REVIEWER, Role.PROVIDER, Role.MEDIATOR, Role.TRAINER, Role.INSPECTOR, Role.ADMIN, Role.AUDITOR}


def is_credit_center_staff(user: Actor) -> bool:
    return (
        isinstance(user, User)
        and user.role == Role.REVIEWER
        and user.department is not None
        and user.department.is_credit_center
    )


def acts_for(user: Actor, subject_id: int) -> bool:
    return isinstance(user, User) and any(s.id == subject_id for s in user.subjects)


def acts_for_mediation_party(user: Actor, case: Case) -> bool:
    """A mediation has two parties; the case's subject is only the applying one."""
    from .mediation import is_party

    return (case.case_type == "mediation" and isinstance(user, User)
            and is_party([s.id for s in user.subjects], case.id))


def can_view_case(user: Actor, case: Case) -> bool:
    if isinstance(user, SystemActor):
        return True
    if not user.active:
        return False
    role = user.role
    if role in (Role.ADMIN, Role.AUDITOR):
        return True
    if role == Role.APPLICANT:
        return case.case_type not in STAFF_ONLY_CASE_TYPES and (
            acts_for(user, case.subject_id) or acts_for_mediation_party(user, case))
    if role == Role.REVIEWER:
        return is_credit_center_staff(user) or (
            case.department_id is not None and case.department_id == user.department_id
        )
    if role in SPECIALIST_CASE_TYPES:
        return case.case_type in SPECIALIST_CASE_TYPES[role]
    return False


def can_view_subject(user: Actor, subject: Subject) -> bool:
    if isinstance(user, SystemActor):
        return True
    if user.role == Role.APPLICANT:
        return acts_for(user, subject.id)
    return user.active and Role(user.role) in {Role.REVIEWER, Role.ADMIN, Role.AUDITOR, Role.PROVIDER}


def can(user: Actor, permission: Permission | str, case: Case | None = None) -> bool:
    """May `user` exercise `permission` (on `case`, when given)?"""
    permission = Permission(permission)
    if isinstance(user, SystemActor):
        return permission == Permission.SYSTEM
    if not user.active:
        return False
    if case is not None and not can_view_case(user, case):
        return False
    role = user.role
    match permission:
        case Permission.SYSTEM:
            return False
        case Permission.CASE_VIEW:
            return case is None or can_view_case(user, case)
        case Permission.CASE_CREATE | Permission.APPLICANT_ACT:
            return role == Role.APPLICANT and (case is None or acts_for(user, case.subject_id)
                                               or acts_for_mediation_party(user, case))
        case Permission.WINDOW_ACT:
            return is_credit_center_staff(user)
        case Permission.DEPARTMENT_DECIDE:
            return (
                role == Role.REVIEWER
                and case is not None
                and case.department_id is not None
                and case.department_id == user.department_id
            )
        case Permission.SUBJECT_VIEW:
            return role != Role.APPLICANT or bool(user.subjects)
        case Permission.CHECK_REQUEST:
            return role == Role.REVIEWER
        case Permission.MEDIATE:
            return role == Role.MEDIATOR
        case Permission.TRAIN:
            return role == Role.TRAINER
        case Permission.INSPECT:
            return role == Role.INSPECTOR
        case Permission.SUBJECT_CREATE | Permission.RECORD_CREATE:
            return role in (Role.ADMIN, Role.REVIEWER)
        case Permission.LEDGER_AUDIT:
            return role in (Role.ADMIN, Role.AUDITOR)
        case Permission.REPORT_VIEW:
            return role in (Role.ADMIN, Role.AUDITOR) or (
                role in (Role.REVIEWER, Role.PROVIDER) and user.department_id is not None)
        case Permission.SPOT_CHECK_DRAW:
            return role in (Role.ADMIN, Role.REVIEWER)
        case Permission.ADMIN_CATALOGUE:
            return role == Role.ADMIN
        case Permission.ADMIN_CALENDAR | Permission.ADMIN_CLOCK | Permission.ADMIN_USERS:
            return role == Role.ADMIN
    return False


def report_department_scope(user: Actor) -> int | None:
    """Whose rows a report shows: None for every department (administrators, auditors, the credit
    center's own staff), else the id of the user's department. Ask `can(REPORT_VIEW)` first."""
    if isinstance(user, SystemActor) or user.role in (Role.ADMIN, Role.AUDITOR) or is_credit_center_staff(user):
        return None
    return user.department_id


def visible_cases(user: Actor) -> Select[tuple[Case]]:
    """A query of the cases `user` may see, for inboxes and listings."""
    query = select(Case)
    if isinstance(user, SystemActor) or user.role in (Role.ADMIN, Role.AUDITOR):
        return query.where(true())
    if user.role == Role.APPLICANT:
        linked = select(user_subjects.c.subject_id).where(user_subjects.c.user_id == user.id)
        from .mediation import party_case_ids

        return query.where(Case.subject_id.in_(linked) | Case.id.in_(party_case_ids(linked)),
                           Case.case_type.not_in(STAFF_ONLY_CASE_TYPES))
    if user.role == Role.REVIEWER:
        if is_credit_center_staff(user):
            return query
        return query.where(Case.department_id == user.department_id)
    if user.role in SPECIALIST_CASE_TYPES:
        return query.where(Case.case_type.in_(SPECIALIST_CASE_TYPES[Role(user.role)]))
    return query.where(false())
