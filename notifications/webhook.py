"""Signed webhooks for department systems.

Configuration: WEBHOOK_URLS maps department codes to URLs (JSON `{"market": "https://...",
"law-enforcement": {"url": "https://...", "secret": "..."}}` or `market=https://...,...`), or
WEBHOOK_URL is one URL for every department; WEBHOOK_SECRET is the shared secret where a
department has none of its own. Which events are sent is the rule `notifications.webhook_events`.

Each delivery is `POST <url>` with the event as a JSON body and these headers:

    X-CreditDesk-Event: repair-approved
    X-CreditDesk-Delivery: <outbox id>          the same on every retry: receivers dedupe by it
    X-CreditDesk-Timestamp: <unix seconds>      when this attempt was signed
    X-CreditDesk-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

A receiver verifies it before parsing the body:

1. read the raw request body (bytes, before any JSON parsing);
2. compute HMAC-SHA256 with the shared secret over `timestamp + "." + body` and compare its hex
   digest with the header after `sha256=`, in constant time (`hmac.compare_digest`);
3. reject a timestamp more than a few minutes from its own clock (replayed requests);
4. treat a delivery id it has already processed as done (answer 2xx again).

`verify_signature(secret, timestamp, body, signature, tolerance_s)` does steps 2 and 3.
Answer 2xx when the event is accepted; a 4xx other than 408/429 stops the retries (the row is
dead and shown to administrators), 5xx, 408 and 429 make the desk retry with backoff.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import urljoin, urlparse

from sqlalchemy.orm import Session

from models import OutboxMessage

from .http import post

SIGNATURE_HEADER = "X-CreditDesk-Signature"
TIMESTAMP_HEADER = "X-CreditDesk-Timestamp"
DELIVERY_HEADER = "X-CreditDesk-Delivery"
EVENT_HEADER = "X-CreditDesk-Event"
ALL_DEPARTMENTS = "*"


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The X-CreditDesk-Signature header value for `body` sent at `timestamp`."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str | int | None, body: bytes, signature: str | None,
                     tolerance_s: float = 300, now: float | None = None) -> bool:
    """True when `signature` is ours for this exact body and timestamp, and the timestamp is within
    `tolerance_s` seconds of `now` (default: this machine's clock)."""
    if not secret or timestamp is None or not signature:
        return False
    try:
        sent = int(str(timestamp))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature.strip())


def webhook_targets(config: Mapping) -> dict[str, tuple[str, str | None]]:
    """Department code -> (url, secret) from WEBHOOK_URLS / WEBHOOK_URL / WEBHOOK_SECRET; the code
    "*" stands for every department (one WEBHOOK_URL)."""
    default_secret = config.get("WEBHOOK_SECRET") or None
    raw = config.get("WEBHOOK_URLS") or {}
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            raw = json.loads(text)
        else:
            raw = dict(part.strip().split("=", 1) for part in text.split(",") if part.strip())
    targets: dict[str, tuple[str, str | None]] = {}
    for code, value in raw.items():
        if isinstance(value, Mapping):
            targets[str(code).strip()] = (str(value["url"]).strip(), value.get("secret") or default_secret)
        else:
            targets[str(code).strip()] = (str(value).strip(), default_secret)
    if config.get("WEBHOOK_URL"):
        targets.setdefault(ALL_DEPARTMENTS, (str(config["WEBHOOK_URL"]).strip(), default_secret))
    return targets


def webhook_departments(config: Mapping) -> frozenset[str] | None:
    """Departments that receive webhooks (None: all of them), for `workflows.notify.ChannelPolicy`.
    A target without a secret is left out: webhooks are always signed."""
    targets = {code: target for code, target in webhook_targets(config).items() if target[1]}
    if ALL_DEPARTMENTS in targets:
        return None
    return frozenset(targets)


class WebhookChannel:
    name = "webhook"

    def __init__(self, config: Mapping, base_url: str | None = None, timeout: float = 10.0,
                 wallclock: Callable[[], float] = time.time):
        self.targets = webhook_targets(config)
        self.base_url = base_url
        self.timeout = timeout
        # Transport time, not the engine's (possibly simulated) clock: receivers compare it with theirs.
        self.wallclock = wallclock

    def target(self, department: str | None) -> tuple[str, str | None] | None:
        return self.targets.get(department or "") or self.targets.get(ALL_DEPARTMENTS)

    def body(self, message: OutboxMessage) -> bytes:
        context = dict(message.context or {})
        link = message.link
        if link and self.base_url and not urlparse(link).scheme:
            link = urljoin(self.base_url.rstrip("/") + "/", link.lstrip("/"))
        event = {
            "id": message.id,
            "event": message.event,
            "occurred_at": message.created_at.isoformat() if message.created_at else None,
            "department": message.recipient_address,
            "case": {"id": message.case_id, "reference": context.pop("reference", None),
                     "case_type": context.pop("case_type", None)},
            "title_zh": context.pop("title_zh", None),
            "title_en": context.pop("title_en", None),
            "body": message.body,
            "link": link,
            "context": {k: v for k, v in context.items() if k != "department"},
        }
        return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def send(self, session: Session, message: OutboxMessage, now: datetime) -> None:
        target = self.target(message.recipient_address)
        if target is None:
            # Written while configured, configuration gone since: retry (fixing it saves the row).
            raise RuntimeError(f"no webhook configured for department {message.recipient_address!r}")
        url, secret = target
        if not secret:
            raise RuntimeError(f"no WEBHOOK_SECRET for department {message.recipient_address!r}")
        body = self.body(message)
        timestamp = str(int(self.wallclock()))
        post(url, body, {
            EVENT_HEADER: message.event,
            DELIVERY_HEADER: str(message.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }, self.timeout)

