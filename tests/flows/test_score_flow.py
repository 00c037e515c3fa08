"""The `recompute-scores` flow, run for real against a Prefect test server.

Like tests/flows/test_sweep_flow.py: the flow builds its own app from the environment (DATABASE_URL,
CREDITDESK_CLOCK) exactly as a deployment does; the test moves both its own fixed clock and
CREDITDESK_CLOCK. The Prefect server is the session's one harness (tests/flows/conftest.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models import AppSetting, CreditRecord, ScoreDirty, ScoreSnapshot, db
from models.score_store import current_stored_score
from workflows.clock import BEIJING
from workflows.scoring import score_at

pytestmark = pytest.mark.prefect


@pytest.fixture
def run_scores_flow(prefect_server, database_url, clock, monkeypatch):
    from workflows.flows.recompute_scores import recompute_scores

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("CREDITDESK_RECOMPUTE_WORKERS", "2")

    def run(**parameters):
        monkeypatch.setenv("CREDITDESK_CLOCK", clock.now().isoformat())
        return recompute_scores(**parameters)

    return run


def test_full_in_batches_then_incremental_catches_the_expiry(app, demo, clock, run_scores_flow):
    with app.app_context():
        assert len(db.session.execute(select(ScoreDirty)).scalars().all()) == 3  # the demo's records
    # Subjects 1–2 and 3: two batch tasks, side by side on PostgreSQL (RECOMPUTE_WORKERS, 2 by
    # default), one after the other on SQLite.
    with app.app_context():
        workers = 2 if db.engine.dialect.name == "postgresql" else 1
    full = run_scores_flow(mode="full", batch_subjects=2)
    assert (full["batches"], full["subjects"], full["changed"], full["snapshots"]) == (2, 3, 3, 3)
    assert full["workers"] == workers
    assert full["as_of"] == "2026-04-13"
    with app.app_context():
        assert db.session.execute(select(ScoreDirty)).scalars().all() == []
        assert db.session.get(AppSetting, "score.last_as_of").value == "2026-04-13"
        assert current_stored_score(db.session, 1).score == 980
        expiry = db.session.get(CreditRecord, 4).valid_until  # subject 3's −20

    again = run_scores_flow()
    # An incremental run: one batch on one connection, else one range of subjects per worker.
    assert (again["mode"], again["batches"], again["changed"], again["snapshots"]) == ("incremental", workers, 0, 0)

    day = expiry + timedelta(days=1)
    clock.set(datetime(day.year, day.month, day.day, 9, tzinfo=BEIJING))
    lapsed = run_scores_flow()
    assert lapsed["changed"] >= 1 and lapsed["as_of"] == day.isoformat()
    with app.app_context():
        for subject_id in (1, 2, 3):
            stored = current_stored_score(db.session, subject_id)
            expected = score_at(db.session.execute(select(CreditRecord).where(
                CreditRecord.subject_id == subject_id)).scalars().all(), day)
            assert (stored.score, stored.grade) == (expected.score, expected.grade), subject_id
        assert current_stored_score(db.session, 3).score == 1000
        latest = db.session.execute(select(ScoreSnapshot).where(ScoreSnapshot.subject_id == 3)
                                    .order_by(ScoreSnapshot.id.desc())).scalars().first()
        assert (latest.as_of, latest.previous_score, latest.score) == (day, 980, 1000)
        assert latest.reasons["items"] == []


def test_unknown_mode_is_refused(run_scores_flow):
    with pytest.raises(ValueError, match="mode"):
        run_scores_flow(mode="weekly")
