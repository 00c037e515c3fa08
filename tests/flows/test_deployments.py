"""The Prefect deployments (workflows/flows/deployments.py) against the session's Prefect server.

`creditdesk prefect deploy` must register every flow with its schedules and concurrency limit (read
back through the Prefect client); `creditdesk prefect serve`, started as the real long-running
process, must execute a flow run created through the server; and two sweep runs overlapping in time
must not act twice on any deadline (on SQLite and, under CREDITDESK_TEST_DATABASE_URL, PostgreSQL).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Case, CaseEvent, Deadline, DeadlineReminder, OutboxMessage, db
from workflows.clock import BEIJING
from workflows.flows.deployments import DEPLOYMENTS, TIMEZONE

pytestmark = pytest.mark.prefect

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
EXPECTED = {
    # flow: [(slug, interval seconds or cron, parameters)], collision strategy
    "sweep-deadlines": ([("every-minute", 60, {})], "CANCEL_NEW"),
    "send-reminders": ([("every-minute", 60, {})], "CANCEL_NEW"),
    "recompute-scores": ([("incremental", "*/5 * * * *", {"mode": "incremental"}),
                          ("full-nightly", "0 2 * * *", {"mode": "full"})], "ENQUEUE"),
    "expire-records": ([("daily", "1 0 * * *", {})], "CANCEL_NEW"),
    "reports": ([("monthly", "30 3 1 * *", {})], "ENQUEUE"),
}


def read_deployments() -> dict:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {spec.flow_name: client.read_deployment_by_name(spec.full_name) for spec in DEPLOYMENTS}


def schedules_of(deployment) -> list[tuple]:
    out = []
    for row in sorted(deployment.schedules, key=lambda s: s.slug):
        schedule = row.schedule
        every = getattr(schedule, "interval", None)
        value = int(every.total_seconds()) if every is not None else schedule.cron
        assert schedule.timezone == TIMEZONE, (deployment.name, row.slug)
        assert row.active, (deployment.name, row.slug)
        out.append((row.slug, value, dict(row.parameters)))
    return out


def test_deploy_registers_every_flow_with_its_schedules(app, prefect_server):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["prefect", "deploy"])
    assert first.exit_code == 0, first.output
    assert "sweep-deadlines/creditdesk" in first.output and "5 deployments" in first.output
    deployed = read_deployments()
    assert set(deployed) == set(EXPECTED) == {spec.flow_name for spec in DEPLOYMENTS}
    for flow_name, (schedules, strategy) in EXPECTED.items():
        deployment = deployed[flow_name]
        assert schedules_of(deployment) == sorted(schedules), flow_name
        assert deployment.global_concurrency_limit.limit == 1, flow_name
        assert deployment.concurrency_options.collision_strategy.value == strategy, flow_name
        assert deployment.paused is False and "creditdesk" in deployment.tags
        assert deployment.entrypoint.startswith("workflows.flows."), deployment.entrypoint

    # Deploying again updates in place: same deployments, no duplicated schedules, and schedules a
    # stopped `serve` paused are resumed.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.pause_deployment(deployed["sweep-deadlines"].id)
    assert read_deployments()["sweep-deadlines"].paused is True
    again = runner.invoke(args=["prefect", "deploy"])
    assert again.exit_code == 0, again.output
    redeployed = read_deployments()
    for flow_name, deployment in redeployed.items():
        assert deployment.id == deployed[flow_name].id
        assert len(deployment.schedules) == len(EXPECTED[flow_name][0])
        assert deployment.paused is False, flow_name


def test_deploy_without_a_prefect_server_says_so(app, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = app.test_cli_runner().invoke(args=["prefect", "deploy"])
    assert result.exit_code == 1
    assert "PREFECT_API_URL" in result.output and "未设置" in result.output


@pytest.fixture
def served(app, demo, prefect_server, database_url, clock, tmp_path):
    """`creditdesk prefect serve` as a subprocess on the test's database and Prefect server."""
    from prefect.settings import PREFECT_API_URL

    instance = tmp_path / "serve-instance"
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "DATABASE_URL": database_url,
        "CREDITDESK_CLOCK": clock.now().isoformat(),
        "CREDITDESK_INSTANCE": str(instance),
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    env.pop("CELERY_BROKER_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "creditdesk"), "prefect", "serve"],
                                   cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.instance = instance
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sys.stderr.write(f"----- creditdesk prefect serve (exit {process.returncode}) -----\n")
        sys.stderr.write(log_path.read_text(errors="replace")[-6000:])


def test_a_served_deployment_completes_a_run_created_through_the_server(app, served, monkeypatch):
    from prefect.deployments import run_deployment

    runner = app.test_cli_runner()
    assert runner.invoke(args=["prefect", "deploy"]).exit_code == 0
    started = time.monotonic()
    # The serve process registers the same deployments and polls for their runs.
    run = run_deployment("reports/creditdesk", parameters={"month": "2026-01"}, timeout=45, poll_interval=1)
    assert served.poll() is None, "the serve process exited"
    assert run.state is not None and run.state.is_completed(), (run.name, run.state)
    assert time.monotonic() - started < 45
    # The flow ran in the serve process's environment: its instance folder, the test's database.
    timeliness = served.instance / "reports" / "2026-01" / "timeliness.csv"
    text = timeliness.read_text(encoding="utf-8")
    assert text.startswith("\ufeff部门 / Department,")
    # DOMAIN demo: the company's general dishonesty record, decided 2026-01-12 by law enforcement.
    rows = text.splitlines()
    assert len(rows) >= 3 and any(",2026-01,1," in row for row in rows[1:-1]), rows
    assert rows[-1].startswith("合计,")
    assert (served.instance / "reports" / "2026-01" / "case-sla.csv").exists()

    # The doctor sees the same: the API healthy, every deployment registered and served.
    from prefect.settings import PREFECT_API_URL

    from webapp.doctor import OK, run_checks

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    checks = {c.name: c for c in run_checks(app)}
    assert checks["prefect"].status == OK, checks["prefect"]
    assert checks["deployments"].status == OK, checks["deployments"]
    assert "all 5 deployments are served" in checks["deployments"].message


# --- overlapping sweep runs ------------------------------------------------------------------------

def act(api_user, case_id: int, trigger: str, data: dict | None = None) -> dict:
    response = api_user.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data or {}})
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def test_two_overlapping_sweep_runs_act_on_each_deadline_once(app, demo, api, clock, database_url,
                                                              prefect_server, monkeypatch):
    import workflows.flows.sweep_deadlines as sweep_module

    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}})
    assert created.status_code in (200, 201), created.get_json()
    case_id = created.get_json()["id"]
    act(enterprise, case_id, "submit", SUBMIT)
    act(api.as_user("window"), case_id, "return_for_supplement",
        {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"})
    # Past the 30-day supplement period: its expiry fires, and other open clocks are overdue.
    clock.set(datetime(2026, 5, 14, 9, 0, tzinfo=BEIJING))
    with app.app_context():
        due = db.session.execute(select(func.count(Deadline.id)).where(
            Deadline.status == "open", Deadline.next_action_at <= clock.now())).scalar_one()
    assert due >= 2

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CREDITDESK_CLOCK", clock.now().isoformat())
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    # Both runs are inside their first batch before either claims: the runs truly overlap.
    barrier = threading.Barrier(2, timeout=30)
    calls = {"n": 0}
    lock = threading.Lock()
    real_sweep_batch = sweep_module.sweep_batch

    def overlapping_sweep_batch(session, runtime, limit):
        with lock:
            calls["n"] += 1
            first_two = calls["n"] <= 2
        if first_two:
            barrier.wait()
        return real_sweep_batch(session, runtime, limit)

    monkeypatch.setattr(sweep_module, "sweep_batch", overlapping_sweep_batch)
    results: list[dict] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(sweep_module.sweep_deadlines())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 2, errors
    assert not any(r["errors"] for r in results), results
    assert sum(r["fired"] for r in results) == 1, results
    assert sum(r["claimed"] for r in results) == due, results

    with app.app_context():
        events = db.session.execute(select(CaseEvent.trigger).where(CaseEvent.case_id == case_id)).scalars().all()
        assert events.count("close_unsupplied") == 1
        assert db.session.get(Case, case_id).state == "withdrawn"
        pairs = db.session.execute(select(DeadlineReminder.deadline_id, DeadlineReminder.rung)).all()
        assert len(pairs) == len(set(pairs))
        escalated = db.session.execute(select(func.count(Deadline.id)).where(
            Deadline.escalated_at.is_not(None))).scalar_one()
        assert sum(r["escalations"] for r in results) == escalated
        keys = db.session.execute(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.is_not(None))).scalars().all()
        assert keys and len(keys) == len(set(keys))

    monkeypatch.setattr(sweep_module, "sweep_batch", real_sweep_batch)
    after = sweep_module.sweep_deadlines()
    assert (after["claimed"], after["fired"], after["escalations"]) == (0, 0, 0)
