"""Credit repair training (信用修复专题培训): trainers schedule sessions, mark attendance and
assessments and issue certificates from the session page; applicants enrol a subject they act for
and find their certificates; anyone entitled prints a certificate. JSON twins live under
/api/v1/training (bearer tokens, CSRF-exempt like the rest of the API); each enrolment's own steps
go through the generic case actions (/cases/<id>/actions/<trigger>, /api/v1/cases/<id>/actions/...).
"""
from __future__ import annotations

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from forms.training import CancelSessionSchema, CreateSessionSchema, OpenEnrolmentSchema
from models import Case, Role, Subject, TrainingCertificate, TrainingEnrolment, TrainingSession, db
from models.permissions import Actor, Permission, acts_for, can, can_view_case
from workflows.base import get_case_type
from workflows.calendar import CalendarYearNotLoaded
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.service import available_actions, fire, open_case
from workflows.training import (
    cancel_session,
    certificate_by_serial,
    certificate_payload,
    certificates_of,
    create_session,
    session_payload,
)

from ..auth import current_user, login_required, require_api_user
from ..runtime import current_runtime
from .cases import error_alert, error_status, flatten_errors, form_values, state_label, subject_identifier
from .common import case_payload, commit
from .forms import describe_schema, form_to_data

bp = Blueprint("training", __name__)
api_bp = Blueprint("training_api", __name__, url_prefix="/api/v1/training")


def register(app: Flask) -> None:
    from .. import csrf

    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # bearer tokens, like the rest of the API


# --- who may do what ------------------------------------------------------------------------------

def is_trainer(user: Actor | None) -> bool:
    return user is not None and can(user, Permission.TRAIN)


def _require_trainer(user) -> None:
    if not is_trainer(user):
        raise Forbidden("仅培训人员可以使用此页面 / This page is for trainers")


def may_view_certificate(user: Actor, certificate: TrainingCertificate) -> bool:
    """Whoever may see the training case, and any department reviewer: a deciding department checks
    the certificate a repair relies on."""
    case = db.session.get(Case, certificate.case_id)
    return case is not None and (can_view_case(user, case) or getattr(user, "role", None) == Role.REVIEWER)


def _session_or_404(session_id: int) -> TrainingSession:
    session = db.session.get(TrainingSession, session_id)
    if session is None:
        raise NotFound("培训场次不存在 / No such training session", details={"session_id": session_id})
    return session


def _sessions(*, upcoming_only: bool) -> list[TrainingSession]:
    query = select(TrainingSession)
    if upcoming_only:
        query = query.where(TrainingSession.held_on >= current_runtime().today(),
                            TrainingSession.status == "scheduled").order_by(TrainingSession.held_on)
    else:
        query = query.order_by(TrainingSession.held_on.desc(), TrainingSession.id.desc())
    return list(db.session.execute(query).scalars())


def _enrolment_cases(session: TrainingSession, user: Actor) -> list[Case]:
    cases = db.session.execute(
        select(Case).join(TrainingEnrolment, TrainingEnrolment.case_id == Case.id)
        .where(TrainingEnrolment.session_id == session.id).order_by(Case.id)
    ).scalars()
    return [c for c in cases if can_view_case(user, c)]


def enrol(session: TrainingSession, subject_id: int | None, data: dict, user: Actor) -> Case:
    """Open the enrolment case for a subject the applicant acts for (the engine checks the rest)."""
    subject = db.session.get(Subject, subject_id) if subject_id else None
    if subject is None or not acts_for(user, subject.id):
        raise Forbidden("您不能代表该主体报名 / You do not act for this subject", details={"subject_id": subject_id})
    return open_case("training", subject, user, {**data, "session_id": session.id}, runtime=current_runtime())


# --- pages ---------------------------------------------------------------------------------------

@bp.get("/training")
@login_required
def index():
    user = current_user()
    if not is_trainer(user):
        return redirect(url_for("training.sessions"))
    rows = [session_payload(db.session, s, current_runtime()) for s in _sessions(upcoming_only=False)]
    return render_template("training/index.html", rows=rows)


def _render_new(form: MultiDict | None = None, errors: dict | None = None, alert: dict | None = None,
                status: int = 200):
    specs = describe_schema(CreateSessionSchema)
    return render_template("training/new.html", fields=specs, values=form_values(specs, form),
                           errors=errors or {}, alert=alert), status


@bp.get("/training/sessions/new")
@login_required
def new():
    _require_trainer(current_user())
    return _render_new()


@bp.post("/training/sessions/new")
@login_required
def create():
    user = current_user()
    _require_trainer(user)
    raw = form_to_data(CreateSessionSchema, request.form)
    try:
        data = CreateSessionSchema().load(raw)
    except ValidationError as exc:
        return _render_new(request.form, flatten_errors(exc.messages), {
            "message": "输入有误，请检查标出的字段 / The input is invalid; see the fields marked",
            "reasons": [], "code": InvalidInput.code}, 422)
    try:
        session = create_session(db.session, data, user, runtime=current_runtime())
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields_ = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return _render_new(request.form, flatten_errors(fields_), error_alert(exc), error_status(exc))
    flash(f"已发布培训场次：{session.title} / Session scheduled: {session.title}", "success")
    return redirect(url_for("training.session_page", session_id=session.id))


@bp.get("/training/sessions")
@login_required
def sessions():
    """Open sessions to enrol in; for an applicant also its enrolments and certificates."""
    user = current_user()
    runtime = current_runtime()
    rows = [session_payload(db.session, s, runtime) for s in _sessions(upcoming_only=True)]
    subject_ids = [s.id for s in getattr(user, "subjects", [])] if can(user, Permission.CASE_CREATE) else []
    my_cases = []
    if subject_ids:
        found = db.session.execute(
            select(Case, TrainingEnrolment).join(TrainingEnrolment, TrainingEnrolment.case_id == Case.id)
            .where(Case.subject_id.in_(subject_ids)).order_by(Case.id.desc())
        ).all()
        my_cases = [{"case": c, "enrolment": e, "state": state_label(c)} for c, e in found]
    certificates = [certificate_payload(c, full_identifier=True) for c in certificates_of(db.session, subject_ids)]
    return render_template("training/sessions.html", rows=rows, my_cases=my_cases, certificates=certificates,
                           today=runtime.today().isoformat(), may_enrol=bool(subject_ids))


def _enrol_specs() -> list[dict]:
    return [s for s in describe_schema(OpenEnrolmentSchema) if s["name"] != "session_id"]


def render_session(session: TrainingSession, user, *, status: int = 200, alert: dict | None = None,
                   enrol_form: MultiDict | None = None, enrol_errors: dict | None = None,
                   failed: tuple[int, str] | None = None, action_errors: dict | None = None,
                   action_form: MultiDict | None = None):
    runtime = current_runtime()
    payload = session_payload(db.session, session, runtime)
    rows = []
    for case in _enrolment_cases(session, user):
        row = db.session.get(TrainingEnrolment, case.id)
        actions = []
        for action in available_actions(case, user, runtime=runtime):
            mine = failed == (case.id, action.trigger)
            specs = describe_schema(action.schema) if action.schema else []
            actions.append({"trigger": action.trigger, "label_zh": action.label_zh, "label_en": action.label_en,
                            "style": action.style, "enabled": action.enabled, "reasons": action.reasons,
                            "fields": specs, "errors": (action_errors or {}) if mine else {},
                            "typed": form_values(specs, action_form) if mine else {}, "failed": mine})
        rows.append({"case": case, "enrolment": row, "state": state_label(case),
                     "terminal": get_case_type("training").is_terminal(case.state),
                     "identifier": subject_identifier(case.subject, user),
                     "certificate": row.certificate, "actions": actions})
    subjects = sorted(getattr(user, "subjects", []), key=lambda s: s.id) if can(user, Permission.CASE_CREATE) else []
    specs = _enrol_specs()
    return render_template(
        "training/session.html", session=session, s=payload, rows=rows, trainer=is_trainer(user),
        subjects=[{"subject": sub, "identifier": subject_identifier(sub, user)} for sub in subjects],
        enrol_fields=specs, enrol_values=form_values(specs, enrol_form), enrol_errors=enrol_errors or {},
        chosen_subject=(enrol_form.get("subject_id", "") if enrol_form else ""),
        cancel_fields=describe_schema(CancelSessionSchema), alert=alert,
    ), status


@bp.get("/training/sessions/<int:session_id>")
@login_required
def session_page(session_id: int):
    return render_session(_session_or_404(session_id), current_user())


@bp.post("/training/sessions/<int:session_id>/enrol")
@login_required
def enrol_page(session_id: int):
    user = current_user()
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可以为主体报名 / Only applicants enrol their subjects")
    session = _session_or_404(session_id)
    raw = request.form.get("subject_id", "")
    data = form_to_data(OpenEnrolmentSchema, request.form)
    data.pop("session_id", None)
    try:
        case = enrol(session, int(raw) if raw.strip().isdigit() else None, data, user)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields_ = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return render_session(_session_or_404(session_id), user, status=error_status(exc), alert=error_alert(exc),
                              enrol_form=request.form, enrol_errors=flatten_errors(fields_))
    flash(f"已报名：{case.reference} / Enrolled: {case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.post("/training/sessions/<int:session_id>/cases/<int:case_id>/actions/<trigger>")
@login_required
def quick_action(session_id: int, case_id: int, trigger: str):
    """A step on one enrollee from the session page; back to the session page either way."""
    user = current_user()
    session = _session_or_404(session_id)
    case = db.session.get(Case, case_id)
    row = db.session.get(TrainingEnrolment, case_id) if case is not None else None
    if case is None or row is None or row.session_id != session.id or not can_view_case(user, case):
        raise NotFound("该场培训没有这名学员 / No such enrolment in this session", details={"case_id": case_id})
    case_type = get_case_type("training")
    step = case_type.step(trigger, case.state) or case_type.any_step(trigger)
    expected = request.form.get("expected_version", "")
    try:
        fire(case, trigger, user, form_to_data(step.schema if step else None, request.form),
             runtime=current_runtime(), expected_version=int(expected) if expected.strip().isdigit() else None)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields_ = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        alert = error_alert(exc)
        alert["message"] = f"{case.reference}：{alert['message']}"
        return render_session(_session_or_404(session_id), user, status=error_status(exc), alert=alert,
                              failed=(case_id, trigger), action_errors=flatten_errors(fields_),
                              action_form=request.form)
    label = (step.label_zh, step.label_en) if step else (trigger, trigger)
    flash(f"{case.reference}：{label[0]} / {case.reference}: {label[1]}", "success")
    return redirect(url_for("training.session_page", session_id=session_id) + "#enrolments")


@bp.post("/training/sessions/<int:session_id>/cancel")
@login_required
def cancel_page(session_id: int):
    user = current_user()
    _require_trainer(user)
    session = _session_or_404(session_id)
    try:
        data = CancelSessionSchema().load(form_to_data(CancelSessionSchema, request.form))
        cancel_session(db.session, session, user, data["reason"], runtime=current_runtime())
        commit()
    except ValidationError as exc:
        return render_session(session, user, status=422, alert={
            "message": "请填写取消原因 / Give the reason for cancelling", "reasons": [],
            "code": InvalidInput.code, "fields": exc.messages})
    except WorkflowError as exc:
        db.session.rollback()
        return render_session(_session_or_404(session_id), user, status=error_status(exc), alert=error_alert(exc))
    flash("培训场次已取消 / Session cancelled", "success")
    return redirect(url_for("training.session_page", session_id=session_id))


@bp.get("/training/certificates/<serial>")
@login_required
def certificate_page(serial: str):
    user = current_user()
    certificate = certificate_by_serial(db.session, serial)
    if certificate is None or not may_view_certificate(user, certificate):
        raise NotFound("培训证明不存在 / No such certificate", details={"serial": serial})
    full = acts_for(user, certificate.subject_id) or can(user, Permission.ADMIN_USERS)
    return render_template("training/certificate.html", c=certificate_payload(certificate, full_identifier=full),
                           today=current_runtime().today().isoformat())


# --- JSON API ------------------------------------------------------------------------------------

class EnrolRequest(Schema):
    subject_id = fields.Integer(required=True, error_messages={"required": "必填 / Required"})
    attendee_name = fields.String(required=True, error_messages={"required": "必填 / Required"})
    attendee_phone = fields.String(load_default="")


def _api_operation(rule: str, method: str, summary: str, *, body: type[Schema] | None = None):
    """Route on this blueprint and list it in /api/v1/openapi.json with the core operations."""
    from .api import OPERATIONS

    def decorator(view):
        api_bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        OPERATIONS.append({"rule": f"/training{rule}", "method": method.lower(), "summary": summary, "body": body,
                           "query": None, "auth": True, "tag": "training", "doc": (view.__doc__ or "").strip()})
        return view

    return decorator


def _load(schema_cls: type[Schema]) -> dict:
    try:
        return schema_cls().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        raise InvalidInput("输入有误 / Invalid input", details={"fields": exc.messages}) from exc


def _session_json(session: TrainingSession, user) -> dict:
    payload = session_payload(db.session, session, current_runtime())
    payload["enrolments"] = [{
        "case_id": c.id, "reference": c.reference, "state": c.state, "version": c.version,
        "subject_id": c.subject_id, "subject": c.subject.name,
        "attendee_name": db.session.get(TrainingEnrolment, c.id).attendee_name,
        "certificate": (certificate_payload(cert) if (cert := db.session.get(TrainingEnrolment, c.id).certificate)
                        else None),
    } for c in _enrolment_cases(session, user)]
    return payload


@_api_operation("/sessions", "GET", "Training sessions: upcoming ones (trainers: all)")
def api_sessions():
    user = require_api_user()
    rows = _sessions(upcoming_only=not is_trainer(user))
    return jsonify({"sessions": [session_payload(db.session, s, current_runtime()) for s in rows]})


@_api_operation("/sessions", "POST", "Schedule a training session (trainers)", body=CreateSessionSchema)
def api_session_create():
    user = require_api_user()
    _require_trainer(user)
    data = _load(CreateSessionSchema)
    session = create_session(db.session, data, user, runtime=current_runtime())
    payload = _session_json(session, user)
    commit()
    return jsonify(payload), 201


@_api_operation("/sessions/<int:session_id>", "GET", "A session with the enrolments the caller may see")
def api_session_get(session_id: int):
    user = require_api_user()
    return jsonify(_session_json(_session_or_404(session_id), user))


@_api_operation("/sessions/<int:session_id>/enrolments", "POST",
                "Enrol a subject the caller acts for; 409 with the reason when full, closed or enrolled already",
                body=EnrolRequest)
def api_enrol(session_id: int):
    user = require_api_user()
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可以为主体报名 / Only applicants enrol their subjects")
    data = _load(EnrolRequest)
    case = enrol(_session_or_404(session_id), data.pop("subject_id"), data, user)
    commit()
    return jsonify(case_payload(case, user, current_runtime())), 201


@_api_operation("/sessions/<int:session_id>/cancel", "POST", "Cancel a session and its open enrolments (trainers)",
                body=CancelSessionSchema)
def api_session_cancel(session_id: int):
    user = require_api_user()
    session = _session_or_404(session_id)
    data = _load(CancelSessionSchema)
    cancel_session(db.session, session, user, data["reason"], runtime=current_runtime())
    commit()
    return jsonify(_session_json(session, user))


@_api_operation("/certificates/<serial>", "GET", "A training certificate by its serial number")
def api_certificate(serial: str):
    user = require_api_user()
    certificate = certificate_by_serial(db.session, serial)
    if certificate is None or not may_view_certificate(user, certificate):
        raise NotFound("培训证明不存在 / No such certificate", details={"serial": serial})
    full = acts_for(user, certificate.subject_id) or can(user, Permission.ADMIN_USERS)
    return jsonify(certificate_payload(certificate, full_identifier=full))
