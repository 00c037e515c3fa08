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
