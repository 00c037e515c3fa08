"""Small local servers the tests start for themselves (a plain module: `from local_servers import ...`)."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_serving(handler) -> Iterator:
    """A real SMTP server on a free loopback port, answering with `handler` (aiosmtpd's
    handle_DATA and friends); `handler.port` is set while it runs."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


def missing_prerequisite(reason: str) -> None:
    """A service or program the test needs is absent: fail under CI (where scripts/test.sh provides
    it, so its absence is a defect), skip on a developer's machine."""
    import os

    import pytest

    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
