"""recompute-scores: the production score recomputation (DESIGN.md rule 5, run modes).

Why it exists: stored scores must follow item changes and expiries every day whether or not a web
process is up. The flow is thin: it builds the app from the environment for configuration
(database, clock, rules) and a session, then runs `workflows.score_recompute.recompute`, one
Prefect task per batch, each batch its own committed transaction. Retrying a batch is safe: a
recomputation that finds the stored value unchanged writes nothing, and the dirty queue is only
emptied by the transaction that recomputed it.

- mode "incremental" (default, daily and after sweeps): one batch over the dirty queue and the
  items whose validity ended or began since the previous run;
- mode "full": every subject, in batches of subject ids, then the run's date is recorded.

Run it once: `python -m workflows.flows.recompute_scores --once [--full]`; serve it daily:
`python -m workflows.flows.recompute_scores` (a `serve()` deployment, cron 00:10 Beijing time).
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from models import Subject, db  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402
from webapp.views.common import commit  # noqa: E402
from workflows.score_recompute import recompute, set_last_as_of  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask

#: Subjects per full-mode batch: big enough that set-based statements dominate, small enough that a
#: retried batch redoes little.
BATCH_SUBJECTS = 250_000


def run_batch(app: Flask, mode: str, id_range: tuple[int, int] | None) -> dict[str, Any]:
    with app.app_context():
        try:
            stats = recompute(db.session, current_runtime(), mode=mode, id_range=id_range)
            commit()
        except BaseException:
            db.session.rollback()
            raise
    return stats.as_dict()


def id_batches(app: Flask, batch_subjects: int) -> list[tuple[int, int]]:
    with app.app_context():
        low, high = db.session.execute(select(func.min(Subject.id), func.max(Subject.id))).one()
    if low is None:
        return []
    return [(start, min(start + batch_subjects - 1, high)) for start in range(low, high + 1, batch_subjects)]


def record_run_date(app: Flask) -> str:
    with app.app_context():
        runtime = current_runtime()
        today = runtime.today()
        set_last_as_of(db.session.connection(), db.session.connection().dialect.name, today)
        commit()
        return today.isoformat()


@task(name="recompute-batch", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def recompute_batch_task(app: Flask, mode: str, id_range: tuple[int, int] | None) -> dict[str, Any]:
    return run_batch(app, mode, id_range)


@flow(name="recompute-scores", log_prints=False)
def recompute_scores(mode: str = "incremental", database_url: str | None = None,
                     batch_subjects: int = BATCH_SUBJECTS) -> dict[str, Any]:
    """Recompute stored scores; returns the summed statistics of the batches."""
    if mode not in ("incremental", "full"):
        raise ValueError(f"mode must be incremental or full, not {mode!r}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    totals: dict[str, Any] = {"mode": mode, "batches": 0, "subjects": 0, "changed": 0, "snapshots": 0}
    try:
        ranges: list[tuple[int, int] | None] = [None] if mode == "incremental" else list(id_batches(app, batch_subjects))
        for id_range in ranges:
            batch = recompute_batch_task(app, mode, id_range)
            totals["batches"] += 1
            totals["as_of"] = batch["as_of"]
            for key in ("subjects", "changed", "snapshots"):
                totals[key] += batch[key]
        if mode == "full":
            totals["as_of"] = record_run_date(app)
    finally:
        with app.app_context():
            db.engine.dispose()
    get_run_logger().info("recompute-scores %(mode)s: batches=%(batches)s subjects=%(subjects)s "
                          "changed=%(changed)s snapshots=%(snapshots)s", totals)
    return totals


def main(argv: list[str] | None = None) -> None:
    """Serve the flow daily (`--once`: run it a single time and print the result; `--full`: all)."""
    args = sys.argv[1:] if argv is None else argv
    mode = "full" if "--full" in args else "incremental"
    if "--once" in args:
        print(recompute_scores(mode=mode))
        return
    from prefect.schedules import Cron

    recompute_scores.serve(name="recompute-scores", schedule=Cron("10 0 * * *", timezone="Asia/Shanghai"),
                           parameters={"mode": mode})


if __name__ == "__main__":
    main()
