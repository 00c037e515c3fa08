"""The typed data of a mediation case (信调委 调解): the dispute, its parties and mediators, the
session records, the agreement's obligations and signatures. Mediation is free: no fee columns."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, db
from .case import Case, Deadline
from .people import User
from .subject import Subject

PARTY_ROLES = ("applicant", "respondent")


class MediationCase(Base):
    __tablename__ = "mediation_cases"
    __table_args__ = (
        CheckConstraint("channel IN ('application','referral')", name="channel_known"),
        CheckConstraint("channel <> 'referral' OR referral_source IS NOT NULL", name="referral_has_source"),
        CheckConstraint("respondent_subject_id IS NULL OR respondent_subject_id <> applicant_subject_id",
                        name="two_parties"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(12), comment="application (by a party) or referral")
    referral_source: Mapped[str | None] = mapped_column(String(20), comment="court, police or credit_center")
    application_form: Mapped[str] = mapped_column(String(10), default="written",
                                                  comment="written or oral (MedLaw §17)")
    applicant_subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), comment="= cases.subject_id")
    respondent_subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    dispute: Mapped[str] = mapped_column(Text, comment="Facts and the matters in dispute")
    claims: Mapped[str] = mapped_column(Text, default="", comment="What the applying party asks for")
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                     comment="Who filed or registered it")
    consent_on: Mapped[date | None] = mapped_column(Date, comment="Day the respondent agreed to mediation")
    consent_how: Mapped[str | None] = mapped_column(String(60))
    registered_on: Mapped[date | None] = mapped_column(Date,
                                                       comment="受理登记: the conclusion target runs from here")
    mediators_chosen_by: Mapped[str | None] = mapped_column(String(12), comment="committee or parties (§19)")
    rights_informed_on: Mapped[date | None] = mapped_column(Date)
    rights_informed_how: Mapped[str | None] = mapped_column(String(10), comment="oral or written")
    facts: Mapped[str | None] = mapped_column(Text, comment="Agreement: facts and each side's responsibility")
    terms: Mapped[str | None] = mapped_column(Text, comment="Agreement: the agreed terms in words")
    agreement_on: Mapped[date | None] = mapped_column(Date)
    effective_on: Mapped[date | None] = mapped_column(Date)
    court: Mapped[str | None] = mapped_column(String(200),
                                              comment="Court applied to for judicial confirmation")
    confirmation_applied_on: Mapped[date | None] = mapped_column(Date)
    court_accepted_on: Mapped[date | None] = mapped_column(Date)
    court_outcome: Mapped[str | None] = mapped_column(String(20), comment="confirmed or not_confirmed")
    court_ruling_no: Mapped[str | None] = mapped_column(String(120))
    outcome_note: Mapped[str | None] = mapped_column(Text,
                                                     comment="Refusal, withdrawal, failure or court reasons")
    ended_by_party: Mapped[str | None] = mapped_column(String(12), comment="Who refused or withdrew")
    credit_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_records.id"), comment="Direct-grade record of a wholly unperformed agreement")
    archived_on: Mapped[date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship()
    applicant_subject: Mapped[Subject] = relationship(foreign_keys=[applicant_subject_id])
    respondent_subject: Mapped[Subject] = relationship(foreign_keys=[respondent_subject_id])
    opened_by: Mapped[User | None] = relationship()
    parties: Mapped[list[MediationParty]] = relationship(
        back_populates="mediation", order_by="MediationParty.role", cascade="all, delete-orphan")
    mediators: Mapped[list[MediationMediator]] = relationship(
        back_populates="mediation", order_by="MediationMediator.id", cascade="all, delete-orphan")
    sessions: Mapped[list[MediationSession]] = relationship(
        back_populates="mediation", order_by="MediationSession.seq", cascade="all, delete-orphan")
    obligations: Mapped[list[MediationObligation]] = relationship(
        back_populates="mediation", order_by="MediationObligation.seq", cascade="all, delete-orphan")
    signatures: Mapped[list[MediationSignature]] = relationship(
        back_populates="mediation", order_by="MediationSignature.id", cascade="all, delete-orphan")

    def subject_of(self, role: str) -> Subject:
        return self.applicant_subject if role == "applicant" else self.respondent_subject


class MediationParty(Base):
    """Both parties of a mediation, so that a user acting for either one sees the case."""

    __tablename__ = "mediation_parties"
    __table_args__ = (CheckConstraint("role IN ('applicant','respondent')", name="role_known"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_cases.case_id", ondelete="CASCADE"),
                                         primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(12))

    mediation: Mapped[MediationCase] = relationship(back_populates="parties")
    subject: Mapped[Subject] = relationship()


class MediationMediator(Base):
    __tablename__ = "mediation_mediators"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_cases.case_id", ondelete="CASCADE"),
                                         index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime]

    mediation: Mapped[MediationCase] = relationship(back_populates="mediators")
    user: Mapped[User] = relationship()


class MediationSession(Base):
    """One 调解笔录: when, who took part, what each side said, what was proposed."""

    __tablename__ = "mediation_sessions"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_cases.case_id", ondelete="CASCADE"),
                                         index=True)
    seq: Mapped[int] = mapped_column(Integer)
    held_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200), default="")
    participants: Mapped[str] = mapped_column(Text)
    applicant_statement: Mapped[str] = mapped_column(Text, default="")
    respondent_statement: Mapped[str] = mapped_column(Text, default="")
    proposals: Mapped[str] = mapped_column(Text, default="", comment="Proposals in words")
    proposed_obligations: Mapped[str] = mapped_column(
        Text, default="", comment="One a line: obligor|what|amount|due (drafts the agreement)")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]

    mediation: Mapped[MediationCase] = relationship(back_populates="sessions")
    recorded_by: Mapped[User | None] = relationship()


class MediationObligation(Base):
    """One agreed term: who performs what, how much, by when; then whether it was performed."""

    __tablename__ = "mediation_obligations"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        CheckConstraint("obligor IN ('applicant','respondent')", name="obligor_known"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_nonnegative"),
        CheckConstraint("status IN ('pending','performed','not_performed')", name="status_known"),
        CheckConstraint("status = 'pending' OR marked_on IS NOT NULL", name="marked_has_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_cases.case_id", ondelete="CASCADE"),
                                         index=True)
    seq: Mapped[int] = mapped_column(Integer)
    obligor: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2),
                                                   comment="Yuan; NULL for a non-monetary term")
    due_on: Mapped[date] = mapped_column(Date, comment="Performance deadline; the 回访 runs from it")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    marked_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    revisit_deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))

    mediation: Mapped[MediationCase] = relationship(back_populates="obligations")
    revisit_deadline: Mapped[Deadline | None] = relationship()


class MediationSignature(Base):
    """A signature (or seal, or fingerprint) on the written agreement, recorded one by one."""

    __tablename__ = "mediation_signatures"
    __table_args__ = (
        CheckConstraint("signer IN ('applicant','respondent','mediator','seal')", name="signer_known"),
        CheckConstraint("signer <> 'mediator' OR mediator_user_id IS NOT NULL", name="mediator_named"),
        UniqueConstraint("case_id", "signer", "mediator_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_cases.case_id", ondelete="CASCADE"),
                                         index=True)
    signer: Mapped[str] = mapped_column(String(12),
                                        comment="applicant, respondent, mediator or seal (committee)")
    signer_name: Mapped[str] = mapped_column(String(120))
    mediator_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_on: Mapped[date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    mediation: Mapped[MediationCase] = relationship(back_populates="signatures")
    mediator: Mapped[User | None] = relationship(foreign_keys=[mediator_user_id])


def party_case_ids(subject_ids):
    """Select of the mediation cases in which any of `subject_ids` is a party (for visible_cases)."""
    return select(MediationParty.case_id).where(MediationParty.subject_id.in_(subject_ids))


def is_party(subject_ids: list[int], case_id: int) -> bool:
    if not subject_ids:
        return False
    with db.session.no_autoflush:
        return db.session.execute(
            select(MediationParty.case_id).where(MediationParty.case_id == case_id,
                                                 MediationParty.subject_id.in_(subject_ids))
        ).first() is not None


__all__ = ["MediationCase", "MediationMediator", "MediationObligation", "MediationParty", "MediationSession",
           "MediationSignature", "PARTY_ROLES", "is_party", "party_case_ids"]
