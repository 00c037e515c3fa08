"""Fault: the process dies inside `fire()` — after the ledger event, the new state, the re-planned
deadlines and the outbox rows are written to the transaction, before anything commits.

A subprocess opens the app on the test's database (the SQLite file, or PostgreSQL under
CREDITDESK_TEST_DATABASE_URL), replaces the outbox writer with one that writes the rows, flushes,
reports what its transaction holds and calls `os._exit(1)` (no cleanup, no rollback: what a
SIGKILL or a power cut leaves). The parent then finds the case, its ledger, deadlines and outbox
exactly as before, `creditdesk verify-ledger` passes, and the same decision goes through.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models import Case, CaseEvent, Deadline, OutboxMessage, db

from conftest import REPO_ROOT

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
RETURN = {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"}

#: Runs in the subprocess: argv = case id, username, trigger, JSON data.
DYING_FIRE = r"""
import json, os, sys
from sqlalchemy import func, select
from models import Case, CaseEvent, Deadline, OutboxMessage, User, db
from webapp import create_app
from webapp.runtime import current_runtime
from workflows import notify
from workflows.service import fire

app = create_app()
with app.app_context():
    write_outbox = notify.queue

    def write_outbox_then_die(session, case, **kwargs):
        rows = write_outbox(session, case, **kwargs)
        session.flush()
        events = session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
        outbox = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.case_id == case.id))
        deadlines = session.execute(select(Deadline.kind, Deadline.status).where(Deadline.case_id == case.id)).all()
        print(json.dumps({"state": case.state, "version": case.version, "events": events, "outbox": outbox,
                          "new_rows": len(rows), "deadlines": sorted(map(list, deadlines))}), flush=True)
        os._exit(1)

    notify.queue = write_outbox_then_die
    case_id, username, trigger, data = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    actor = db.session.execute(select(User).where(User.username == username)).scalar_one()
    fire(db.session.get(Case, case_id), trigger, actor, data, runtime=current_runtime())
    print("fire returned: the hook never ran", flush=True)
"""


def snapshot(app, case_id: int) -> dict:
    with app.app_context():
        case = db.session.get(Case, case_id)
        result = {
            "case": (case.state, case.version, case.updated_at, case.closed_at),
            "events": db.session.execute(select(CaseEvent.id, CaseEvent.seq, CaseEvent.trigger, CaseEvent.hash)
                                         .where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all(),
            "deadlines": db.session.execute(select(Deadline.id, Deadline.kind, Deadline.status, Deadline.due_on,
                                                   Deadline.next_action_at).order_by(Deadline.id)).all(),
            "outbox": db.session.execute(select(OutboxMessage.id, OutboxMessage.case_id, OutboxMessage.event,
                                                OutboxMessage.status).order_by(OutboxMessage.id)).all(),
            "all_events": db.session.execute(select(CaseEvent.id).order_by(CaseEvent.id)).scalars().all(),
        }
        db.session.rollback()
        return result


def creditdesk(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The installed console script (`creditdesk`), or the module when the venv has no script."""
    script = shutil.which("creditdesk", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-c", "from webapp.cli import main; main()"]
    return subprocess.run([*command, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_a_process_dying_inside_fire_leaves_no_half_written_case_ledger_or_outbox(
        app, demo, api, app_config, database_url, tmp_path):
    enterprise = api.as_user("enterprise")
    case_id = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}}).get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()
    before = snapshot(app, case_id)
    assert before["case"][0] == "submitted"

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": database_url,
        "SECRET_KEY": app_config["SECRET_KEY"],
        "CREDITDESK_INSTANCE": str(tmp_path / "dying-instance"),
        "CREDITDESK_CLOCK": app_config["CLOCK_OBJECT"].now().isoformat(),
    }
    died = subprocess.run([sys.executable, "-c", DYING_FIRE, str(case_id), "window", "return_for_supplement",
                           json.dumps(RETURN)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert died.returncode == 1, died.stdout + died.stderr
    inside = json.loads(died.stdout.strip().splitlines()[-1])
    # Inside the transaction everything was written: the new state, its ledger event, its
    # deadlines (the result clock suspended, the supplement clock running) and its messages.
    assert inside["state"] == "returned_for_supplement"
    assert inside["version"] == before["case"][1] + 1
    assert inside["events"] == len(before["events"]) + 1
    assert inside["new_rows"] >= 2
    assert inside["outbox"] == sum(1 for row in before["outbox"] if row.case_id == case_id) + inside["new_rows"]
    assert ["supplement", "open"] in inside["deadlines"]

    # After the death: nothing of it.
    assert snapshot(app, case_id) == before

    verified = creditdesk(env, "verify-ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "0 problems" in verified.stdout and "checked 0 cases" not in verified.stdout

    # The case is neither locked nor half-changed: the same decision goes through now.
    returned = api.as_user("window").post(f"/api/v1/cases/{case_id}/actions/return_for_supplement",
                                          json={"data": RETURN})
    assert returned.status_code == 200, returned.get_json()
    after = snapshot(app, case_id)
    assert after["case"][0] == "returned_for_supplement" and after["case"][1] == before["case"][1] + 1
    assert [e.seq for e in after["events"]] == [e.seq for e in before["events"]] + [before["events"][-1].seq + 1]
