"""expire-records: credit items and publicity whose validity ended, taken into account each night.

Why it exists: an item stops counting the day after its `valid_until` (C10) and a record leaves
public display after the last day of its publicity period, without anyone acting. Nothing has to be
written on the record for that: display (`workflows.records.is_publicly_displayed`,
`is_active_on`) and the reports derive both from the dates, and a blacklist entry's term ends
through its own deadline and the sweep's `fire()`. What is stored and would go stale is the score
(`subject_scores`), so the nightly job is the incremental recomputation, whose window takes exactly
the subjects with an item whose validity ended, began or was repaired since the previous run
(`workflows.score_recompute`). The flow also counts the items whose validity ended yesterday, so
the run log says what expired.

The recomputation must not run at the same time as another one (two concurrent runs can write the
same snapshot twice), so under a deployment this flow does not recompute in its own process: it
runs the `recompute-scores` deployment with mode "incremental", whose concurrency limit of 1 queues
it behind any run in progress, and waits for it. Called directly (`python -m
workflows.flows.expire_records`, tests) it recomputes in process.
"""
from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from models import CreditRecord, RecordStatus, db  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402
from workflows.flows.recompute_scores import recompute_batch_task  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask

#: The deployment that owns score recomputation (workflows.flows.deployments).
RECOMPUTE_DEPLOYMENT = "recompute-scores/creditdesk"
#: How long to wait for the queued recomputation (it takes seconds; a full run ahead of it, minutes).
RECOMPUTE_TIMEOUT_S = 1800


def count_expired(app: Flask) -> dict[str, Any]:
    """Items in force whose validity ended yesterday (they stop counting today)."""
    with app.app_context():
        yesterday = current_runtime().today() - timedelta(days=1)
        items, subjects = db.session.execute(
            select(func.count(CreditRecord.id), func.count(CreditRecord.subject_id.distinct()))
            .where(CreditRecord.valid_until == yesterday, CreditRecord.status == RecordStatus.ACTIVE)).one()
        db.session.rollback()
    return {"ended_on": yesterday.isoformat(), "items": items, "subjects": subjects}


@task(name="count-expired", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def count_expired_task(app: Flask) -> dict[str, Any]:
    return count_expired(app)


def _recompute_through_deployment() -> dict[str, Any]:
    from prefect.deployments import run_deployment

    run = run_deployment(RECOMPUTE_DEPLOYMENT, parameters={"mode": "incremental"}, timeout=RECOMPUTE_TIMEOUT_S)
    if run.state is None or not run.state.is_completed():
        state = run.state.name if run.state else "unknown"
        raise RuntimeError(f"积分重算未完成 / recompute-scores run {run.name} ended {state}")
    return {"recompute": "deployment", "flow_run": run.name}


@flow(name="expire-records", log_prints=False)
def expire_records(database_url: str | None = None) -> dict[str, Any]:
    """Count yesterday's expiries, then bring stored scores up to date (see the module docstring)."""
    from prefect.runtime import deployment

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    try:
        result = count_expired_task(app)
        if deployment.id and not database_url:
            result.update(_recompute_through_deployment())
        else:
            stats = recompute_batch_task(app, "incremental", None)
            result.update(recompute="in-process", changed=stats.changed, as_of=stats.as_of.isoformat())
    finally:
        with app.app_context():
            db.engine.dispose()
    get_run_logger().info("expire-records: %(items)s item(s) of %(subjects)s subject(s) ended on %(ended_on)s; "
                          "scores recomputed (%(recompute)s)", result)
    return result


if __name__ == "__main__":
    print(expire_records(*sys.argv[1:2]))
