"""Credit repair training (信用修复专题培训): sessions, enrolments (one case each) and certificates.

A session is not a case: trainers schedule it and it has no statutory clock of its own. Each
subject's enrolment in a session is a "training" case (attendance, assessment, certificate); the
certificate it ends with is what a serious-class repair may have to link (DOMAIN.md §3.4, §4.1).
"""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .people import User
from .subject import Subject


class TrainingSession(Base):
    __tablename__ = "training_sessions"
    __table_args__ = (
        CheckConstraint("mode IN ('onsite','online')", name="mode_known"),
        CheckConstraint("status IN ('scheduled','cancelled')", name="status_known"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("hours >= 1", name="hours_positive"),
        CheckConstraint("status <> 'cancelled' OR cancelled_at IS NOT NULL", name="cancelled_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date, index=True, comment="Session day: enrolment closes before it, "
                                                                   "the certificate clock starts from it")
    starts_at: Mapped[time] = mapped_column(Time, comment="Beijing wall-clock start time")
    mode: Mapped[str] = mapped_column(String(10), comment="onsite (线下) or online (线上)")
    place: Mapped[str] = mapped_column(String(300), comment="Address, or the online meeting link")
    hours: Mapped[int] = mapped_column(Integer, comment="学时 printed on the certificate")
    capacity: Mapped[int] = mapped_column(Integer, comment="Most enrolments (cancelled ones do not count)")
    description: Mapped[str] = mapped_column(Text, default="")
    trainer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    trainer: Mapped[User] = relationship()
    enrolments: Mapped[list[TrainingEnrolment]] = relationship(back_populates="session",
                                                               order_by="TrainingEnrolment.case_id")


class TrainingEnrolment(Base):
    """The typed row of one training case: who attends for the subject, in which session."""

    __tablename__ = "training_enrolments"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    attendee_name: Mapped[str] = mapped_column(String(120), comment="Who attends for the subject (法定代表人 or staff)")
    attendee_phone: Mapped[str | None] = mapped_column(String(30))
    enrolled_on: Mapped[date] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer, comment="Assessment score, when the trainer records one")
    assessment_note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    session: Mapped[TrainingSession] = relationship(back_populates="enrolments")
    certificate: Mapped[TrainingCertificate | None] = relationship(back_populates="enrolment", uselist=False)


class TrainingCertificate(Base):
    """培训证明: what the subject shows a repair. The subject's name and identifier are copied at
    issue, as printed; the serial carries a random part so that numbers cannot be enumerated."""

    __tablename__ = "training_certificates"
    __table_args__ = (CheckConstraint("valid_until >= session_date", name="valid_after_session"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True, comment="e.g. PX-2026-000123-K7Q4M9")
    case_id: Mapped[int] = mapped_column(ForeignKey("training_enrolments.case_id"), unique=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    subject_name: Mapped[str] = mapped_column(String(200))
    subject_identifier: Mapped[str] = mapped_column(String(18), comment="USCC or ID number at issue")
    session_title: Mapped[str] = mapped_column(String(200))
    session_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date, comment="Last day it may be used for a repair (C10)")
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    enrolment: Mapped[TrainingEnrolment] = relationship(back_populates="certificate")
    subject: Mapped[Subject] = relationship()
    issued_by: Mapped[User | None] = relationship()
