"""Celery tasks. `notifications.deliver(outbox_id)` is idempotent: a message already sent is skipped.

`deliver_now` is the plain function behind the task (tests and the relay call it directly):
it locks the outbox row, hands the message to its channel and records the outcome in the same
short transaction. A failure counts an attempt and leaves the row pending for a retry; after
MAX_ATTEMPTS failures, or at once for a permanent failure (a 5xx SMTP reply), the row is "dead"
with its last error, for an administrator to look at.
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timezone

from celery import shared_task
from sqlalchemy import select

from models import OutboxMessage, db

from .channels import PermanentFailure, channel_for

log = logging.getLogger("creditdesk.notifications")
MAX_ATTEMPTS = 5


def deliver_now(outbox_id: int, config, now: datetime | None = None) -> str:
    """Deliver one outbox message in its own transaction (needs an app context).

    Returns the row's status afterwards: "sent", "pending" (this attempt failed; it will be
    retried), "dead", or "missing" when no such row exists. A row that is not pending is left
    alone, so delivering the same id twice sends once.
    """
    session = db.session
    now = now or datetime.now(timezone.utc)
    message = session.execute(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()
    ).scalar_one_or_none()
    if message is None or message.status != "pending":
        status = message.status if message else "missing"
        session.rollback()
        return status
    try:
        channel_for(message.channel, config).send(session, message, now)
        session.flush()
    except Exception as exc:  # noqa: BLE001 - any channel failure is recorded and retried
        session.rollback()
        return _record_failure(outbox_id, exc)
    message.attempts += 1
    message.status = "sent"
    message.sent_at = now
    message.last_error = None
    session.commit()
    return "sent"


def _record_failure(outbox_id: int, exc: Exception) -> str:
    session = db.session
    message = session.execute(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()
    ).scalar_one_or_none()
    if message is None or message.status != "pending":  # sent or killed by a concurrent delivery
        status = message.status if message else "missing"
        session.rollback()
        return status
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if message.attempts >= MAX_ATTEMPTS or isinstance(exc, PermanentFailure):
        message.status = "dead"
    status, attempts, error = message.status, message.attempts, message.last_error
    session.commit()
    if status == "dead":
        log.error("outbox %s is dead after %s attempts: %s", outbox_id, attempts, error)
    else:
        log.warning("outbox %s attempt %s failed: %s", outbox_id, attempts, error)
    return status


def retry_delay(retries: int, base: float = 30.0) -> float:
    """Exponential backoff with jitter: about 30 s, 1, 2, 4 minutes (capped at 10) for the default
    base (CREDITDESK_RETRY_BACKOFF). Never less than half the step, so the gaps grow."""
    return random.uniform(0.5, 1.0) * min(600, base * 2 ** retries)


@shared_task(name="notifications.deliver", bind=True, acks_late=True, max_retries=MAX_ATTEMPTS,
             ignore_result=True)
def deliver(self, outbox_id: int) -> str:
    conf = self.app.conf
    clock = getattr(self.app, "creditdesk_clock", None)
    status = deliver_now(
        outbox_id,
        {**getattr(self.app, "creditdesk_channels", {}),
         "SMTP_URL": conf.get("creditdesk_smtp_url"), "BASE_URL": conf.get("creditdesk_base_url")},
        now=clock.now() if clock is not None else None,
    )
    if status != "pending":
        return status
    if self.request.is_eager or self.request.retries >= self.max_retries:
        # In-process delivery never blocks the request or the sweep on a retry; the relay
        # (`relay_pending`, every minute) sends the pending row again after its backoff.
        return status
    # Losing this countdown message (a worker killed while holding it) only delays the
    # message: the row is still pending and the relay picks it up.
    backoff = float(conf.get("creditdesk_retry_backoff") or 30)
    raise self.retry(countdown=retry_delay(self.request.retries, backoff))
