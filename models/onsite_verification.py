"""The typed data of an on-site verification case (现场核查 of a commitment, DOMAIN.md §4.3): one row
per case, and one row per assigned inspector carrying that inspector's signature of the record."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .people import User


class OnsiteVerification(Base):
    __tablename__ = "onsite_verifications"
    __table_args__ = (
        CheckConstraint("result IS NULL OR result IN ('conforming','nonconforming')", name="result_known"),
        # A nonconforming report always says what was found: the finding is the commitment's breach lead.
        CheckConstraint("result IS NULL OR result <> 'nonconforming' OR findings IS NOT NULL",
                        name="nonconforming_has_findings"),
        CheckConstraint("reported_at IS NULL OR result IS NOT NULL", name="report_has_result"),
        CheckConstraint("subject_signed_at IS NULL OR subject_signer_name IS NOT NULL", name="signature_has_signer"),
        # An inspected record is either signed by the subject or carries the reason it was not.
        CheckConstraint("inspected_at IS NULL OR subject_signed_at IS NOT NULL OR subject_refusal_reason IS NOT NULL",
                        name="inspection_signed_or_refused"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    commitment_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True,
                                                    comment="The credit_commitment case this visit checks")
    assigned_on: Mapped[date] = mapped_column(Date, comment="Day the inspectors were assigned: the visit clock starts")
    visit_on: Mapped[date | None] = mapped_column(Date, comment="Day the visit is scheduled for")
    place: Mapped[str | None] = mapped_column(String(300), comment="Where the visit takes place")
    inspected_at: Mapped[datetime | None]
    observations: Mapped[str | None] = mapped_column(Text, comment="The on-site record (现场核查记录) the subject signs")
    subject_signer_name: Mapped[str | None] = mapped_column(String(120))
    subject_signed_at: Mapped[datetime | None]
    subject_refusal_reason: Mapped[str | None] = mapped_column(Text, comment="Why the subject refused to sign")
    result: Mapped[str | None] = mapped_column(String(20))
    findings: Mapped[str | None] = mapped_column(Text)
    internal_note: Mapped[str | None] = mapped_column(
        Text, comment="Inspector-internal note: never shown to the subject; only its SHA-256 enters the ledger")
    reported_at: Mapped[datetime | None]
    commitment_outcome: Mapped[str | None] = mapped_column(
        String(30), comment="What the report did to the commitment: its new state, or 'left' (not applicable)")

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    commitment_case: Mapped[Case] = relationship(foreign_keys=[commitment_case_id])
    inspectors: Mapped[list[OnsiteInspector]] = relationship(
        back_populates="verification", order_by="OnsiteInspector.id", cascade="all, delete-orphan")


class OnsiteInspector(Base):
    """One assigned inspector; `signed_at` is that inspector's own signature of the on-site record."""

    __tablename__ = "onsite_inspectors"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("onsite_verifications.case_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    signed_at: Mapped[datetime | None] = mapped_column(comment="When this inspector signed the on-site record")

    verification: Mapped[OnsiteVerification] = relationship(back_populates="inspectors")
    user: Mapped[User] = relationship()
