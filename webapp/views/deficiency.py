"""The applicants' 容缺受理 pages: apply for a matter on the 容缺受理清单 declaring the non-core
items still missing (/portal/deficiency/new), and follow one's applications item by item
(/portal/deficiency). Everything after the application — the credit check, the commitment, the
one-time notice, uploads, supply, checks, the certificate — happens on the shared case page, whose
buttons come from the engine."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from models import Case, Department, db
from models.permissions import Permission, can, visible_cases
from workflows.base import get_case_type
from workflows.calendar import CalendarYearNotLoaded
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.service import open_case

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import (
    case_time_left,
    error_alert,
    error_status,
    flatten_errors,
    load_cases,
    state_label,
    subject_identifier,
)
from .common import commit, subject_for

bp = Blueprint("deficiency", __name__)
CASE_TYPE = "deficiency_acceptance"


def _require_applicant(user) -> None:
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可使用此页面 / This page is for applicants")


def _matters(runtime) -> list[dict]:
    """The configured 容缺受理清单, with the department that handles each matter (when registered)."""
    departments = {d.code: d for d in db.session.execute(select(Department)).scalars()}
    matters = []
    for code, matter in runtime.rules["rongque.matters"].items():
        department = departments.get(matter.get("department"))
        matters.append({
            "code": code, "name_zh": matter["name_zh"], "name_en": matter["name_en"],
            "department": department,
            "core": [{"key": k, "label_zh": zh, "label_en": en} for k, zh, en in matter["core"]],
            "noncore": [{"key": k, "label_zh": zh, "label_en": en} for k, zh, en in matter["noncore"]],
        })
    return matters


def _form_context(user, runtime) -> dict:
    subjects = [{"subject": s, "identifier": subject_identifier(s, user)}
                for s in sorted(user.subjects, key=lambda s: s.id)]
    return {"subjects": subjects, "matters": _matters(runtime),
            "supply_wd": int(runtime.rules["rongque.supply_wd"])}


def _submitted() -> dict:
    """The form as the case type's open schema takes it: the ticks under the chosen matter only."""
    matter = request.form.get("matter", "")
    data = {"matter": matter, "missing": request.form.getlist(f"missing-{matter}") if matter else [],
            "core_complete": request.form.get("core_complete") in ("on", "true", "1", "yes")}
    if request.form.get("contact_phone"):
        data["contact_phone"] = request.form["contact_phone"]
    return data


@bp.route("/portal/deficiency/new", methods=["GET", "POST"])
@login_required
def new():
    user = current_user()
    _require_applicant(user)
    runtime = current_runtime()
    if request.method == "GET":
        return render_template("deficiency/new.html", values={}, errors={}, alert=None,
                               **_form_context(user, runtime))
    data = _submitted()
    try:
        subject_id = int(request.form.get("subject_id") or 0)
    except ValueError:
        subject_id = 0
    try:
        subject = subject_for(user, subject_id)
        case = open_case(CASE_TYPE, subject, user, data, runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = flatten_errors(exc.details.get("fields") if isinstance(exc, InvalidInput) else {})
        if isinstance(exc, NotFound):
            fields["subject_id"] = ["请选择您代表的主体 / Choose a subject you act for"]
        values = {"subject_id": request.form.get("subject_id", ""), "matter": data["matter"],
                  "missing": data["missing"], "core_complete": data["core_complete"],
                  "contact_phone": request.form.get("contact_phone", "")}
        return render_template("deficiency/new.html", values=values, errors=fields, alert=error_alert(exc),
                               **_form_context(user, runtime)), error_status(exc)
    flash(f"容缺受理申请已提交，待信用核查：{case.reference} / 容缺 application filed, credit check next: "
          f"{case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.get("/portal/deficiency")
@login_required
def index():
    user = current_user()
    _require_applicant(user)
    runtime = current_runtime()
    case_type = get_case_type(CASE_TYPE)
    cases = db.session.execute(load_cases(
        visible_cases(user).where(Case.case_type == CASE_TYPE).order_by(Case.id.desc()))).scalars().all()
    rows = []
    for case in cases:
        status, deadline = case_time_left(case, runtime)
        rows.append({"case": case, "state": state_label(case), "details": case_type.describe(case, runtime),
                     "time_left": status, "deadline": deadline})
    return render_template("deficiency/index.html", rows=rows)
