"""After-commit dispatch of outbox rows, and the relay that re-sends whatever is still pending.

`fire()` writes OutboxMessage rows in the caller's transaction. A session listener remembers the
rows flushed in the transaction; `commit_and_dispatch(session)` commits and only then hands their
ids to Celery. If the broker is down the rows simply stay pending and `relay_pending` (run by the
sweeper every minute) sends them later: a broker outage delays, never loses.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, event, inspect, or_, select
from sqlalchemy.orm import Session

from models import OutboxMessage

log = logging.getLogger("creditdesk.notifications")
_KEY = "creditdesk.outbox_rows"

#: How old a pending row must be before the relay sends it again, by failed attempts so far.
#: The first step covers a lost first dispatch; the later ones are the retry backoff of
#: in-process delivery (which never retries by itself) and a safety net behind the worker's retries.
RELAY_AFTER = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
)


def install(session_factory) -> None:
    """Listen on a Session class or sessionmaker (once) for flushed outbox rows."""
    if event.contains(session_factory, "after_flush", _after_flush):
        return
    event.listen(session_factory, "after_flush", _after_flush)
    event.listen(session_factory, "after_rollback", _after_rollback)


def _after_flush(session: Session, _flush_context) -> None:
    rows = session.info.setdefault(_KEY, [])
    rows.extend(obj for obj in session.new if isinstance(obj, OutboxMessage))


def _after_rollback(session: Session) -> None:
    # A rolled-back transaction's rows never existed. A rolled-back SAVEPOINT keeps the list, but
    # its rows lose their identity (SQLAlchemy makes them transient again) and are left out below.
    if not session.in_transaction():
        session.info.pop(_KEY, None)


def committed_ids(session: Session) -> list[int]:
    """Take the ids of the outbox rows the last commit made durable (and forget them)."""
    ids: list[int] = []
    for row in session.info.pop(_KEY, []):
        # `identity` does not load anything, so expired rows cost no query.
        identity = inspect(row).identity
        if identity is not None and identity[0] not in ids:
            ids.append(identity[0])
    return ids


def commit_and_dispatch(session: Session) -> list[int]:
    """The entry point's commit: commit, then hand the new outbox rows to Celery."""
    session.commit()
    ids = committed_ids(session)
    dispatch(ids, session)
    return ids


def dispatch(ids: list[int], session: Session | None = None) -> int:
    """Publish `notifications.deliver` for each id; return how many were handed over.

    Never raises: with the broker down, the first failure (bounded by the publish timeout set in
    `celery_app`) stops the loop and the rows wait, pending, for the relay.
    """
    if not ids:
        return 0
    from .celery_app import celery_for

    deliver = celery_for(session).tasks["notifications.deliver"]
    for done, outbox_id in enumerate(ids):
        try:
            deliver.delay(outbox_id)
        except Exception as exc:  # noqa: BLE001 - broker unreachable: the relay will retry
            log.warning("%s outbox message(s) from %s left pending, broker unavailable: %s",
                        len(ids) - done, outbox_id, exc)
            return done
    return len(ids)


def relay_pending(session: Session, now: datetime, *, limit: int = 1000) -> int:
    """Dispatch pending messages whose last dispatch may have been lost or whose retry is due.

    A row with `attempts` failures is sent again once it is older than `RELAY_AFTER[attempts]`
    (rows are stamped by the engine's clock, so `now` must come from the same clock).
    """
    due = or_(*(
        and_(OutboxMessage.attempts == attempts, OutboxMessage.created_at <= now - age)
        for attempts, age in enumerate(RELAY_AFTER)
    ))
    ids = list(session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", due)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).scalars())
    session.commit()
    return dispatch(ids, session)
