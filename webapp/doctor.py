"""`creditdesk doctor`: check every configured service and say what is wrong in plain words.

Each check returns a `Check` with a status — ok, warn (works, but look at it), fail (something the
desk needs does not work), skip (not configured: the embedded default is in use) — and a message in
Chinese and English. Nothing is changed: no table is created, no mail sent, no task published
(the worker ping, which broadcasts on the broker, runs only with `--workers`). The command exits 1
when a check failed, 0 otherwise, so it can gate a deployment script or a container health check.

Checks: the database (connect, schema, holiday tables for this year and next), SECRET_KEY, the
upload folder, the Celery broker (Redis or RabbitMQ; workers answering with `--workers`), SMTP
(connect, EHLO, STARTTLS and login as configured), the Prefect API (health, the deployments of
`workflows.flows.deployments`, a serving process), the SMS gateway (SMS_GATEWAY_URL) and the
department webhooks (WEBHOOK_URLS / WEBHOOK_URL, each with a secret) when configured: reachable means
a TCP connection opens; nothing is sent.
"""
from __future__ import annotations

import json
import os
import smtplib
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
LABELS = {OK: "正常 OK", WARN: "注意 WARN", FAIL: "失败 FAIL", SKIP: "未配置 not configured"}
#: Values seen in examples and tutorials; a production key must be none of them.
WEAK_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "development", "test", "please-change-me"}
MIN_SECRET_KEY_LENGTH = 32


@dataclass(frozen=True)
class Check:
    name: str      #: short English key, e.g. "database"
    label: str     #: "数据库 database"
    status: str
    message: str   #: "中文 / English"


def _safe_url(url: str) -> str:
    """The URL without its password."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def _reason(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__


def _is_production(app: Flask) -> bool:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql"


# --- database ---------------------------------------------------------------------------------

def check_database(app: Flask, timeout: float) -> list[Check]:
    from models import Base

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    shown = url.render_as_string(hide_password=True)
    label = "数据库 database"
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        return [Check("database", label, FAIL, f"数据库文件不存在：{url.database}，请运行 creditdesk init-db / "
                                               f"the database file {url.database} does not exist: run creditdesk init-db")]
    connect_args = {"connect_timeout": max(1, int(timeout))} if url.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, connect_args=connect_args, poolclass=None)
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
            return [Check("database", label, FAIL, f"无法连接数据库 {shown}（{_reason(exc)}） / "
                                                   f"cannot connect to the database {shown} ({_reason(exc)})")]
        checks = [Check("database", label, OK, f"已连接 {shown} / connected to {shown}")]
        present = set(inspect(engine).get_table_names())
        missing = sorted(set(Base.metadata.tables) - present)
        if missing:
            names = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            checks.append(Check("schema", "数据表 schema", FAIL,
                                f"缺少 {len(missing)} 张数据表（{names}），请运行 creditdesk init-db / "
                                f"{len(missing)} table(s) missing ({names}): run creditdesk init-db"))
            return checks
        checks.append(Check("schema", "数据表 schema", OK,
                            f"{len(Base.metadata.tables)} 张数据表齐全 / all {len(Base.metadata.tables)} tables present"))
        checks.append(check_calendar(app, engine))
        return checks
    finally:
        engine.dispose()


def check_calendar(app: Flask, engine) -> Check:
    from workflows.calendar import CalendarYearNotLoaded

    runtime = app.extensions["creditdesk"]
    label = "节假日安排 calendar"
    try:
        with app.app_context():
            this_year = runtime.today().year
    except Exception:  # noqa: BLE001 - an adjustable clock that cannot be read: use the real year
        this_year = date.today().year
    with Session(engine) as session:
        calendar = runtime.calendar_provider(session)
    missing = []
    for year in (this_year, this_year + 1):
        try:
            calendar.holiday_year(year)
        except CalendarYearNotLoaded:
            missing.append(year)
    if this_year in missing:
        return Check("calendar", label, FAIL,
                     f"{this_year} 年节假日安排未加载，无法计算工作日期限：请运行 creditdesk calendar load / "
                     f"the {this_year} holiday table is not loaded, no working-day deadline can be computed: "
                     f"run creditdesk calendar load")
    if missing:
        return Check("calendar", label, WARN,
                     f"{this_year} 年已加载；{this_year + 1} 年尚未加载，跨年期限将被拒绝计算。国务院办公厅通知发布后请加载 / "
                     f"{this_year} is loaded; {this_year + 1} is not, so deadlines reaching into it are refused: "
                     f"load it once the State Council notice is published (creditdesk calendar load)")
    return Check("calendar", label, OK, f"{this_year}、{this_year + 1} 年已加载 / {this_year} and {this_year + 1} loaded")


# --- local settings -----------------------------------------------------------------------------

def check_secret_key(app: Flask) -> Check:
    key = app.config.get("SECRET_KEY") or ""
    label = "密钥 SECRET_KEY"
    key_file = Path(app.config.get("INSTANCE_DIR") or app.instance_path) / "secret_key"
    generated = key_file.exists() and key_file.read_text().strip() == key
    production = _is_production(app)
    if generated:
        if production:
            return Check("secret_key", label, FAIL,
                         "使用的是实例目录中自动生成的密钥；多个 web 实例须设置相同的 SECRET_KEY 环境变量 / "
                         "the key is the one generated into the instance folder: set the same SECRET_KEY on "
                         "every web instance")
        return Check("secret_key", label, OK, "自动生成于实例目录（单实例适用） / generated into the instance "
                                              "folder (fine for one instance)")
    if key.lower() in WEAK_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH:
        status = FAIL if production else WARN
        return Check("secret_key", label, status,
                     f"SECRET_KEY 过短或为示例值（至少 {MIN_SECRET_KEY_LENGTH} 个字符，可用 "
                     f"python -c 'import secrets; print(secrets.token_hex(32))' 生成） / SECRET_KEY is too short "
                     f"or a well-known example (at least {MIN_SECRET_KEY_LENGTH} characters)")
    return Check("secret_key", label, OK, "已由环境变量设置 / set from the environment")


def check_upload_dir(app: Flask) -> Check:
    folder = Path(app.config["UPLOAD_DIR"])
    label = "上传目录 uploads"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        return Check("uploads", label, FAIL, f"上传目录 {folder} 不可写（{_reason(exc)}） / the upload folder "
                                             f"{folder} is not writable ({_reason(exc)})")
    return Check("uploads", label, OK, f"{folder} 可写 / {folder} is writable")


# --- services -----------------------------------------------------------------------------------

def check_broker(app: Flask, timeout: float, ping_workers: bool) -> list[Check]:
    url = app.config.get("CELERY_BROKER_URL")
    label = "消息队列 Celery broker"
    if not url:
        return [Check("broker", label, SKIP, "未配置 CELERY_BROKER_URL：消息在进程内投递 / CELERY_BROKER_URL not set: "
                                             "messages are delivered in-process")]
    shown = _safe_url(url)
    scheme = urlparse(url).scheme
    try:
        if scheme in ("redis", "rediss"):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
            kind = "Redis"
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout)
            kind = "RabbitMQ" if scheme.startswith("amqp") else scheme
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker is the finding
        return [Check("broker", label, FAIL,
                      f"无法连接消息队列 {shown}（{_reason(exc)}）：决定照常保存，消息在发件箱中等待 / cannot reach the "
                      f"broker {shown} ({_reason(exc)}): decisions still commit, messages wait in the outbox")]
    checks = [Check("broker", label, OK, f"{kind} 可连接 {shown} / {kind} reachable at {shown}")]
    if ping_workers:
        checks.append(check_workers(app, timeout))
    return checks


def check_workers(app: Flask, timeout: float) -> Check:
    label = "投递进程 Celery workers"
    try:
        replies = app.extensions["celery"].control.ping(timeout=timeout) or []
    except Exception as exc:  # noqa: BLE001
        return Check("workers", label, FAIL, f"无法询问工作进程（{_reason(exc)}） / cannot ping the workers ({_reason(exc)})")
    if not replies:
        return Check("workers", label, FAIL, "没有 Celery 工作进程应答，消息不会被投递：请启动 celery worker / "
                                             "no Celery worker answered: messages are not delivered; start a worker")
    names = ", ".join(sorted(name for reply in replies for name in reply))
    return Check("workers", label, OK, f"{len(replies)} 个工作进程应答（{names}） / {len(replies)} worker(s) answered")


def check_smtp(app: Flask, timeout: float) -> Check:
    url = app.config.get("SMTP_URL")
    label = "邮件 SMTP"
    if not url:
        return Check("smtp", label, SKIP, "未配置 SMTP_URL：邮件写入日志 / SMTP_URL not set: e-mails go to the log")
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    implicit_tls = parsed.scheme == "smtps"
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (465 if implicit_tls else 25)
    smtp_class = smtplib.SMTP_SSL if implicit_tls else smtplib.SMTP
    steps = ["EHLO"]
    try:
        with smtp_class(host, port, timeout=timeout) as smtp:
            code, _ = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPResponseException(code, "EHLO refused")
            if query.get("starttls", ["0"])[0] == "1":
                smtp.starttls()
                steps.append("STARTTLS")
            if parsed.username:
                smtp.login(unquote(parsed.username), unquote(parsed.password or ""))
                steps.append("login")
    except Exception as exc:  # noqa: BLE001 - any failure to talk to the server is the finding
        return Check("smtp", label, FAIL, f"邮件服务器 {host}:{port} 不可用（{_reason(exc)}）：邮件将重试后进入失败队列 / "
                                          f"the mail server {host}:{port} does not work ({_reason(exc)}): e-mails "
                                          f"will be retried, then marked dead")
    return Check("smtp", label, OK, f"{host}:{port} 应答（{' + '.join(steps)}，未发送邮件） / {host}:{port} answered "
                                    f"({' + '.join(steps)}; no mail sent)")


def _http_json(method: str, url: str, timeout: float, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a configured http(s) URL
        return json.loads(response.read() or b"null")


def check_prefect(app: Flask, timeout: float) -> list[Check]:
    from workflows.flows.deployments import DEPLOYMENTS

    url = (os.environ.get("PREFECT_API_URL") or app.config.get("PREFECT_API_URL") or "").rstrip("/")
    label = "调度 Prefect"
    if not url:
        if _is_production(app):
            return [Check("prefect", label, WARN, "未配置 PREFECT_API_URL：只有 creditdesk serve 进程内会运行期限巡检，"
                                                  "gunicorn 不会 / PREFECT_API_URL not set: only `creditdesk serve` "
                                                  "sweeps deadlines in-process, gunicorn does not")]
        return [Check("prefect", label, SKIP, "未配置 PREFECT_API_URL：期限巡检在 creditdesk serve 进程内运行 / "
                                              "PREFECT_API_URL not set: `creditdesk serve` sweeps in-process")]
    try:
        healthy = _http_json("GET", f"{url}/health", timeout)
        if healthy is not True:
            raise RuntimeError(f"/health answered {healthy!r}")
        deployments = _http_json("POST", f"{url}/deployments/filter", timeout, {"limit": 200})
        flows = {f["id"]: f["name"] for f in _http_json("POST", f"{url}/flows/filter", timeout, {"limit": 200})}
    except (OSError, ValueError, RuntimeError, urllib.error.URLError) as exc:
        return [Check("prefect", label, FAIL, f"Prefect API {url} 不可用（{_reason(exc)}） / the Prefect API {url} "
                                              f"does not answer ({_reason(exc)})")]
    checks = [Check("prefect", label, OK, f"{url} 正常 / {url} is healthy")]
    found = {f"{flows.get(d['flow_id'], '?')}/{d['name']}": d for d in deployments}
    missing = [spec.full_name for spec in DEPLOYMENTS if spec.full_name not in found]
    dep_label = "调度部署 deployments"
    if missing:
        checks.append(Check("deployments", dep_label, FAIL,
                            f"缺少部署：{', '.join(missing)}，请运行 creditdesk prefect deploy / missing deployments: "
                            f"{', '.join(missing)}; run creditdesk prefect deploy"))
        return checks
    idle = [spec.full_name for spec in DEPLOYMENTS
            if found[spec.full_name].get("paused") or found[spec.full_name].get("status") not in (None, "READY")]
    if idle:
        checks.append(Check("deployments", dep_label, WARN,
                            f"部署已注册，但没有进程在执行（{', '.join(idle)}）：请运行 creditdesk prefect serve / "
                            f"deployments registered but not served or paused ({', '.join(idle)}): run "
                            f"creditdesk prefect serve"))
    else:
        checks.append(Check("deployments", dep_label, OK, f"{len(DEPLOYMENTS)} 个部署均在执行 / all "
                                                          f"{len(DEPLOYMENTS)} deployments are served"))
    return checks


def _unreachable(url: str, timeout: float) -> str | None:
    """None when a TCP connection to the URL's host and port opens (nothing is sent), else why not."""
    parsed = urlparse(url if "//" in url else f"//{url}")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as exc:
        return f"{url} ({_reason(exc)})"
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"{parsed.hostname}:{port} ({_reason(exc)})"
    return None


def check_sms(app: Flask, timeout: float) -> Check:
    url = app.config.get("SMS_GATEWAY_URL")
    label = "短信网关 SMS gateway"
    if not url:
        return Check("sms", label, SKIP, "未配置 SMS_GATEWAY_URL：不发送短信 / SMS_GATEWAY_URL not set: no SMS")
    problem = _unreachable(url, timeout)
    if problem:
        return Check("sms", label, FAIL, f"短信网关不可达：{problem}，短信将重试后进入失败队列 / the SMS gateway is "
                                         f"unreachable: {problem}; messages will be retried, then marked dead")
    return Check("sms", label, OK, f"{_safe_url(url)} 可连接（未发送请求） / reachable (nothing sent)")


def check_webhooks(app: Flask, timeout: float) -> Check:
    label = "部门回调 webhooks"
    try:
        from notifications.webhook import webhook_targets
    except ImportError:  # a build without the webhook channel
        return Check("webhooks", label, SKIP, "此版本无回调渠道 / this build has no webhook channel")
    try:
        targets = webhook_targets(app.config)
    except (ValueError, KeyError, TypeError) as exc:
        return Check("webhooks", label, FAIL, f"WEBHOOK_URLS 无法解析（{_reason(exc)}） / WEBHOOK_URLS cannot be "
                                              f"read ({_reason(exc)})")
    if not targets:
        return Check("webhooks", label, SKIP, "未配置 WEBHOOK_URLS / WEBHOOK_URL：不发送回调 / no webhooks configured")
    problems = []
    for code, (url, secret) in sorted(targets.items()):
        who = "全部门 all departments" if code == "*" else code
        if not secret:
            problems.append(f"{who}: 缺少 WEBHOOK_SECRET，不会发送 / no WEBHOOK_SECRET, nothing is sent")
        unreachable = _unreachable(url, timeout)
        if unreachable:
            problems.append(f"{who}: 不可达 / unreachable {unreachable}")
    if problems:
        return Check("webhooks", label, FAIL, "; ".join(problems))
    return Check("webhooks", label, OK, f"{len(targets)} 个回调地址可连接（未发送请求） / {len(targets)} webhook "
                                        f"address(es) reachable (nothing sent)")


# --- all of them ----------------------------------------------------------------------------------

def run_checks(app: Flask, *, timeout: float = 3.0, ping_workers: bool = False) -> list[Check]:
    checks: list[Check] = []
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: check_database(app, timeout),
        lambda: check_secret_key(app),
        lambda: check_upload_dir(app),
        lambda: check_broker(app, timeout, ping_workers),
        lambda: check_smtp(app, timeout),
        lambda: check_prefect(app, timeout),
        lambda: check_sms(app, timeout),
        lambda: check_webhooks(app, timeout),
    ]
    for step in steps:
        result = step()
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def format_checks(checks: list[Check]) -> list[str]:
    lines = [f"[{LABELS[c.status]}] {c.label}: {c.message}" for c in checks]
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    if failed:
        lines.append(f"结论：{failed} 项失败，{warned} 项注意 / result: {failed} check(s) failed, {warned} warning(s)")
    else:
        lines.append(f"结论：已配置的服务均正常（{warned} 项注意） / result: every configured service works "
                     f"({warned} warning(s))")
    return lines
