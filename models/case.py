"""Cases, their append-only ledger, statutory deadlines and uploaded materials.

A case's `state` is written only by `workflows.service.fire`; nothing else assigns it.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .people import Department, User
from .subject import Subject


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_type_state", "case_type", "state"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True, comment="Human case number, e.g. XF-2026-000012")
    case_type: Mapped[str] = mapped_column(String(40), index=True)
    definition_version: Mapped[int] = mapped_column(
        Integer, comment="Version of the case type definition this case was created under"
    )
    state: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1, comment="Optimistic lock: bumped by every fire()")
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), index=True, comment="The deciding department (认定单位)"
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    subject: Mapped[Subject] = relationship()
    applicant: Mapped[User | None] = relationship(foreign_keys=[applicant_user_id])
    department: Mapped[Department | None] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.seq")
    deadlines: Mapped[list[Deadline]] = relationship(back_populates="case", order_by="Deadline.id")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="case", order_by="Attachment.id")

    __mapper_args__ = {"version_id_col": version}


class CaseLink(Base):
    """Cases relate explicitly: a repair opens its commitment, a 容缺 application its credit check."""

    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("from_case_id", "to_case_id", name="pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    to_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40), comment="commitment, credit_check, ...")
    created_at: Mapped[datetime]


class CaseEvent(Base):
    """One ledger entry. Rows are only ever inserted; each carries the hash of the previous one."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="case_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, comment="1, 2, 3... within the case")
    trigger: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="NULL for the system clock")
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="The validated step input")
    reason: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Deadline(Base):
    """A statutory clock: budget + unit + start, minus suspensions, plus approved extensions.

    `due_on` (the last day) and `due_at` (24:00 of that day, Beijing time) are derived from the
    rest by `workflows.deadlines.replan` and never edited by hand. `next_action_at` is the next
    moment the sweep has something to do (a reminder rung or the expiry).
    """

    __tablename__ = "deadlines"
    __table_args__ = (
        CheckConstraint("unit IN ('wd','cd','month','year')", name="unit_known"),
        CheckConstraint("status IN ('open','suspended','met','expired','cancelled')", name="status_known"),
        CheckConstraint("status <> 'open' OR due_on IS NOT NULL", name="open_has_due"),
        Index(
            "ix_deadlines_open_next_action",
            "next_action_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_deadlines_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40), comment="Timer name in the case type definition")
    unit: Mapped[str] = mapped_column(String(8))
    budget: Mapped[int] = mapped_column(Integer)
    start_on: Mapped[date] = mapped_column(Date, comment="The trigger day; counting starts the day after (C1)")
    party_deadline: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="A party's deadline: CD/M/Y ends roll over rest days (C3)"
    )
    due_on: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime | None]
    next_action_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="open")
    expiry_trigger: Mapped[str | None] = mapped_column(
        String(60), comment="Fired through fire() on expiry; NULL for an SLA clock that escalates instead"
    )
    responsible: Mapped[str] = mapped_column(
        String(20), comment="Who must act before it runs out: applicant, window or department"
    )
    escalated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    case: Mapped[Case] = relationship(back_populates="deadlines")
    suspensions: Mapped[list[DeadlineSuspension]] = relationship(
        back_populates="deadline", order_by="DeadlineSuspension.id", cascade="all, delete-orphan"
    )
    extensions: Mapped[list[DeadlineExtension]] = relationship(
        back_populates="deadline", order_by="DeadlineExtension.id", cascade="all, delete-orphan"
    )
    reminders: Mapped[list[DeadlineReminder]] = relationship(
        back_populates="deadline", cascade="all, delete-orphan"
    )

    @property
    def extended_by(self) -> int:
        return sum(e.amount for e in self.extensions)


class DeadlineSuspension(Base):
    """The clock stops for working days d with from_on < d <= until_on (补正, 中止)."""

    __tablename__ = "deadline_suspensions"
    __table_args__ = (CheckConstraint("until_on IS NULL OR until_on >= from_on", name="ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    from_on: Mapped[date] = mapped_column(Date)
    until_on: Mapped[date | None] = mapped_column(Date, comment="NULL while still suspended")
    reason: Mapped[str] = mapped_column(String(200), default="")

    deadline: Mapped[Deadline] = relationship(back_populates="suspensions")


class DeadlineExtension(Base):
    __tablename__ = "deadline_extensions"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(Integer, comment="In the deadline's own unit")
    reason: Mapped[str] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime]

    deadline: Mapped[Deadline] = relationship(back_populates="extensions")


class DeadlineReminder(Base):
    """One row per rung sent, so a reminder is never sent twice for the same (deadline, rung)."""

    __tablename__ = "deadline_reminders"
    __table_args__ = (UniqueConstraint("deadline_id", "rung", name="deadline_rung"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    rung: Mapped[str] = mapped_column(String(20), comment="'T-3', 'T-1' or 'overdue'")
    sent_at: Mapped[datetime]

    deadline: Mapped[Deadline] = relationship(back_populates="reminders")


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    material_key: Mapped[str] = mapped_column(String(60), comment="Which checklist item it satisfies")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), comment="File name inside the upload folder")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]

    case: Mapped[Case] = relationship(back_populates="attachments")
