"""Configuration from the environment, with the embedded defaults when a variable is unset.

| Variable | Default | Meaning |
|---|---|---|
| DATABASE_URL | sqlite:///<instance>/creditdesk.db | SQLAlchemy URL; postgresql+psycopg://... in production |
| SECRET_KEY | generated once into <instance>/secret_key | signs sessions, CSRF tokens and API tokens |
| CREDITDESK_CLOCK | real | real, adjustable (admin may set it), an ISO datetime (fixed), or offset:+N days |
| CELERY_BROKER_URL | (unset: deliver in-process) | redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672// |
| CREDITDESK_TASK_QUEUE | celery | the broker queue the web app publishes to and `celery worker -Q` consumes |
| CREDITDESK_VISIBILITY_TIMEOUT | 3600 | seconds before Redis re-delivers a task a dead worker held; keep it > 600 |
| CREDITDESK_RETRY_BACKOFF | 30 | seconds before the first delivery retry, doubled at each retry (max 600) |
| SMTP_URL | (unset: e-mails are written to the log) | smtp://user:pass@host:port?from=desk@example.cn (smtps:// for TLS) |
| CREDITDESK_RULES | (unset: DOMAIN.md §12 defaults) | path of a JSON file overriding rule values |
| CREDITDESK_UPLOAD_DIR | <instance>/uploads | where uploaded materials are stored |
| CREDITDESK_SWEEP_INTERVAL | 60 | seconds between in-process sweeps in `creditdesk serve` |
| CREDITDESK_RECOMPUTE_WORKERS | 2 (1 on a one-CPU machine) | connections the `recompute-scores` flow uses side by side (PostgreSQL) |
| CREDITDESK_INSTANCE | ./instance | the instance folder |
| CREDITDESK_BASE_URL | (unset: e-mails carry no link) | the public address, e.g. https://credit.wendeng.gov.cn, for links in e-mails |
| SMS_GATEWAY_URL | (unset: no SMS) | HTTP gateway receiving POST {"to", "text", "id"}; SMS for the rule `notifications.sms_events` |
| SMS_GATEWAY_TOKEN | (unset) | sent as `Authorization: Bearer <token>` to the SMS gateway |
| WEBHOOK_URLS | (unset: no webhooks) | per department: JSON {"market": "https://..."} or market=https://...,law-enforcement=... |
| WEBHOOK_URL | (unset) | one webhook URL for every department |
| WEBHOOK_SECRET | (unset: webhooks off) | HMAC-SHA256 key signing webhooks (notifications/webhook.py says how to verify) |
| NOTIFICATION_HTTP_TIMEOUT | 10 | seconds an SMS gateway or webhook receiver may take to answer |
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def instance_dir() -> Path:
    path = Path(os.environ.get("CREDITDESK_INSTANCE", "instance")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def recompute_workers() -> int:
    """Connections the `recompute-scores` flow works on side by side (`CREDITDESK_RECOMPUTE_WORKERS`;
    default: 2, or 1 on a one-CPU machine). PostgreSQL only: on SQLite a run uses one connection."""
    value = os.environ.get("CREDITDESK_RECOMPUTE_WORKERS")
    if value:
        workers = int(value)
        if not 1 <= workers <= 16:
            raise ValueError(f"CREDITDESK_RECOMPUTE_WORKERS must be between 1 and 16, not {workers}")
        return workers
    return min(2, os.cpu_count() or 1)


def from_environment() -> dict:
    instance = instance_dir()
    return {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'creditdesk.db'}"
        ),
        "SECRET_KEY": _secret_key(instance),
        "CREDITDESK_CLOCK": os.environ.get("CREDITDESK_CLOCK", "real"),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or None,
        "CELERY_TASK_QUEUE": os.environ.get("CREDITDESK_TASK_QUEUE") or "celery",
        "CELERY_VISIBILITY_TIMEOUT": float(os.environ.get("CREDITDESK_VISIBILITY_TIMEOUT") or 3600),
        "CELERY_RETRY_BACKOFF": float(os.environ.get("CREDITDESK_RETRY_BACKOFF") or 30),
        "SMTP_URL": os.environ.get("SMTP_URL") or None,
        "CREDITDESK_RULES": os.environ.get("CREDITDESK_RULES") or None,
        "UPLOAD_DIR": os.environ.get("CREDITDESK_UPLOAD_DIR") or str(instance / "uploads"),
        "SWEEP_INTERVAL": int(os.environ.get("CREDITDESK_SWEEP_INTERVAL", "60")),
        "RECOMPUTE_WORKERS": recompute_workers(),
        "INSTANCE_DIR": str(instance),
        "CREDITDESK_BASE_URL": os.environ.get("CREDITDESK_BASE_URL") or None,
        "SMS_GATEWAY_URL": os.environ.get("SMS_GATEWAY_URL") or None,
        "SMS_GATEWAY_TOKEN": os.environ.get("SMS_GATEWAY_TOKEN") or None,
        "WEBHOOK_URLS": os.environ.get("WEBHOOK_URLS") or None,
        "WEBHOOK_URL": os.environ.get("WEBHOOK_URL") or None,
        "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET") or None,
        "NOTIFICATION_HTTP_TIMEOUT": float(os.environ.get("NOTIFICATION_HTTP_TIMEOUT") or 10),
    }


def normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
