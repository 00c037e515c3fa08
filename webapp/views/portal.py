"""The applicants' portal: my subjects and their records, my cases, the repair application form,
and the in-app messages page every role uses.

Also the navigation every page draws: the links are decided here from permissions, so that
templates never test roles.
"""
from __future__ import annotations

import os

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from forms.credit_commitment import OpenCommitmentSchema
from forms.credit_repair import SubmitSchema
from models import (
    Case,
    Commitment,
    CreditRecord,
    InboxMessage,
    ListingCase,
    ObjectionApplication,
    RepairApplication,
    db,
)
from models.permissions import Permission, can, visible_cases
from workflows.blacklist import State as ListingState
from workflows.blacklist import statement_deadline
from workflows.calendar import CalendarYearNotLoaded
from workflows.credit_commitment import TYPE_LABELS
from workflows.credit_repair import COMMITMENT_TEXT, required_materials
from workflows.errors import Forbidden, InvalidInput, NotFound, WorkflowError
from workflows.records import REGIME_LABELS, regime_for
from workflows.service import fire, open_case

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import (
    case_time_left,
    error_alert,
    error_status,
    filesize,
    flatten_errors,
    form_values,
    load_cases,
    open_deadline_rows,
    state_label,
    subject_identifier,
    type_label,
)
from .common import commit, record_payload, save_upload, subject_for
from .forms import describe_schema, form_to_data
from .review import may_use_inbox

bp = Blueprint("portal", __name__)


@bp.app_context_processor
def navigation() -> dict:
    """The top bar's links and unread count, decided from permissions (templates never test roles)."""
    try:
        user = current_user()
    except WorkflowError:  # a bad bearer token: draw the page as for a visitor
        user = None
    if user is None:
        return {"nav": [("public.commitments", "信用承诺公示", "Published commitments"),
                        ("public.lists", "信用红黑名单", "Red and black lists"),
                        ("public_subjects.search", "企业信用查询", "Credit search")], "unread": 0}
    nav = []
    if can(user, Permission.CASE_CREATE):
        nav.append(("portal.index", "我的主体与案件", "My subjects & cases"))
        nav.append(("portal.commitments", "我的信用承诺", "My commitments"))
        nav.append(("deficiency.index", "容缺受理", "容缺 applications"))
        nav.append(("portal.rights", "异议与名单", "Objections & listings"))
        nav.append(("access.authorisations", "授权查询", "Query authorisations"))
    if may_use_inbox(user):
        nav.append(("review.inbox", "待办案件", "Case inbox"))
        nav.append(("review.provider_queue", "协查待办", "Verification requests"))
    if can(user, Permission.INSPECT):
        nav.append(("inspection.index", "现场核查", "On-site checks"))
    if can(user, Permission.TRAIN):
        nav.append(("training.index", "培训管理", "Training"))
    if can(user, Permission.CASE_CREATE):
        nav.append(("training.sessions", "信用修复培训", "Repair training"))
    if can(user, Permission.MEDIATE):
        nav.append(("mediation.console", "调解工作台", "Mediation console"))
    if can(user, Permission.REPORT_VIEW):
        nav.append(("reports.index", "监管报表", "Reports"))
    if can(user, Permission.ADMIN_USERS):
        nav.append(("admin.index", "系统管理", "Administration"))
    if can(user, Permission.LEDGER_AUDIT):
        nav.append(("access.access_log", "查询日志", "Access log"))
    nav.append(("portal.notifications", "消息", "Messages"))
    unread = db.session.execute(
        select(func.count(InboxMessage.id)).where(InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None))
    ).scalar_one()
    return {"nav": nav, "unread": unread}


def _require_applicant(user) -> None:
    if not can(user, Permission.CASE_CREATE):
        raise Forbidden("仅申请人可使用此页面 / This page is for applicants")


@bp.get("/portal")
@login_required
def index():
    user = current_user()
    _require_applicant(user)
    runtime = current_runtime()
    subjects = sorted(user.subjects, key=lambda s: s.id)
    record_ids = [r.id for s in subjects for r in s.records]
    open_repairs = dict(db.session.execute(
        select(RepairApplication.record_id, Case)
        .join(Case, Case.id == RepairApplication.case_id)
        .where(RepairApplication.record_id.in_(record_ids), Case.closed_at.is_(None))
        .order_by(Case.id)
    ).all()) if record_ids else {}
    subject_rows = []
    for subject in subjects:
        records = []
        for record in subject.records:
            if not record.is_dishonesty:
                continue
            open_case_ = open_repairs.get(record.id)
            records.append({**record_payload(record, runtime), "open_case": open_case_,
                            "open_state": state_label(open_case_) if open_case_ else None})
        subject_rows.append({"subject": subject, "identifier": subject_identifier(subject, user), "records": records})
    cases = db.session.execute(load_cases(visible_cases(user).order_by(Case.id.desc()))).scalars().all()
    case_rows = []
    for case in cases:
        status, deadline = case_time_left(case, runtime)
        case_rows.append({"case": case, "type": type_label(case), "state": state_label(case),
                          "time_left": status, "deadline": deadline})
    return render_template("portal/index.html", subjects=subject_rows, cases=case_rows)


@bp.get("/messages")
@login_required
def notifications():
    user = current_user()
    messages = db.session.execute(
        select(InboxMessage).where(InboxMessage.user_id == user.id)
        .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc()).limit(200)
    ).scalars().all()
    unread_ids = {m.id for m in messages if m.read_at is None}
    if unread_ids:
        now = current_runtime().clock.now()
        for message in messages:
            if message.id in unread_ids:
                message.read_at = now
        commit()
    return render_template("portal/messages.html", messages=messages, unread_ids=unread_ids)


# --- the repair application form ---------------------------------------------------------------

def _repair_context(record: CreditRecord, user, runtime) -> dict:
    subject = record.subject
    receipt = runtime.calendar().deemed_receipt(runtime.today())
    regime = regime_for(receipt, runtime.rules)
    uploads = [m for m in required_materials(record.severity or "general", runtime.rules) if m.kind == "upload"]
    return {
        "record": record,
        "info": record_payload(record, runtime),
        "subject": subject,
        "identifier": subject_identifier(subject, user),
        "regime_label": REGIME_LABELS[regime],
        # The same text workflows.credit_repair.commitment_text() signs into the case on submission.
        "commitment": COMMITMENT_TEXT.format(subject=subject.name, identifier=subject.masked_identifier,
                                             record=record.title),
        "fields": describe_schema(SubmitSchema),
        "uploads": uploads,
        "max_upload": int(runtime.rules["uploads.max_bytes"]),
    }


def _record_for_repair(user, record_id: int) -> CreditRecord:
    record = db.session.get(CreditRecord, record_id)
    if record is None or not record.is_dishonesty:
        raise NotFound("记录不存在 / No such record", details={"record_id": record_id})
    subject_for(user, record.subject_id)  # another applicant's record is indistinguishable from none
    _require_applicant(user)
    return record


@bp.route("/portal/records/<int:record_id>/repair", methods=["GET", "POST"])
@login_required
def repair(record_id: int):
    user = current_user()
    runtime = current_runtime()
    record = _record_for_repair(user, record_id)
    if request.method == "GET":
        return render_template("portal/repair.html", values={}, errors={}, alert=None,
                               **_repair_context(record, user, runtime))

    context = _repair_context(record, user, runtime)
    stored: list[str] = []
    try:
        case = open_case("credit_repair", record.subject, user, {"record_id": record.id}, runtime=runtime)
        for material in context["uploads"]:
            upload = request.files.get(f"file_{material.key}")
            if upload is None or not upload.filename:
                continue  # missing files are allowed: the window returns the application for supplement
            try:
                attachment = save_upload(case, material.key, upload, user, runtime)
            except InvalidInput as exc:
                # save_upload names the field "file"; this form has one file input per material.
                fields = flatten_errors(exc.details.get("fields"))
                exc.details["fields"] = {f"file_{material.key}": fields.pop("file", []), **fields}
                raise
            stored.append(attachment.storage_key)
        fire(case, "submit", user, form_to_data(SubmitSchema, request.form), runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        _remove_stored(runtime, stored)
        fields = exc.details.get("fields") if isinstance(exc, InvalidInput) else {}
        alert = error_alert(exc)
        if isinstance(exc, InvalidInput) and "max_bytes" in exc.details:
            limit = filesize(exc.details["max_bytes"])
            alert["message"] = f"文件过大，单个文件不得超过 {limit} / File too large: the limit is {limit} per file"
        record = _record_for_repair(user, record_id)
        return render_template(
            "portal/repair.html", values=form_values(context["fields"], request.form),
            errors=flatten_errors(fields), alert=alert, files_lost=any(f.filename for f in request.files.values()),
            **_repair_context(record, user, runtime),
        ), error_status(exc)
    flash(f"申请已提交：{case.reference} / Application submitted: {case.reference}", "success")
    return redirect(url_for("cases.show", case_id=case.id))


def _remove_stored(runtime, storage_keys: list[str]) -> None:
    """Files written for a transaction that rolled back belong to no attachment: delete them."""
    for key in storage_keys:
        try:
            os.remove(os.path.join(runtime.upload_dir, key))
        except OSError:
            pass


# --- credit commitments -------------------------------------------------------------------------

def _commitments_context(user) -> dict:
    """The applicant's commitments (their own and those signed with an application) and the form
    to make a new voluntary or industry commitment; signing happens on the case page."""
    runtime = current_runtime()
    rows = db.session.execute(
        load_cases(visible_cases(user).where(Case.case_type == "credit_commitment").order_by(Case.id.desc()))
        .add_columns(Commitment).join(Commitment, Commitment.case_id == Case.id)
    ).all()
    items = []
    for case, commitment in rows:
        status, deadline = case_time_left(case, runtime)
        items.append({"case": case, "commitment": commitment, "type": TYPE_LABELS[commitment.commitment_type],
                      "state": state_label(case), "to_sign": case.state == "draft",
                      "time_left": status, "deadline": deadline})
    subjects = [{"subject": s, "identifier": subject_identifier(s, user)} for s in sorted(user.subjects, key=lambda s: s.id)]
    return {"items": items, "subjects": subjects, "fields": describe_schema(OpenCommitmentSchema)}


@bp.route("/portal/commitments", methods=["GET", "POST"])
@login_required
def commitments():
    user = current_user()
    _require_applicant(user)
    if request.method == "GET":
        return render_template("portal/commitments.html", values={}, errors={}, alert=None,
                               **_commitments_context(user))
    runtime = current_runtime()
    context = _commitments_context(user)
    try:
        subject_id = int(request.form.get("subject_id") or 0)
    except ValueError:
        subject_id = 0
    try:
        subject = subject_for(user, subject_id)
        case = open_case("credit_commitment", subject, user, form_to_data(OpenCommitmentSchema, request.form),
                         runtime=runtime)
        commit()
    except (WorkflowError, CalendarYearNotLoaded) as exc:
        db.session.rollback()
        fields = flatten_errors(exc.details.get("fields") if isinstance(exc, InvalidInput) else {})
        if isinstance(exc, NotFound):
            fields["subject_id"] = ["请选择您代表的主体 / Choose a subject you act for"]
        values = {**form_values(context["fields"], request.form), "subject_id": request.form.get("subject_id", "")}
        return render_template("portal/commitments.html", values=values, errors=fields, alert=error_alert(exc),
                               **_commitments_context(user)), error_status(exc)
    flash(f"承诺书已生成，请阅读后签署：{case.reference} / Commitment drafted: read and sign it ({case.reference})",
          "success")
    return redirect(url_for("cases.show", case_id=case.id))


# --- objections and listings --------------------------------------------------------------------

@bp.get("/portal/objections-and-listings")
@login_required
def rights():
    """The objections filed for the subjects one acts for and the listings (严重失信主体名单)
    proposed against them, each with its running clocks; for a listing, when the statement period
    closes (and the way to file a statement on the case page) or that it has closed."""
    user = current_user()
    _require_applicant(user)
    runtime = current_runtime()
    calendar = runtime.calendar()
    today = runtime.today()
    subjects = sorted(user.subjects, key=lambda s: s.id)
    subject_ids = [s.id for s in subjects]
    # visible_cases keeps the page to the user's own subjects even if subject_ids were wrong.
    mine = visible_cases(user).where(Case.subject_id.in_(subject_ids))
    objections = db.session.execute(load_cases(
        mine.where(Case.case_type == "objection")
        .join(ObjectionApplication, ObjectionApplication.case_id == Case.id)
        .join(CreditRecord, CreditRecord.id == ObjectionApplication.record_id)
        .add_columns(ObjectionApplication, CreditRecord)
        .order_by(Case.id.desc())
    )).all() if subject_ids else []
    listings = db.session.execute(load_cases(
        mine.where(Case.case_type == "blacklist")
        .join(ListingCase, ListingCase.case_id == Case.id)
        .add_columns(ListingCase)
        .order_by(Case.id.desc())
    )).all() if subject_ids else []
    under_objection = db.session.execute(
        select(CreditRecord)
        .where(CreditRecord.subject_id.in_(subject_ids), CreditRecord.under_objection.is_(True))
        .order_by(CreditRecord.subject_id, CreditRecord.id)
    ).scalars().all() if subject_ids else []

    def case_row(case: Case) -> dict:
        return {"case": case, "state": state_label(case), "closed": case.closed_at is not None,
                "deadlines": open_deadline_rows(case, runtime, calendar),
                "suspended": any(d.status == "suspended" for d in case.deadlines)}

    open_objection_for = {}
    by_subject = {s.id: {"subject": s, "identifier": subject_identifier(s, user),
                         "objections": [], "listings": []} for s in subjects}
    for case, _application, record in objections:
        by_subject[case.subject_id]["objections"].append({**case_row(case), "record": record})
        if case.closed_at is None:
            open_objection_for.setdefault(record.id, case)
    for case, listing in listings:
        period = statement_deadline(case)
        statement_open = (case.state == ListingState.STATEMENT_PERIOD and not listing.statement_filed
                          and period is not None and period.status == "open" and period.due_on is not None
                          and today <= period.due_on)
        # Once it has run (filed, expired, or past its last day) the period is reported as closed.
        statement_closed_on = period.due_on if period is not None and not statement_open else None
        by_subject[case.subject_id]["listings"].append({
            **case_row(case), "listing": listing, "statement_open": statement_open,
            "statement_due": period.due_on if statement_open else None,
            "statement_closed_on": statement_closed_on,
        })
    flagged = [{"record": r, "subject": by_subject[r.subject_id]["subject"],
                "case": open_objection_for.get(r.id)} for r in under_objection]
    return render_template("portal/rights.html", subjects=list(by_subject.values()), under_objection=flagged)
