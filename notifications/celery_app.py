"""The Celery app. Tasks receive outbox ids, never objects, and run inside a Flask app context.

Without CELERY_BROKER_URL (the embedded default) tasks run in-process (`task_always_eager`);
with it, a real worker started by `celery -A webapp.celery_worker worker` delivers them.

Each Flask app gets its own Celery app (Flask docs, patterns/celery). A single module-level Celery
app rebound by every `create_app()` would keep the task class, the broker connection pool and the
producer pool of the first app it served: a second app in the same process (the Prefect flow next
to a test's app, or two tests in a row) would then publish to the first app's broker and deliver
inside the first app's context and database. This module never imports Flask: it only receives
the app object and calls its `app_context()`.
"""
from __future__ import annotations

import weakref

from celery import Celery, Task
from celery import current_app as current_celery

from .channels import channel_settings

#: The Celery app of each Flask app's database engine, so that `commit_and_dispatch(session)`
#: publishes through the app that owns the session, whichever app was created last. The values are
#: weak too: a Celery app refers (through its task class) to its Flask app, which holds the engine,
#: so a strong value would keep its own key, and every app ever created, alive.
_BY_ENGINE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: Seconds to wait for the broker when publishing. A request that commits a decision must not
#: hang on a dead broker: the outbox row stays pending and the relay sends it later.
PUBLISH_TIMEOUT = 2


def init_celery(flask_app) -> Celery:
    """Create the Celery app of one Flask app: every task runs in that app's context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # A fresh app context means a fresh Flask-SQLAlchemy session, also when an eager task
            # runs inside a request or CLI command that has just committed its own session.
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    broker = flask_app.config.get("CELERY_BROKER_URL")
    # Redis re-delivers a task taken by a worker that died before acknowledging it (acks_late) once
    # this many seconds have passed; it must exceed the longest retry countdown, since a retry waits
    # unacknowledged in the worker. A short timeout (tests) also needs a short restore sweep.
    visibility_timeout = float(flask_app.config.get("CELERY_VISIBILITY_TIMEOUT") or 3600)
    restore_interval = max(1, min(10, int(visibility_timeout // 2)))
    runtime = flask_app.extensions.get("creditdesk")
    celery = Celery(flask_app.import_name, task_cls=FlaskTask, include=["notifications.tasks"])
    celery.conf.update(
        # "localhost" only silences kombu's warning: eager apply still opens a (memory) producer.
        broker_url=broker or "memory://localhost/",
        task_always_eager=not broker,
        task_eager_propagates=False,
        task_ignore_result=True,
        task_default_queue=flask_app.config.get("CELERY_TASK_QUEUE") or "celery",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # A worker keeps reconnecting while the broker restarts (None = forever). This setting is
        # read by workers only; publishing is bounded by the timeouts below.
        broker_connection_max_retries=None,
        # Publishing fails fast when the broker is down: kombu retries the connection for at most
        # `broker_connection_timeout` seconds in total, `task_publish_retry=False` stops Celery's
        # own publish retries, and the socket timeouts bound a broker that accepts the TCP
        # connection but never answers (measured: without them `.delay()` hangs until the peer
        # resets the connection).
        broker_connection_timeout=PUBLISH_TIMEOUT,
        task_publish_retry=False,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_interval,
            "unacked_restore_throttle": 1 if visibility_timeout < 600 else 10,
            "socket_connect_timeout": PUBLISH_TIMEOUT,
            # Above kombu's 1 s BRPOP timeout, so an idle worker is not disconnected.
            "socket_timeout": PUBLISH_TIMEOUT + 1,
        },
        creditdesk_smtp_url=flask_app.config.get("SMTP_URL"),
        creditdesk_base_url=flask_app.config.get("CREDITDESK_BASE_URL"),
        creditdesk_retry_backoff=float(flask_app.config.get("CELERY_RETRY_BACKOFF") or 30),
    )
    # The engine's clock stamps `sent_at`, so a fixed or simulated clock stays consistent with the
    # `created_at` that fire() wrote. Kept off `conf`, which `celery report` would print.
    celery.creditdesk_clock = runtime.clock if runtime is not None else None  # type: ignore[attr-defined]
    # Channel settings (SMS token, webhook secrets) stay off `conf` for the same reason.
    celery.creditdesk_channels = channel_settings(flask_app.config)  # type: ignore[attr-defined]
    # Threads that never created an app (waitress workers, the sweeper) fall back to the default.
    celery.set_default()
    flask_app.extensions["celery"] = celery
    with flask_app.app_context():
        from models import db

        _BY_ENGINE[db.engine] = weakref.ref(celery)
    return celery


def celery_for(session) -> Celery:
    """The Celery app of the Flask app that owns `session` (needs that app's context)."""
    try:
        engine = session.get_bind()
    except Exception:  # noqa: BLE001 - no app context or an unbound session: use the default app
        return current_celery._get_current_object()
    ref = _BY_ENGINE.get(engine)
    app = ref() if ref is not None else None
    return app if app is not None else current_celery._get_current_object()


from . import tasks as _tasks  # noqa: E402,F401 - registers notifications.deliver with every app
