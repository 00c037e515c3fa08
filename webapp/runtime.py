"""Builds the engine's Runtime (clock, rules, calendar) from the app configuration."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import select

from models import AppSetting, db
from workflows.calendar_store import calendar_from_db
from workflows.clock import AdjustableClock, FixedClock, OffsetClock, RealClock, parse_instant
from workflows.rules import Rules
from workflows.service import Runtime

CLOCK_KEY = "clock.now"


def _load_clock_setting() -> str | None:
    # Through the current session: a second connection would wait on this transaction's own
    # SQLite write lock. No autoflush: the clock is read in the middle of fire().
    with db.session.no_autoflush:
        return db.session.execute(select(AppSetting.value).where(AppSetting.key == CLOCK_KEY)).scalar()


def _save_clock_setting(value: str) -> None:
    """Setting the clock is its own decision: it commits."""
    db.session.merge(AppSetting(key=CLOCK_KEY, value=value))
    db.session.commit()


def build_clock(spec: str):
    spec = (spec or "real").strip()
    if spec == "real":
        return RealClock()
    if spec == "adjustable":
        return AdjustableClock(_load_clock_setting, _save_clock_setting)
    match = re.fullmatch(r"offset:([+-]?\d+)d", spec)
    if match:
        return OffsetClock(timedelta(days=int(match.group(1))))
    try:
        return FixedClock(parse_instant(spec))
    except ValueError as exc:
        raise ValueError(
            f"CREDITDESK_CLOCK 无法识别：{spec!r}（real、adjustable、offset:+Nd 或 ISO 时间） / "
            f"unknown CREDITDESK_CLOCK {spec!r}: use real, adjustable, offset:+Nd or an ISO datetime"
        ) from exc


def init_runtime(app: Flask) -> Runtime:
    rules = Rules.from_json_file(app.config["CREDITDESK_RULES"]) if app.config.get("CREDITDESK_RULES") else Rules(
        app.config.get("RULE_OVERRIDES") or {}
    )
    clock = app.config.get("CLOCK_OBJECT") or build_clock(app.config.get("CREDITDESK_CLOCK", "real"))
    runtime = Runtime(clock=clock, rules=rules, calendar_provider=calendar_from_db,
                      upload_dir=app.config["UPLOAD_DIR"])
    app.extensions["creditdesk"] = runtime
    init_channel_policy(app, rules)
    return runtime


def init_channel_policy(app: Flask, rules: Rules) -> None:
    """Tell `workflows.notify.queue` which extra channels (SMS, webhooks) this app has configured:
    none in the embedded default, so no such outbox rows are written without configuration."""
    from notifications.webhook import webhook_departments
    from workflows.notify import ChannelPolicy, configure_channels

    departments = webhook_departments(app.config)  # frozenset() when no webhook (with a secret) is set
    policy = ChannelPolicy(
        sms_events=tuple(rules["notifications.sms_events"]) if app.config.get("SMS_GATEWAY_URL") else (),
        webhook_events=tuple(rules["notifications.webhook_events"]) if departments != frozenset() else (),
        webhook_departments=departments,
    )
    with app.app_context():
        configure_channels(db.engine, policy)


def current_runtime() -> Runtime:
    return current_app.extensions["creditdesk"]
