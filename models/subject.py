"""Credit subjects (自然人, 法人, 非法人组织) and the credit records held about them."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .people import Department, User, user_subjects


class SubjectKind(enum.StrEnum):
    LEGAL_PERSON = "legal_person"        #: 法人
    OTHER_ORG = "other_org"              #: 非法人组织 (个体工商户 included)
    NATURAL_PERSON = "natural_person"    #: 自然人: never published, authorised query only (SD-Cond §20)


SUBJECT_KIND_LABELS = {
    SubjectKind.LEGAL_PERSON: ("法人", "Legal person"),
    SubjectKind.OTHER_ORG: ("非法人组织", "Other organisation"),
    SubjectKind.NATURAL_PERSON: ("自然人", "Natural person"),
}


class Severity(enum.StrEnum):
    MINOR = "minor"        #: 轻微
    GENERAL = "general"    #: 一般
    SERIOUS = "serious"    #: 严重


SEVERITY_LABELS = {
    Severity.MINOR: ("轻微", "Minor"),
    Severity.GENERAL: ("一般", "General"),
    Severity.SERIOUS: ("严重", "Serious"),
}


class RecordKind(enum.StrEnum):
    DISHONESTY = "dishonesty"   #: 失信信息
    POSITIVE = "positive"       #: 其他信息: honours, volunteering, donations


class RecordStatus(enum.StrEnum):
    ACTIVE = "active"       #: in force: published (if publishable) and evaluated
    REPAIRED = "repaired"   #: 已修复: publicity ended, sharing stopped, excluded from the score
    REVOKED = "revoked"     #: the decision behind it was revoked: deleted from display and score


RECORD_STATUS_LABELS = {
    RecordStatus.ACTIVE: ("有效", "Active"),
    RecordStatus.REPAIRED: ("已修复", "Repaired"),
    RecordStatus.REVOKED: ("已撤销", "Revoked"),
}


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (
        CheckConstraint("kind IN ('legal_person','other_org','natural_person')", name="kind_known"),
        CheckConstraint(
            "(kind = 'natural_person' AND id_number IS NOT NULL) OR (kind <> 'natural_person' AND uscc IS NOT NULL)",
            name="identifier_present",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(
        String(18), unique=True, comment="统一社会信用代码 (GB 32100), organisations only"
    )
    id_number: Mapped[str | None] = mapped_column(
        String(18), unique=True, comment="居民身份证号码 (GB 11643), natural persons only; always masked on display"
    )
    legal_representative: Mapped[str | None] = mapped_column(String(120))
    legal_rep_subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id"), comment="The legal representative's own (natural person) subject: 联奖联罚, WD-Score §6"
    )
    address: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime | None]

    records: Mapped[list[CreditRecord]] = relationship(
        back_populates="subject", order_by="CreditRecord.decided_on.desc()"
    )
    users: Mapped[list[User]] = relationship(secondary=user_subjects, back_populates="subjects")

    @property
    def kind_enum(self) -> SubjectKind:
        return SubjectKind(self.kind)

    @property
    def is_natural_person(self) -> bool:
        return self.kind == SubjectKind.NATURAL_PERSON

    @property
    def identifier(self) -> str:
        return (self.uscc or self.id_number) or ""

    @property
    def masked_identifier(self) -> str:
        """USCCs are public; an ID number shows only its region prefix and last four characters."""
        if self.uscc:
            return self.uscc
        return mask_id_number(self.id_number or "")


def mask_id_number(value: str) -> str:
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


class CreditRecord(Base):
    """One credit item: a dishonesty record (失信信息) or a positive item, with its score effect."""

    __tablename__ = "credit_records"
    __table_args__ = (
        CheckConstraint("kind IN ('dishonesty','positive')", name="kind_known"),
        CheckConstraint("status IN ('active','repaired','revoked')", name="status_known"),
        CheckConstraint(
            "kind <> 'dishonesty' OR severity IN ('minor','general','serious')", name="dishonesty_has_severity"
        ),
        CheckConstraint("status <> 'repaired' OR repaired_on IS NOT NULL", name="repaired_has_date"),
        CheckConstraint("direct_grade IS NULL OR direct_grade IN ('B','C','D')", name="direct_grade_known"),
        Index("ix_credit_records_subject_status", "subject_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str | None] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(
        String(80), default="", comment="Scoring category (the annex's 分项) used for repeat detection"
    )
    document_no: Mapped[str | None] = mapped_column(String(120), comment="决定书文号")
    published_on: Mapped[date | None] = mapped_column(
        Date, comment="双公示: the day the decision was published online (due within 7 WD of decided_on, §9.1)"
    )
    decided_on: Mapped[date] = mapped_column(Date, comment="认定之日: starts publicity and validity")
    act_ended_on: Mapped[date | None] = mapped_column(
        Date, comment="End of the dishonest act: the 5-year disclosure cap runs from here (SD-Cond §38)"
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="认定单位 / 提供单位: decides repairs (谁认定、谁修复)"
    )
    points: Mapped[int] = mapped_column(Integer, default=0, comment="Score effect under the district scheme")
    valid_until: Mapped[date | None] = mapped_column(Date, comment="Last day the score effect counts (C10)")
    direct_grade: Mapped[str | None] = mapped_column(
        String(4), comment="直接判级 (WD-Score §10, §13, §14): the grade is at most this while the record counts"
    )
    status: Mapped[str] = mapped_column(String(20), default=RecordStatus.ACTIVE)
    repaired_on: Mapped[date | None] = mapped_column(Date)
    repair_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", use_alter=True, ondelete="SET NULL")
    )
    publicity_restarted_on: Mapped[date | None] = mapped_column(
        Date, comment="Set when a repair is revoked: the minimum publicity period runs again from here"
    )
    repair_barred_until: Mapped[date | None] = mapped_column(
        Date, comment="No new repair application before this date (after a revoked repair)"
    )
    under_objection: Mapped[bool] = mapped_column(Boolean, default=False, comment="异议处理中: labelled from acceptance until the decision")
    item_code: Mapped[str | None] = mapped_column(
        String(40), index=True, comment="The scoring catalogue row (CatalogueItem.code) this item was recorded under"
    )
    created_at: Mapped[datetime | None]

    subject: Mapped[Subject] = relationship(back_populates="records")
    department: Mapped[Department | None] = relationship()

    @property
    def severity_enum(self) -> Severity | None:
        return Severity(self.severity) if self.severity else None

    @property
    def is_dishonesty(self) -> bool:
        return self.kind == RecordKind.DISHONESTY
