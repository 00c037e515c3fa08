"""The Prefect deployments of every flow, with their schedules: one table, two commands.

`creditdesk prefect deploy` registers them on the Prefect server named by PREFECT_API_URL
(`RunnerDeployment.apply()`: created, or updated in place when they exist, schedules included);
`creditdesk prefect serve` is the long-running worker process: it registers them the same way and
runs their scheduled and manual runs (`prefect.serve`), each run in a subprocess of its own that
inherits the process's environment, so flows see the project's configuration (DATABASE_URL,
CREDITDESK_CLOCK, CELERY_BROKER_URL, SMTP_URL, ...). No work pool is needed: served deployments
are picked up by the serving process. Run one serve process per site; a second one would only
share the runs.

| deployment | schedule (Asia/Shanghai) | concurrency |
|---|---|---|
| sweep-deadlines/creditdesk | every minute | 1, a run that finds one in progress is cancelled |
| send-reminders/creditdesk | every minute, 30 s after the sweep | 1, cancel new |
| recompute-scores/creditdesk | incremental every 5 minutes; full at 02:00 | 1, queued |
| expire-records/creditdesk | daily 00:01 (runs recompute-scores incremental) | 1, cancel new |
| reports/creditdesk | monthly, the 1st at 03:30 (the previous month's CSV files) | 1, queued |

Why a concurrency limit on the sweep although its claims are safe: two overlapping sweeps never
act twice on a deadline (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite, and
reminder rungs unique per deadline), but a second one would only wait or find nothing; cancelling
it keeps a slow minute from piling up runs. Score recomputation (both modes, and expire-records,
which goes through it) is queued behind one deployment so that two recomputations never overlap.

The table is plain data: `creditdesk doctor` reads it without importing Prefect.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

#: Every deployment has this name; the flow's name tells them apart (`<flow>/creditdesk`).
DEPLOYMENT_NAME = "creditdesk"
TIMEZONE = "Asia/Shanghai"
TAGS = ["creditdesk"]
#: Interval schedules count from a Beijing midnight, so runs fall on whole minutes.
ANCHOR = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))


@dataclass(frozen=True)
class ScheduleSpec:
    slug: str
    every_s: int | None = None
    cron: str | None = None
    offset_s: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        when = f"every {self.every_s} s" if self.every_s else f"cron '{self.cron}' {TIMEZONE}"
        return f"{self.slug}: {when}" + (f" {self.parameters}" if self.parameters else "")


@dataclass(frozen=True)
class DeploymentSpec:
    flow_name: str
    module: str
    attribute: str
    description: str
    schedules: tuple[ScheduleSpec, ...]
    cancel_overlap: bool  #: True: a run that finds one in progress is cancelled; False: it waits

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{DEPLOYMENT_NAME}"


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec("sweep-deadlines", "workflows.flows.sweep_deadlines", "sweep_deadlines",
                   "期限巡检：提醒、届满触发、超期督办 / Deadline sweep: reminders, expiries, escalations",
                   (ScheduleSpec("every-minute", every_s=60),), cancel_overlap=True),
    DeploymentSpec("send-reminders", "workflows.flows.send_reminders", "send_reminders",
                   "补发待发送消息 / Relay pending outbox messages (reminders and notices)",
                   (ScheduleSpec("every-minute", every_s=60, offset_s=30),), cancel_overlap=True),
    DeploymentSpec("recompute-scores", "workflows.flows.recompute_scores", "recompute_scores",
                   "信用积分重算 / Score recomputation (incremental every 5 min, full nightly)",
                   (ScheduleSpec("incremental", cron="*/5 * * * *", parameters={"mode": "incremental"}),
                    ScheduleSpec("full-nightly", cron="0 2 * * *", parameters={"mode": "full"})),
                   cancel_overlap=False),
    DeploymentSpec("expire-records", "workflows.flows.expire_records", "expire_records",
                   "有效期届满的信用信息 / Items whose validity ended: scores follow",
                   (ScheduleSpec("daily", cron="1 0 * * *"),), cancel_overlap=True),
    DeploymentSpec("reports", "workflows.flows.reports", "monthly_reports",
                   "月度监管报表 CSV / Monthly report CSV files in the instance folder",
                   (ScheduleSpec("monthly", cron="30 3 1 * *"),), cancel_overlap=False),
)


class PrefectNotConfigured(RuntimeError):
    pass


def require_api_url() -> str:
    """The configured Prefect API; without one Prefect would start a throwaway server (STACK.md)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectNotConfigured(
            "未设置 PREFECT_API_URL（例如 http://127.0.0.1:4200/api） / PREFECT_API_URL is not set "
            "(e.g. http://127.0.0.1:4200/api): start `prefect server start` and point to it")
    return url


def _schedule(spec: ScheduleSpec):
    from prefect.schedules import Cron, Interval

    if spec.every_s:
        return Interval(spec.every_s, anchor_date=ANCHOR + timedelta(seconds=spec.offset_s), timezone=TIMEZONE,
                        parameters=dict(spec.parameters), slug=spec.slug)
    return Cron(spec.cron, timezone=TIMEZONE, parameters=dict(spec.parameters), slug=spec.slug)


def build(spec: DeploymentSpec):
    """The RunnerDeployment of one table row."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.types.entrypoint import EntrypointType

    flow = getattr(importlib.import_module(spec.module), spec.attribute)
    strategy = ConcurrencyLimitStrategy.CANCEL_NEW if spec.cancel_overlap else ConcurrencyLimitStrategy.ENQUEUE
    return flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[_schedule(s) for s in spec.schedules],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=strategy),
        description=spec.description,
        tags=list(TAGS),
        # A restarted `serve` resumes the schedules its previous shutdown paused.
        paused=False,
        # Found by module path (the package is installed), not by a file path relative to the cwd.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def build_all() -> list:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return [build(spec) for spec in DEPLOYMENTS]


def deploy(echo=print) -> dict[str, str]:
    """Register (create or update) every deployment on the configured server; name → id."""
    url = require_api_url()
    ids: dict[str, str] = {}
    for spec, deployment in zip(DEPLOYMENTS, build_all(), strict=True):
        ids[spec.full_name] = str(deployment.apply())
        echo(f"已部署 / deployed {spec.full_name:<30} " + "; ".join(s.describe() for s in spec.schedules))
    echo(f"Prefect API: {url}  ({len(ids)} deployments; run `creditdesk prefect serve` to execute them)")
    return ids


def serve() -> None:
    """Register every deployment and run them until stopped (SIGTERM/Ctrl+C pauses their schedules)."""
    from prefect import serve as prefect_serve

    require_api_url()
    prefect_serve(*build_all())
