"""The vocabulary case type modules declare themselves in, and the one place that builds machines.

A case type module declares a `State` enum, guards, a step table, timers and effects, then wraps
them in a `CaseType`. `CaseType.machine` is a `transitions.Machine` built once and shared; a case is
bound to it only for the duration of one `fire()` (see `CaseType.apply`).
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from marshmallow import Schema
from transitions import Machine, MachineError

from models.permissions import Permission

if TYPE_CHECKING:
    from .service import StepContext

#: A guard reads the context and returns why it blocks (bilingual text), or None when it passes.
Guard = Callable[["StepContext"], str | None]
Effect = Callable[["StepContext"], None]


class StateEnum(enum.StrEnum):
    """States carry bilingual labels: `State.DRAFT.label_zh`."""

    def __new__(cls, value: str, label_zh: str = "", label_en: str = ""):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label_zh = label_zh  # type: ignore[attr-defined]
        obj.label_en = label_en  # type: ignore[attr-defined]
        return obj


@dataclass(frozen=True)
class Material:
    """One item of a materials checklist. `kind` says how it is supplied."""

    key: str
    label_zh: str
    label_en: str
    kind: str = "upload"  # upload | form | signature


@dataclass(frozen=True)
class Notice:
    """A notification a step sends: to whom, under which event name, with which title."""

    event: str
    to: tuple[str, ...]  # applicant | window | department | department_head
    title_zh: str
    title_en: str


@dataclass(frozen=True)
class Step:
    trigger: str
    source: tuple[str, ...]
    target: str
    permission: Permission
    label_zh: str
    label_en: str
    schema: type[Schema] | None = None
    guards: tuple[Guard, ...] = ()
    effect: Effect | None = None
    notify: tuple[Notice, ...] = ()
    style: str = "default"  # primary | danger | default: how the button is drawn

    @property
    def is_system(self) -> bool:
        return self.permission == Permission.SYSTEM


@dataclass(frozen=True)
class Rung:
    """One rung of a reminder ladder: `offset_wd` working days from the due day (−3: three working
    days before it, 0: the due day, +1: the first working day after it), sent at 00:00 that day to
    `audience` ("responsible": the timer's responsible party; or a notify audience such as
    "department_head")."""

    offset_wd: int
    audience: str = "responsible"

    @property
    def name(self) -> str:
        """The rung's key in `deadline_reminders`: "T-3", "due", "overdue+1"."""
        if self.offset_wd < 0:
            return f"T{self.offset_wd}"
        return "due" if self.offset_wd == 0 else f"overdue+{self.offset_wd}"


@dataclass(frozen=True)
class Timer:
    """A statutory clock started when a case enters `starts_in`.

    It stays open while the case is in `runs_in`, stops (suspension) while in `suspended_in`, and
    is closed as met when the case leaves both. On expiry the sweep fires `expiry_trigger`, or,
    when there is none, escalates it as an overdue SLA to the department head.
    """

    kind: str
    label_zh: str
    label_en: str
    starts_in: str
    runs_in: tuple[str, ...]
    budget: Callable[[Any], int]  # rules -> amount
    unit: str  # wd | cd | month | year
    responsible: str  # applicant | window | department
    suspended_in: tuple[str, ...] = ()
    party_deadline: bool = False
    expiry_trigger: str | None = None
    reminders: bool = True
    #: This timer's reminder ladder when it differs from the rules' default `reminders.ladder`
    #: (the rules' `reminders.ladders["<case_type>.<kind>"]` overrides both).
    ladder: tuple[Rung, ...] | None = None


@dataclass
class CaseType:
    key: str
    version: int
    label_zh: str
    label_en: str
    states: type[StateEnum]
    initial: str
    terminal: tuple[str, ...]
    steps: Sequence[Step]
    timers: Sequence[Timer] = ()
    reference_prefix: str = "CASE"
    #: Creates the typed per-case row when a case is opened: (ctx, validated data) -> None.
    on_open: Callable[[StepContext, dict[str, Any]], None] | None = None
    open_schema: type[Schema] | None = None
    #: Extra facts a case page shows (eligible-from date, missing materials...): (case, runtime) -> dict.
    describe: Callable[..., dict[str, Any]] | None = None
    #: Who may open a case of this type: applicants for their own subjects (CASE_CREATE), or staff.
    create_permission: Permission = Permission.CASE_CREATE
    #: Further permissions that may open it too (a mediation: mediators, parties and the window).
    also_opened_with: tuple[Permission, ...] = ()
    #: state -> system trigger fired at once on entering that state (its own ledger event).
    automatic: dict[str, str] = field(default_factory=dict)
    #: Files the applicant may upload: (case) -> materials; and the states in which they may.
    uploads: Callable[..., list[Material]] | None = None
    upload_states: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        triggers = [s.trigger for s in self.steps]
        states = {s.value for s in self.states}
        for step in self.steps:
            unknown = (set(step.source) | {step.target}) - states
            if unknown:
                raise ValueError(f"{self.key}.{step.trigger}: unknown states {sorted(unknown)}")
        for timer in self.timers:
            if timer.expiry_trigger and timer.expiry_trigger not in triggers:
                raise ValueError(f"{self.key} timer {timer.kind}: unknown trigger {timer.expiry_trigger}")
        if set(self.terminal) & {src for s in self.steps for src in s.source}:
            raise ValueError(f"{self.key}: a terminal state has an exit")
        for state, trigger in self.automatic.items():
            step = self.step(trigger, state)
            if step is None or not step.is_system:
                raise ValueError(f"{self.key}: automatic {trigger} from {state} must be a system step")

    @cached_property
    def machine(self) -> Machine:
        return Machine(
            model=None,
            # Plain strings: given Enum members, transitions would name states by member *name*.
            states=[str(s.value) for s in self.states],
            transitions=[
                {"trigger": s.trigger, "source": [str(x) for x in s.source], "dest": str(s.target)}
                for s in self.steps
            ],
            initial=str(self.initial),
            auto_transitions=False,
            send_event=False,
        )

    @cached_property
    def triggers(self) -> frozenset[str]:
        return frozenset(s.trigger for s in self.steps)

    def steps_from(self, state: str) -> list[Step]:
        return [s for s in self.steps if state in s.source]

    def step(self, trigger: str, state: str) -> Step | None:
        for s in self.steps:
            if s.trigger == trigger and state in s.source:
                return s
        return None

    def any_step(self, trigger: str) -> Step | None:
        return next((s for s in self.steps if s.trigger == trigger), None)

    def state_label(self, state: str) -> tuple[str, str]:
        member = self.states(state)
        return member.label_zh, member.label_en  # type: ignore[attr-defined]

    def apply(self, state: str, trigger: str) -> str:
        """Run `trigger` through the shared machine from `state`; return the new state.

        The model is bound only for this call: `add_model` costs grow with the number of resident
        models, so none is ever left behind (remove_model in finally).
        """
        binding = _Binding(str(state))
        self.machine.add_model(binding, initial=str(state))
        try:
            getattr(binding, trigger)()
        except MachineError as exc:  # pragma: no cover - the service checks the source first
            raise ValueError(str(exc)) from exc
        finally:
            self.machine.remove_model(binding)
        return str(binding.state)

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal


class _Binding:
    def __init__(self, state: str):
        self.state = state


REGISTRY: dict[str, CaseType] = {}


def register(case_type: CaseType) -> CaseType:
    REGISTRY[case_type.key] = case_type
    return case_type


def get_case_type(key: str) -> CaseType | None:
    _load_all()
    return REGISTRY.get(key)


def all_case_types() -> list[CaseType]:
    _load_all()
    return list(REGISTRY.values())


#: Importing a case type module registers it.
CASE_TYPE_MODULES = (
    "credit_repair",
    "credit_commitment",
    "verification",
    "deficiency_acceptance",
    "objection",
    "blacklist",
    "record_withdrawal",
    "mediation",
    "onsite_verification",
    "training",
)


def _load_all() -> None:
    import importlib

    for name in CASE_TYPE_MODULES:
        importlib.import_module(f"{__package__}.{name}")
