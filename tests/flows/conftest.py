"""The one Prefect test server of a session, shared by every flow test (a server subprocess: 7 s
warm, 21 s cold, STACK.md)."""
from __future__ import annotations

import os
import tempfile
import time

import pytest

# Prefect reads its settings when imported: its home in a throwaway folder, no telemetry.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="creditdesk-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    started = time.monotonic()
    # Without the heartbeat thread a synchronous flow run takes ~0.2 s instead of ~1 s.
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=90):
            print(f"\nPrefect test harness ready in {time.monotonic() - started:.1f} s")
            yield
