"""The typed data of a 容缺受理 case: the application and each missing non-core item."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Attachment, Case


class DeficiencyApplication(Base):
    __tablename__ = "deficiency_applications"
    __table_args__ = (
        CheckConstraint("issued_on IS NULL OR certificate_no IS NOT NULL", name="issued_has_number"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(60), comment="Key in the configured 容缺受理清单")
    matter_name: Mapped[str] = mapped_column(String(200))
    check_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), comment="The credit check it rests on")
    commitment_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), comment="The signed 容缺 commitment")
    supply_due_on: Mapped[date | None] = mapped_column(Date, comment="Deadline in the one-time notice (一次性告知)")
    refused_reason: Mapped[str | None] = mapped_column(Text, comment="Why the normal route applies")
    certificate_no: Mapped[str | None] = mapped_column(String(60))
    issued_on: Mapped[date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    items: Mapped[list[DeficiencyItem]] = relationship(
        back_populates="application", order_by="DeficiencyItem.id", cascade="all, delete-orphan"
    )


class DeficiencyItem(Base):
    """One missing non-core item, promised by a date."""

    __tablename__ = "deficiency_items"
    __table_args__ = (UniqueConstraint("case_id", "item_key", name="one_per_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("deficiency_applications.case_id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    supplied_at: Mapped[datetime | None]
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    conforms: Mapped[bool | None] = mapped_column(Boolean, comment="Set by the department when it checks the item")
    note: Mapped[str | None] = mapped_column(Text)

    application: Mapped[DeficiencyApplication] = relationship(back_populates="items")
    attachment: Mapped[Attachment | None] = relationship()
