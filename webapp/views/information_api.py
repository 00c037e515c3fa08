"""The API twin of the authorised-query pages (授权查询, DOMAIN.md §9.3): list, grant and revoke
query authorisations, and read the access log. Operations join api.bp (and its OpenAPI document),
so this module is imported before api.bp is registered."""
from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, fields

from forms.information_access import GrantAuthorisationSchema
from models import db
from models.permissions import Permission, can
from workflows.errors import Forbidden
from workflows.information_access import grant_authorisation, revoke_authorisation

from ..auth import require_api_user
from ..runtime import current_runtime
from .api import json_body, load, operation
from .common import commit, subject_for
from .information_access import (
    LOG_LIMIT,
    access_log_query,
    grant_payload,
    grants_of,
    load_grant,
    log_payload,
    require_log_reader,
)


class AccessLogQuery(Schema):
    basis = fields.String(load_default="", metadata={"description": "self, authorised, government_sharing, public, refused"})
    what = fields.String(load_default="", metadata={"description": "score, records, summary"})
    kind = fields.String(load_default="", metadata={"description": "natural_person or organisation"})
    user = fields.String(load_default="")
    subject = fields.String(load_default="", metadata={"description": "name, USCC, ID number or subject id"})
    # Kept as strings: access_log_query ignores a malformed date rather than failing the whole read.
    from_ = fields.String(load_default="", data_key="from")
    until = fields.String(load_default="")


@operation("/authorisations", "GET", "Query authorisations granted by my subjects and granted to me", tag="subjects")
def authorisations_list():
    user = require_api_user()
    today = current_runtime().today()
    granted, received = grants_of(user)
    return jsonify({"granted": [grant_payload(g, today) for g in granted],
                    "received": [grant_payload(g, today) for g in received]})


@operation("/subjects/<int:subject_id>/authorisations", "POST",
           "Authorise another account to query this subject's non-public information (授权查询)",
           body=GrantAuthorisationSchema, tag="subjects")
def authorisation_create(subject_id: int):
    user = require_api_user()
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("只有主体本方用户可以授权查询 / Only the subject's own users may grant query authorisations")
    subject = subject_for(user, subject_id)
    data = load_grant(json_body())
    runtime = current_runtime()
    grant = grant_authorisation(subject, user, data, runtime)
    payload = grant_payload(grant, runtime.today())
    commit()
    return jsonify(payload), 201


@operation("/authorisations/<int:grant_id>/revoke", "POST", "Revoke a query authorisation at once", tag="subjects")
def authorisation_revoke(grant_id: int):
    user = require_api_user()
    runtime = current_runtime()
    grant = revoke_authorisation(grant_id, user, runtime)
    payload = grant_payload(grant, runtime.today())
    commit()
    return jsonify(payload)


@operation("/access-log", "GET", "The information access log (administrators and auditors)", query=AccessLogQuery,
           tag="subjects")
def access_log_list():
    user = require_api_user()
    require_log_reader(user)
    load(AccessLogQuery, request.args.to_dict())  # rejects unknown parameters the way every query does
    query, _filters = access_log_query(request.args)
    rows = db.session.execute(query.limit(LOG_LIMIT + 1)).scalars().all()
    return jsonify({"entries": [log_payload(e) for e in rows[:LOG_LIMIT]], "truncated": len(rows) > LOG_LIMIT})

