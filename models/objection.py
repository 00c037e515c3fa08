"""The typed data of an objection case (异议): one row per case."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .people import Department, User
from .subject import CreditRecord


class ObjectionApplication(Base):
    __tablename__ = "objection_applications"
    __table_args__ = (
        CheckConstraint("route IS NULL OR route IN ('in_house','provider')", name="route_known"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('upheld','partly_upheld','rejected','unresolved')", name="outcome_known"
        ),
        CheckConstraint("correction IS NULL OR correction IN ('correct','delete')", name="correction_known"),
        CheckConstraint(
            # decided_by_id stays NULL when the system decides (T10: the document behind it was revoked)
            "outcome IS NULL OR decided_on IS NOT NULL", name="outcome_has_date"
        ),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    grounds: Mapped[str] = mapped_column(String(30), comment="异议理由类别: inaccurate, incomplete, infringement...")
    statement: Mapped[str] = mapped_column(Text, default="", comment="异议申请说明")
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    submitted_on: Mapped[date | None] = mapped_column(Date, comment="Receipt day of the (first) submission")
    accepted_on: Mapped[date | None] = mapped_column(Date)
    route: Mapped[str | None] = mapped_column(String(10), comment="in_house (本单位核查) or provider (提供单位协查)")
    provider_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="信息提供单位 asked to verify (协查函)"
    )
    provider_letter_on: Mapped[date | None] = mapped_column(Date, comment="协查函 sent")
    provider_letter: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(20))
    correction: Mapped[str | None] = mapped_column(String(10), comment="correct (更正) or delete (删除)")
    correction_details: Mapped[str | None] = mapped_column(Text, comment="JSON: the record's fields before/after")
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_on: Mapped[date | None] = mapped_column(Date)
    notified_on: Mapped[date | None] = mapped_column(Date, comment="异议处理结果告知书 sent")

    case: Mapped[Case] = relationship()
    record: Mapped[CreditRecord] = relationship()
    provider_department: Mapped[Department | None] = relationship()
    decided_by: Mapped[User | None] = relationship()
