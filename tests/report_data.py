"""Known data for the supervision reports, shared by tests/integration/test_reports.py and the
dashboard screenshot (tests/browser/test_reports_dashboard.py). A plain module like page_client.

* Publication records (双公示, DOMAIN.md §9.1: 7 WD from the decision) for the market-regulation
  department around the 2026 holidays, with the expected outcome of each.
* Objection cases driven through the API as the real roles, whose "decision" clock (3 WD; 7 WD once
  the provider is asked, an approved extension) ends met on time, met after the extension, met late,
  or still open past its last day.
"""
from __future__ import annotations

from datetime import date, datetime

from models import CreditRecord, Department, Subject, db
from webapp.views.common import commit
from workflows.clock import BEIJING

#: (decided_on, published_on, expected outcome at 2026-04-13): the 7 WD deadline in the comment.
PUBLICATIONS = [
    (date(2026, 1, 12), date(2026, 1, 21), "on_time"),   # due 01-21 (S1): the last day is still on time
    (date(2026, 1, 12), date(2026, 1, 22), "late"),      # one day after 01-21
    (date(2026, 1, 1), date(2026, 1, 13), "on_time"),    # 元旦: deemed received 01-04 (make-up Sunday), due 01-13
    (date(2026, 2, 12), date(2026, 2, 28), "on_time"),   # across 春节 with both make-up Saturdays: due 02-28
    (date(2026, 2, 12), date(2026, 3, 2), "late"),       # the Monday after 02-28
    (date(2026, 3, 30), None, "overdue_unpublished"),    # due 04-09 (清明 04-04..06), nothing online by 04-13
    (date(2026, 4, 10), None, "pending"),                # due 04-21: not yet late
]


def at(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=BEIJING)


def add_publication_records(app, department_code: str = "market-regulation", rows=PUBLICATIONS,
                            subject_id: int = 2) -> list[int]:
    """Penalty records of the demo shop (an organisation: its decisions are published)."""
    with app.app_context():
        dept = db.session.execute(db.select(Department).where(Department.code == department_code)).scalar_one()
        ids = []
        for n, (decided, published, _outcome) in enumerate(rows):
            record = CreditRecord(subject_id=subject_id, kind="dishonesty", title=f"行政处罚（测试 {n + 1}）",
                                  severity="minor", decided_on=decided, published_on=published, department_id=dept.id,
                                  points=0, category="administrative_penalty", document_no=f"文市监罚〔2026〕9{n:02d}号",
                                  created_at=at(2026, 1, 1))
            db.session.add(record)
            db.session.flush()
            ids.append(record.id)
        commit()
        return ids


def add_person_record(app, decided: date, published: date | None) -> None:
    """A natural person's penalty: not published (SD-Cond §20), so left out of 双公示."""
    with app.app_context():
        person = db.session.execute(db.select(Subject).where(Subject.kind == "natural_person")).scalars().first()
        dept = db.session.execute(db.select(Department).where(Department.code == "market-regulation")).scalar_one()
        db.session.add(CreditRecord(subject_id=person.id, kind="dishonesty", title="行政处罚（自然人）", severity="minor",
                                    decided_on=decided, published_on=published, department_id=dept.id, points=0,
                                    created_at=at(2026, 1, 1)))
        commit()


def _act(client, case_id: int, trigger: str, **data) -> dict:
    response = client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def _file(api, clock, when: datetime) -> int:
    clock.set(when)
    enterprise = api.as_user("enterprise")
    opened = enterprise.post("/api/v1/cases", json={"case_type": "objection", "subject_id": 1,
                                                    "data": {"record_id": 1, "grounds": "inaccurate"}})
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    _act(enterprise, case_id, "submit", statement="处罚记录的金额有误，请核实")
    return case_id


def _decide_in_house(api, clock, case_id: int, when: datetime) -> None:
    clock.set(when)
    window = api.as_user("window")
    _act(window, case_id, "accept")
    _act(window, case_id, "review_in_house")
    _act(window, case_id, "reject", reason="处罚决定合法有效")
    _act(window, case_id, "notify")
    _act(window, case_id, "close")


def drive_objections(api, clock) -> dict[str, int]:
    """Four objections on demo record 1 (law enforcement), one after the other (one open at a time).

    The office clocks and how they end, seen on 2026-04-13:
    * on_time: filed Mon 03-02, decision due 03-05, notified 03-03 → met on time;
    * extended: filed Mon 03-09 (due 03-12), sent to the provider (+4 WD: due 03-18; the provider's
      own 4 WD reply clock due 03-13), the provider decides 03-13 (reply met on time) and the window
      notifies 03-16 → met after extension;
    * late: filed Mon 03-23, due 03-26, notified Mon 03-30 → overdue, closed;
    * open: filed Wed 04-01, due 04-07 (清明 04-04..06), untouched → overdue, open.
    """
    cases = {}
    cases["on_time"] = _file(api, clock, at(2026, 3, 2))
    _decide_in_house(api, clock, cases["on_time"], at(2026, 3, 3))

    cases["extended"] = case_id = _file(api, clock, at(2026, 3, 9))
    window, reviewer = api.as_user("window"), api.as_user("reviewer")
    _act(window, case_id, "accept")
    _act(window, case_id, "route_to_provider", letter="请核查该处罚记录")
    clock.set(at(2026, 3, 13))
    _act(reviewer, case_id, "reject", reason="经核查处罚决定无误")
    clock.set(at(2026, 3, 16))
    _act(window, case_id, "notify")
    _act(window, case_id, "close")

    cases["late"] = _file(api, clock, at(2026, 3, 23))
    _decide_in_house(api, clock, cases["late"], at(2026, 3, 30))

    cases["open"] = _file(api, clock, at(2026, 4, 1))
    clock.set(at(2026, 4, 13, 9))
    return cases


def add_graded_organisations(app, counts=(("A", 20, 0), ("B", 10, -150), ("C", 6, -300), ("D", 4, -500))) -> dict:
    """Legal persons whose single active record puts them in a grade: 850 B, 700 C, 500 D. The records
    are law-enforcement penalties decided Sun 2026-03-01 and published on time (03-05; due 03-11)."""
    ids: dict[str, list[int]] = {}
    with app.app_context():
        dept = db.session.execute(db.select(Department).where(Department.code == "law-enforcement")).scalar_one()
        n = 0
        for grade, how_many, points in counts:
            for _ in range(how_many):
                n += 1
                subject = Subject(kind="legal_person", name=f"测试企业{n:03d}", uscc=f"91371081TEST{n:05d}X",
                                  created_at=at(2026, 1, 1))
                db.session.add(subject)
                db.session.flush()
                ids.setdefault(grade, []).append(subject.id)
                if points:
                    db.session.add(CreditRecord(subject_id=subject.id, kind="dishonesty", title="测试扣分",
                                                severity="general", category=f"test-{n}", decided_on=date(2026, 3, 1),
                                                published_on=date(2026, 3, 5), department_id=dept.id,
                                                points=points, valid_until=date(2027, 3, 1), created_at=at(2026, 3, 1)))
        commit()
    return ids
