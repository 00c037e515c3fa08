"""One HTTP POST for the SMS gateway and the webhooks, with the failure kinds the outbox needs.

A 4xx answer other than 408 (timeout) and 429 (too many requests) is the receiver refusing this
message for good (bad number, unknown route, rejected payload): `PermanentFailure`, the row is dead
at once. 5xx, 408, 429, redirects, refused connections and timeouts are worth retrying:
`DeliveryError`, the row stays pending and is retried with backoff until MAX_ATTEMPTS.
Redirects are not followed: urllib would turn the POST into a GET, and a moved gateway is a
configuration change an administrator should make.
"""
from __future__ import annotations

import urllib.error
import urllib.request

from .channels import PermanentFailure

RETRYABLE_4XX = (408, 429)


class DeliveryError(Exception):
    """A failure worth retrying (the receiver is down, busy or slow)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body`; return the 2xx status or raise PermanentFailure / DeliveryError."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "creditdesk-notifications",
        **headers,
    })
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            return response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", errors="replace").strip()
        text = f"HTTP {exc.code} from {_safe(url)}: {detail}"
        if 400 <= exc.code < 500 and exc.code not in RETRYABLE_4XX:
            raise PermanentFailure(text) from exc
        raise DeliveryError(text) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{_safe(url)} unreachable: {reason}") from exc


def _safe(url: str) -> str:
    """The URL without its query (which may carry a token) for error messages kept in the outbox."""
    return url.split("?", 1)[0]
