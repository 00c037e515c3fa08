"""recompute-scores: the production score recomputation (DESIGN.md rule 5, run modes).

Why it exists: stored scores must follow item changes and expiries every day whether or not a web
process is up. The flow is thin: it builds the app from the environment for configuration
(database, clock, rules, `RECOMPUTE_WORKERS`) and a session, then runs
`workflows.score_recompute.recompute` over the batches `plan_batches` cuts, one Prefect task per
batch, each batch its own committed transaction on its own connection, up to `RECOMPUTE_WORKERS`
batches side by side (PostgreSQL; SQLite runs them one after the other). Retrying a batch is safe: a
recomputation that finds the stored value unchanged writes nothing, and the dirty queue is only
emptied by the transaction that recomputed it.

- mode "incremental" (default, daily and after sweeps): the dirty queue and the items whose
  validity ended or began since the previous run — one batch, or one range of subjects per worker;
- mode "full": every subject, in ranges of subject ids (first moving what incremental runs wrote to
  `subject_scores_recent` into `subject_scores`);
then, when the run was cut into ranges, its date is recorded (only once every batch succeeded), and
after rows were updated in place `subject_scores` is vacuumed.

Run it once: `python -m workflows.flows.recompute_scores --once [--full]`; serve it daily:
`python -m workflows.flows.recompute_scores` (a `serve()` deployment, cron 00:10 Beijing time).
"""
from __future__ import annotations

import os
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from webapp.config import instance_dir

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(instance_dir() / "prefect"))

from prefect import flow, get_run_logger, task  # noqa: E402 - after the Prefect environment above
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.futures import wait  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from models import db  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.config import recompute_workers  # noqa: E402
from webapp.runtime import current_runtime  # noqa: E402
from webapp.views.common import commit  # noqa: E402
from workflows.score_recompute import (DEFAULT_BATCH_SUBJECTS, plan_batches, recompute, run_lock,  # noqa: E402
                                       set_last_as_of, tidy_stored_scores)

if TYPE_CHECKING:
    from flask import Flask

#: Subjects per full-mode batch (workflows.score_recompute.DEFAULT_BATCH_SUBJECTS).
BATCH_SUBJECTS = DEFAULT_BATCH_SUBJECTS


def run_batch(app: Flask, mode: str, id_range: tuple[int, int] | None, as_of: str | None = None) -> dict[str, Any]:
    with app.app_context():
        try:
            stats = recompute(db.session, current_runtime(), mode=mode, id_range=id_range,
                              as_of=date.fromisoformat(as_of) if as_of else None)
            commit()
        except BaseException:
            db.session.rollback()
            raise
    return stats.as_dict()


def plan(app: Flask, mode: str, batch_subjects: int) -> tuple[list[tuple[int, int] | None], int, str]:
    """The run's batches, how many run side by side, and the run's date (every batch computes for
    the same day, even when the run goes on past midnight)."""
    with app.app_context():
        conn = db.session.connection()
        workers = int(app.config.get("RECOMPUTE_WORKERS") or 1) if conn.dialect.name == "postgresql" else 1
        ranges = plan_batches(conn, mode, workers=workers, batch_subjects=batch_subjects)
        today = current_runtime().today().isoformat()
        db.session.rollback()
    return ranges, min(workers, max(len(ranges), 1)), today


def record_run_date(app: Flask, as_of: str) -> str:
    with app.app_context():
        set_last_as_of(db.session.connection(), db.session.connection().dialect.name, date.fromisoformat(as_of))
        commit()
    return as_of


@task(name="recompute-batch", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def recompute_batch_task(app: Flask, mode: str, id_range: tuple[int, int] | None,
                         as_of: str | None = None) -> dict[str, Any]:
    return run_batch(app, mode, id_range, as_of)


# The thread pool is sized when this module is imported (CREDITDESK_RECOMPUTE_WORKERS then); a run
# cuts as many ranges as the app's RECOMPUTE_WORKERS, read when the run starts.
@flow(name="recompute-scores", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=recompute_workers()))
def recompute_scores(mode: str = "incremental", database_url: str | None = None,
                     batch_subjects: int = BATCH_SUBJECTS) -> dict[str, Any]:
    """Recompute stored scores; returns the summed statistics of the batches."""
    if mode not in ("incremental", "full"):
        raise ValueError(f"mode must be incremental or full, not {mode!r}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    totals: dict[str, Any] = {"mode": mode, "batches": 0, "subjects": 0, "changed": 0, "snapshots": 0}
    try:
        with app.app_context():
            engine = db.engine
        with run_lock(engine):  # another run cut into batches waits until this one has its date
            ranges, workers, as_of = plan(app, mode, batch_subjects)
            totals["as_of"], totals["workers"] = as_of, workers
            if workers > 1:  # side by side on the flow's thread pool (at most RECOMPUTE_WORKERS threads)
                futures = [recompute_batch_task.submit(app, mode, id_range, as_of) for id_range in ranges]
                wait(futures)  # every batch ends (a failed one after its retries) before a failure is raised
                batches = [future.result() for future in futures]
            else:
                batches = [recompute_batch_task(app, mode, id_range, as_of) for id_range in ranges]
            for batch in batches:
                totals["batches"] += 1
                for key in ("subjects", "changed", "snapshots"):
                    totals[key] += batch[key]
            if ranges != [None]:
                record_run_date(app, as_of)
        if sum(batch.get("updated", 0) for batch in batches):
            tidy_stored_scores(engine)  # VACUUM the rows the full run updated in place
    finally:
        with app.app_context():
            db.engine.dispose()
    get_run_logger().info("recompute-scores %(mode)s: batches=%(batches)s workers=%(workers)s subjects=%(subjects)s "
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
