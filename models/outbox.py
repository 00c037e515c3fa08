"""The outbox (promises of messages, written inside fire()'s transaction) and the in-app inbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .people import User


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending','sent','dead')", name="status_known"),
        CheckConstraint("channel IN ('inapp','email','log','sms','webhook')", name="channel_known"),
        Index("ix_outbox_messages_pending", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    event: Mapped[str] = mapped_column(String(60), comment="kebab-case notification event, e.g. repair-approved")
    channel: Mapped[str] = mapped_column(String(10))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipient_address: Mapped[str | None] = mapped_column(
        String(200), comment="E-mail address, phone number (sms) or department code (webhook)"
    )
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(
        String(200), unique=True, comment="Makes a reminder rung or escalation unique per recipient"
    )
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    recipient: Mapped[User | None] = relationship()


class InboxMessage(Base):
    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id"), unique=True, comment="Delivery is idempotent by outbox id"
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
