"""The one door: `fire()` is the only code that changes a case's state.

    fire(case, trigger, actor, data, runtime=..., expected_version=...)

locks the case row, checks the trigger against the case type's machine, the actor's permission,
the expected version and the step's input schema, runs the guards, applies the transition, runs
the step's effects, appends the ledger event, re-plans the case's deadlines and writes outbox
rows, all inside one SAVEPOINT of the caller's transaction. It flushes and never commits: the
entry point (web request, CLI command, Prefect task, Celery task) owns the transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseEvent, CaseLink, Subject, User, db
from models.permissions import SYSTEM, Actor, Permission, SystemActor, can, can_view_case

from . import deadlines, notify
from .base import CaseType, Step, get_case_type
from .calendar import StatutoryCalendar
from .clock import Clock, today
from .errors import Forbidden, InvalidInput, NotFound, StaleVersion, TransitionNotAllowed, UnknownTrigger
from .rules import Rules


@dataclass
class Runtime:
    """What the engine needs from its surroundings, passed in explicitly by every entry point."""

    clock: Clock
    rules: Rules
    calendar_provider: Callable[[Session], StatutoryCalendar]
    upload_dir: str = ""

    def calendar(self, session: Session | None = None) -> StatutoryCalendar:
        session = session or db.session
        # Reading the loaded years must not flush half-built rows (a deadline before its due date).
        with session.no_autoflush:
            return self.calendar_provider(session)

    def today(self) -> date:
        return today(self.clock)


@dataclass
class StepContext:
    session: Session
    case: Case
    case_type: CaseType
    actor: Actor
    runtime: Runtime
    now: datetime
    step: Step | None = None
    data: dict[str, Any] = field(default_factory=dict)
    from_state: str | None = None
    reason: str = ""
    #: Facts an effect adds to the ledger event beside the validated input (e.g. material hashes).
    ledger_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rules(self) -> Rules:
        return self.runtime.rules

    @property
    def today(self) -> date:
        return today(self.runtime.clock)

    @property
    def calendar(self) -> StatutoryCalendar:
        return self.runtime.calendar(self.session)


def _actor_fields(actor: Actor) -> tuple[int | None, str, str]:
    if isinstance(actor, SystemActor):
        return None, "system", actor.name
    return actor.id, actor.role, actor.name


def _load_case(session: Session, case_id: int) -> Case | None:
    return session.execute(
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _validate(schema_cls, data: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load the step input; return (python values, JSON-safe values for the ledger)."""
    if schema_cls is None:
        return {}, {}
    schema = schema_cls()
    try:
        loaded = schema.load(dict(data or {}))
    except ValidationError as exc:
        raise InvalidInput(
            "输入有误，请检查标出的字段 / The input is invalid; see the fields marked",
            details={"fields": exc.messages},
        ) from exc
    return loaded, schema.dump(loaded)


def fire(
    case: Case | int,
    trigger: str,
    actor: Actor,
    data: Mapping[str, Any] | None = None,
    *,
    runtime: Runtime,
    expected_version: int | None = None,
    reason: str = "",
) -> CaseEvent:
    session = db.session
    case_id = case if isinstance(case, int) else case.id
    with session.begin_nested():
        locked = _load_case(session, case_id)
        if locked is None or not can_view_case(actor, locked):
            raise NotFound("案件不存在 / No such case", details={"case_id": case_id})
        case_type = get_case_type(locked.case_type)
        assert case_type is not None, locked.case_type
        if trigger not in case_type.triggers:
            raise UnknownTrigger(
                f"未知操作 / Unknown action: {trigger}", details={"trigger": trigger, "case_type": case_type.key}
            )
        step = case_type.step(trigger, locked.state)
        if step is None:
            any_step = case_type.any_step(trigger)
            label_zh, label_en = case_type.state_label(locked.state)
            raise TransitionNotAllowed(
                f"当前状态（{label_zh}）不能执行此操作 / Action not allowed in state {label_en}",
                details={
                    "state": locked.state,
                    "trigger": trigger,
                    "allowed_from": list(any_step.source) if any_step else [],
                    "reasons": [f"当前状态为“{label_zh}” / the case is {label_en}"],
                },
            )
        if not can(actor, step.permission, locked):
            raise Forbidden(
                "您无权执行此操作 / You may not perform this action",
                details={"trigger": trigger, "permission": str(step.permission)},
            )
        if expected_version is not None and expected_version != locked.version:
            raise StaleVersion(
                "案件已被他人更新，请刷新后重试 / The case changed since you loaded it; reload and retry",
                details={"expected_version": expected_version, "current_version": locked.version},
            )
        ctx = StepContext(
            session=session, case=locked, case_type=case_type, actor=actor, runtime=runtime,
            now=runtime.clock.now(), step=step, from_state=locked.state, reason=reason,
        )
        ctx.data, ledger_payload = _validate(step.schema, data)
        reasons = [r for guard in step.guards if (r := guard(ctx))]
        if reasons:
            raise TransitionNotAllowed(
                "不满足办理条件 / The conditions for this action are not met",
                details={"state": locked.state, "trigger": trigger, "reasons": reasons},
            )
        locked.state = case_type.apply(locked.state, trigger)
        locked.updated_at = ctx.now
        if case_type.is_terminal(locked.state):
            locked.closed_at = ctx.now
        if step.effect:
            step.effect(ctx)
        actor_id, actor_role, actor_name = _actor_fields(actor)
        event = _append(ctx, trigger, ctx.from_state, {**ledger_payload, **ctx.ledger_extra},
                        actor_id, actor_role, actor_name)
        deadlines.replan(ctx)
        for notice in step.notify:
            notify.queue(
                session, locked, event=notice.event, audience=notice.to,
                title_zh=f"{notice.title_zh}（{locked.reference}）", title_en=f"{notice.title_en} ({locked.reference})",
                body_zh=_body_zh(ctx, case_type), body_en=_body_en(ctx, case_type), now=ctx.now,
            )
        try:
            session.flush()
        except StaleDataError as exc:
            raise StaleVersion(
                "案件已被他人更新，请刷新后重试 / The case changed since you loaded it; reload and retry",
                details={"case_id": case_id},
            ) from exc
    if case_type.automatic.get(locked.state):
        run_automatic(locked, runtime=runtime)
    return event


def _append(ctx: StepContext, trigger, from_state, payload, actor_id, actor_role, actor_name) -> CaseEvent:
    from .ledger import append_event

    return append_event(
        ctx.session, ctx.case, trigger=trigger, from_state=from_state, to_state=ctx.case.state,
        actor_id=actor_id, actor_role=actor_role, actor_name=actor_name, payload=payload,
        reason=ctx.reason, occurred_at=ctx.now,
    )


def _body_zh(ctx: StepContext, case_type: CaseType) -> str:
    label = case_type.state_label(ctx.case.state)[0]
    text = f"案件 {ctx.case.reference}（{ctx.case.subject.name}）当前状态：{label}。"
    return text + (f"说明：{ctx.reason}" if ctx.reason else "")


def _body_en(ctx: StepContext, case_type: CaseType) -> str:
    label = case_type.state_label(ctx.case.state)[1]
    text = f"Case {ctx.case.reference} ({ctx.case.subject.name}) is now: {label}."
    return text + (f" Note: {ctx.reason}" if ctx.reason else "")


def open_case(
    case_type_key: str,
    subject: Subject,
    actor: Actor,
    data: Mapping[str, Any] | None,
    *,
    runtime: Runtime,
    link_from: Case | None = None,
    link_kind: str | None = None,
    applicant: User | None = None,
) -> Case:
    """Create a case in its initial state, with its typed row and its first ledger event.

    Applicants open cases for subjects they act for; staff open the case types whose
    `create_permission` they hold (a department requesting a credit check). A case opened by another
    case's step (a repair's commitment, a 容缺 application's check) passes `link_from` and
    `link_kind`: the link is recorded, and nothing is typed twice.
    """
    session = db.session
    case_type = get_case_type(case_type_key)
    if case_type is None:
        raise NotFound(f"未知的案件类型 / Unknown case type: {case_type_key}", details={"case_type": case_type_key})
    opening = (case_type.create_permission, *case_type.also_opened_with)
    if isinstance(actor, User) and actor.role == "applicant":
        allowed = Permission.CASE_CREATE in opening and can(actor, Permission.CASE_CREATE) and any(
            s.id == subject.id for s in actor.subjects)
    else:
        allowed = isinstance(actor, SystemActor) or any(can(actor, p) for p in opening)
    if not allowed:
        raise Forbidden("您不能为该主体提出申请 / You do not act for this subject", details={"subject_id": subject.id})
    if applicant is None and isinstance(actor, User) and actor.role == "applicant":
        applicant = actor
    with session.begin_nested():
        now = runtime.clock.now()
        case = Case(
            reference="pending",
            case_type=case_type.key,
            definition_version=case_type.version,
            state=case_type.initial,
            subject=subject,
            applicant=applicant,
            department_id=actor.department_id if isinstance(actor, User) and actor.role != "applicant" else None,
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        case.reference = f"{case_type.reference_prefix}-{now.year}-{case.id:06d}"
        if link_from is not None:
            session.add(CaseLink(from_case_id=link_from.id, to_case_id=case.id, kind=link_kind or case_type.key,
                                 created_at=now))
        ctx = StepContext(session=session, case=case, case_type=case_type, actor=actor, runtime=runtime, now=now)
        ctx.data, payload = _validate(case_type.open_schema, data)
        if case_type.on_open:
            case_type.on_open(ctx, ctx.data)
        actor_id, actor_role, actor_name = _actor_fields(actor)
        _append(ctx, "open", None, payload, actor_id, actor_role, actor_name)
        session.flush()
    run_automatic(case, runtime=runtime)
    return case


def run_automatic(case: Case, *, runtime: Runtime) -> None:
    """Fire the system steps a case type declares as automatic on entering a state (e.g. a
    published commitment goes straight into fulfilment tracking), each its own ledger event."""
    case_type = get_case_type(case.case_type)
    for _ in range(20):  # a definition error must not loop forever
        trigger = case_type.automatic.get(case.state) if case_type else None
        if trigger is None:
            return
        fire(case, trigger, SYSTEM, {}, runtime=runtime)
    raise RuntimeError(f"{case.case_type}: automatic steps do not settle from {case.state}")


def linked_cases(case: Case, kind: str | None = None) -> list[Case]:
    """Cases this case opened (a repair's commitment, a 容缺 application's credit check)."""
    query = select(Case).join(CaseLink, CaseLink.to_case_id == Case.id).where(CaseLink.from_case_id == case.id)
    if kind:
        query = query.where(CaseLink.kind == kind)
    return list(db.session.execute(query.order_by(Case.id)).scalars())


def linking_cases(case: Case, kind: str | None = None) -> list[Case]:
    """Cases that opened this one."""
    query = select(Case).join(CaseLink, CaseLink.from_case_id == Case.id).where(CaseLink.to_case_id == case.id)
    if kind:
        query = query.where(CaseLink.kind == kind)
    return list(db.session.execute(query.order_by(Case.id)).scalars())


@dataclass
class Action:
    """A button: a step the actor may take now, or one it could take but a guard blocks (with why)."""

    trigger: str
    label_zh: str
    label_en: str
    style: str
    schema: Any
    enabled: bool
    reasons: list[str]


def available_actions(case: Case, actor: Actor, *, runtime: Runtime) -> list[Action]:
    case_type = get_case_type(case.case_type)
    assert case_type is not None
    if not can_view_case(actor, case):
        return []
    actions: list[Action] = []
    for step in case_type.steps_from(case.state):
        if step.is_system or not can(actor, step.permission, case):
            continue
        ctx = StepContext(
            session=db.session, case=case, case_type=case_type, actor=actor, runtime=runtime,
            now=runtime.clock.now(), step=step, from_state=case.state,
        )
        reasons = [r for guard in step.guards if (r := guard(ctx))]
        actions.append(
            Action(step.trigger, step.label_zh, step.label_en, step.style, step.schema, not reasons, reasons)
        )
    return actions
