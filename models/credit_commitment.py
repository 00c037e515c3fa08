"""The typed data of a credit commitment case (信用承诺): one row per case."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .case import Case
from .subject import CreditRecord

COMMITMENT_TYPES = (
    "approval_substitute",     #: 审批替代型（告知承诺）
    "deficiency",              #: 容缺受理型
    "certificate_substitute",  #: 证明事项告知承诺型
    "industry_self_discipline",  #: 行业自律型
    "voluntary",               #: 主动型（主动公示型）
    "repair",                  #: 信用修复型
)


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint(
            "commitment_type IN ('approval_substitute','deficiency','certificate_substitute',"
            "'industry_self_discipline','voluntary','repair')",
            name="type_known",
        ),
        CheckConstraint("signed_at IS NULL OR signed_by IS NOT NULL", name="signature_has_signer"),
        CheckConstraint("breach_kind IS NULL OR breach_kind IN ('breach','false_commitment')", name="breach_known"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    commitment_type: Mapped[str] = mapped_column(String(30))
    matter: Mapped[str] = mapped_column(String(300), comment="The matter committed to (事项), e.g. the licence applied for")
    text: Mapped[str] = mapped_column(Text, comment="The commitment text as presented for signature")
    signed_by: Mapped[str | None] = mapped_column(String(120))
    signed_at: Mapped[datetime | None]
    text_sha256: Mapped[str | None] = mapped_column(String(64), comment="Fingerprint of the signed text")
    public: Mapped[bool] = mapped_column(
        Boolean, default=True, comment="False for natural persons: never published, authorised query only (§0.4)"
    )
    published_on: Mapped[date | None] = mapped_column(Date)
    term_until: Mapped[date | None] = mapped_column(Date, comment="End of the commitment term, if it has one")
    breach_kind: Mapped[str | None] = mapped_column(String(20))
    breach_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))

    case: Mapped[Case] = relationship()
    breach_record: Mapped[CreditRecord | None] = relationship()
