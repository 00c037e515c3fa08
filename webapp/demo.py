"""Demo departments, accounts, subjects and records for the embedded default and the browser tests.

The first record reproduces DOMAIN.md §10 S1: a 一般 penalty decided 2026-01-12, repairable from
2026-04-13 under 令36号.
"""
from __future__ import annotations

import functools
from datetime import date

from models import CREDIT_CENTER_CODE, CreditRecord, Department, Role, Subject, User, db
from models.people import hash_password, password_hash_method
from workflows.records import default_valid_until

DEMO_PASSWORD = "Demo#2026"

DEPARTMENTS = [
    (CREDIT_CENTER_CODE, "文登区社会信用中心", "Wendeng District Social Credit Center"),
    ("law-enforcement", "文登区综合行政执法局", "Wendeng Comprehensive Administrative Law Enforcement Bureau"),
    ("market-regulation", "文登区市场监督管理局", "Wendeng Market Regulation Bureau"),
]

USERS = [
    # username, role, department, display name, e-mail
    ("enterprise", Role.APPLICANT, None, "示范建材公司经办人 / Demo company clerk", "clerk@demo-building.example.cn"),
    ("person", Role.APPLICANT, None, "张某 / Zhang", None),
    ("window", Role.REVIEWER, CREDIT_CENTER_CODE, "信用中心窗口 / Credit center window", None),
    ("reviewer", Role.REVIEWER, "law-enforcement", "执法局审核员 / Enforcement reviewer", None),
    ("head", Role.REVIEWER, "law-enforcement", "执法局负责人 / Enforcement head", None),
    ("market", Role.REVIEWER, "market-regulation", "市场监管局审核员 / Market reviewer", None),
    ("mediator", Role.MEDIATOR, CREDIT_CENTER_CODE, "信调委调解员 / Mediator", None),
    ("mediator2", Role.MEDIATOR, CREDIT_CENTER_CODE, "信调委调解员二 / Second mediator", None),
    ("trainer", Role.TRAINER, CREDIT_CENTER_CODE, "信用修复培训讲师 / Trainer", None),
    ("inspector", Role.INSPECTOR, CREDIT_CENTER_CODE, "现场核查员 / Inspector", None),
    ("inspector2", Role.INSPECTOR, CREDIT_CENTER_CODE, "现场核查员二 / Second inspector", None),
    ("admin", Role.ADMIN, CREDIT_CENTER_CODE, "系统管理员 / Administrator", None),
    ("auditor", Role.AUDITOR, None, "审计员 / Auditor", None),
]

COMPANY_USCC = "91371081MA3DEM001"
SHOP_USCC = "92371081MA3DEM002"
PERSON_ID = "37108119850312121"


def _with_check(first17: str, kind: str) -> str:
    from forms.fields import id_check_char, uscc_check_char

    return first17 + (uscc_check_char(first17) if kind == "uscc" else id_check_char(first17))


@functools.cache
def _demo_password_hash(method: str) -> str:
    # Hashing is deliberately slow (scrypt); every demo account shares one salted hash of the demo password.
    return hash_password(DEMO_PASSWORD, method)


def seed_demo(runtime) -> dict:
    """Idempotent: does nothing when the demo departments exist. Returns what it created."""
    session = db.session
    if session.execute(db.select(Department).where(Department.code == CREDIT_CENTER_CODE)).scalar():
        return {"created": False}
    now = runtime.clock.now()
    departments = {code: Department(code=code, name=name, name_en=name_en) for code, name, name_en in DEPARTMENTS}
    session.add_all(departments.values())
    session.flush()
    company = Subject(kind="legal_person", name="威海文登示范建材有限公司", uscc=_with_check(COMPANY_USCC, "uscc"),
                      legal_representative="李某", address="威海市文登区龙山路1号", created_at=now)
    shop = Subject(kind="other_org", name="文登区示范食品商行", uscc=_with_check(SHOP_USCC, "uscc"),
                   legal_representative="王某", created_at=now)
    person = Subject(kind="natural_person", name="张某", id_number=_with_check(PERSON_ID, "id"), created_at=now)
    session.add_all([company, shop, person])
    users = {}
    for username, role, dept, name, email in USERS:
        user = User(username=username, role=role, department=departments.get(dept) if dept else None,
                    display_name=name, email=email, created_at=now)
        user.password_hash = _demo_password_hash(password_hash_method())
        users[username] = user
    users["enterprise"].subjects = [company, shop]
    users["person"].subjects = [person]
    session.add_all(users.values())
    session.flush()
    departments["law-enforcement"].head_user_id = users["head"].id
    calendar = runtime.calendar(session)
    enforcement, market = departments["law-enforcement"], departments["market-regulation"]

    def record(subject, title, severity, decided, department, points, category, doc):
        session.add(CreditRecord(
            subject=subject, kind="dishonesty", title=title, severity=severity, decided_on=decided,
            act_ended_on=decided, department=department, points=points, category=category, document_no=doc,
            valid_until=default_valid_until(points, decided, calendar), created_at=now,
        ))

    record(company, "违法建设行政处罚（较重罚款）", "general", date(2026, 1, 12), enforcement, -20,
           "administrative_penalty", "文综执罚〔2026〕12号")
    record(company, "生产销售不合格产品（吊销许可）", "serious", date(2026, 8, 10), market, -50,
           "product_quality", "文市监罚〔2026〕88号")
    record(shop, "未按规定公示营业执照（警告）", "minor", date(2026, 10, 15), market, -5,
           "administrative_penalty", "文市监罚〔2026〕102号")
    record(person, "占道经营行政处罚（较重罚款）", "general", date(2026, 3, 2), enforcement, -20,
           "administrative_penalty", "文综执罚〔2026〕31号")
    # 双公示 (DOMAIN §9.1): record 1 online 2026-01-20, within 7 WD (S1); record 2 on 08-21, two WD late.
    published = {"文综执罚〔2026〕12号": date(2026, 1, 20), "文市监罚〔2026〕88号": date(2026, 8, 21)}
    for row in session.execute(db.select(CreditRecord).where(CreditRecord.document_no.in_(list(published)))).scalars():
        row.published_on = published[row.document_no]
    session.flush()
    from workflows.catalogue import load_builtin_schemes  # the scoring schemes and catalogues (DOMAIN.md §8)

    load_builtin_schemes(session, now=now)
    return {"created": True, "users": [u[0] for u in USERS], "password": DEMO_PASSWORD}
