"""REST API under /api/v1. Every operation is declared with `@operation`, which registers the Flask
route and its OpenAPI description in one place; /api/v1/openapi.json is generated from them."""
from __future__ import annotations

import re


from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from forms.subject import RecordCreateSchema, SubjectCreateSchema
from models import CreditRecord, Department, Subject, db
from models.permissions import Permission, acts_for, can, visible_cases
from notifications.outbox import relay_pending
from workflows.base import all_case_types, get_case_type
from workflows.calendar import parse_year_file
from workflows.calendar_store import store_year, year_summary
from workflows.clock import parse_instant
from workflows.errors import Forbidden, InvalidInput
from workflows.records import default_valid_until
from workflows.scoring import score_at
from workflows.service import fire, open_case
from workflows.sweep import sweep

from ..auth import authenticate, issue_token, require_api_user
from ..runtime import current_runtime
from .common import case_for, case_payload, commit, record_payload, save_upload, subject_for, subject_payload
from .information_access import query_subject

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPERATIONS: list[dict] = []


class TokenRequest(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True)


class CaseCreateRequest(Schema):
    case_type = fields.String(required=True, error_messages={"required": "必填 / Required"})
    subject_id = fields.Integer(required=True, error_messages={"required": "必填 / Required"})
    data = fields.Dict(load_default=dict)


class ActionRequest(Schema):
    data = fields.Dict(load_default=dict)
    expected_version = fields.Integer(load_default=None)
    reason = fields.String(load_default="")


class ClockRequest(Schema):
    now = fields.String(required=True, error_messages={"required": "必填 / Required"})


class DeadlineQuery(Schema):
    start = fields.Date(required=True, error_messages={"required": "必填 / Required",
                                                       "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"})
    amount = fields.Integer(required=True, validate=validate.Range(min=0, max=3650),
                            error_messages={"required": "必填 / Required"})
    unit = fields.String(required=True, validate=validate.OneOf(["wd", "cd", "month", "year"],
                                                                error="unit 应为 wd、cd、month 或 year / "
                                                                      "unit must be wd, cd, month or year"))
    rollover = fields.Boolean(load_default=True)


class ErrorBody(Schema):
    error = fields.String()
    message = fields.String()
    details = fields.Dict()


def operation(rule: str, method: str, summary: str, *, body: type[Schema] | None = None,
              query: type[Schema] | None = None, auth: bool = True, tag: str = "cases"):
    def decorator(view):
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        OPERATIONS.append({"rule": rule, "method": method.lower(), "summary": summary, "body": body,
                           "query": query, "auth": auth, "tag": tag, "doc": (view.__doc__ or "").strip()})
        return view

    return decorator


def load(schema_cls: type[Schema], data) -> dict:
    try:
        return schema_cls().load(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidInput("输入有误 / Invalid input", details={"fields": exc.messages}) from exc


def json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.data:
        raise InvalidInput("请求体不是有效的 JSON / The body is not valid JSON")
    return body or {}


# --- auth -------------------------------------------------------------------------------------

@operation("/auth/token", "POST", "Exchange a username and password for a bearer token", body=TokenRequest,
           auth=False, tag="auth")
def token():
    data = load(TokenRequest, json_body())
    user = authenticate(data["username"], data["password"])
    if user is None:
        from ..auth import Unauthorized

        raise Unauthorized("用户名或密码错误 / Wrong username or password")
    return jsonify({"token": issue_token(user), "role": user.role, "username": user.username})


@operation("/me", "GET", "Who am I, and my in-app notifications", tag="auth")
def me():
    user = require_api_user()
    from models import InboxMessage

    inbox = db.session.execute(
        db.select(InboxMessage).where(InboxMessage.user_id == user.id).order_by(InboxMessage.id.desc()).limit(50)
    ).scalars()
    return jsonify({"id": user.id, "username": user.username, "role": user.role,
                    "department": user.department.code if user.department else None,
                    "subjects": [s.id for s in user.subjects],
                    "inbox": [{"id": m.id, "title": m.title, "body": m.body, "case_id": m.case_id,
                               "created_at": m.created_at.isoformat(), "read": m.read_at is not None}
                              for m in inbox]})


# --- calendar ---------------------------------------------------------------------------------

@operation("/calendar/deadline", "GET", "Compute a statutory deadline (DOMAIN.md §0.3)", query=DeadlineQuery,
           auth=False, tag="calendar")
def calendar_deadline():
    """unit=wd counts working days after the (deemed) receipt day; cd/month/year end on the
    corresponding day and roll over rest days unless rollover=false. A year without holiday data
    answers 422 calendar_year_not_loaded."""
    q = load(DeadlineQuery, request.args.to_dict())
    calendar = current_runtime().calendar()
    rules = current_runtime().rules
    if q["unit"] == "wd":
        due = calendar.deadline(q["start"], q["amount"], "wd",
                                deemed_receipt=bool(rules["calendar.deem_nonworking_receipt_next_wd"]))
    else:
        due = calendar.deadline(q["start"], q["amount"], q["unit"], rollover=q["rollover"])
    return jsonify({"start": q["start"].isoformat(), "amount": q["amount"], "unit": q["unit"],
                    "due": due.isoformat()})


@operation("/calendar/years/<int:year>", "GET", "One year's holiday table (rest days and make-up days)",
           auth=False, tag="calendar")
def calendar_year(year: int):
    return jsonify(year_summary(current_runtime().calendar(), year))


@operation("/calendar/years", "GET", "Which years are loaded", auth=False, tag="calendar")
def calendar_years():
    calendar = current_runtime().calendar()
    return jsonify({"years": calendar.loaded_years})


@operation("/admin/calendar", "POST", "Load (or replace) one year's holiday table", tag="admin")
def calendar_load():
    """Body: {"year": 2027, "rest_days": [...], "makeup_workdays": [...], "source_notice": "..."}."""
    user = require_api_user()
    if not can(user, Permission.ADMIN_CALENDAR):
        raise Forbidden("仅管理员可加载节假日 / Only administrators load calendars")
    try:
        table = parse_year_file(request.get_data(as_text=True), "request body")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    store_year(db.session, table, loaded_by=user.username, now=current_runtime().clock.now())
    commit()
    return jsonify(year_summary(current_runtime().calendar(), table.year)), 201


# --- case types -------------------------------------------------------------------------------

@operation("/case-types", "GET", "Every case type: states, steps and timers", auth=False, tag="cases")
def case_types():
    from .forms import describe_schema

    result = []
    for ct in all_case_types():
        result.append({
            "key": ct.key, "version": ct.version, "label_zh": ct.label_zh, "label_en": ct.label_en,
            "initial": str(ct.initial), "terminal": [str(s) for s in ct.terminal],
            "states": [{"key": s.value, "label_zh": s.label_zh, "label_en": s.label_en} for s in ct.states],
            "steps": [{"trigger": s.trigger, "source": [str(x) for x in s.source], "target": str(s.target),
                       "permission": str(s.permission), "label_zh": s.label_zh, "label_en": s.label_en,
                       "fields": describe_schema(s.schema) if s.schema else []} for s in ct.steps],
            "timers": [{"kind": t.kind, "label_zh": t.label_zh, "label_en": t.label_en, "starts_in": str(t.starts_in),
                        "runs_in": [str(x) for x in t.runs_in], "suspended_in": [str(x) for x in t.suspended_in],
                        "unit": t.unit, "budget": t.budget(current_runtime().rules), "responsible": t.responsible,
                        "expiry_trigger": t.expiry_trigger} for t in ct.timers],
        })
    return jsonify({"case_types": result})


# --- subjects and records ---------------------------------------------------------------------

@operation("/subjects", "POST", "Register a credit subject", body=SubjectCreateSchema, tag="subjects")
def subject_create():
    user = require_api_user()
    if not can(user, Permission.SUBJECT_CREATE):
        raise Forbidden("无权登记主体 / You may not register subjects")
    data = load(SubjectCreateSchema, json_body())
    clash = db.session.execute(db.select(Subject.id).where(
        (Subject.uscc == data["uscc"]) if data.get("uscc") else (Subject.id_number == data["id_number"]))).scalar()
    if clash:
        from workflows.errors import Conflict

        raise Conflict("该主体已登记 / This subject is already registered", details={"subject_id": clash})
    subject = Subject(kind=data["kind"], name=data["name"], uscc=data.get("uscc"), id_number=data.get("id_number"),
                      legal_representative=data.get("legal_representative") or None,
                      address=data.get("address") or None, created_at=current_runtime().clock.now())
    db.session.add(subject)
    db.session.flush()
    payload = subject_payload(subject, user)
    commit()
    return jsonify(payload), 201


@operation("/subjects/<int:subject_id>", "GET", "A subject", tag="subjects")
def subject_get(subject_id: int):
    user = require_api_user()
    return jsonify(subject_payload(subject_for(user, subject_id), user))


@operation("/subjects/<int:subject_id>/records", "GET", "A subject's credit records", tag="subjects")
def records_list(subject_id: int):
    user = require_api_user()
    subject = query_subject(user, subject_id, "records")  # 授权查询 / 政务共享: decided and logged
    runtime = current_runtime()
    response = jsonify({"records": [record_payload(r, runtime) for r in subject.records]})
    commit()  # the access-log row commits with the answer it describes
    return response


@operation("/subjects/<int:subject_id>/records", "POST", "Add a credit record to a subject",
           body=RecordCreateSchema, tag="subjects")
def records_create(subject_id: int):
    user = require_api_user()
    if not can(user, Permission.RECORD_CREATE):
        raise Forbidden("无权录入信用记录 / You may not add credit records")
    subject = subject_for(user, subject_id)
    data = load(RecordCreateSchema, json_body())
    runtime = current_runtime()
    department = user.department
    if data.get("department_code"):
        department = db.session.execute(db.select(Department).where(Department.code == data["department_code"])).scalar()
        if department is None:
            raise InvalidInput("未知的部门 / Unknown department",
                               details={"fields": {"department_code": ["unknown"]}})
    points = data["points"] if data.get("points") is not None else 0
    valid_until = data.get("valid_until") or (
        default_valid_until(points, data["decided_on"], runtime.calendar()) if points else None)
    record = CreditRecord(
        subject_id=subject.id, kind=data["kind"], title=data["title"], description=data.get("description") or "",
        severity=data.get("severity"), category=data.get("category") or "", document_no=data.get("document_no") or None,
        decided_on=data["decided_on"], act_ended_on=data.get("act_ended_on"),
        department_id=department.id if department else None, points=points, valid_until=valid_until,
        created_at=runtime.clock.now(),
    )
    db.session.add(record)
    db.session.flush()
    payload = record_payload(record, runtime)
    commit()
    return jsonify(payload), 201


class ScoreQuery(Schema):
    at = fields.Date(load_default=None, error_messages={"invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"})
    purpose = fields.String(load_default="", metadata={"description": "查询用途: required of staff for a natural person (政务共享)"})


@operation("/subjects/<int:subject_id>/score", "GET", "Score and grade at a date (文登 district scheme)",
           query=ScoreQuery, tag="subjects")
def subject_score(subject_id: int):
    user = require_api_user()
    subject = query_subject(user, subject_id, "score")  # 授权查询 / 政务共享: decided and logged
    q = load(ScoreQuery, request.args.to_dict())
    at = q["at"] or current_runtime().today()
    result = score_at(subject.records, at, base=int(current_runtime().rules["score.base"]))
    response = jsonify({"subject_id": subject.id, "at": at.isoformat(), "base": result.base, "score": result.score,
                        "grade": result.grade, "grade_display": result.grade_display, "grade_label_zh": result.grade_label_zh,
                        "direct_grade": result.direct_grade, "items": result.items})
    commit()  # the access-log row commits with the answer it describes
    return response


class SnapshotQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    purpose = fields.String(load_default="", metadata={"description": "查询用途: required of staff for a natural person (政务共享)"})


@operation("/subjects/<int:subject_id>/score/snapshots", "GET",
           "Stored score and its immutable snapshots with reasons, newest first", query=SnapshotQuery, tag="subjects")
def subject_score_snapshots(subject_id: int):
    """Written by the set-based recomputation whenever the score or grade changed (DOMAIN.md §8.4.5).
    The same access rules (and access log) as the score itself."""
    from models.score_store import current_stored_score
    from workflows.score_recompute import snapshot_history

    user = require_api_user()
    q = load(SnapshotQuery, request.args.to_dict())
    subject = query_subject(user, subject_id, "score")
    current = current_stored_score(db.session, subject.id)
    response = jsonify({
        "subject_id": subject.id,
        "current": None if current is None else {
            "scheme": current.scheme, "score": current.score, "grade": current.grade,
            "grade_label": current.grade_label, "direct_grade": current.direct_grade, "as_of": current.as_of.isoformat(),
            "computed_at": current.computed_at.isoformat(), "version": current.version},
        "snapshots": [{
            "id": snap.id, "scheme": snap.scheme, "as_of": snap.as_of.isoformat(), "score": snap.score,
            "grade": snap.grade, "grade_label": snap.grade_label, "direct_grade": snap.direct_grade,
            "previous_score": snap.previous_score, "previous_grade": snap.previous_grade,
            "previous_label": snap.previous_label, "reasons": snap.reasons, "created_at": snap.created_at.isoformat(),
        } for snap in snapshot_history(db.session, subject.id, q["limit"])],
    })
    commit()  # the access-log row commits with the answer it describes
    return response


# --- cases ------------------------------------------------------------------------------------

@operation("/cases", "POST", "Open a case", body=CaseCreateRequest)
def case_create():
    user = require_api_user()
    data = load(CaseCreateRequest, json_body())
    if get_case_type(data["case_type"]) is None:
        raise InvalidInput("未知的案件类型 / Unknown case type", details={"fields": {"case_type": ["unknown"]}})
    subject = db.session.get(Subject, data["subject_id"])
    if subject is not None and user.role == "applicant" and not acts_for(user, subject.id):
        # Acting (applying, signing a commitment) for a subject one does not represent is refused
        # outright; the subject's records stay invisible all the same.
        raise Forbidden("您不能代表该主体办理 / You do not act for this subject",
                        details={"subject_id": subject.id})
    subject = subject_for(user, data["subject_id"])
    case = open_case(data["case_type"], subject, user, data["data"], runtime=current_runtime())
    commit()
    return jsonify(case_payload(case, user, current_runtime())), 201


class CaseQuery(Schema):
    case_type = fields.String(load_default=None)
    state = fields.String(load_default=None)
    department = fields.String(load_default=None)
    subject_id = fields.Integer(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


@operation("/cases", "GET", "Cases the caller may see, filtered", query=CaseQuery)
def case_list():
    from models import Case

    user = require_api_user()
    q = load(CaseQuery, request.args.to_dict())
    query = visible_cases(user)
    if q["case_type"]:
        query = query.where(Case.case_type == q["case_type"])
    if q["state"]:
        query = query.where(Case.state == q["state"])
    if q["subject_id"]:
        query = query.where(Case.subject_id == q["subject_id"])
    if q["department"]:
        query = query.join(Department, Case.department_id == Department.id).where(Department.code == q["department"])
    cases = db.session.execute(query.order_by(Case.id.desc()).limit(q["limit"])).scalars()
    return jsonify({"cases": [
        {"id": c.id, "reference": c.reference, "case_type": c.case_type, "state": c.state,
         "state_label_zh": get_case_type(c.case_type).state_label(c.state)[0], "version": c.version,
         "subject_id": c.subject_id, "subject": c.subject.name,
         "deadlines": [{"kind": d.kind, "due": d.due_on.isoformat() if d.due_on else None, "status": d.status}
                       for d in c.deadlines if d.status in ("open", "suspended")]}
        for c in cases]})


@operation("/cases/<int:case_id>", "GET", "A case: state, version, deadlines, ledger events, available actions")
def case_get(case_id: int):
    user = require_api_user()
    return jsonify(case_payload(case_for(user, case_id), user, current_runtime()))


@operation("/cases/<int:case_id>/actions/<trigger>", "POST", "Fire an action on a case", body=ActionRequest)
def case_action(case_id: int, trigger: str):
    """409 when the action is not allowed now (with the reasons) or expected_version is stale;
    422 when the data fails the step's schema; 403 without permission; 404 for an invisible case."""
    user = require_api_user()
    data = load(ActionRequest, json_body())
    case = case_for(user, case_id)
    runtime = current_runtime()
    event = fire(case, trigger, user, data["data"], runtime=runtime, expected_version=data["expected_version"],
                 reason=data["reason"])
    commit()
    payload = case_payload(case_for(user, case_id), user, runtime)
    payload["event"] = {"seq": event.seq, "trigger": event.trigger, "from": event.from_state, "to": event.to_state,
                        "hash": event.hash}
    return jsonify(payload)


@operation("/cases/<int:case_id>/attachments", "POST",
           "Upload one material (multipart: material_key, file); PDF/PNG/JPEG within the size limit")
def case_upload(case_id: int):
    user = require_api_user()
    case = case_for(user, case_id)
    attachment = save_upload(case, request.form.get("material_key", ""), request.files.get("file"), user,
                             current_runtime())
    commit()
    return jsonify({"id": attachment.id, "material_key": attachment.material_key, "sha256": attachment.sha256,
                    "size_bytes": attachment.size_bytes, "content_type": attachment.content_type}), 201


# --- admin: clock and sweep -------------------------------------------------------------------

def _require_adjustable_admin():
    user = require_api_user()
    if not can(user, Permission.ADMIN_CLOCK):
        raise Forbidden("仅管理员可操作 / Administrators only")
    runtime = current_runtime()
    if not getattr(runtime.clock, "adjustable", False):
        raise Forbidden("时钟未配置为可调（CREDITDESK_CLOCK=adjustable） / The clock is not adjustable "
                        "(set CREDITDESK_CLOCK=adjustable)")
    return user, runtime


@operation("/admin/clock", "PUT", "Set the adjustable clock", body=ClockRequest, tag="admin")
def clock_set():
    _user, runtime = _require_adjustable_admin()
    data = load(ClockRequest, json_body())
    try:
        at = parse_instant(data["now"])
    except ValueError as exc:
        raise InvalidInput("时间格式有误 / Invalid datetime", details={"fields": {"now": [str(exc)]}}) from exc
    runtime.clock.set(at)
    return jsonify({"now": runtime.clock.now().isoformat(), "today": runtime.today().isoformat()})


@operation("/admin/clock", "GET", "Read the clock", tag="admin")
def clock_get():
    require_api_user()
    runtime = current_runtime()
    return jsonify({"now": runtime.clock.now().isoformat(), "today": runtime.today().isoformat(),
                    "adjustable": bool(getattr(runtime.clock, "adjustable", False))})


@operation("/admin/sweep", "POST", "Run the deadline sweep now", tag="admin")
def sweep_now():
    _user, runtime = _require_adjustable_admin()
    result = sweep(db.session, runtime, commit=commit)
    relay_pending(db.session, runtime.clock.now())
    return jsonify({"fired": result.fired, "claimed": result.claimed, "reminders": result.reminders,
                    "escalations": result.escalations, "errors": result.errors})


# --- the OpenAPI document ---------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    spec = APISpec(
        title="Credit case desk API / 信用案件办理系统接口", version="1.0.0", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Errors are JSON {error, message, details} with 400/401/403/404/409/422."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorBody)
    for op in OPERATIONS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", op["rule"])
        params = [{"in": "path", "name": name, "required": True,
                   "schema": {"type": "integer" if f"int:{name}" in op["rule"] else "string"}}
                  for name in re.findall(r"<(?:\w+:)?(\w+)>", op["rule"])]
        operation_doc: dict = {
            "summary": op["summary"], "description": op["doc"], "tags": [op["tag"]],
            "responses": {"200": {"description": "OK"},
                          **{str(code): {"description": "Error", "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"}}}}
                             for code in (400, 401, 403, 404, 409, 422)}},
        }
        if op["query"]:
            params.append({"in": "query", "schema": op["query"]})
        if params:
            operation_doc["parameters"] = params
        if op["body"]:
            operation_doc["requestBody"] = {"required": True,
                                            "content": {"application/json": {"schema": op["body"]}}}
        if op["auth"]:
            operation_doc["security"] = [{"bearer": []}]
        spec.path(path=f"/api/v1{path}", operations={op["method"]: operation_doc})
    return jsonify(spec.to_dict())


