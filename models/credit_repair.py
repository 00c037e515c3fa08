"""The typed data of a credit repair case (信用修复): one row per case."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .people import User
from .subject import CreditRecord


class RepairApplication(Base):
    __tablename__ = "repair_applications"
    __table_args__ = (
        CheckConstraint("regime IN ('ndrc58','ndrc36')", name="regime_known"),
        CheckConstraint("severity IN ('minor','general','serious')", name="severity_known"),
        CheckConstraint(
            "decision IS NULL OR (decided_by_id IS NOT NULL AND decided_on IS NOT NULL)",
            name="decision_has_decider",
        ),
        CheckConstraint("decision IS NULL OR decision IN ('approved','rejected','not_accepted')", name="decision_known"),
        CheckConstraint("revoked_on IS NULL OR decision = 'approved'", name="only_approved_revoked"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    severity: Mapped[str] = mapped_column(String(10), comment="Copied from the record when the case is opened")
    regime: Mapped[str | None] = mapped_column(
        String(10), comment="ndrc58 (令58号) or ndrc36 (令36号), fixed by the submission date"
    )
    statement: Mapped[str] = mapped_column(Text, default="", comment="申请说明: how the act was corrected")
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    commitment_text: Mapped[str | None] = mapped_column(Text, comment="信用承诺书 as signed")
    commitment_signed_by: Mapped[str | None] = mapped_column(String(120))
    commitment_signed_at: Mapped[datetime | None]
    submitted_on: Mapped[date | None] = mapped_column(Date, comment="Deemed receipt day of the (first) submission")
    decision: Mapped[str | None] = mapped_column(String(20))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_on: Mapped[date | None] = mapped_column(Date)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    revocation_grounds: Mapped[str | None] = mapped_column(String(40))

    case: Mapped[Case] = relationship()
    record: Mapped[CreditRecord] = relationship()
    decided_by: Mapped[User | None] = relationship()
