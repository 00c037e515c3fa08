"""Authorised queries (授权查询) and the access log, for people: the applicant's page to grant and
revoke query authorisations, and the administrators' and auditors' page of the access log.

Also `query_subject()`, the door every non-public query of a subject's score or records goes
through (the API's score and records endpoints): it decides the basis (models.information_access
.query_basis), writes the log row in the request's transaction and, on refusal, commits that row
before answering 403 — a refused query is exactly what the log must not lose.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import date, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from marshmallow import ValidationError
from sqlalchemy import or_, select

from forms.information_access import GrantAuthorisationSchema
from models import Subject, User, db
from models.information_access import (
    ACCESS_BASIS_LABELS,
    ACCESS_WHAT_LABELS,
    AUTHORISATION_STATUS_LABELS,
    AccessBasis,
    AccessWhat,
    InformationAccessLog,
    QueryAuthorisation,
)
from models.permissions import Actor, Permission, acts_for, can
from models.subject import SUBJECT_KIND_LABELS
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.information_access import StoredDocument, grant_authorisation, record_query, revoke_authorisation

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import error_alert, error_status, flatten_errors, form_values, subject_identifier
from .common import MAGIC, commit, human_size
from .forms import describe_schema, form_to_data

bp = Blueprint("access", __name__)

LOG_LIMIT = 200


# --- the door for non-public queries -----------------------------------------------------------

def query_subject(user: Actor, subject_id: int, what: str, purpose: str | None = None) -> Subject:
    """The subject, if `user` may read its `what` (score, records) on some basis; logged either way.

    `purpose` defaults to the request's `purpose` parameter (query string or form field): staff
    state it for government sharing of a natural person's information.
    """
    subject = db.session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("主体不存在 / No such subject", details={"subject_id": subject_id})
    if purpose is None:
        purpose = request.values.get("purpose", "")
    decision, entry = record_query(user, subject, what, purpose, request.remote_addr, current_runtime())
    if not decision.allowed:
        commit()  # keep the refusal in the log: the 403 below ends the request without a commit
        raise Forbidden(decision.reason, details={"subject_id": subject_id, "basis": str(AccessBasis.REFUSED),
                                                  "access_log_id": entry.id})
    return subject


# --- grants: payloads shared by the page and the API --------------------------------------------

def grant_payload(grant: QueryAuthorisation, today: date) -> dict:
    status = grant.status_on(today)
    return {
        "id": grant.id,
        "subject_id": grant.subject_id,
        "subject": grant.subject.name,
        "grantee": grant.grantee.username,
        "grantee_name": grant.grantee.name,
        "purpose": grant.purpose,
        "valid_from": grant.valid_from.isoformat(),
        "valid_until": grant.valid_until.isoformat(),
        "status": status,
        "status_label_zh": AUTHORISATION_STATUS_LABELS[status][0],
        "status_label_en": AUTHORISATION_STATUS_LABELS[status][1],
        "granted_by": grant.granted_by.username,
        "granted_at": grant.granted_at.isoformat(),
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "document": {"filename": grant.document_filename, "size_bytes": grant.document_size_bytes,
                     "sha256": grant.document_sha256} if grant.document_storage_key else None,
    }


def grants_of(user: User) -> tuple[list[QueryAuthorisation], list[QueryAuthorisation]]:
    """(granted for the subjects `user` acts for, granted to `user`), newest first."""
    subject_ids = [s.id for s in user.subjects]
    granted = db.session.execute(
        select(QueryAuthorisation).where(QueryAuthorisation.subject_id.in_(subject_ids))
        .order_by(QueryAuthorisation.id.desc())
    ).scalars().all() if subject_ids else []
    received = db.session.execute(
        select(QueryAuthorisation).where(QueryAuthorisation.grantee_user_id == user.id)
        .order_by(QueryAuthorisation.id.desc())
    ).scalars().all()
    return list(granted), list(received)


def load_grant(data) -> dict:
    try:
        return GrantAuthorisationSchema().load(data)
    except ValidationError as exc:
        raise InvalidInput("输入有误 / Invalid input", details={"fields": exc.messages}) from exc


def store_document(upload, runtime) -> StoredDocument | None:
    """The signed 授权书, optional: checked by content (PDF, PNG, JPEG) and size like case materials."""
    if upload is None or not upload.filename:
        return None
    max_bytes = int(runtime.rules["uploads.max_bytes"])
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        limit = human_size(max_bytes)
        raise InvalidInput(f"授权书文件过大，上限 {limit} / The document is too large: the limit is {limit}",
                           details={"fields": {"document": [f"max {max_bytes} bytes"]}})
    sniffed = next((ctype for ctype, magics in MAGIC.items() if any(data.startswith(m) for m in magics)), None)
    if sniffed is None or sniffed not in runtime.rules["uploads.allowed_types"]:
        raise InvalidInput("文件类型不允许，仅限 PDF、PNG、JPEG / File type not allowed: PDF, PNG or JPEG only",
                           details={"fields": {"document": ["type not allowed / 类型不允许"]}})
    storage_key = f"authorisation-{uuid.uuid4().hex}"
    os.makedirs(runtime.upload_dir, exist_ok=True)
    with open(os.path.join(runtime.upload_dir, storage_key), "wb") as fh:
        fh.write(data)
    return StoredDocument(filename=os.path.basename(upload.filename)[:255], content_type=sniffed,
                          size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=storage_key)


# --- the applicant's page -----------------------------------------------------------------------

def _require_applicant(user) -> None:
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可使用此页面 / This page is for applicants")


def _page(user, *, values=None, errors=None, alert=None, status=200):
    today = current_runtime().today()
    granted, received = grants_of(user)
    subjects = [{"subject": s, "identifier": subject_identifier(s, user)} for s in sorted(user.subjects, key=lambda s: s.id)]
    fields = describe_schema(GrantAuthorisationSchema)
    if values is None:
        values = {"valid_from": today.isoformat()}
    return render_template(
        "access/authorisations.html", subjects=subjects, fields=fields, values=values, errors=errors or {},
        alert=alert, granted=[grant_payload(g, today) for g in granted],
        received=[grant_payload(g, today) for g in received], today=today), status


@bp.get("/portal/authorisations")
@login_required
def authorisations():
    user = current_user()
    _require_applicant(user)
    return _page(user)


@bp.post("/portal/authorisations")
@login_required
def grant():
    user = current_user()
    _require_applicant(user)
    runtime = current_runtime()
    try:
        subject_id = int(request.form.get("subject_id") or 0)
    except ValueError:
        subject_id = 0
    document = None
    try:
        subject = db.session.get(Subject, subject_id)
        if subject is None or not acts_for(user, subject_id):
            raise InvalidInput("请选择您代表的主体 / Choose a subject you act for",
                               details={"fields": {"subject_id": ["请选择您代表的主体 / Choose a subject you act for"]}})
        data = load_grant(form_to_data(GrantAuthorisationSchema, request.form))
        document = store_document(request.files.get("document"), runtime)
        created = grant_authorisation(subject, user, data, runtime, document)
        commit()
    except WorkflowError as exc:
        db.session.rollback()
        if document is not None:  # no row refers to the file any more
            os.remove(os.path.join(runtime.upload_dir, document.storage_key))
        fields = flatten_errors(exc.details.get("fields") if isinstance(exc, InvalidInput) else {})
        values = {**form_values(describe_schema(GrantAuthorisationSchema), request.form),
                  "subject_id": request.form.get("subject_id", "")}
        page, _ = _page(user, values=values, errors=fields, alert=error_alert(exc))
        return page, error_status(exc)
    flash(f"已授权 {created.grantee.username} 查询 {subject.name}，至 {created.valid_until} / "
          f"{created.grantee.username} may query {subject.name} until {created.valid_until}", "success")
    return redirect(url_for("access.authorisations"))


@bp.post("/portal/authorisations/<int:grant_id>/revoke")
@login_required
def revoke(grant_id: int):
    user = current_user()
    _require_applicant(user)
    try:
        revoked = revoke_authorisation(grant_id, user, current_runtime())
        commit()
    except InvalidInput as exc:
        db.session.rollback()
        page, _ = _page(user, alert=error_alert(exc))
        return page, error_status(exc)
    flash(f"已撤回对 {revoked.grantee.username} 的授权 / The authorisation of {revoked.grantee.username} is revoked",
          "success")
    return redirect(url_for("access.authorisations"))


@bp.get("/authorisations/<int:grant_id>/document")
@login_required
def document(grant_id: int):
    """The signed 授权书: for the subject's users, the grantee, and those who audit."""
    user = current_user()
    grant = db.session.get(QueryAuthorisation, grant_id)
    if grant is None or not (acts_for(user, grant.subject_id) or grant.grantee_user_id == user.id
                             or can(user, Permission.LEDGER_AUDIT)):
        raise NotFound("授权不存在 / No such authorisation", details={"authorisation_id": grant_id})
    if not grant.document_storage_key:
        abort(404)
    path = os.path.join(current_runtime().upload_dir, grant.document_storage_key)
    return send_file(path, mimetype=grant.document_content_type, as_attachment=True,
                     download_name=grant.document_filename)


# --- the access log (admin, auditor) ------------------------------------------------------------

def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def access_log_query(args) -> tuple:
    """The filtered log query and the filters as understood (bad values are ignored, not 500s)."""
    filters = {
        "basis": args.get("basis") if args.get("basis") in set(AccessBasis) else "",
        "what": args.get("what") if args.get("what") in set(AccessWhat) else "",
        "kind": args.get("kind") if args.get("kind") in ("natural_person", "organisation") else "",
        "user": (args.get("user") or "").strip()[:80],
        "subject": (args.get("subject") or "").strip()[:100],
        "from": _parse_day(args.get("from")),
        "until": _parse_day(args.get("until")),
    }
    query = select(InformationAccessLog)
    if filters["basis"]:
        query = query.where(InformationAccessLog.basis == filters["basis"])
    if filters["what"]:
        query = query.where(InformationAccessLog.what == filters["what"])
    if filters["kind"] == "natural_person":
        query = query.where(InformationAccessLog.subject_kind == "natural_person")
    elif filters["kind"] == "organisation":
        query = query.where(InformationAccessLog.subject_kind != "natural_person")
    if filters["user"]:
        query = query.where(InformationAccessLog.username == filters["user"])
    if filters["subject"]:
        needle = filters["subject"]
        matching = select(Subject.id).where(or_(
            Subject.name.contains(needle, autoescape=True), Subject.uscc == needle.upper(),
            Subject.id_number == needle.upper(),
            Subject.id == (int(needle) if needle.isdigit() else -1)))
        query = query.where(InformationAccessLog.subject_id.in_(matching))
    # The filter dates are Beijing calendar days; `at` is stored in UTC.
    if filters["from"]:
        query = query.where(InformationAccessLog.at >= datetime.combine(filters["from"], time(), BEIJING))
    if filters["until"]:
        query = query.where(InformationAccessLog.at < datetime.combine(filters["until"] + timedelta(days=1), time(),
                                                                       BEIJING))
    return query.order_by(InformationAccessLog.at.desc(), InformationAccessLog.id.desc()), filters


def log_payload(entry: InformationAccessLog) -> dict:
    return {
        "id": entry.id, "at": entry.at.isoformat(), "user": entry.username, "user_role": entry.user_role,
        "subject_id": entry.subject_id, "subject_kind": entry.subject_kind, "what": entry.what,
        "basis": entry.basis, "purpose": entry.purpose, "authorisation_id": entry.authorisation_id,
        "reason": entry.reason, "ip": entry.ip,
    }


def require_log_reader(user) -> None:
    if not can(user, Permission.LEDGER_AUDIT):
        raise Forbidden("仅管理员和审计员可查看查询日志 / Only administrators and auditors see the access log")


@bp.get("/admin/access-log")
@login_required
def access_log():
    user = current_user()
    require_log_reader(user)
    query, filters = access_log_query(request.args)
    rows = db.session.execute(query.limit(LOG_LIMIT + 1)).scalars().all()
    entries = []
    for entry in rows[:LOG_LIMIT]:
        subject = entry.subject
        entries.append({
            "entry": entry, "subject_name": subject.name,
            # The log shows who was queried without spreading a person's ID number further.
            "subject_identifier": subject_identifier(subject, user),
            "kind": SUBJECT_KIND_LABELS[subject.kind_enum],
            "basis": ACCESS_BASIS_LABELS[AccessBasis(entry.basis)],
            "what": ACCESS_WHAT_LABELS[AccessWhat(entry.what)],
        })
    return render_template("access/log.html", entries=entries, filters=filters, truncated=len(rows) > LOG_LIMIT,
                           basis_choices=ACCESS_BASIS_LABELS, what_choices=ACCESS_WHAT_LABELS)
