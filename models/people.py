"""Departments, user accounts and which subjects an applicant may act for."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base

#: werkzeug's default: scrypt (n=2^15, r=8, p=1), about 0.1–0.2 s per hash or check on purpose.
DEFAULT_PASSWORD_HASH_METHOD = "scrypt"


def password_hash_method() -> str:
    """The app's PASSWORD_HASH_METHOD (the test configuration chooses a cheaper one: logging in
    happens in hundreds of tests), else scrypt."""
    from flask import current_app, has_app_context

    configured = current_app.config.get("PASSWORD_HASH_METHOD") if has_app_context() else None
    return configured or DEFAULT_PASSWORD_HASH_METHOD


def hash_password(password: str, method: str | None = None) -> str:
    """A salted hash of `password` (werkzeug.security, `method` or `password_hash_method()`)."""
    return generate_password_hash(password, method=method or password_hash_method())


class Role(enum.StrEnum):
    APPLICANT = "applicant"   #: enterprise or person acting for one or more subjects
    REVIEWER = "reviewer"     #: 审核员 of a department (the credit center's reviewers are the window)
    PROVIDER = "provider"     #: 数据提供单位 liaison
    MEDIATOR = "mediator"     #: 调解员
    TRAINER = "trainer"
    INSPECTOR = "inspector"
    ADMIN = "admin"           #: credit center administrator
    AUDITOR = "auditor"       #: read-only access to everything, the ledger included

    @property
    def label_zh(self) -> str:
        return ROLE_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return ROLE_LABELS[self][1]


ROLE_LABELS = {
    Role.APPLICANT: ("申请人", "Applicant"),
    Role.REVIEWER: ("审核员", "Reviewer"),
    Role.PROVIDER: ("数据提供单位", "Data provider"),
    Role.MEDIATOR: ("调解员", "Mediator"),
    Role.TRAINER: ("培训员", "Trainer"),
    Role.INSPECTOR: ("核查员", "Inspector"),
    Role.ADMIN: ("管理员", "Administrator"),
    Role.AUDITOR: ("审计员", "Auditor"),
}

CREDIT_CENTER_CODE = "credit-center"

user_subjects = Table(
    "user_subjects",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("subject_id", ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True),
    comment="Which subjects an applicant account may act for",
)


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    head_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, ondelete="SET NULL"),
        comment="Department head: receives escalations when a deadline is overdue",
    )

    members: Mapped[list[User]] = relationship(
        back_populates="department", foreign_keys="User.department_id"
    )
    head: Mapped[User | None] = relationship(foreign_keys=[head_user_id], post_update=True)

    @property
    def is_credit_center(self) -> bool:
        return self.code == CREDIT_CENTER_CODE


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('applicant','reviewer','provider','mediator','trainer','inspector','admin','auditor')",
            name="role_known",
        ),
        CheckConstraint("role <> 'reviewer' OR department_id IS NOT NULL", name="reviewer_has_department"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(
        String(30), comment="Mobile number for SMS notifications (only where an SMS gateway is configured)"
    )
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime | None]
    token_generation: Mapped[int] = mapped_column(
        Integer, default=0, comment="Bumped to invalidate every API token issued before"
    )

    department: Mapped[Department | None] = relationship(
        back_populates="members", foreign_keys=[department_id]
    )
    subjects: Mapped[list["Subject"]] = relationship(  # noqa: F821 (defined in models.subject)
        secondary=user_subjects, back_populates="users"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_department_head(self) -> bool:
        return self.department is not None and self.department.head_user_id == self.id

    @property
    def name(self) -> str:
        return self.display_name or self.username
