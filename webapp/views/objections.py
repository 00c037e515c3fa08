"""The applicant's objection page (异议): object to one record of a subject one acts for.

GET shows the record and the form; POST opens the objection case, stores the optional evidence
and files it (draft → submitted) in one transaction, then goes to the case page, where the rest of
the lifecycle runs on the generic actions. The API does the same with POST /api/v1/cases
(case_type "objection") and the submit action.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from forms.objection import OpenObjectionSchema
from models import CreditRecord, db
from models.permissions import Permission, can
from workflows.calendar import CalendarYearNotLoaded
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.objection import MATERIALS
from workflows.service import fire, open_case

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import error_alert, error_status, flatten_errors, form_values, subject_identifier
from .common import commit, record_payload, save_upload, subject_for
from .forms import describe_schema, form_to_data

bp = Blueprint("objections", __name__)


def _record_for_objection(user, record_id: int) -> CreditRecord:
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可使用此页面 / This page is for applicants")
    record = db.session.get(CreditRecord, record_id)
    if record is None:
        raise NotFound("记录不存在 / No such record", details={"record_id": record_id})
    subject_for(user, record.subject_id)  # another applicant's record is indistinguishable from none
    return record


def _context(record: CreditRecord, user, runtime) -> dict:
    return {
        "record": record,
        "info": record_payload(record, runtime),
        "subject": record.subject,
        "identifier": subject_identifier(record.subject, user),
        "fields": [f for f in describe_schema(OpenObjectionSchema) if f["name"] != "record_id"],
        "uploads": list(MATERIALS.values()),
    }


@bp.route("/portal/records/<int:record_id>/objection", methods=["GET", "POST"])
@login_required
def new(record_id: int):
    user = current_user()
    runtime = current_runtime()
    record = _record_for_objection(user, record_id)
    if request.method == "GET":
        return render_template("objections/new.html", values={}, errors={}, alert=None,
                               **_context(record, user, runtime))
    context = _context(record, user, runtime)
    try:
        data = {**form_to_data(OpenObjectionSchema, request.form), "record_id": record.id}
        case = open_case("objection", record.subject, user, data, runtime=runtime)
        for material in context["uploads"]:
            upload = request.files.get(f"file_{material.key}")
            if upload is not None and upload.filename:
                save_upload(case, material.key, upload, user, runtime)
        fire(case, "submit", user, {"statement": data.get("statement", ""),
                                    "contact_phone": data.get("contact_phone", "")}, runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) else {}
        record = _record_for_objection(user, record_id)
        return render_template("objections/new.html", values=form_values(context["fields"], request.form),
                               errors=flatten_errors(fields), alert=error_alert(exc),
                               **_context(record, user, runtime)), error_status(exc)
    flash(f"异议已提交：{case.reference} / Objection filed: {case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))
