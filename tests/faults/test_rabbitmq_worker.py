"""RabbitMQ by configuration: the same worker, with CELERY_BROKER_URL=amqp://..., delivers.

The machine's RabbitMQ (guest on the default vhost) is shared, so the test publishes to and
consumes from a queue of its own (CREDITDESK_TASK_QUEUE, a fresh name) and deletes the queue and
its exchange afterwards. RabbitMQ re-queues an unacknowledged task by itself when its consumer's
connection drops, so acks_late needs no visibility timeout there.
"""
from __future__ import annotations

import os
import uuid

import pytest
from kombu import Connection

from conftest import missing, outbox_rows, wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.smtp]

RABBITMQ_URL = os.environ.get("CREDITDESK_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
CLERK = "clerk@demo-building.example.cn"


@pytest.fixture
def task_queue():
    return f"creditdesk-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def broker_url(task_queue):
    connection = Connection(RABBITMQ_URL, connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means the broker is not usable
        connection.release()
        missing(f"RabbitMQ not reachable at {RABBITMQ_URL} (apt-get install rabbitmq-server; "
                f"or set CREDITDESK_TEST_RABBITMQ_URL): {exc}")
    yield RABBITMQ_URL
    try:
        channel = connection.default_channel
        channel.queue_delete(task_queue)
        channel.exchange_delete(task_queue)
    finally:
        connection.release()


@pytest.fixture
def smtp_url(mailbox):
    return mailbox.url


def test_a_worker_on_rabbitmq_delivers_a_decisions_messages(app, demo, api, mailbox, workers, task_queue):
    celery = app.extensions["celery"]
    assert celery.conf.broker_url.startswith("amqp://") and celery.conf.task_default_queue == task_queue
    workers.start()
    enterprise = api.as_user("enterprise")
    case_id = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}}).get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()

    wait_until(lambda: {m.status for m in outbox_rows(app)} == {"sent"}, "the RabbitMQ worker to deliver",
               workers=workers)
    rows = outbox_rows(app)
    assert len(rows) == 4 and {m.attempts for m in rows} == {1}
    assert [mail["To"] for mail in mailbox.messages] == [CLERK]
    assert "amqp://" in workers.started[0].log_path.read_text(errors="replace")
