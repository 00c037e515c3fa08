"""On-site checks (现场核查) for inspectors, from a phone: the visits assigned to me by date, and one
page per visit to take photos, record the subject's signature and file the report.

Every page is for inspectors (Permission.INSPECT) and a visit page only for the inspectors assigned
to it: another inspector gets 403 with the reason, an applicant 403. The actions are the engine's
(`available_actions`), drawn from their step schemas like the case page, but posted here so that
the inspector stays on the single-column visit page. Photos are attachments of the case (material
"photo"), checked by content type and size like every upload; the shared `save_upload` takes only
the applicant's materials, so the inspector's photo has its own door here, in the page and the API.
"""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict

from models import Attachment, Case, Commitment, db
from models.onsite_verification import OnsiteInspector, OnsiteVerification
from models.permissions import Actor, Permission, can
from workflows import onsite_verification as onsite
from workflows.base import get_case_type
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.service import Runtime

from ..auth import current_user, login_required, require_api_user
from ..runtime import current_runtime
from .api import operation
from .cases import error_alert, error_status, fire_from_form, flatten_errors, form_values
from .common import case_for, case_payload, commit, store_checked_file

bp = Blueprint("inspection", __name__)

#: How many finished visits the list shows under the open ones.
RECENT_DONE = 20


def require_inspector(user: Actor | None) -> None:
    if user is None or not can(user, Permission.INSPECT):
        raise Forbidden("现场核查页面仅供核查人员使用 / On-site check pages are for inspectors")


def visit_for(user: Actor, case_id: int) -> Case:
    """The visit, if `user` is one of its assigned inspectors: 403 with the reason otherwise."""
    require_inspector(user)
    case = case_for(user, case_id)
    if case.case_type != "onsite_verification":
        raise NotFound("现场核查不存在 / No such on-site check", details={"case_id": case_id})
    if not onsite.is_assigned(case, user):
        raise Forbidden("您不是本次现场核查指派的核查人员 / You are not assigned to this on-site check",
                        details={"reasons": [onsite.NOT_ASSIGNED]})
    return case


def save_photo(case: Case, upload: FileStorage | None, user: Actor, runtime: Runtime) -> Attachment:
    """Store one site photo after checking who and when (the workflow's rule), then the file's type
    (by its content, not its name) and size."""
    onsite.check_photo_upload(case, user)
    return store_checked_file(case, onsite.PHOTO_KEY, upload, user, runtime, allowed=list(runtime.rules["onsite.photo_types"]),
                              what=("照片", "Photo"), types_text=("JPEG、PNG（现场照片）", "JPEG or PNG (site photos)"))


# --- pages ------------------------------------------------------------------------------------

@bp.get("/inspection")
@login_required
def index():
    user = current_user()
    require_inspector(user)
    rows = db.session.execute(
        select(Case, OnsiteVerification)
        .join(OnsiteVerification, OnsiteVerification.case_id == Case.id)
        .join(OnsiteInspector, OnsiteInspector.case_id == Case.id)
        .where(OnsiteInspector.user_id == user.id)
    ).all()
    runtime = current_runtime()
    far = runtime.today().replace(year=9999)
    # Open visits by the day they take place (unscheduled ones by their time limit), then done ones.
    open_rows = sorted((r for r in rows if r[0].closed_at is None),
                       key=lambda r: (r[1].visit_on or _visit_due(r[0]) or far, r[0].id))
    done_rows = sorted((r for r in rows if r[0].closed_at is not None),
                       key=lambda r: r[0].closed_at, reverse=True)[:RECENT_DONE]
    return render_template("inspection/index.html", open_visits=[_card(c, v) for c, v in open_rows],
                           done_visits=[_card(c, v) for c, v in done_rows], today=runtime.today())


def _visit_due(case: Case):
    deadline = next((d for d in case.deadlines if d.kind == "visit" and d.status == "open"), None)
    return deadline.due_on if deadline is not None else None


def _card(case: Case, row: OnsiteVerification) -> dict:
    label = get_case_type(case.case_type).state_label(case.state)
    return {"case": case, "row": row, "state_label": label, "visit_due": _visit_due(case),
            "commitment": db.session.get(Commitment, row.commitment_case_id)}


def render_visit(case: Case, user: Actor, *, status: int = 200, failed: str | None = None,
                 errors: dict | None = None, form: MultiDict | None = None, alert: dict | None = None):
    runtime = current_runtime()
    payload = case_payload(case, user, runtime)
    actions = []
    # What the inspector can do now first; blocked steps (with their reasons) after.
    for action in sorted(payload["available_actions"], key=lambda a: not a["enabled"]):
        mine = failed == action["trigger"]
        actions.append({**action, "failed": mine, "errors": (errors or {}) if mine else {},
                        "typed": form_values(action["fields"], form) if mine else {}})
    row = onsite.verification(case)
    may_upload = case.state in onsite.PHOTO_STATES
    return render_template(
        "inspection/visit.html", case=case, payload=payload, details=payload["details"], row=row,
        commitment=db.session.get(Commitment, row.commitment_case_id), actions=actions,
        photos=onsite.photos(case), may_upload=may_upload,
        upload_errors=(errors or {}) if failed == "photo" else {},
        max_upload=int(runtime.rules["uploads.max_bytes"]), alert=alert,
        state_label=get_case_type(case.case_type).state_label(case.state),
    ), status


@bp.get("/inspection/visits/<int:case_id>")
@login_required
def visit(case_id: int):
    user = current_user()
    return render_visit(visit_for(user, case_id), user)


@bp.post("/inspection/visits/<int:case_id>/photos")
@login_required
def photo(case_id: int):
    user = current_user()
    case = visit_for(user, case_id)
    try:
        attachment = save_photo(case, request.files.get("file"), user, current_runtime())
        commit()
    except WorkflowError as exc:
        db.session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return render_visit(visit_for(user, case_id), user, status=error_status(exc), failed="photo",
                            errors=flatten_errors(fields), alert=error_alert(exc))
    flash(f"已上传照片：{attachment.filename} / Photo uploaded: {attachment.filename}", "success")
    return redirect(url_for("inspection.visit", case_id=case_id) + "#photos")


@bp.post("/inspection/visits/<int:case_id>/actions/<trigger>")
@login_required
def act(case_id: int, trigger: str):
    return fire_from_form(case_id, trigger, visit_for, render_visit, url_for("inspection.visit", case_id=case_id))


# --- API --------------------------------------------------------------------------------------

@operation("/cases/<int:case_id>/photos", "POST",
           "Upload one site photo of an on-site check (multipart: file); JPEG/PNG within the size limit")
def api_photo(case_id: int):
    """Assigned inspectors only (403 otherwise), between scheduling and the report (409 otherwise);
    422 for a file that is not a JPEG or PNG photo or is too large."""
    user = require_api_user()
    case = case_for(user, case_id)
    attachment = save_photo(case, request.files.get("file"), user, current_runtime())
    commit()
    return jsonify({"id": attachment.id, "material_key": attachment.material_key, "sha256": attachment.sha256,
                    "size_bytes": attachment.size_bytes, "content_type": attachment.content_type}), 201

