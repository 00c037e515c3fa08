"""reports: the monthly supervision reports, kept as CSV files in the instance folder.

Why it exists: the reports page computes every report on request for any period, so nothing needs
precomputing; what a credit center does need is the record of what the figures were when the month
closed (双公示 timeliness, case time limits met or missed: DOMAIN.md §9.1). Later publications and
closed cases change the live figures for that month; the file written on the 1st does not. On the
first day of each month this flow writes the previous month's `timeliness` and `case-sla` reports,
for the whole district, as `<instance>/reports/<YYYY-MM>/<report>.csv` (UTF-8 with a BOM and
bilingual headers, the same cells as the CSV download of the reports page). Re-running it for a
month rewrites that month's files (each replaced atomically).

Run it once: `python -m workflows.flows.reports [YYYY-MM]`. Deployed by `creditdesk prefect deploy`.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402

from models import db  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402
from webapp.views.reports import cell_text  # noqa: E402
from workflows import reports as rep  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask

#: The reports archived each month (names of workflows.reports.REPORTS).
MONTHLY_REPORTS = ("timeliness", "case-sla")


def previous_month(app: Flask) -> str:
    with app.app_context():
        return (current_runtime().today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def write_report(app: Flask, name: str, month: str) -> dict[str, Any]:
    """Compute one report for one month (all departments) and write it as CSV; returns its path."""
    with app.app_context():
        runtime = current_runtime()
        period = rep.parse_period(month, month, runtime.today())
        report = rep.REPORTS[name](db.session, runtime, period, None)
        db.session.rollback()  # read only
        folder = Path(app.config["INSTANCE_DIR"]) / "reports" / month
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"{c.zh} / {c.en}" for c in report.columns])
    for row in report.rows + ([report.total] if report.total else []):
        writer.writerow([cell_text(row, c) for c in report.columns])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    partial = path.with_suffix(".csv.partial")
    partial.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")
    partial.replace(path)
    return {"report": name, "path": str(path), "rows": len(report.rows)}


@task(name="write-report", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def write_report_task(app: Flask, name: str, month: str) -> dict[str, Any]:
    return write_report(app, name, month)


@flow(name="reports", log_prints=False)
def monthly_reports(month: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Write the monthly reports of `month` (YYYY-MM; default: the month before today)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    try:
        month = month or previous_month(app)
        files = [write_report_task(app, name, month) for name in MONTHLY_REPORTS]
    finally:
        with app.app_context():
            db.engine.dispose()
    logger = get_run_logger()
    for written in files:
        logger.info("reports %s: %s (%s rows)", month, written["path"], written["rows"])
    return {"month": month, "files": files}


if __name__ == "__main__":
    print(monthly_reports(*sys.argv[1:2]))
