"""The mediators' pages (信调委): the console of one's cases ordered by the next deadline
(/mediation), registering a dispute with the parties found by name, USCC or subject id
(/mediation/new), drafting the agreement from the last session's record
(/mediation/cases/<id>/agreement), and the printable agreement and dossier. Everything else —
consent, registration, sessions, signatures, confirmation, performance — runs on the shared case
page, whose buttons come from the engine.

The API adds POST /api/v1/mediation/cases (a mediator registers, a party applies, the credit
center records its referral: the engine's POST /api/v1/cases lets applicants open only their own
case types) and GET /api/v1/mediation/subjects (find the parties).
"""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, fields
from werkzeug.datastructures import MultiDict

from forms.mediation import (
    CHANNEL_CHOICES,
    FORM_CHOICES,
    OBLIGATION_LINE_HELP,
    REFERRAL_CHOICES,
    OpenMediationSchema,
    RecordAgreementSchema,
)
from models import Case, Subject, db
from models.permissions import Permission, can, visible_cases
from workflows.base import get_case_type
from workflows.calendar import CalendarYearNotLoaded
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.mediation import KEY, find_subjects, mediation, open_mediation
from workflows.service import available_actions, fire

from ..auth import current_user, login_required, require_api_user
from ..runtime import current_runtime
from . import api
from .cases import (
    case_time_left,
    error_alert,
    error_status,
    flatten_errors,
    load_cases,
    state_label,
    subject_identifier,
)
from .common import case_for, case_payload, commit, subject_payload
from .forms import form_to_data

bp = Blueprint("mediation", __name__)


def _require_mediator(user) -> None:
    if not can(user, Permission.MEDIATE):
        raise Forbidden("仅调解员可使用此页面 / This page is for mediators")


def _mediation_case(user, case_id: int) -> Case:
    case = case_for(user, case_id)
    if case.case_type != KEY:
        raise NotFound("调解案件不存在 / No such mediation", details={"case_id": case_id})
    return case


# --- the console ----------------------------------------------------------------------------------

@bp.get("/mediation")
@login_required
def console():
    """My open cases (assigned to me, or not yet assigned to anyone), the next deadline first."""
    user = current_user()
    _require_mediator(user)
    runtime = current_runtime()
    cases = db.session.execute(load_cases(
        visible_cases(user).where(Case.case_type == KEY, Case.closed_at.is_(None)))).scalars().all()
    rows = []
    for case in cases:
        row = mediation(case)
        mediators = [m.user for m in row.mediators]
        if mediators and user.id not in {m.id for m in mediators}:
            continue
        status, deadline = case_time_left(case, runtime)
        rows.append({"case": case, "row": row, "state": state_label(case), "time_left": status,
                     "deadline": deadline, "mine": bool(mediators),
                     "respondent_identifier": subject_identifier(row.respondent_subject, user),
                     "applicant_identifier": subject_identifier(row.applicant_subject, user)})
    # Cases without a running clock go last; among the others the nearest due date first.
    rows.sort(key=lambda r: (r["deadline"] is None or r["deadline"].due_on is None,
                             getattr(r["deadline"], "due_on", None) or r["case"].created_at.date(),
                             r["case"].id))
    return render_template("mediation/console.html", rows=rows)


# --- registering a dispute ------------------------------------------------------------------------

def _resolve(query: str, field: str, errors: dict) -> Subject | None:
    matches = find_subjects(query)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        errors[field] = ["未找到该主体（可输入名称、统一社会信用代码或主体编号） / No such subject "
                         "(type a name, a USCC or a subject id)"]
    else:
        names = "；".join(f"#{s.id} {s.name}" for s in matches)
        errors[field] = [f"有多个主体符合，请输入编号：{names} / several match, type the id: {names}"]
    return None


def _new_context(user, values: dict, errors: dict, alert=None) -> dict:
    candidates = {}
    for field in ("applicant", "respondent"):
        query = (values.get(field) or "").strip()
        if query:
            candidates[field] = [{"subject": s, "identifier": subject_identifier(s, user)}
                                 for s in find_subjects(query)]
    return {"values": values, "errors": errors, "alert": alert, "channels": CHANNEL_CHOICES,
            "referrals": REFERRAL_CHOICES, "forms": FORM_CHOICES, "candidates": candidates}


@bp.route("/mediation/new", methods=["GET", "POST"])
@login_required
def new():
    user = current_user()
    _require_mediator(user)
    runtime = current_runtime()
    if request.method == "GET":
        defaults = {"channel": "application", "application_form": "written"}
        return render_template("mediation/new.html", **_new_context(user, defaults, {}))
    values = request.form.to_dict()
    errors: dict = {}
    applicant = _resolve(values.get("applicant", ""), "applicant", errors)
    respondent = _resolve(values.get("respondent", ""), "respondent", errors)
    if errors:
        alert = {"message": "请确认双方当事人 / Identify both parties", "reasons": [], "code": "invalid_input"}
        return render_template("mediation/new.html", **_new_context(user, values, errors, alert)), 422
    data = form_to_data(OpenMediationSchema, MultiDict({**values,
                                                        "respondent_subject_id": str(respondent.id)}))
    data.pop("submitted_by", None)
    try:
        case = open_mediation(applicant, user, data, runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = flatten_errors(exc.details.get("fields") if isinstance(exc, InvalidInput) else {})
        if "respondent_subject_id" in fields:
            fields["respondent"] = fields.pop("respondent_subject_id")
        context = _new_context(user, values, fields, error_alert(exc))
        return render_template("mediation/new.html", **context), error_status(exc)
    flash(f"已登记调解申请：{case.reference} / Dispute recorded: {case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))


# --- the agreement drafted from the session record --------------------------------------------------

@bp.route("/mediation/cases/<int:case_id>/agreement", methods=["GET", "POST"])
@login_required
def agreement(case_id: int):
    user = current_user()
    _require_mediator(user)
    runtime = current_runtime()
    case = _mediation_case(user, case_id)
    details = get_case_type(KEY).describe(case, runtime)
    if request.method == "GET":
        values = {k: details["draft"][k] for k in ("facts", "terms", "obligations")}
        return render_template("mediation/agreement.html", case=case, details=details, values=values,
                               errors={},
                               alert=_blocked(case, user, runtime), help=OBLIGATION_LINE_HELP)
    try:
        fire(case, "record_agreement", user, form_to_data(RecordAgreementSchema, request.form),
             runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = flatten_errors(exc.details.get("fields") if isinstance(exc, InvalidInput) else {})
        case = _mediation_case(user, case_id)
        details = get_case_type(KEY).describe(case, runtime)
        return render_template("mediation/agreement.html", case=case, details=details,
                               values=request.form.to_dict(), errors=fields, alert=error_alert(exc),
                               help=OBLIGATION_LINE_HELP), error_status(exc)
    flash(f"已记录调解协议，待各方签署 / Agreement recorded: signatures next ({case.reference})", "success")
    return redirect(url_for("cases.show", case_id=case.id))


def _blocked(case: Case, user, runtime) -> dict | None:
    """Why the agreement cannot be recorded now (wrong state, not this case's mediator, no session)."""
    action = next((a for a in available_actions(case, user,
                                                runtime=runtime) if a.trigger == "record_agreement"),
                  None)
    if action is None:
        zh, en = state_label(case)
        return {"message": f"当前状态（{zh}）不能记录调解协议 / The agreement cannot be recorded now ({en})",
                "reasons": [], "code": "transition_not_allowed"}
    if not action.enabled:
        return {"message": "不满足办理条件 / The conditions are not met", "reasons": action.reasons,
                "code": "transition_not_allowed"}
    return None


# --- printable pages ----------------------------------------------------------------------------------

def _print_context(case: Case, user) -> dict:
    runtime = current_runtime()
    row = mediation(case)
    return {"case": case, "row": row, "details": get_case_type(KEY).describe(case, runtime),
            "payload": case_payload(case, user, runtime), "state": state_label(case),
            "identifiers": {role: subject_identifier(row.subject_of(role), user)
                            for role in ("applicant", "respondent")}}


@bp.get("/mediation/cases/<int:case_id>/agreement/print")
@login_required
def agreement_print(case_id: int):
    user = current_user()
    case = _mediation_case(user, case_id)
    if mediation(case).agreement_on is None:
        raise NotFound("尚未达成调解协议 / No agreement yet", details={"case_id": case_id})
    return render_template("mediation/agreement_print.html", **_print_context(case, user))


@bp.get("/mediation/cases/<int:case_id>/dossier")
@login_required
def dossier(case_id: int):
    user = current_user()
    return render_template("mediation/dossier.html", **_print_context(_mediation_case(user, case_id), user))


# --- API -----------------------------------------------------------------------------------------------

class MediationOpenRequest(Schema):
    subject_id = fields.Integer(required=True, error_messages={"required": "必填 / Required"})
    data = fields.Dict(load_default=dict)


class SubjectSearchQuery(Schema):
    q = fields.String(required=True, error_messages={"required": "必填 / Required"})


@api.operation("/mediation/cases", "POST",
               "Open a mediation: a mediator registers, a party applies, the credit "
               "center records its referral", body=MediationOpenRequest, tag="mediation")
def api_open():
    """`subject_id` is the applying party; `data` follows the mediation open schema
    (respondent_subject_id, dispute, channel, referral_source...)."""
    user = require_api_user()
    body = api.load(MediationOpenRequest, api.json_body())
    subject = db.session.get(Subject, body["subject_id"])
    if subject is None:
        raise NotFound("主体不存在 / No such subject", details={"subject_id": body["subject_id"]})
    case = open_mediation(subject, user, body["data"], runtime=current_runtime())
    commit()
    return jsonify(case_payload(case, user, current_runtime())), 201


@api.operation("/mediation/subjects", "GET", "Find parties by name, USCC, ID number or subject id",
               query=SubjectSearchQuery, tag="mediation")
def api_subjects():
    user = require_api_user()
    _require_mediator(user)
    q = api.load(SubjectSearchQuery, request.args.to_dict())
    return jsonify({"subjects": [subject_payload(s, user) for s in find_subjects(q["q"])]})

