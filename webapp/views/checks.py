"""Credit checks (信用核查, 逢办必查) for department staff: the check log and the new-check form.

A reviewer of any department asks for a check of a subject before deciding a matter; the engine
issues the result at once (`workflows.verification.run_check`) and the reviewer lands on the
generic case page, which shows the result and the frozen snapshot. The log lists every check a
viewer may see (reviewers: their own department's; credit-center staff, administrators and
auditors: all), with who asked, for what and why: a query of shared government data is accountable.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select
from werkzeug.datastructures import MultiDict

from forms.verification import MATTER_TYPE_CHOICES, OpenCheckSchema
from models import Case, CreditCheck, Subject, User, db
from models.permissions import Actor, Permission, can, visible_cases
from workflows.errors import Forbidden, InvalidInput, WorkflowError
from workflows.verification import MATTER_TYPE_LABELS, RESULT_LABELS, run_check

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import error_alert, error_status, flatten_errors, form_values, state_label, subject_identifier
from .common import commit
from .forms import describe_schema, form_to_data

bp = Blueprint("checks", __name__)

LIMIT = 500
#: How many subjects a name search offers to choose from.
CANDIDATES = 20


def may_see_log(user: Actor | None) -> bool:
    """Requesting reviewers read their department's log; auditors and administrators read it all."""
    return user is not None and (can(user, Permission.CHECK_REQUEST) or can(user, Permission.LEDGER_AUDIT))


@bp.app_context_processor
def checks_navigation() -> dict:
    """The top bar's link to the log, decided from permissions like the rest of the navigation."""
    try:
        user = current_user()
    except WorkflowError:  # a bad bearer token: draw the page as for a visitor
        user = None
    return {"nav_checks": [("checks.index", "信用核查", "Credit checks")] if may_see_log(user) else []}


def find_subjects(needle: str) -> list[Subject]:
    """A full USCC or ID number finds exactly one subject; otherwise search names and USCCs.

    ID numbers are matched only whole: partial matches would let a clerk enumerate persons.
    """
    needle = needle.strip()
    if not needle:
        return []
    upper = needle.upper()
    exact = db.session.execute(
        select(Subject).where(or_(Subject.uscc == upper, Subject.id_number == upper))
    ).scalars().all()
    if exact:
        return list(exact)
    return list(db.session.execute(
        select(Subject).where(or_(Subject.name.contains(needle, autoescape=True),
                                  Subject.uscc.contains(upper, autoescape=True)))
        .order_by(Subject.name, Subject.id).limit(CANDIDATES)
    ).scalars())


@bp.get("/checks")
@login_required
def index():
    user = current_user()
    if not may_see_log(user):
        raise Forbidden("信用核查记录仅供部门审核人员和审计人员查看 / The check log is for department staff and auditors")
    filters = {key: (request.args.get(key) or "").strip() for key in ("result", "subject")}
    query = (visible_cases(user).where(Case.case_type == "verification")
             .join(CreditCheck, CreditCheck.case_id == Case.id).add_columns(CreditCheck))
    if filters["result"] in RESULT_LABELS:
        query = query.where(CreditCheck.result == filters["result"])
    if filters["subject"]:
        needle = filters["subject"]
        query = query.join(Subject, Case.subject_id == Subject.id).where(
            or_(Subject.name.contains(needle, autoescape=True), Subject.uscc.contains(needle.upper(), autoescape=True)))
    found = db.session.execute(query.order_by(Case.created_at.desc(), Case.id.desc()).limit(LIMIT)).all()
    requester_ids = {check.requested_by_id for _, check in found if check.requested_by_id}
    requesters = {u.id: u for u in db.session.execute(select(User).where(User.id.in_(requester_ids))).scalars()} \
        if requester_ids else {}
    rows = [{
        "case": case, "check": check, "state": state_label(case),
        "requester": requesters.get(check.requested_by_id),
        "identifier": subject_identifier(case.subject, user),
        "matter_type": MATTER_TYPE_LABELS.get(check.matter_type, (check.matter_type, check.matter_type)),
        "result": RESULT_LABELS.get(check.result or ""),
    } for case, check in found]
    return render_template("checks/index.html", rows=rows, filters=filters, results=RESULT_LABELS,
                           may_request=can(user, Permission.CHECK_REQUEST), truncated=len(found) >= LIMIT)


def _require_requester(user) -> None:
    if not can(user, Permission.CHECK_REQUEST):
        raise Forbidden("仅部门审核人员可以申请信用核查 / Only department reviewers may request credit checks")


def _render_form(*, form: MultiDict | None = None, errors: dict | None = None, candidates=None, chosen=None,
                 alert=None, status: int = 200):
    specs = describe_schema(OpenCheckSchema)
    return render_template(
        "checks/new.html", fields=specs, values=form_values(specs, form), errors=errors or {},
        subject_query=(form.get("subject", "") if form else request.args.get("subject", "")),
        candidates=candidates or [], chosen=chosen, alert=alert, matter_types=MATTER_TYPE_CHOICES,
    ), status


def _chosen_subject(raw_id: str | None) -> Subject | None:
    if not raw_id or not raw_id.strip().isdigit():
        return None
    return db.session.get(Subject, int(raw_id))


@bp.get("/checks/new")
@login_required
def new():
    user = current_user()
    _require_requester(user)
    chosen = _chosen_subject(request.args.get("subject_id"))
    candidates = [] if chosen else find_subjects(request.args.get("subject", ""))
    if len(candidates) == 1:
        chosen, candidates = candidates[0], []
    return _render_form(candidates=candidates, chosen=chosen)


@bp.post("/checks/new")
@login_required
def create():
    user = current_user()
    _require_requester(user)
    runtime = current_runtime()
    data = form_to_data(OpenCheckSchema, request.form)
    errors = flatten_errors(OpenCheckSchema().validate(data))
    chosen = _chosen_subject(request.form.get("subject_id"))
    candidates: list[Subject] = []
    if chosen is None:
        candidates = find_subjects(request.form.get("subject", ""))
        if len(candidates) == 1:
            chosen, candidates = candidates[0], []
        elif not candidates:
            errors["subject"] = ["未找到该信用主体，请输入统一社会信用代码、身份证号码或名称 / No such subject: "
                                 "enter a USCC, an ID number or a name"]
    if chosen is None or errors:
        # Several name matches without other errors: the form comes back asking which one (no alert).
        alert = {"message": "输入有误，请检查标出的字段 / The input is invalid; see the fields marked",
                 "reasons": [], "code": InvalidInput.code} if errors else None
        return _render_form(form=request.form, errors=errors, candidates=candidates, chosen=chosen, alert=alert,
                            status=422 if errors else 200)
    chosen_id = chosen.id
    try:
        case = run_check(subject=chosen, matter_type=data["matter_type"], matter=data["matter"],
                         purpose=data["purpose"], actor=user, runtime=runtime)
        commit()
    except WorkflowError as exc:
        db.session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) and isinstance(exc.details, dict) else {}
        return _render_form(form=request.form, errors=flatten_errors(fields), chosen=db.session.get(Subject, chosen_id),
                            alert=error_alert(exc), status=error_status(exc))
    flash(f"已出具核查结果：{case.reference} / Check result issued: {case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))
