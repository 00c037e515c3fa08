"""Fixtures for the fault tests: services each test starts for itself and may break on purpose.

- `redis_server`: a private `redis-server` on a free port (no persistence), which a test may stop
  and start again on the same port. Never the machine's Redis on 6379.
- `mailbox`: a real SMTP server (aiosmtpd) whose handler can accept, hold a message until released
  (to kill a worker in the middle of a delivery) or refuse with given reply codes.
- `workers`: starts `celery -A webapp.celery_worker worker -P solo` subprocesses on the test's
  database and broker; each can be SIGKILLed; all are stopped at teardown and their logs shown
  when the test fails.

The app of a test publishes to the broker named by the `broker_url` fixture (None here: the
embedded in-process default) and sends e-mail through `smtp_url` (None: e-mails are logged).
A module that needs a broker overrides `broker_url` with `redis_server.url`.

Under CI=true a missing prerequisite (redis-server, RabbitMQ) fails the test with a clear message;
elsewhere it skips with the same message.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from local_servers import free_port, missing_prerequisite, smtp_serving
from models import OutboxMessage, db

REPO_ROOT = Path(__file__).resolve().parents[2]
#: How long a test waits for a subprocess to come up or a message to arrive.
DEADLINE_S = 30
SENDER = "desk@credit.wendeng.example.cn"


def missing(reason: str) -> None:
    """A prerequisite is missing: fail in CI (never skip silently there), skip elsewhere."""
    missing_prerequisite(reason)


def wait_until(condition: Callable[[], bool], what: str, *, workers=None, timeout: float = DEADLINE_S) -> None:
    """Poll `condition` (with a timeout, never sleeping for time to pass) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for worker in (workers.alive if workers is not None else []):
            if worker.poll() is not None:
                pytest.fail(f"a worker exited with {worker.returncode} while waiting for {what}:\n"
                            + worker.log_path.read_text(errors="replace"))
        time.sleep(0.05)
    logs = "".join(f"\n----- {w.name} -----\n" + w.log_path.read_text(errors="replace")
                   for w in (workers.started if workers is not None else []))
    pytest.fail(f"timed out after {timeout} s waiting for {what}{logs}")


def outbox_rows(app) -> list[OutboxMessage]:
    """A fresh snapshot of the outbox (other processes write it)."""
    with app.app_context():
        rows = list(db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        db.session.expunge_all()
        db.session.rollback()
        return rows


# --- Redis ---------------------------------------------------------------------------------------

class RedisServer:
    """A private redis-server subprocess. `stop()` kills it (its data is gone, as after a crash
    without persistence); `start()` brings it back on the same port."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            wait_until(lambda: self._ping(client), f"redis-server on port {self.port}", timeout=10)
        finally:
            client.close()

    def _ping(self, client) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"redis-server exited with {self.process.returncode}:\n"
                        + (self.workdir / "redis.log").read_text(errors="replace"))
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        self.log.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=2, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server): the fault tests start "
                "a private Redis of their own")
    server = RedisServer(binary, tmp_path / "redis")
    server.start()
    yield server
    server.stop()


# --- SMTP ----------------------------------------------------------------------------------------

class Mailbox:
    """An aiosmtpd handler. `messages` holds what was accepted (250); `attempts` every DATA seen,
    with its monotonic time. `hold_next()` makes the next DATA wait until `release()`: a client
    that disappears meanwhile has delivered nothing (aiosmtpd cancels the handler). `refuse`
    lists reply codes for the next DATA commands, one each (e.g. [451, 451, 550])."""

    def __init__(self):
        self.messages: list = []
        self.attempts: list[float] = []
        self.refuse: list[int] = []
        self.held = threading.Event()
        self._hold = False
        self._released = threading.Event()

    def hold_next(self) -> None:
        self._hold = True
        self._released.clear()
        self.held.clear()

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server, session, envelope):
        self.attempts.append(time.monotonic())
        if self._hold:
            self._hold = False
            self.held.set()
            while not self._released.is_set():  # a killed client cancels this coroutine
                await asyncio.sleep(0.02)
        if self.refuse:
            code = self.refuse.pop(0)
            return f"{code} 4.3.0 try again later" if code < 500 else f"{code} 5.7.1 message refused"
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def mailbox():
    with smtp_serving(Mailbox()) as box:
        box.url = f"smtp://127.0.0.1:{box.port}?from={SENDER}"
        yield box
        box.release()


# --- the app's broker and SMTP server ------------------------------------------------------------

@pytest.fixture
def broker_url():
    return None


@pytest.fixture
def smtp_url():
    return None


@pytest.fixture
def task_queue():
    return "celery"


@pytest.fixture
def worker_settings():
    """Extra environment of the worker subprocesses (a module overrides it)."""
    return {}


@pytest.fixture
def app_config(app_config, broker_url, smtp_url, task_queue, worker_settings):
    config = {**app_config, "CELERY_BROKER_URL": broker_url, "SMTP_URL": smtp_url, "CELERY_TASK_QUEUE": task_queue}
    # The test's app publishes with the same settings the workers run with.
    if "CREDITDESK_VISIBILITY_TIMEOUT" in worker_settings:
        config["CELERY_VISIBILITY_TIMEOUT"] = float(worker_settings["CREDITDESK_VISIBILITY_TIMEOUT"])
    if "CREDITDESK_RETRY_BACKOFF" in worker_settings:
        config["CELERY_RETRY_BACKOFF"] = float(worker_settings["CREDITDESK_RETRY_BACKOFF"])
    return config


# --- Celery workers ------------------------------------------------------------------------------

class Workers:
    def __init__(self, env: dict[str, str], queue: str, tmp_path: Path):
        self.env = env
        self.queue = queue
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    @property
    def alive(self) -> list[subprocess.Popen]:
        return [w for w in self.started if not getattr(w, "killed", False)]

    def start(self) -> subprocess.Popen:
        """Start a worker and wait until it consumes from the queue."""
        name = f"worker-{len(self.started) + 1}"
        log_path = self.tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "-P", "solo",
             "--concurrency", "1", "-Q", self.queue, "-n", f"creditdesk-fault-{os.getpid()}-{name}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=REPO_ROOT, env=self.env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        )
        process.name, process.log_path = name, log_path
        self.started.append(process)
        wait_until(lambda: " ready." in log_path.read_text(errors="replace"), f"{name} to be ready", workers=self)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: no warm shutdown, no chance to acknowledge or requeue anything."""
        process.killed = True
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                # Cold shutdown: the test is over, nothing is left to finish. An idle worker on
                # RabbitMQ (no heartbeat) notices the signal only at its next poll, ~10 s later.
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            # Captured output is shown only when the test fails.
            sys.stderr.write(f"----- celery {process.name} (exit {process.returncode}) -----\n")
            sys.stderr.write(process.log_path.read_text(errors="replace"))


@pytest.fixture
def workers(app, app_config, database_url, broker_url, smtp_url, task_queue, worker_settings, tmp_path):
    """Worker subprocesses on the test's database, broker, SMTP server and queue."""
    assert broker_url, "the module must override `broker_url` to start workers"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CREDITDESK_TASK_QUEUE": task_queue,
        "CREDITDESK_INSTANCE": str(tmp_path / "worker-instance"),
        "SECRET_KEY": app_config["SECRET_KEY"],
        **({"SMTP_URL": smtp_url} if smtp_url else {}),
        **worker_settings,
    }
    pool = Workers(env, task_queue, tmp_path)
    yield pool
    pool.stop_all()
