"""The typed data of a credit check (信用核查, 逢办必查): an immutable snapshot of what was seen."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case

MATTER_TYPES = (
    "administrative_licensing",   #: 行政许可
    "administrative_penalty",     #: 行政处罚
    "administrative_enforcement",  #: 行政强制
    "administrative_benefit",     #: 行政给付
    "government_procurement",     #: 政府采购
    "bidding",                    #: 招标投标
    "funding_support",            #: 资金扶持、项目支持
    "land_transfer",              #: 国有土地出让
    "qualification",              #: 资质认定
    "honours",                    #: 评优评先、表彰奖励
    "recruitment",                #: 公务员招录、晋升
    "other",                      #: 其他管理事项
)
RESULTS = ("clean", "has_dishonesty", "has_serious", "listed")


class CreditCheck(Base):
    __tablename__ = "credit_checks"
    __table_args__ = (
        CheckConstraint("result IS NULL OR result IN ('clean','has_dishonesty','has_serious','listed')",
                        name="result_known"),
        CheckConstraint("result IS NULL OR (snapshot_sha256 IS NOT NULL AND checked_at IS NOT NULL)",
                        name="result_has_snapshot"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    matter_type: Mapped[str] = mapped_column(String(40))
    matter: Mapped[str] = mapped_column(String(300), default="", comment="The concrete matter, e.g. a licence number")
    purpose: Mapped[str] = mapped_column(Text, comment="Why the department asks (政务共享 is accountable)")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    result: Mapped[str | None] = mapped_column(String(20))
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="The records the check saw, frozen")
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime | None]
    use_recorded: Mapped[str | None] = mapped_column(Text, comment="How the department used the result")

    case: Mapped[Case] = relationship()


@event.listens_for(CreditCheck, "before_update")
def _snapshot_is_immutable(mapper, connection, target: CreditCheck) -> None:
    """Once issued, a check's result and snapshot never change (later record changes do not touch it)."""
    from sqlalchemy import inspect

    state = inspect(target)
    for name in ("result", "snapshot", "snapshot_sha256", "checked_at", "matter_type", "purpose"):
        history = state.attrs[name].history
        if history.deleted and history.deleted[0] is not None:
            raise ValueError(f"credit check {target.case_id}: {name} is immutable once issued")
