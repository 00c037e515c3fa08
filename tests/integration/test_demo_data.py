"""The tests' copy of the demo data (tests/demo_data.py) is the demo data: the copied rows and the
next ids equal those of a fresh `seed_demo()`, on SQLite and on PostgreSQL."""
from __future__ import annotations

from demo_data import empty_database, seed_demo_data
from sqlalchemy import select

from models import Base, Department, db
from webapp.demo import seed_demo
from webapp.views.common import commit


def _dump() -> dict[str, list[tuple]]:
    tables = {}
    for table in Base.metadata.sorted_tables:
        columns = list(table.columns)  # every column: even the queue's `since` comes from the app's clock
        order = list(table.primary_key.columns) or columns
        tables[table.name] = [tuple(row) for row in db.session.execute(select(*columns).order_by(*order)).all()]
    return tables


def _next_department_id() -> int:
    department = Department(code="probe", name="探针", name_en="Probe")
    db.session.add(department)
    db.session.flush()
    next_id = department.id
    db.session.rollback()
    return next_id


def _empty(app) -> None:
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            empty_database(db.engine)
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
                if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
                    conn.exec_driver_sql("DELETE FROM sqlite_sequence")


def test_a_copy_of_the_demo_data_equals_a_fresh_seed(app):
    seed_demo_data(app)  # seeds and keeps the data for this clock reading, or copies it
    _empty(app)
    assert seed_demo_data(app) == "restored"
    with app.app_context():
        copied, copied_next = _dump(), _next_department_id()
        assert copied["users"] and copied["catalogue_items"] and copied["credit_records"]
    _empty(app)
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        commit()
    with app.app_context():
        fresh, fresh_next = _dump(), _next_department_id()
    assert copied == fresh
    assert copied_next == fresh_next


def test_a_database_that_is_not_empty_gets_seed_demo_as_usual(app):
    with app.app_context():
        db.session.add(Department(code="other", name="其他单位", name_en="Other"))
        commit()
    assert seed_demo_data(app) == "seeded"
    with app.app_context():
        codes = set(db.session.execute(select(Department.code)).scalars())
    assert {"other", "law-enforcement", "market-regulation"} <= codes
