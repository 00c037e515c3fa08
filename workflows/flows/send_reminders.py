"""send-reminders: the outbox relay on a schedule of its own (DESIGN.md rule 2, run modes).

Why it exists, and why it does not decide reminders: which reminder rung is due is decided by the
sweep (`workflows.sweep`), inside the transaction that records the rung in `deadline_reminders`
(unique per deadline and rung); that is what makes a reminder exactly-once, so it must stay there.
What a reminder, a decision notice or an escalation still needs after that commit is to be *sent*:
its outbox row is handed to Celery after the commit, and whatever is still pending (a dispatch
lost to a broker outage, a retry that is due) is handed over again by `relay_pending`. The sweep
relays at the end of each run too; this deployment keeps messages moving when the sweep is failing
or paused (a calendar year not loaded, a stuck case), and it tells the operator in its run log how
many messages are pending and how many are dead (delivery failed for good: the admin page lists
them). Re-sending is harmless: delivery is idempotent by outbox id.

Run it once: `python -m workflows.flows.send_reminders`. Deployed by `creditdesk prefect deploy`.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from models import OutboxMessage, db  # noqa: E402
from notifications.outbox import relay_pending  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask


def run_relay(app: Flask) -> dict[str, int]:
    """Relay what is due, then count the outbox by status (one short transaction each)."""
    with app.app_context():
        try:
            relayed = relay_pending(db.session, current_runtime().clock.now())
            counts = dict(db.session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
            db.session.rollback()  # read only: end the counting transaction
        except BaseException:
            db.session.rollback()
            raise
    return {"relayed": relayed, "pending": counts.get("pending", 0), "dead": counts.get("dead", 0)}


@task(name="relay-outbox", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def relay_outbox_task(app: Flask) -> dict[str, int]:
    return run_relay(app)


@flow(name="send-reminders", log_prints=False)
def send_reminders(database_url: str | None = None) -> dict[str, Any]:
    """Hand pending outbox messages (reminders and every other notice) to the delivery workers."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    try:
        result = relay_outbox_task(app)
    finally:
        with app.app_context():
            db.engine.dispose()
    logger = get_run_logger()
    logger.info("send-reminders: relayed=%(relayed)s pending=%(pending)s dead=%(dead)s", result)
    if result["dead"]:
        logger.warning("%s 条消息投递失败，见管理页 / %s message(s) are dead: see the admin page",
                       result["dead"], result["dead"])
    return result


if __name__ == "__main__":
    print(send_reminders(*sys.argv[1:2]))
