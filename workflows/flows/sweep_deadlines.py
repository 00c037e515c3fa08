"""sweep-deadlines: the production deadline sweeper (DESIGN.md rule 3, run modes).

Why it exists: in production the statutory clock must keep running whether or not any web
process is up, observable and retried, so the same sweep the embedded server runs in a background
thread (`workflows.sweep`) is deployed as a Prefect flow scheduled every minute. The flow is thin:
it builds the app from the environment for configuration (database, clock, rules) and a session,
then runs `workflows.sweep.sweep_batch` batch after batch, one Prefect task per batch (each task
run costs milliseconds; never one per case), each batch its own committed transaction. Retrying a
batch is safe: claims, reminder rungs and expiry triggers are idempotent in the database.

Run it once: `python -m workflows.flows.sweep_deadlines --once`; serve it on a schedule:
`python -m workflows.flows.sweep_deadlines` (a `serve()` deployment, interval 60 s).
Configuration comes from the environment (see webapp.config): DATABASE_URL, CREDITDESK_CLOCK,
CELERY_BROKER_URL, SMTP_URL, PREFECT_API_URL, ...
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

# Prefect reads these when it is imported. Offline, its telemetry lookup fails and logs an error;
# its home (profiles, local database) belongs in the instance folder, not in `~`.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402

from models import db  # noqa: E402
from notifications.outbox import relay_pending  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402
from webapp.views.common import commit  # noqa: E402
from workflows.sweep import sweep_batch  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask

BATCH_SIZE = 500


def run_batch(app: Flask, batch_size: int) -> dict[str, Any]:
    """One batch in one transaction: claim due deadlines, remind, fire expiries, escalate, commit.

    The commit dispatches the batch's new outbox rows to Celery after it succeeds.
    """
    with app.app_context():
        try:
            result = sweep_batch(db.session, current_runtime(), batch_size)
            commit()
        except BaseException:
            db.session.rollback()
            raise
    return {"claimed": result.claimed, "fired": result.fired, "reminders": result.reminders,
            "escalations": result.escalations, "errors": result.errors}


def run_relay(app: Flask) -> int:
    """Hand pending outbox rows whose dispatch was lost or whose retry is due to Celery again."""
    with app.app_context():
        return relay_pending(db.session, current_runtime().clock.now())


# Tasks have side effects: never cache them (Prefect would skip a batch whose inputs look alike).
@task(name="sweep-batch", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def sweep_batch_task(app: Flask, batch_size: int) -> dict[str, Any]:
    return run_batch(app, batch_size)


@task(name="relay-outbox", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def relay_task(app: Flask) -> int:
    return run_relay(app)


@flow(name="sweep-deadlines", log_prints=False)
def sweep_deadlines(database_url: str | None = None, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Sweep until a batch claims fewer than `batch_size` due deadlines, then relay the outbox.

    `database_url` overrides DATABASE_URL (tests; in a deployment prefer the environment, since
    flow parameters are stored by the Prefect server).
    """
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    totals: dict[str, Any] = {"claimed": 0, "fired": 0, "reminders": 0, "escalations": 0, "batches": 0,
                              "errors": []}
    try:
        while True:
            batch = sweep_batch_task(app, batch_size)
            totals["batches"] += 1
            for key in ("claimed", "fired", "reminders", "escalations"):
                totals[key] += batch[key]
            totals["errors"].extend(batch["errors"])
            if batch["claimed"] < batch_size:
                break
        totals["relayed"] = relay_task(app)
    finally:
        with app.app_context():
            db.engine.dispose()
    logger = get_run_logger()
    logger.info("sweep-deadlines: claimed=%(claimed)s fired=%(fired)s reminders=%(reminders)s "
                "escalations=%(escalations)s relayed=%(relayed)s", totals)
    for error in totals["errors"]:
        logger.warning("sweep error: %s", error)
    return totals


def main(argv: list[str] | None = None) -> None:
    """Serve the flow every minute (`--once`: run it a single time and print the result)."""
    args = sys.argv[1:] if argv is None else argv
    if "--once" in args:
        print(sweep_deadlines())
        return
    sweep_deadlines.serve(name="sweep-deadlines", interval=60)


if __name__ == "__main__":
    main()
