"""The shared case page (/cases/<id>) every role that may see a case lands on: header, what is
missing, deadlines, the ledger timeline, attachments, and one form per action the engine offers.

Actions post to /cases/<id>/actions/<trigger>; an engine error re-renders this page with the
field errors beside the fields and the reasons in an alert, never a bare error page. The page
helpers (Beijing time, file sizes, label tables, field values and errors) live here because the
portal, the inbox and the admin pages share them.
"""
from __future__ import annotations

import os
from datetime import date, datetime

from flask import Blueprint, flash, redirect, render_template, request, send_from_directory, url_for
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from models import Attachment, Case, Deadline, Subject, db
from models.permissions import Actor, Permission, can
from models.subject import RECORD_STATUS_LABELS, SEVERITY_LABELS, SUBJECT_KIND_LABELS
from workflows.base import get_case_type
from workflows.calendar import CalendarYearNotLoaded
from workflows.clock import BEIJING
from workflows.deadlines import time_left_status
from workflows.errors import InvalidInput, NotFound, WorkflowError
from workflows.service import fire

from ..auth import current_user, login_required
from ..i18n import bilingual, t
from ..runtime import current_runtime
from .common import (
    case_for,
    case_payload,
    commit,
    human_size,
    save_upload,
    subject_payload,
    upload_materials,
)
from .forms import form_to_data

bp = Blueprint("cases", __name__)

TIME_LEFT_LABELS = {
    "on_track": ("正常", "On track"),
    "at_risk": ("临期", "At risk"),
    "overdue": ("已超期", "Overdue"),
    "suspended": ("暂停计时", "Suspended"),
    "none": ("无期限", "No time limit"),
}
DEADLINE_STATUS_LABELS = {
    "open": ("计时中", "Running"),
    "suspended": ("暂停计时", "Suspended"),
    "met": ("已完成", "Met"),
    "expired": ("已届满", "Expired"),
    "cancelled": ("已取消", "Cancelled"),
}
RESPONSIBLE_LABELS = {
    "applicant": ("申请人", "Applicant"),
    "window": ("信用中心窗口", "Credit center window"),
    "department": ("认定单位", "Deciding department"),
    "trainer": ("培训讲师", "Trainer"),
    "mediator": ("调解员", "Mediator"),
    "inspector": ("核查人员", "Inspectors"),
    "system": ("系统", "System"),
}
UNIT_LABELS = {"wd": ("个工作日", "working days"), "cd": ("日", "calendar days"),
               "month": ("个月", "months"), "year": ("年", "years")}
MATERIAL_KIND_LABELS = {"upload": ("上传文件", "File upload"), "form": ("在线填写", "Filled in online"),
                        "signature": ("在线签署", "Signed online")}
DECISION_LABELS = {"approved": ("准予修复", "Approved"), "rejected": ("不予修复", "Refused"),
                   "not_accepted": ("不予受理", "Not accepted")}
OPEN_LABEL = ("提出申请", "Opened")


# --- template helpers shared by every page ------------------------------------------------------

@bp.app_template_filter("beijing")
def beijing(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Instants are stored in UTC; people read them in Beijing time."""
    return value.astimezone(BEIJING).strftime(fmt) if value else ""


@bp.app_template_filter("filesize")
def filesize(n: int | None) -> str:
    return human_size(int(n or 0))


bp.add_app_template_filter(bilingual, "bilingual")


@bp.app_template_filter("body_in_lang")
def body_in_lang(body: str) -> str:
    """Message bodies are stored as the Chinese text, a blank line, then the English text."""
    zh, _, en = (body or "").partition("\n\n")
    return t(zh, en or zh)


@bp.app_template_global()
def department_name(department) -> str:
    if department is None:
        return "—"
    return t(department.name, department.name_en or department.name)


@bp.app_template_global()
def label_of(table: str, key: str | None) -> str:
    """`label_of('time_left', 'overdue')` → 已超期 / Overdue, in the visitor's language."""
    tables = {"time_left": TIME_LEFT_LABELS, "deadline_status": DEADLINE_STATUS_LABELS,
              "responsible": RESPONSIBLE_LABELS, "unit": UNIT_LABELS, "severity": SEVERITY_LABELS,
              "record_status": RECORD_STATUS_LABELS, "material_kind": MATERIAL_KIND_LABELS,
              "decision": DECISION_LABELS, "subject_kind": SUBJECT_KIND_LABELS}
    pair = tables[table].get(key or "")
    return t(*pair) if pair else (key or "")


def flatten_errors(fields: dict | None) -> dict[str, list[str]]:
    """marshmallow nests list-item errors ({"missing": {0: [...]}}); a form shows one list per field."""
    flat: dict[str, list[str]] = {}

    def walk(value) -> list[str]:
        if isinstance(value, dict):
            return [m for v in value.values() for m in walk(v)]
        if isinstance(value, (list, tuple)):
            return [m for v in value for m in walk(v)]
        return [str(value)]

    for name, messages in (fields or {}).items():
        flat[str(name)] = walk(messages)
    return flat


def form_values(specs: list[dict], form: MultiDict | None) -> dict:
    """What the visitor typed, shaped for the field macro (lists for checkboxes, bools for a tick)."""
    if not form:
        return {}
    values: dict = {}
    for spec in specs:
        name = spec["name"]
        if spec["widget"] == "checkboxes":
            values[name] = form.getlist(name)
        elif spec["widget"] == "checkbox":
            values[name] = form.get(name) in ("on", "true", "1", "yes")
        else:
            values[name] = form.get(name, "")
    return values


def error_alert(exc: Exception) -> dict:
    """An engine error as an inline alert: its message, and the guard reasons when there are any."""
    if isinstance(exc, CalendarYearNotLoaded):
        return {"message": str(exc), "reasons": [], "code": CalendarYearNotLoaded.code}
    details = getattr(exc, "details", None) or {}
    reasons = details.get("reasons", []) if isinstance(details, dict) else []
    return {"message": getattr(exc, "message", str(exc)), "reasons": list(reasons),
            "code": getattr(exc, "code", "error")}


def error_status(exc: Exception) -> int:
    return 422 if isinstance(exc, CalendarYearNotLoaded) else getattr(exc, "http_status", 400)


def subject_identifier(subject: Subject, viewer: Actor) -> str:
    """USCC, or the ID number masked unless the viewer acts for the person or administers the desk."""
    payload = subject_payload(subject, viewer)
    return payload["uscc"] or payload["id_number"] or ""


def next_open_deadline(case: Case) -> Deadline | None:
    running = [d for d in case.deadlines if d.status == "open" and d.due_at is not None]
    return min(running, key=lambda d: d.due_at) if running else None


def case_time_left(case: Case, runtime) -> tuple[str, Deadline | None]:
    """The case's most urgent clock: (time-left status, that deadline)."""
    deadline = next_open_deadline(case)
    if deadline is not None:
        return time_left_status(deadline, runtime.clock.now(), runtime.calendar()), deadline
    suspended = next((d for d in case.deadlines if d.status == "suspended"), None)
    return ("suspended", suspended) if suspended else ("none", None)


def working_days_left(calendar, today: date, due_on: date | None) -> int | None:
    """Working days from `today` to the last day `due_on`: 0 on the last day itself, negative once
    it has passed (minus the working days gone since). None when a year's holidays are not loaded:
    a page shows "—" rather than guess (C12)."""
    if due_on is None:
        return None
    try:
        if due_on >= today:
            return calendar.working_days_between(today, due_on)
        return -calendar.working_days_between(due_on, today)
    except CalendarYearNotLoaded:
        return None


def open_deadline_rows(case: Case, runtime, calendar) -> list[dict]:
    """The case's running clocks (status "open"), earliest first, each with its label, the time-left
    mark and the working days left. The caller passes the calendar, read once per page."""
    now, today = runtime.clock.now(), runtime.today()
    running = sorted((d for d in case.deadlines if d.status == "open"), key=lambda d: (d.due_on, d.id))
    return [{"deadline": d, "label": deadline_label(d), "time_left": time_left_status(d, now, calendar),
             "days_left": working_days_left(calendar, today, d.due_on)} for d in running]


def state_label(case: Case) -> tuple[str, str]:
    return get_case_type(case.case_type).state_label(case.state)


def deadline_label(deadline: Deadline) -> tuple[str, str]:
    case_type = get_case_type(deadline.case.case_type)
    timer = next((t for t in case_type.timers if t.kind == deadline.kind), None) if case_type else None
    return (timer.label_zh, timer.label_en) if timer else (deadline.kind, deadline.kind)


def type_label(case: Case) -> tuple[str, str]:
    case_type = get_case_type(case.case_type)
    return (case_type.label_zh, case_type.label_en) if case_type else (case.case_type, case.case_type)


# --- the case page ------------------------------------------------------------------------------

def _trigger_label(case_type, trigger: str) -> tuple[str, str]:
    if trigger == "open":
        return OPEN_LABEL
    step = case_type.any_step(trigger)
    return (step.label_zh, step.label_en) if step else (trigger, trigger)


def _events(case: Case, case_type) -> list[dict]:
    rows = []
    for event in case.events:
        rows.append({
            "seq": event.seq,
            "at": event.occurred_at,
            "actor": event.actor_name,
            "actor_role": event.actor_role,
            "trigger": _trigger_label(case_type, event.trigger),
            "from": case_type.state_label(event.from_state) if event.from_state else None,
            "to": case_type.state_label(event.to_state),
            "reason": event.reason,
            "materials": event.payload.get("materials") if isinstance(event.payload, dict) else None,
            "hash": event.hash,
        })
    return rows


def _requested_missing(case: Case, details: dict) -> dict | None:
    """What the window asked for in its last return-for-supplement notice (一次性告知)."""
    if case.state != "returned_for_supplement":
        return None
    last = next((e for e in reversed(case.events) if e.trigger == "return_for_supplement"), None)
    if last is None:
        return None
    from forms.credit_repair import MATERIAL_CHOICES

    labels = {key: (zh, en) for key, zh, en in MATERIAL_CHOICES}
    present = {m["key"]: m["present"] for m in details.get("materials", [])}
    items = [{"key": key, "label_zh": labels.get(key, (key, key))[0], "label_en": labels.get(key, (key, key))[1],
              "present": present.get(key, False)} for key in last.payload.get("missing", [])]
    return {"items": items, "reason": last.reason}


def render_case(case: Case, user: Actor, *, status: int = 200, failed: str | None = None,
                errors: dict | None = None, form: MultiDict | None = None, alert: dict | None = None):
    """Draw the case page. `failed` names the action (or "upload") whose form gets `errors`/`form` back."""
    runtime = current_runtime()
    case_type = get_case_type(case.case_type)
    payload = case_payload(case, user, runtime)
    details = payload["details"]
    actions = []
    # The expected next step first, refusals last: the page reads in the order a clerk decides.
    order = {"primary": 0, "default": 1, "danger": 2}
    for action in sorted(payload["available_actions"], key=lambda a: (not a["enabled"], order.get(a["style"], 1))):
        mine = failed == action["trigger"]
        actions.append({**action, "failed": mine,
                        "errors": (errors or {}) if mine else {},
                        "typed": form_values(action["fields"], form) if mine else {}})
    materials_to_upload, upload_default = [], ""
    if can(user, Permission.APPLICANT_ACT, case) and case.state in case_type.upload_states:
        materials_to_upload = upload_materials(case_type, case)
        missing = [m.key for m in materials_to_upload if m.key in details.get("missing", [])]
        upload_default = (form.get("material_key", "") if failed == "upload" and form else "") or (
            missing[0] if missing else "")
    return render_template(
        "cases/show.html",
        case=case, payload=payload, details=details, case_type=case_type,
        identifier=subject_identifier(case.subject, user),
        state_label=case_type.state_label(case.state),
        events=_events(case, case_type),
        requested_missing=_requested_missing(case, details),
        actions=actions,
        upload_materials=materials_to_upload,
        upload_errors=(errors or {}) if failed == "upload" else {},
        upload_default=upload_default,
        max_upload=int(runtime.rules["uploads.max_bytes"]),
        alert=alert,
        # Applicants acting for the case's subject may start linked cases from it (a listing's repair).
        may_apply=can(user, Permission.CASE_CREATE, case),
    ), status


@bp.get("/cases/<int:case_id>")
@login_required
def show(case_id: int):
    user = current_user()
    return render_case(case_for(user, case_id), user)


def fire_from_form(case_id: int, trigger: str, load_case, render, done_url: str):
    """Fire `trigger` with the posted form (its step schema, the version the actor saw); on failure
    re-render the page with the errors inline and nothing changed, on success flash and redirect.
    `load_case(user, case_id)` checks access; `render(case, user, **kw)` draws the page."""
    user = current_user()
    runtime = current_runtime()
    case = load_case(user, case_id)
    case_type = get_case_type(case.case_type)
    step = case_type.step(trigger, case.state) or case_type.any_step(trigger)
    try:
        expected = request.form.get("expected_version", "")
        expected_version = int(expected) if expected.strip() else None
    except ValueError:
        expected_version = -1  # never a real version: reported as stale, the page reloads the current one
    try:
        fire(case, trigger, user, form_to_data(step.schema if step else None, request.form),
             runtime=runtime, expected_version=expected_version)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return render(load_case(user, case_id), user, status=error_status(exc), failed=trigger,
                      errors=flatten_errors(fields), form=request.form, alert=error_alert(exc))
    label_zh, label_en = (step.label_zh, step.label_en) if step else (trigger, trigger)
    flash(f"已办理：{label_zh} / Done: {label_en}", "success")
    return redirect(done_url)


@bp.post("/cases/<int:case_id>/actions/<trigger>")
@login_required
def action(case_id: int, trigger: str):
    return fire_from_form(case_id, trigger, case_for, render_case, url_for("cases.show", case_id=case_id))


@bp.post("/cases/<int:case_id>/attachments")
@login_required
def upload(case_id: int):
    user = current_user()
    runtime = current_runtime()
    case = case_for(user, case_id)
    try:
        attachment = save_upload(case, request.form.get("material_key", ""), request.files.get("file"), user, runtime)
        commit()
    except WorkflowError as exc:
        db.session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return render_case(case_for(user, case_id), user, status=error_status(exc), failed="upload",
                           errors=flatten_errors(fields), form=request.form,
                           alert=upload_alert(exc, int(runtime.rules["uploads.max_bytes"])))
    flash(f"已上传：{attachment.filename} / Uploaded: {attachment.filename}", "success")
    return redirect(url_for("cases.show", case_id=case_id) + "#materials")


def upload_alert(exc: WorkflowError, max_bytes: int) -> dict:
    """A refused file type also names the size limit, so the applicant learns both rules at once."""
    alert = error_alert(exc)
    if isinstance(exc.details, dict) and "allowed_types" in exc.details:
        alert["message"] = (f"文件类型不允许，仅限 PDF、PNG、JPEG，单个文件不超过 {filesize(max_bytes)} / "
                            f"File type not allowed: PDF, PNG or JPEG only, at most {filesize(max_bytes)} each")
    return alert


@bp.get("/cases/<int:case_id>/attachments/<int:attachment_id>")
@login_required
def download(case_id: int, attachment_id: int):
    user = current_user()
    case = case_for(user, case_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        raise NotFound("附件不存在 / No such attachment", details={"attachment_id": attachment_id})
    response = send_from_directory(
        os.path.abspath(current_runtime().upload_dir), attachment.storage_key,
        mimetype=attachment.content_type, as_attachment=True, download_name=attachment.filename,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def load_cases(query):
    """Eager-load what case lists draw (deadlines, subject, department) in a few queries."""
    return query.options(selectinload(Case.deadlines), selectinload(Case.subject), selectinload(Case.department))
