"""The typed data of a blacklist case (严重失信主体名单 entry and exit): one row per case."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .people import User
from .subject import CreditRecord


#: The dishonesty records (penalty decisions, judgments) a listing rests on. When every one of them
#: is revoked, the listing ends by itself (DOMAIN.md §2.6, §5.4 T10).
listing_basis_records = Table(
    "listing_basis_records",
    Base.metadata,
    Column("case_id", ForeignKey("listing_cases.case_id", ondelete="CASCADE"), primary_key=True),
    Column("record_id", ForeignKey("credit_records.id"), primary_key=True, index=True),
)


class ListingCase(Base):
    __tablename__ = "listing_cases"
    __table_args__ = (
        # Four eyes: the reviewer who proposes a listing never approves it.
        CheckConstraint("approver_id IS NULL OR proposer_id IS NULL OR approver_id <> proposer_id",
                        name="four_eyes"),
        CheckConstraint("decision IS NULL OR decision IN ('list','drop')", name="decision_known"),
        CheckConstraint("decision IS NULL OR decided_on IS NOT NULL", name="decision_has_date"),
        CheckConstraint(
            "exit_kind IS NULL OR exit_kind IN ('removed_early','expired_removed','revoked_removed')",
            name="exit_kind_known",
        ),
        CheckConstraint("exit_kind IS NULL OR exited_on IS NOT NULL", name="exit_has_date"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    criteria_key: Mapped[str] = mapped_column(String(60), comment="Key in rules blacklist.criteria")
    legal_basis: Mapped[str] = mapped_column(Text, comment="列入依据 as cited in the 告知书 and the decision")
    facts: Mapped[str] = mapped_column(Text, comment="认定的失信事实")
    act_ended_on: Mapped[date] = mapped_column(Date, comment="End of the act: the 5-year cap runs from here")
    proposer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notice_served_on: Mapped[date | None] = mapped_column(
        Date, comment="告知书送达之日: the statement period starts"
    )
    statement_filed: Mapped[bool] = mapped_column(Boolean, default=False)
    statement: Mapped[str | None] = mapped_column(Text, comment="陈述申辩 / 异议 as filed")
    decision: Mapped[str | None] = mapped_column(String(10))
    decided_on: Mapped[date | None] = mapped_column(Date, comment="认定之日: the listing terms run from here")
    answer: Mapped[str | None] = mapped_column(Text, comment="Written answer to the statement")
    published_on: Mapped[date | None] = mapped_column(Date)
    listing_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))
    legal_rep_marked: Mapped[str | None] = mapped_column(
        String(120), comment="法定代表人/主要负责人 marked with the listing (SD-Cond §31)"
    )
    exit_kind: Mapped[str | None] = mapped_column(String(20))
    exited_on: Mapped[date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship()
    proposer: Mapped[User | None] = relationship(foreign_keys=[proposer_id])
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id])
    listing_record: Mapped[CreditRecord | None] = relationship(foreign_keys=[listing_record_id])
    basis_records: Mapped[list[CreditRecord]] = relationship(secondary=listing_basis_records, order_by="CreditRecord.id")
