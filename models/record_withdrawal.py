"""The typed data of a record withdrawal case (信息撤回): one row per case."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .subject import CreditRecord


class RecordWithdrawal(Base):
    __tablename__ = "record_withdrawals"
    __table_args__ = (
        CheckConstraint("change IN ('revoke','change')", name="change_known"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    change: Mapped[str] = mapped_column(String(10), comment="revoke (撤回) or change (更正)")
    revoked_on: Mapped[date] = mapped_column(Date, comment="Day the decision was revoked or changed: 3 WD run from it")
    document_no: Mapped[str] = mapped_column(String(120), comment="撤销/变更文书文号")
    grounds: Mapped[str] = mapped_column(Text)
    new_title: Mapped[str | None] = mapped_column(String(300))
    new_points: Mapped[int | None] = mapped_column(Integer)
    done_on: Mapped[date | None] = mapped_column(Date, comment="Day the record was withdrawn or corrected")

    case: Mapped[Case] = relationship()
    record: Mapped[CreditRecord] = relationship()
