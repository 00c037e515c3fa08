"""recompute-scores: the production score recomputation (DESIGN.md rule 5, run modes).

Why it exists: stored scores must follow item changes and expiries every day whether or not a web
process is up. The flow is thin: it builds the app from the environment for configuration
(database, clock, rules, `RECOMPUTE_WORKERS`) and a session, then runs
`workflows.score_recompute.recompute` over the batches `run_in_batches` plans, one Prefect task per
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
from workflows.score_recompute import (DEFAULT_BATCH_SUBJECTS, RecomputeStats, recompute,  # noqa: E402
                                       run_in_batches)

if TYPE_CHECKING:
    from flask import Flask

#: Subjects per full-mode batch (workflows.score_recompute.DEFAULT_BATCH_SUBJECTS).
BATCH_SUBJECTS = DEFAULT_BATCH_SUBJECTS


def run_batch(app: Flask, mode: str, id_range: tuple[int, int] | None, as_of: str | None = None) -> RecomputeStats:
    with app.app_context():
        try:
            stats = recompute(db.session, current_runtime(), mode=mode, id_range=id_range,
                              as_of=date.fromisoformat(as_of) if as_of else None)
            commit()
        except BaseException:
            db.session.rollback()
            raise
    return stats


@task(name="recompute-batch", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def recompute_batch_task(app: Flask, mode: str, id_range: tuple[int, int] | None,
                         as_of: str | None = None) -> RecomputeStats:
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

    def run_ranges(ranges: list[tuple[int, int] | None], workers: int) -> list[RecomputeStats]:
        """One task per batch; side by side on the flow's thread pool (at most RECOMPUTE_WORKERS threads)."""
        totals["workers"] = workers
        if workers <= 1:
            return [recompute_batch_task(app, mode, id_range, run_date) for id_range in ranges]
        futures = [recompute_batch_task.submit(app, mode, id_range, run_date) for id_range in ranges]
        wait(futures)  # every batch ends (a failed one after its retries) before a failure is raised
        return [future.result() for future in futures]

    try:
        with app.app_context():
            engine = db.engine
            # Every batch computes for the same day, even when the run goes on past midnight.
            run_date = totals["as_of"] = current_runtime().today().isoformat()
            workers = int(app.config.get("RECOMPUTE_WORKERS") or 1)
        batches = run_in_batches(engine, mode, date.fromisoformat(run_date), run_ranges,
                                 workers=workers, batch_subjects=batch_subjects)
        for stats in batches:
            totals["batches"] += 1
            for key in ("subjects", "changed", "snapshots"):
                totals[key] += getattr(stats, key)
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
