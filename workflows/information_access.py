"""Authorised queries (授权查询) and the access log (DOMAIN.md §9.3; SD-Cond §20–22).

A subject's user grants another user account a written authorisation to query the subject's
non-public information for a purpose and a period, and may revoke it at any time. Every query of a
subject's score or records that is not public is logged with its basis (`record_query`), refusals
included. These operations flush and never commit: the entry point that called them does.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Subject, User, db
from models.information_access import (
    AccessDecision,
    InformationAccessLog,
    QueryAuthorisation,
    query_basis,
)
from models.permissions import Actor, acts_for

from .errors import Forbidden, InvalidInput, NotFound
from .service import Runtime


@dataclass(frozen=True)
class StoredDocument:
    """The signed 授权书 as stored by the web layer (content already checked)."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str


def grant_authorisation(subject: Subject, actor: Actor, data: dict, runtime: Runtime,
                        document: StoredDocument | None = None) -> QueryAuthorisation:
    """`data` is a loaded forms.information_access.GrantAuthorisationSchema."""
    if not acts_for(actor, subject.id):
        raise Forbidden("只有主体本方用户可以授权查询 / Only the subject's own users may grant query authorisations",
                        details={"subject_id": subject.id})
    grantee = db.session.execute(select(User).where(User.username == data["grantee_username"].strip())).scalar()
    if grantee is None or not grantee.active:
        raise InvalidInput("被授权人账号不存在 / No such user account",
                           details={"fields": {"grantee_username": ["未找到该账号 / unknown user name"]}})
    if acts_for(grantee, subject.id):
        raise InvalidInput("该账号已代表本主体，无需授权 / This account already acts for the subject",
                           details={"fields": {"grantee_username": ["本方账号 / the subject's own account"]}})
    today = runtime.today()
    if data["valid_until"] < today:
        raise InvalidInput("授权截止日已过 / The authorisation would already have ended",
                           details={"fields": {"valid_until": [f"应不早于 {today.isoformat()} / not before {today.isoformat()}"]}})
    grant = QueryAuthorisation(
        subject_id=subject.id, grantee_user_id=grantee.id, purpose=data["purpose"].strip(),
        valid_from=data["valid_from"], valid_until=data["valid_until"], granted_by_id=actor.id,
        granted_at=runtime.clock.now(),
    )
    if document is not None:
        grant.document_filename = document.filename
        grant.document_content_type = document.content_type
        grant.document_size_bytes = document.size_bytes
        grant.document_sha256 = document.sha256
        grant.document_storage_key = document.storage_key
    db.session.add(grant)
    db.session.flush()
    return grant


def revoke_authorisation(grant_id: int, actor: Actor, runtime: Runtime) -> QueryAuthorisation:
    """Any of the subject's users may revoke; it ends at once. Revoking twice is refused (409 would
    suggest a state machine; this is plain input: 422)."""
    grant = db.session.get(QueryAuthorisation, grant_id)
    if grant is None or not acts_for(actor, grant.subject_id):
        # Another subject's authorisation is indistinguishable from a missing one.
        raise NotFound("授权不存在 / No such authorisation", details={"authorisation_id": grant_id})
    if grant.revoked_at is not None:
        raise InvalidInput("该授权已撤回 / This authorisation was already revoked",
                           details={"authorisation_id": grant_id})
    grant.revoked_at = runtime.clock.now()
    grant.revoked_by_id = actor.id
    db.session.flush()
    return grant


def record_query(user: Actor, subject: Subject, what: str, purpose: str, ip: str | None,
                 runtime: Runtime) -> tuple[AccessDecision, InformationAccessLog]:
    """Decide the basis of one query and log it (flushes; the caller commits with its response)."""
    purpose = (purpose or "").strip()[:300]
    decision = query_basis(user, subject, runtime.today(), purpose)
    if decision.authorisation is not None and not purpose:
        purpose = decision.authorisation.purpose[:300]  # the grantee queries for the authorised purpose
    entry = InformationAccessLog(
        user_id=getattr(user, "id", None), username=getattr(user, "username", "") or "",
        user_role=str(getattr(user, "role", "") or ""), subject_id=subject.id, subject_kind=subject.kind,
        what=what, basis=decision.basis, purpose=purpose,
        authorisation_id=decision.authorisation.id if decision.authorisation else None,
        reason=decision.reason[:300], at=runtime.clock.now(), ip=(ip or None) and ip[:45],
    )
    db.session.add(entry)
    db.session.flush()
    return decision, entry

