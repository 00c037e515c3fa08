"""Delivery channels: in-app inbox, e-mail over SMTP, log; SMS (`notifications.sms`) and signed
webhooks (`notifications.webhook`). Each `send` is idempotent per outbox id or carries it (the
e-mail's Message-ID, the SMS gateway's `id`, the webhook's X-CreditDesk-Delivery) so that a rare
re-send after a crash between the hand-over and the commit is recognisable as the same message.

E-mails are rendered from `notifications/templates/<event>.{txt,html}` (Jinja2), falling back to
`_default.{txt,html}`; every template shows the Chinese text first and the English text after it.
"""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import InboxMessage, OutboxMessage

log = logging.getLogger("creditdesk.notifications")

SENDER_NAME = "信用案件办理系统 / Credit case desk"
FOOTER_ZH = "本邮件由系统自动发送，请勿直接回复。"
FOOTER_EN = "This message was sent automatically; please do not reply to it."


TEMPLATE_DIR = Path(__file__).with_name("templates")
#: The configuration keys channels read (from the Flask config; the worker gets them from its app).
CHANNEL_CONFIG_KEYS = ("SMTP_URL", "SMS_GATEWAY_URL", "SMS_GATEWAY_TOKEN", "WEBHOOK_URL", "WEBHOOK_URLS",
                       "WEBHOOK_SECRET", "NOTIFICATION_HTTP_TIMEOUT")


def channel_settings(flask_config) -> dict:
    """The channel configuration of an app, for `channel_for` (BASE_URL is the public address)."""
    settings = {key: flask_config.get(key) for key in CHANNEL_CONFIG_KEYS}
    settings["BASE_URL"] = flask_config.get("CREDITDESK_BASE_URL")
    return settings


def _nl2br(text: str) -> Markup:
    return Markup("<br>").join(escape(text).split("\n"))


_templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_templates.filters["nl2br"] = _nl2br


def render_email(message: OutboxMessage, link: str | None) -> tuple[str, str]:
    """(text, html) of an outbox message from its event's templates (or the default ones)."""
    context = message.context or {}
    title_zh, _, title_en = message.title.partition(" / ")
    paragraphs = [p.strip("\n") for p in message.body.split("\n\n") if p.strip()]
    # Bodies are the Chinese text, then the English one: the English half is the trailing run of
    # paragraphs that start in ASCII. Splitting there never reorders the text.
    split = len(paragraphs)
    while split > 0 and _lang(paragraphs[split - 1]) == "en":
        split -= 1
    values = {
        "message": message,
        "event": message.event,
        "reference": context.get("reference", ""),
        "title": message.title,
        "title_zh": context.get("title_zh") or title_zh,
        "title_en": context.get("title_en") or title_en or title_zh,
        "paragraphs_zh": paragraphs[:split],
        "paragraphs_en": paragraphs[split:],
        "link": link,
        "context": context,
        "footer_zh": FOOTER_ZH,
        "footer_en": FOOTER_EN,
    }
    # Event names are kebab-case; anything else never names a file.
    own = [message.event] if message.event.replace("-", "").isalnum() and message.event.isascii() else []
    text = _templates.select_template([f"{name}.txt" for name in own] + ["_default.txt"]).render(values)
    html = _templates.select_template([f"{name}.html" for name in own] + ["_default.html"]).render(values)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text, html


class PermanentFailure(Exception):
    """A failure that retrying cannot fix (the server rejected the recipient or the message)."""


class InAppChannel:
    name = "inapp"

    def send(self, session: Session, message: OutboxMessage, now: datetime) -> None:
        exists = session.execute(select(InboxMessage.id).where(InboxMessage.outbox_id == message.id)).scalar()
        if exists:
            return
        if message.recipient_user_id is None:
            raise PermanentFailure("in-app message without a recipient user")
        session.add(InboxMessage(
            user_id=message.recipient_user_id, outbox_id=message.id, case_id=message.case_id,
            title=message.title, body=message.body, link=message.link, created_at=now,
        ))


class LogChannel:
    name = "log"

    def send(self, session: Session, message: OutboxMessage, now: datetime) -> None:
        log.info("notification %s to %s: %s", message.event, message.recipient_address or message.recipient_user_id,
                 message.title)


class EmailChannel:
    """SMTP_URL = smtp://[user:pass@]host:port[?from=addr&starttls=1] or smtps://... for implicit TLS.

    The message is multipart/alternative: a plain-text part and an HTML part, both carrying the
    Chinese text first and the English text after it (outbox titles and bodies are bilingual).
    """

    name = "email"

    def __init__(self, smtp_url: str | None, base_url: str | None = None, timeout: float = 10.0):
        self.smtp_url = smtp_url
        self.base_url = base_url
        self.timeout = timeout

    def sender(self) -> str:
        query = parse_qs(urlparse(self.smtp_url or "").query)
        return query.get("from", ["creditdesk@localhost"])[0]

    def build(self, message: OutboxMessage, sender: str, now: datetime | None = None) -> EmailMessage:
        name, addr = parseaddr(sender)
        domain = addr.rpartition("@")[2] or "localhost"
        link = self._link(message.link)

        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = Address(display_name=name or SENDER_NAME, addr_spec=addr or "creditdesk@localhost")
        mail["To"] = message.recipient_address or ""
        if now is not None:
            mail["Date"] = format_datetime(now)
        mail["Message-ID"] = f"<creditdesk-outbox-{message.id}@{domain}>"
        mail["Content-Language"] = "zh-CN, en"
        # RFC 3834: no out-of-office replies to a machine.
        mail["Auto-Submitted"] = "auto-generated"

        text, html = render_email(message, link)
        mail.set_content(text, charset="utf-8")
        mail.add_alternative(html, subtype="html", charset="utf-8")
        return mail

    def _link(self, link: str | None) -> str | None:
        """An absolute link when a base URL is configured; a bare path means nothing in a mailbox."""
        if not link:
            return None
        if urlparse(link).scheme:
            return link
        return urljoin(self.base_url.rstrip("/") + "/", link.lstrip("/")) if self.base_url else None

    def send(self, session: Session, message: OutboxMessage, now: datetime) -> None:
        if not self.smtp_url:
            log.info("e-mail (no SMTP_URL configured) to %s: %s", message.recipient_address, message.title)
            return
        if not message.recipient_address:
            raise PermanentFailure("e-mail message without a recipient address")
        url = urlparse(self.smtp_url)
        query = parse_qs(url.query)
        implicit_tls = url.scheme == "smtps"
        smtp_class = smtplib.SMTP_SSL if implicit_tls else smtplib.SMTP
        mail = self.build(message, self.sender(), now)
        try:
            with smtp_class(url.hostname or "127.0.0.1", url.port or (465 if implicit_tls else 25),
                            timeout=self.timeout) as smtp:
                if query.get("starttls", ["0"])[0] == "1":
                    smtp.starttls()
                if url.username:
                    smtp.login(unquote(url.username), unquote(url.password or ""))
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPDataError as exc:
            # A refused sender (a configuration error) stays retryable: fixing SMTP_URL saves it.
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise


def _lang(paragraph: str) -> str:
    # The English half may quote Chinese names, so look at how the paragraph starts.
    return "en" if paragraph.lstrip()[:1].isascii() else "zh-CN"


def channel_for(name: str, config):
    if name == "inapp":
        return InAppChannel()
    if name == "email":
        return EmailChannel(config.get("SMTP_URL"), config.get("BASE_URL"))
    timeout = float(config.get("NOTIFICATION_HTTP_TIMEOUT") or 10)
    if name == "sms":
        from .sms import SmsChannel

        return SmsChannel(config.get("SMS_GATEWAY_URL"), config.get("SMS_GATEWAY_TOKEN"), timeout=timeout)
    if name == "webhook":
        from .webhook import WebhookChannel

        return WebhookChannel(config, config.get("BASE_URL"), timeout=timeout)
    return LogChannel()
