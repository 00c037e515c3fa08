"""Who may read a subject's non-public credit information, and the log of every such read.

DOMAIN.md §9.3 and SD-Cond §20–22 name three disclosure modes: 公开公示 (everyone; organisations'
published records only), 授权查询 (the subject itself, or a third party holding the subject's
written authorisation) and 政务共享 (government users, for a stated purpose, each query logged).
A natural person's information is never public: it is reached only by the person, with the
person's authorisation, or through government sharing (SD-Cond §20; WH-HBF "Privacy").

`query_basis()` is the one place that decides on which basis a user may read a subject's score or
records; the web layer writes an `InformationAccessLog` row with the decision for every non-public
query, refusals included, in the same transaction that builds the response.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, and_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, db
from .people import Role, User
from .permissions import Actor, acts_for
from .subject import Subject


class AccessBasis(enum.StrEnum):
    SELF = "self"                                #: the subject's own user (授权查询 by the subject itself)
    AUTHORISED = "authorised"                    #: a third party with the subject's written authorisation
    GOVERNMENT_SHARING = "government_sharing"    #: 政务共享: staff, with the purpose logged
    PUBLIC = "public"                            #: 公开公示: what the public pages show anyway
    REFUSED = "refused"                          #: none of the above: answered 403, and logged


ACCESS_BASIS_LABELS = {
    AccessBasis.SELF: ("本人查询", "Own subject"),
    AccessBasis.AUTHORISED: ("授权查询", "Authorised query"),
    AccessBasis.GOVERNMENT_SHARING: ("政务共享", "Government sharing"),
    AccessBasis.PUBLIC: ("公开公示", "Public"),
    AccessBasis.REFUSED: ("已拒绝", "Refused"),
}


class AccessWhat(enum.StrEnum):
    SCORE = "score"
    RECORDS = "records"
    SUMMARY = "summary"


ACCESS_WHAT_LABELS = {
    AccessWhat.SCORE: ("信用积分", "Score"),
    AccessWhat.RECORDS: ("信用记录", "Records"),
    AccessWhat.SUMMARY: ("信用概况", "Summary"),
}

#: The roles that may query through government sharing: the same staff who see subjects at all
#: (models.permissions.can_view_subject). Mediators, trainers and inspectors work on their cases
#: and have no general query right; they can still be granted an authorisation like anyone else.
GOVERNMENT_SHARING_ROLES = frozenset({Role.REVIEWER, Role.PROVIDER, Role.ADMIN, Role.AUDITOR})


class QueryAuthorisation(Base):
    """The subject's written authorisation (授权书) for one user account to query its non-public
    information for a purpose and a period (SD-Cond §21). Revoking ends it at once; the row stays."""

    __tablename__ = "query_authorisations"
    __table_args__ = (
        CheckConstraint("valid_until >= valid_from", name="period_ordered"),
        CheckConstraint("grantee_user_id <> granted_by_id", name="not_to_oneself"),
        CheckConstraint("(revoked_at IS NULL) = (revoked_by_id IS NULL)", name="revocation_has_author"),
        CheckConstraint("document_storage_key IS NULL OR document_sha256 IS NOT NULL", name="document_hashed"),
        Index("ix_query_authorisations_grantee_subject", "grantee_user_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    grantee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(300), comment="查询用途 as written in the authorisation")
    valid_from: Mapped[date] = mapped_column(Date, comment="First day the grantee may query (Beijing date)")
    valid_until: Mapped[date] = mapped_column(Date, comment="Last day the grantee may query, inclusive")
    document_filename: Mapped[str | None] = mapped_column(String(255), comment="The signed 授权书, optional")
    document_content_type: Mapped[str | None] = mapped_column(String(60))
    document_size_bytes: Mapped[int | None] = mapped_column(Integer)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_storage_key: Mapped[str | None] = mapped_column(String(100))
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), comment="The subject's user who granted it")
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    subject: Mapped[Subject] = relationship()
    grantee: Mapped[User] = relationship(foreign_keys=[grantee_user_id])
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def in_force_on(self, day: date) -> bool:
        return self.revoked_at is None and self.valid_from <= day <= self.valid_until

    def status_on(self, day: date) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if day < self.valid_from:
            return "pending"
        return "expired" if day > self.valid_until else "in_force"


AUTHORISATION_STATUS_LABELS = {
    "in_force": ("有效", "In force"),
    "pending": ("未生效", "Not yet in force"),
    "expired": ("已过期", "Expired"),
    "revoked": ("已撤回", "Revoked"),
}


class InformationAccessLog(Base):
    """One query of a subject's non-public information: who, what, on which basis, why, when, from
    where. Append-only; refusals are logged as well as answers."""

    __tablename__ = "information_access_logs"
    __table_args__ = (
        CheckConstraint("basis IN ('self','authorised','government_sharing','public','refused')",
                        name="basis_known"),
        CheckConstraint("what IN ('score','records','summary')", name="what_known"),
        CheckConstraint("basis <> 'authorised' OR authorisation_id IS NOT NULL", name="authorised_names_grant"),
        # 政务共享 of a natural person's information always states its purpose (SD-Cond §22).
        CheckConstraint("basis <> 'government_sharing' OR subject_kind <> 'natural_person' OR purpose <> ''",
                        name="sharing_person_has_purpose"),
        Index("ix_information_access_logs_subject_at", "subject_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), comment="Kept as it was at query time")
    user_role: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    subject_kind: Mapped[str] = mapped_column(String(20), comment="Copied so the log filters by kind alone")
    what: Mapped[str] = mapped_column(String(20))
    basis: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(300), default="")
    authorisation_id: Mapped[int | None] = mapped_column(ForeignKey("query_authorisations.id"))
    reason: Mapped[str] = mapped_column(String(300), default="", comment="Why a query was refused")
    at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(45))

    subject: Mapped[Subject] = relationship()
    user: Mapped[User | None] = relationship()
    authorisation: Mapped[QueryAuthorisation | None] = relationship()


@dataclass(frozen=True)
class AccessDecision:
    basis: AccessBasis
    authorisation: QueryAuthorisation | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.basis != AccessBasis.REFUSED


def authorisation_in_force(user: Actor, subject_id: int, day: date) -> QueryAuthorisation | None:
    if not isinstance(user, User):
        return None
    return db.session.execute(
        select(QueryAuthorisation).where(and_(
            QueryAuthorisation.subject_id == subject_id,
            QueryAuthorisation.grantee_user_id == user.id,
            QueryAuthorisation.revoked_at.is_(None),
            QueryAuthorisation.valid_from <= day,
            QueryAuthorisation.valid_until >= day,
        )).order_by(QueryAuthorisation.valid_until.desc(), QueryAuthorisation.id).limit(1)
    ).scalar()


def query_basis(user: Actor, subject: Subject, day: date, purpose: str) -> AccessDecision:
    """On which basis may `user` read `subject`'s score and records on `day`?

    The subject's own user first, then a written authorisation in force on `day`, then government
    sharing. Staff have always seen organisations' data; for a natural person they must state the
    purpose of the query, which the log keeps. Everybody else is refused.
    """
    if not isinstance(user, User) or not user.active:
        return AccessDecision(AccessBasis.REFUSED, reason="无有效账户 / No active account")
    if acts_for(user, subject.id):
        return AccessDecision(AccessBasis.SELF)
    grant = authorisation_in_force(user, subject.id, day)
    if grant is not None:
        return AccessDecision(AccessBasis.AUTHORISED, authorisation=grant)
    if user.role in GOVERNMENT_SHARING_ROLES:
        if subject.is_natural_person and not purpose:
            return AccessDecision(AccessBasis.REFUSED, reason=(
                "政务共享查询自然人信息须说明查询用途（purpose） / Government sharing of a natural "
                "person's information needs a stated purpose (purpose)"))
        return AccessDecision(AccessBasis.GOVERNMENT_SHARING)
    return AccessDecision(AccessBasis.REFUSED, reason=(
        "无该主体的有效书面授权 / No written authorisation of this subject is in force for you"))
