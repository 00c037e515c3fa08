"""Delivery channels: in-app inbox, e-mail over SMTP, log. Each `send` is idempotent per outbox id
or, for e-mail, carries a Message-ID derived from it so that a rare re-send after a crash between
the SMTP transaction and the commit is recognisable as the same message."""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from html import escape
from urllib.parse import parse_qs, unquote, urljoin, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import InboxMessage, OutboxMessage

log = logging.getLogger("creditdesk.notifications")

SENDER_NAME = "信用案件办理系统 / Credit case desk"
FOOTER_ZH = "本邮件由系统自动发送，请勿直接回复。"
FOOTER_EN = "This message was sent automatically; please do not reply to it."


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
        context = message.context or {}
        paragraphs = [p for p in message.body.split("\n\n") if p.strip()]
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

        text = "\n\n".join(paragraphs)
        if link:
            text += f"\n\n查看案件 / View the case: {link}"
        text += f"\n\n--\n{FOOTER_ZH}\n{FOOTER_EN}\n"
        mail.set_content(text, charset="utf-8")

        title_zh = context.get("title_zh")
        title_en = context.get("title_en")
        heading = (f'<h2 lang="zh-CN">{escape(title_zh)}</h2>\n<h3 lang="en">{escape(title_en)}</h3>'
                   if title_zh and title_en else f"<h2>{escape(message.title)}</h2>")
        body = "\n".join(
            f'<p lang="{_lang(p)}">{escape(p).replace(chr(10), "<br>")}</p>' for p in paragraphs
        )
        if link:
            body += f'\n<p><a href="{escape(link, quote=True)}">查看案件 / View the case</a></p>'
        html = (
            '<!DOCTYPE html>\n<html lang="zh-CN">\n<head><meta charset="utf-8">'
            f"<title>{escape(message.title)}</title></head>\n"
            f'<body style="font-family: sans-serif">\n{heading}\n{body}\n'
            f'<hr>\n<p style="color:#666;font-size:small">{escape(FOOTER_ZH)}<br>{escape(FOOTER_EN)}</p>\n'
            "</body>\n</html>\n"
        )
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


def channel_for(name: str, config) -> InAppChannel | EmailChannel | LogChannel:
    if name == "inapp":
        return InAppChannel()
    if name == "email":
        return EmailChannel(config.get("SMTP_URL"), config.get("BASE_URL"))
    return LogChannel()
