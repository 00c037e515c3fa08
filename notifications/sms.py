"""SMS through a configurable HTTP gateway.

SMS_GATEWAY_URL receives `POST {"to": "+86...", "text": "...", "id": <outbox id>}` with
`Authorization: Bearer <SMS_GATEWAY_TOKEN>` when a token is set. The outbox id is the idempotency
key: a gateway that has seen an id already must not send it again, so a worker that crashes between
the gateway's answer and the outbox commit (and is retried) costs one duplicate request, not a
duplicate text message. The text is one short message: the Chinese title with the case reference,
at most SMS_MAX_CHARS characters (70: one UCS-2 SMS segment).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy.orm import Session

from models import OutboxMessage

from .channels import PermanentFailure
from .http import post

log = logging.getLogger("creditdesk.notifications")
SMS_MAX_CHARS = 70


def sms_text(message: OutboxMessage) -> str:
    """The Chinese title, always ending with the case reference, within SMS_MAX_CHARS."""
    context = message.context or {}
    title = (context.get("title_zh") or message.title.split(" / ", 1)[0]).strip()
    reference = context.get("reference")
    if not reference:
        return title if len(title) <= SMS_MAX_CHARS else title[: SMS_MAX_CHARS - 1] + "…"
    suffix = f"（{reference}）"
    head = title.removesuffix(suffix).rstrip("：: ")
    if len(head) + len(suffix) <= SMS_MAX_CHARS:
        return head + suffix
    return head[: SMS_MAX_CHARS - len(suffix) - 1] + "…" + suffix


class SmsChannel:
    name = "sms"

    def __init__(self, gateway_url: str | None, token: str | None = None, timeout: float = 10.0):
        self.gateway_url = gateway_url
        self.token = token
        self.timeout = timeout

    def payload(self, message: OutboxMessage) -> dict:
        return {"to": message.recipient_address, "text": sms_text(message), "id": message.id}

    def send(self, session: Session, message: OutboxMessage, now: datetime) -> None:
        if not message.recipient_address:
            raise PermanentFailure("SMS message without a phone number")
        if not self.gateway_url:
            # Rows are only written while a gateway is configured: a worker without it is a
            # deployment mistake worth retrying (and, if never fixed, a dead row an admin sees).
            raise RuntimeError("SMS_GATEWAY_URL is not configured on this worker")
        headers = {"Idempotency-Key": str(message.id)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        post(self.gateway_url, body, headers, self.timeout)
        log.info("SMS %s sent to %s", message.id, message.recipient_address)
