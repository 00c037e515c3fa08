"""The one Prefect test server of a session, shared by every flow test (a server subprocess: 7 s
warm, 21 s cold, STACK.md), stopped as soon as the tests of this folder are done: an idle server's
background services keep about a third of a core busy, which the rest of the suite needs."""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

# Prefect reads its settings when imported: its home in a throwaway folder, no telemetry.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="creditdesk-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

FLOWS_DIR = Path(__file__).resolve().parent


class _Harness:
    """prefect_test_harness, started on first use and stopped by `stop()` (started again if a later
    flow test needs it, e.g. when test files are given out of folder order)."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None

    def ensure_started(self) -> None:
        if self._stack is not None:
            return
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
        from prefect.testing.utilities import prefect_test_harness

        started = time.monotonic()
        stack = ExitStack()
        # Without the heartbeat thread a synchronous flow run takes ~0.2 s instead of ~1 s.
        stack.enter_context(temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        self._stack = stack
        print(f"\nPrefect test harness ready in {time.monotonic() - started:.1f} s")

    def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()


_HARNESS = _Harness()


@pytest.fixture
def prefect_server():
    _HARNESS.ensure_started()
    yield


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or FLOWS_DIR not in Path(nextitem.path).resolve().parents:
        _HARNESS.stop()
