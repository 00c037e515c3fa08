"""Benchmark: case transitions through fire() (ledger, deadlines, outbox) per second, and p99.

Budget (DESIGN.md): ≥4,000/s on SQLite and ≥2,500/s on PostgreSQL for the engine path; ≥1,000/s
through the ordinary ORM path used by web requests. This measures the ORM path, one transition per
transaction, the way a web request does it. It prints figures; it asserts nothing.

    .venv/bin/python tests/bench/bench_fire.py [--cases 300] [--database-url postgresql+psycopg://postgres@127.0.0.1/test]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("CREDITDESK_INSTANCE", tempfile.mkdtemp(prefix="creditdesk-bench-"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    args = parser.parse_args()

    from werkzeug.datastructures import FileStorage

    from models import CreditRecord, User, db
    from webapp import create_app
    from webapp.demo import seed_demo
    from webapp.views.common import commit, save_upload
    from workflows.clock import BEIJING, FixedClock
    from workflows.service import fire, open_case

    clock = FixedClock(datetime(2026, 4, 13, 9, tzinfo=BEIJING))
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "CLOCK_OBJECT": clock,
                      "UPLOAD_DIR": tempfile.mkdtemp()})
    with app.app_context():
        db.drop_all()
        db.create_all()
        runtime = app.extensions["creditdesk"]
        seed_demo(runtime)
        commit()
        users = {u.username: u for u in db.session.execute(db.select(User)).scalars()}
        subject = users["enterprise"].subjects[0]
        template = db.session.get(CreditRecord, 1)
        records = []
        for n in range(args.cases):
            record = CreditRecord(subject_id=subject.id, kind="dishonesty", severity="general", title=f"bench {n}",
                                  decided_on=template.decided_on, department_id=template.department_id, points=-5)
            db.session.add(record)
            records.append(record)
        commit()
        cases = []
        for record in records:
            case = open_case("credit_repair", subject, users["enterprise"], {"record_id": record.id}, runtime=runtime)
            save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"),
                        users["enterprise"], runtime)
            cases.append(case.id)
        commit()
        plan = [("submit", "enterprise", {"statement": "已整改完毕", "signer_name": "李某", "commitment_accepted": True}),
                ("push", "window", {}), ("accept", "reviewer", {}), ("approve", "reviewer", {})]
        latencies = []
        started = time.perf_counter()
        for trigger, username, data in plan:
            actor = users[username]
            for case_id in cases:
                t0 = time.perf_counter()
                fire(case_id, trigger, actor, data, runtime=runtime)
                commit()
                latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    n = len(latencies)
    latencies.sort()
    print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split('://')[0]}")
    print(f"transitions: {n} in {elapsed:.2f} s = {n / elapsed:.0f}/s (one transaction each, ORM path)")
    print(f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {latencies[int(n * 0.99) - 1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
