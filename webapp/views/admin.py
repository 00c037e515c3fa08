"""Administration: users, departments, the statutory calendar, the clock and sweep, the outbox.

Every view asks `can()` for the admin permission it needs; errors are shown on the admin page
beside the form they came from.
"""
from __future__ import annotations

import calendar as month_calendar
import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from models import Department, OutboxMessage, Role, Subject, User, db
from models.people import ROLE_LABELS
from models.permissions import Permission, can
from notifications.outbox import dispatch, relay_pending
from workflows.calendar import CalendarYearNotLoaded, parse_year_file
from workflows.calendar_store import store_year, year_summary
from workflows.clock import parse_instant
from workflows.errors import Forbidden, NotFound
from workflows.sweep import sweep

from ..auth import current_user, login_required
from ..runtime import current_runtime
from .cases import flatten_errors
from .common import commit

bp = Blueprint("admin", __name__)

REQUIRED = {"required": "必填 / Required"}


class UserCreateSchema(Schema):
    """The create-user form. Cross-row checks (unique name, known department and subjects) follow."""

    username = fields.String(required=True, error_messages=REQUIRED, validate=[
        validate.Length(min=2, max=80, error="用户名长度应为2到80个字符 / 2-80 characters"),
        validate.Regexp(r"^[A-Za-z0-9_.@-]+$", error="用户名仅限字母、数字和 _ . @ - / letters, digits and _ . @ - only"),
    ])
    password = fields.String(required=True, error_messages=REQUIRED, validate=validate.Length(
        min=8, max=200, error="密码至少8位 / The password needs at least 8 characters"))
    display_name = fields.String(load_default="", validate=validate.Length(max=120))
    role = fields.String(required=True, error_messages=REQUIRED, validate=validate.OneOf(
        [r.value for r in Role], error="未知的角色 / Unknown role"))
    department = fields.String(load_default="")
    subjects = fields.String(load_default="")
    email = fields.Email(load_default=None, error_messages={"invalid": "电子邮箱格式有误 / Not a valid e-mail address"})


def _require(permission: Permission):
    user = current_user()
    if not can(user, permission):
        raise Forbidden("仅管理员可访问 / Administrators only")
    return user


def _admin_page(status: int = 200, *, user_errors=None, user_values=None, calendar_error=None, clock_error=None,
                clock_value=None):
    runtime = current_runtime()
    users = db.session.execute(select(User).order_by(User.id)).scalars().all()
    departments = db.session.execute(select(Department).order_by(Department.id)).scalars().all()
    outbox_counts = dict(db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status)).all())
    stuck = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.status.in_(("dead", "pending")))
        # Dead rows first ("dead" < "pending"): a broker outage's backlog must not hide them.
        .order_by(OutboxMessage.status, OutboxMessage.id.desc()).limit(20)).scalars().all()
    calendar = runtime.calendar()
    return render_template(
        "admin/index.html",
        users=users, departments=departments, roles=[(r.value, *ROLE_LABELS[r]) for r in Role],
        role_labels={r.value: ROLE_LABELS[r] for r in Role},
        loaded_years=[(year, calendar.holiday_year(year).source) for year in calendar.loaded_years],
        now=runtime.clock.now(), today=runtime.today(), adjustable=bool(getattr(runtime.clock, "adjustable", False)),
        outbox_counts={s: outbox_counts.get(s, 0) for s in ("pending", "sent", "dead")}, stuck=stuck,
        user_errors=user_errors or {}, user_values=user_values or {}, calendar_error=calendar_error,
        clock_error=clock_error, clock_value=clock_value or "",
    ), status


@bp.get("/admin")
@login_required
def index():
    _require(Permission.ADMIN_USERS)
    return _admin_page()


@bp.post("/admin/users")
@login_required
def create_user():
    _require(Permission.ADMIN_USERS)
    raw = {k: v.strip() if k != "password" else v for k, v in request.form.items()
           if k in UserCreateSchema().fields and v.strip()}
    errors: dict[str, list[str]] = {}
    try:
        data = UserCreateSchema().load(raw)
    except ValidationError as exc:
        errors = flatten_errors(exc.messages)
        data = {}
    department = None
    subjects: list[Subject] = []
    if data:
        if db.session.execute(select(User.id).where(User.username == data["username"])).scalar():
            errors["username"] = ["该用户名已存在 / This username is taken"]
        if data["department"]:
            department = db.session.execute(
                select(Department).where(Department.code == data["department"])).scalar_one_or_none()
            if department is None:
                errors["department"] = ["未知的部门 / Unknown department"]
        if data["role"] == Role.REVIEWER and department is None and "department" not in errors:
            errors["department"] = ["审核员必须属于一个部门 / A reviewer belongs to a department"]
        codes = [c.upper() for c in re.split(r"[\s,，;；]+", data["subjects"]) if c]
        if codes and data["role"] != Role.APPLICANT:
            errors["subjects"] = ["只有申请人可以关联主体 / Only applicants act for subjects"]
        elif codes:
            subjects = list(db.session.execute(select(Subject).where(Subject.uscc.in_(codes))).scalars())
            unknown = sorted(set(codes) - {s.uscc for s in subjects})
            if unknown:
                errors["subjects"] = [(f"未登记的统一社会信用代码：{'、'.join(unknown)} / "
                                       f"No subject with USCC: {', '.join(unknown)}")]
    if errors:
        values = {k: v for k, v in request.form.items() if k != "password"}
        return _admin_page(422, user_errors=errors, user_values=values)
    user = User(username=data["username"], display_name=data["display_name"], role=data["role"],
                department=department, email=data["email"], active=True,
                created_at=current_runtime().clock.now())
    user.set_password(data["password"])
    user.subjects = subjects
    db.session.add(user)
    commit()
    flash(f"已创建用户 {user.username} / User {user.username} created", "success")
    return redirect(url_for("admin.index") + "#users")


@bp.post("/admin/calendar")
@login_required
def load_calendar():
    admin = _require(Permission.ADMIN_CALENDAR)
    upload = request.files.get("holiday_file")
    if upload is None or not upload.filename:
        return _admin_page(422, calendar_error="请选择节假日 JSON 文件 / Choose a holiday JSON file")
    try:
        table = parse_year_file(upload.read(), upload.filename)
    except ValueError as exc:
        return _admin_page(422, calendar_error=str(exc))
    runtime = current_runtime()
    store_year(db.session, table, loaded_by=admin.username, now=runtime.clock.now())
    commit()
    flash(f"已加载 {table.year} 年节假日安排 / Holiday table for {table.year} loaded", "success")
    return redirect(url_for("admin.calendar_year", year=table.year))


def _month_grid(year: int, calendar) -> list[dict]:
    """Twelve month grids (Monday first) marking rest days, make-up working days and weekends."""
    table = calendar.holiday_year(year)
    months = []
    for month in range(1, 13):
        weeks = []
        for week in month_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            days = []
            for day in week:
                if day.month != month:
                    days.append(None)
                    continue
                if day in table.rest_days:
                    kind = "rest"
                elif day in table.makeup_workdays:
                    kind = "makeup"
                elif day.weekday() >= 5:
                    kind = "weekend"
                else:
                    kind = "work"
                days.append({"day": day, "kind": kind})
            weeks.append(days)
        months.append({"month": month, "weeks": weeks})
    return months


@bp.get("/admin/calendar/<int:year>")
@login_required
def calendar_year(year: int):
    _require(Permission.ADMIN_CALENDAR)
    calendar = current_runtime().calendar()
    try:
        summary = year_summary(calendar, year)
    except CalendarYearNotLoaded as exc:
        return render_template("admin/calendar_year.html", year=year, summary=None, months=[],
                               error=str(exc), loaded_years=calendar.loaded_years), 404
    return render_template("admin/calendar_year.html", year=year, summary=summary, months=_month_grid(year, calendar),
                           error=None, loaded_years=calendar.loaded_years)


@bp.post("/admin/clock")
@login_required
def set_clock():
    _require(Permission.ADMIN_CLOCK)
    runtime = current_runtime()
    if not getattr(runtime.clock, "adjustable", False):
        raise Forbidden("时钟未配置为可调（CREDITDESK_CLOCK=adjustable） / The clock is not adjustable "
                        "(set CREDITDESK_CLOCK=adjustable)")
    value = request.form.get("now", "")
    try:
        runtime.clock.set(parse_instant(value))
    except ValueError:
        return _admin_page(422, clock_error="时间格式有误，应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM / "
                                            "Invalid time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM", clock_value=value)
    flash(f"时钟已设为 {runtime.clock.now().isoformat()} / Clock set to {runtime.clock.now().isoformat()}", "success")
    return redirect(url_for("admin.index") + "#clock")


@bp.post("/admin/sweep")
@login_required
def run_sweep():
    _require(Permission.ADMIN_CLOCK)
    runtime = current_runtime()
    result = sweep(db.session, runtime, commit=commit)
    relay_pending(db.session, runtime.clock.now())
    message = (f"扫描完成：处理 {result.claimed} 个期限，触发 {result.fired} 次，提醒 {result.reminders} 条，"
               f"督办 {result.escalations} 条 / Sweep done: {result.claimed} deadlines, {result.fired} fired, "
               f"{result.reminders} reminders, {result.escalations} escalations")
    flash(message, "error" if result.errors else "success")
    for error in result.errors[:5]:
        flash(error, "error")
    return redirect(url_for("admin.index") + "#clock")


@bp.post("/admin/outbox/<int:outbox_id>/retry")
@login_required
def retry_outbox(outbox_id: int):
    """Give a dead message (retries exhausted, or refused for good) a fresh set of attempts, once
    the administrator has fixed its cause (the SMTP server, the recipient's address)."""
    _require(Permission.ADMIN_USERS)
    message = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()).scalar_one_or_none()
    if message is None:
        raise NotFound("消息不存在 / No such message", details={"outbox_id": outbox_id})
    if message.status != "dead":
        db.session.rollback()
        flash(f"消息 {outbox_id} 不是发送失败状态 / Message {outbox_id} is not dead", "error")
        return redirect(url_for("admin.index") + "#outbox")
    # The last error stays visible until a delivery succeeds (deliver_now clears it).
    message.status = "pending"
    message.attempts = 0
    commit()
    dispatch([outbox_id], db.session)  # after the commit; with the broker down the relay sends it
    flash(f"消息 {outbox_id} 已重新排队 / Message {outbox_id} queued again", "success")
    return redirect(url_for("admin.index") + "#outbox")
