"""监管报表 / Reports: the supervision dashboard (charts drawn server-side as SVG), each report as CSV
(UTF-8 with a BOM so that Excel reads the Chinese) and as JSON under /api/v1/reports/<name>, and the
spot-check plans (双随机抽查) a department draws from the supervision classes.

Who sees what is decided in models.permissions (REPORT_VIEW, SPOT_CHECK_DRAW,
report_department_scope); the numbers come from workflows.reports. A period reaching past the current
month is answered 422 with a bilingual message, on the page, the CSV and the API alike.
"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import Schema, fields
from sqlalchemy import select

from models import Department, db
from models.permissions import Permission, can, report_department_scope
from workflows import reports as rep
from workflows.errors import Conflict, InvalidInput

from .. import i18n
from ..auth import current_user, login_required, require_api_user
from ..charts import bar_chart, stacked_bar_chart
from ..runtime import current_runtime
from .api import json_body, load, operation
from .common import commit

bp = Blueprint("reports", __name__)

#: The dashboard's sections, in order; `supervision-subjects` is the long list behind `supervision`.
DASHBOARD = ("timeliness", "case-sla", "grades", "supervision")
#: Rows of the per-subject class list drawn on the page (the CSV has all of them).
PAGE_SUBJECT_ROWS = 30

SLA_SERIES = (("met_on_time", "按期办结", "Met on time", "#2e7d4f"),
              ("met_extended", "延期后办结", "After extension", "#1f5f99"),
              ("overdue_closed", "超期办结", "Overdue, closed", "#e3a33b"),
              ("overdue_open", "超期未办结", "Overdue, open", "#b3261e"),
              ("in_progress", "办理中", "In progress", "#aab4bf"))


# --- formatting shared by the page and the CSV -------------------------------------------------

def cell_text(row: dict, column: rep.Column, lang: str = "zh") -> str:
    value = row.get(f"{column.key}_en") if lang == "en" and f"{column.key}_en" in row else row.get(column.key)
    if value is None:
        return "—" if column.kind == "rate" else ""
    if column.kind == "rate":
        return f"{value * 100:.1f}%"
    if isinstance(value, str) and " / " in value:  # "是 / yes"
        zh, en = value.split(" / ", 1)
        return en if lang == "en" else zh
    return str(value)


def csv_response(report: rep.Report, filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"{c.zh} / {c.en}" for c in report.columns])
    for row in report.rows + ([report.total] if report.total else []):
        writer.writerow([cell_text(row, c) for c in report.columns])
    body = "\ufeff" + buffer.getvalue()  # the BOM: Excel opens UTF-8 Chinese correctly only with it
    return Response(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    })


def _period():
    return rep.parse_period(request.args.get("from"), request.args.get("to"), current_runtime().today())


def chart_for(report: rep.Report) -> Markup | str:
    t = i18n.t
    en = i18n.current_lang() == "en"
    if report.name == "timeliness":
        targets = report.meta["targets"]
        items = [((d["department_en"] if en else d["department"]), d["on_time_rate"])
                 for d in report.meta["by_department"]]
        return bar_chart(items, title=t("各部门双公示按时公示率", "On-time publication rate per department"),
                         testid="chart-timeliness", target=targets["on_time_rate_min"],
                         target_label=t(f"目标 ≥{targets['on_time_rate_min']:.0%}",
                                        f"target ≥{targets['on_time_rate_min']:.0%}"),
                         empty_text=t("本期间无决定", "No decisions in the period"))
    if report.name == "case-sla":
        items = [((c["case_type_label_en"] if en else c["case_type_label"]), [c[key] for key, *_ in SLA_SERIES])
                 for c in report.meta["by_case_type"]]
        return stacked_bar_chart(items, [(t(zh, en_), colour) for _k, zh, en_, colour in SLA_SERIES],
                                 title=t("各类案件期限执行情况", "Time limits per case type"), testid="chart-case-sla",
                                 empty_text=t("本期间无期限", "No time limits in the period"))
    if report.name == "grades":
        total = max((r["total"] for r in report.rows), default=0)
        items = [(f"{r['grade']} {r['label']}" if not en else r["grade"], r["total"]) for r in report.rows]
        return bar_chart(items, title=t("信用等级分布", "Grade distribution"), testid="chart-grades",
                         max_value=total or 1, fmt=lambda v: str(int(v)), color="#2e7d4f")
    if report.name == "supervision":
        items = [(f"{r['class']} {r['name_en'] if en else r['name']}",
                  [r["sample_size"], r["subjects"] - r["sample_size"]]) for r in report.rows]
        return stacked_bar_chart(items, [(t("应抽查", "To inspect"), "#b3261e"), (t("不抽查", "Not drawn"), "#aab4bf")],
                                 title=t("监管类别与抽查数", "Supervision classes and sample sizes"),
                                 testid="chart-supervision", empty_text=t("无主体", "No subjects"))
    return ""


def _draw_departments(user) -> list[Department]:
    if not can(user, Permission.SPOT_CHECK_DRAW):
        return []
    scope = report_department_scope(user)
    query = select(Department).order_by(Department.id)
    if scope is not None:
        query = query.where(Department.id == scope)
    return list(db.session.execute(query).scalars())


# --- pages --------------------------------------------------------------------------------------

@bp.get("/reports")
@login_required
def index():
    user = current_user()
    scope = rep.require_report_viewer(user)
    runtime = current_runtime()
    today = runtime.today()
    values = {"from": request.args.get("from") or f"{today:%Y}-01", "to": request.args.get("to") or f"{today:%Y-%m}"}
    plans = rep.visible_plans(db.session, user)
    context = {"values": values, "this_month": f"{today:%Y-%m}", "plans": plans, "scope": scope,
               "scope_department": db.session.get(Department, scope) if scope is not None else None,
               "draw_departments": _draw_departments(user), "cell_text": cell_text, "lang": i18n.current_lang()}
    try:
        period = _period()
    except InvalidInput as exc:
        return render_template("reports/index.html", period=None, period_error=exc.message, sections=[],
                               **context), 422
    sections, cache = [], {}  # the cache: the grades are computed once for the three sections using them
    for name in DASHBOARD:
        report = rep.build_report(name, db.session, runtime, period, user, cache)
        sections.append({"report": report, "chart": chart_for(report), "rows": report.rows})
    subjects = rep.build_report("supervision-subjects", db.session, runtime, period, user, cache)
    return render_template("reports/index.html", period=period, period_error=None, sections=sections,
                           subjects=subjects, subject_rows=subjects.rows[:PAGE_SUBJECT_ROWS], **context)


@bp.get("/reports/<name>.csv")
@login_required
def report_csv(name: str):
    user = current_user()
    rep.require_report_viewer(user)
    period = _period()
    report = rep.build_report(name, db.session, current_runtime(), period, user)
    return csv_response(report, f"{name}_{period.from_month}_{period.to_month}.csv")


@bp.post("/reports/spot-checks")
@login_required
def draw():
    user = current_user()
    try:
        plan = rep.draw_spot_check(db.session, current_runtime(), user, request.form.get("department", ""),
                                   request.form.get("period", ""))
    except Conflict as exc:
        flash(exc.message, "error")
        plan_id = exc.details.get("plan_id")
        return redirect(url_for("reports.plan", plan_id=plan_id) if plan_id else url_for("reports.index"))
    except InvalidInput as exc:
        flash(exc.message, "error")
        return redirect(url_for("reports.index") + "#spot-checks")
    commit()
    flash(f"已抽取 {plan.size} 个抽查对象 / {plan.size} subjects drawn", "success")
    return redirect(url_for("reports.plan", plan_id=plan.id))


@bp.get("/reports/spot-checks/<int:plan_id>")
@login_required
def plan(plan_id: int):
    user = current_user()
    found = rep.plan_for(db.session, user, plan_id)
    return render_template("reports/plan.html", plan=found, payload=rep.plan_payload(db.session, found))


PLAN_COLUMNS = [rep.Column("id", "主体编号", "Subject id", "int"), rep.Column("name", "主体名称", "Name"),
                rep.Column("uscc", "统一社会信用代码", "USCC"), rep.Column("class", "监管类别", "Class")]


@bp.get("/reports/spot-checks/<int:plan_id>.csv")
@login_required
def plan_csv(plan_id: int):
    user = current_user()
    found = rep.plan_for(db.session, user, plan_id)
    payload = rep.plan_payload(db.session, found)
    report = rep.Report("spot-check", "抽查对象", "Spot-check sample", PLAN_COLUMNS, payload["subjects"])
    return csv_response(report, f"spot-check_{found.department.code}_{found.period}.csv")


# --- API ----------------------------------------------------------------------------------------

class ReportQuery(Schema):
    from_ = fields.String(data_key="from", load_default=None, metadata={"description": "YYYY-MM (default: January)"})
    to = fields.String(load_default=None, metadata={"description": "YYYY-MM, not after this month (default: now)"})


class SpotCheckRequest(Schema):
    department = fields.String(required=True, error_messages={"required": "必填 / Required"})
    period = fields.String(required=True, error_messages={"required": "必填 / Required"},
                           metadata={"description": "The inspection month, YYYY-MM (this month or later)"})


API_SUMMARIES = {
    "timeliness": "双公示 timeliness per department and month (7 WD; targets ≥98% on time, ≤5% late)",
    "case-sla": "Time limits met on time, after extension or overdue, per case type and department",
    "grades": "Subjects per grade at the end of the period",
    "supervision": "Supervision classes (信用分级分类监管) with spot-check ratios and sample sizes",
    "supervision-subjects": "Each organisation's grade and supervision class",
}


def _api_report_view(name: str):
    def view():
        user = require_api_user()
        rep.require_report_viewer(user)
        q = load(ReportQuery, request.args.to_dict())
        period = rep.parse_period(q["from_"], q["to"], current_runtime().today())
        return jsonify(rep.build_report(name, db.session, current_runtime(), period, user).as_json())

    view.__name__ = "report_" + name.replace("-", "_")
    view.__doc__ = ("Query from/to are months (YYYY-MM). A period after this month is 422. A department's "
                    "users get their own department's rows only; applicants 403.")
    return view


for _name, _summary in API_SUMMARIES.items():
    operation(f"/reports/{_name}", "GET", _summary, query=ReportQuery, tag="reports")(_api_report_view(_name))


@operation("/reports/spot-checks", "POST", "Draw and record a department's spot-check sample for a month",
           body=SpotCheckRequest, tag="reports")
def spot_check_draw():
    """The seed is random and stored with the population and the drawn ids, who drew and when; a second
    draw for the same department and month is 409 (never redrawn). Departments draw for themselves."""
    user = require_api_user()
    data = load(SpotCheckRequest, json_body())
    plan = rep.draw_spot_check(db.session, current_runtime(), user, data["department"], data["period"])
    payload = rep.plan_payload(db.session, plan)
    commit()
    return jsonify(payload), 201


@operation("/reports/spot-checks", "GET", "Spot-check plans the caller may see", tag="reports")
def spot_check_list():
    user = require_api_user()
    return jsonify({"plans": [{"id": p.id, "department": p.department.code, "period": p.period, "size": p.size,
                               "drawn_by": p.drawn_by_name, "drawn_at": p.drawn_at.isoformat()}
                              for p in rep.visible_plans(db.session, user)]})


@operation("/reports/spot-checks/<int:plan_id>", "GET", "One spot-check plan, re-drawn from its seed to verify it",
           tag="reports")
def spot_check_get(plan_id: int):
    user = require_api_user()
    return jsonify(rep.plan_payload(db.session, rep.plan_for(db.session, user, plan_id)))
