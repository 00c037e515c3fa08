"""Credit verification before a decision (信用核查, "逢办必查").

Lifecycle. A department's reviewer asks for a check of one subject for one matter (requested):
the matter type (行政许可, 政府采购, 招标投标, 评优评先, 资金扶持, ...), the concrete matter and the
purpose, because a query of shared government data (政务共享) is accountable and logged. The system
then queries the subject's records at once and freezes what it saw (queried): every dishonesty
record that is a lawful basis on the check date, with the subject's identity, fingerprinted with
SHA-256. It issues the result from that snapshot in the same moment (result_issued): on the serious
dishonesty list, has serious dishonesty, has dishonesty, or clean; online results come the same
working day (`verification.result_sla_wd` = 0), so no clock is kept. Finally the department records
how it used the result (applied): processed normally, commitment required, 容缺 refused, key
supervision, or restricted.

Repaired, revoked and expired information is never a basis (SD-Cond §38 ¶2, §59(5); NDRC36 §3):
the snapshot leaves it out, and later changes to the records never touch an issued snapshot. Other
case types (a 容缺 application, a commitment) call `run_check`, `check_of` and
`passes_for_deficiency`.

Legal basis: DOMAIN.md §4.2 (SD-Cond §22 who may query, §20 政务共享, §38 disclosure cap), §6.2 P5
(no 容缺 with a bad record or an earlier false commitment: QY42, RQ 西安/阜新), §9.3 (query logging).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from forms import verification as forms
from models import Case, CreditCheck, CreditRecord, Subject, User
from models.permissions import Actor, Permission
from models.subject import SEVERITY_LABELS, SUBJECT_KIND_LABELS

from .base import CaseType, StateEnum, Step, register
from .clock import BEIJING
from .records import is_active_on


class State(StateEnum):
    REQUESTED = "requested", "已申请核查", "Check requested"  #: the department asked; the query runs at once
    QUERIED = "queried", "已查询", "Records queried"  #: snapshot frozen and fingerprinted
    RESULT_ISSUED = "result_issued", "已出具结果", "Result issued"  #: the department now decides its use
    APPLIED = "applied", "已记录使用情况", "Use recorded"  #: terminal


#: A record in the list of 严重失信主体 (the blacklist case type writes this category).
LISTED_CATEGORY = "serious_dishonesty_list"
#: A false or broken commitment counts as dishonesty and bars 容缺 until repaired (§6.2 P5).
FALSE_COMMITMENT_CATEGORIES = ("false_commitment", "commitment_breach")
#: SD-Cond §38: a dishonesty item is disclosed at most 5 years from the end of the act.
DISCLOSURE_CAP_YEARS = 5
SNAPSHOT_FORMAT = 1

RESULT_LABELS = {
    "clean": ("无失信记录", "No dishonesty record"),
    "has_dishonesty": ("有失信记录", "Has dishonesty records"),
    "has_serious": ("有严重失信记录", "Has serious dishonesty records"),
    "listed": ("列入严重失信主体名单", "On the list of seriously dishonest subjects"),
}
MATTER_TYPE_LABELS = {key: (zh, en) for key, zh, en in forms.MATTER_TYPE_CHOICES}
MEASURE_LABELS = {key: (zh, en) for key, zh, en in forms.MEASURE_CHOICES}


# --- the module API other case types call ------------------------------------------------------

def run_check(*, subject: Subject, matter_type: str, matter: str, purpose: str, actor: Actor,
              runtime, link_from: Case | None = None) -> Case:
    """Open a verification case as `actor` (a reviewer), linked from `link_from` (link_kind
    "credit_check") when given; the automatic steps issue the result at once. Returns the case
    (state result_issued). Flushes, never commits: the caller's entry point owns the transaction."""
    from .service import open_case

    return open_case(
        "verification", subject, actor, {"matter_type": matter_type, "matter": matter, "purpose": purpose},
        runtime=runtime, link_from=link_from, link_kind="credit_check" if link_from is not None else None,
    )


def check_of(case: Case) -> CreditCheck:
    """The CreditCheck row of a verification case."""
    from models import db

    if case.case_type != "verification":
        raise ValueError(f"case {case.reference} is a {case.case_type} case, not a credit check")
    row = db.session.get(CreditCheck, case.id)
    assert row is not None, f"case {case.id} has no credit check row"
    return row


def passes_for_deficiency(check: CreditCheck) -> str | None:
    """None when a 容缺 application may proceed (result clean), else the bilingual reason (§6.2 P5:
    a bad credit record or an earlier false commitment → the normal route, until repaired)."""
    if check.result is None:
        return "信用核查结果尚未出具 / the credit check result has not been issued yet"
    if check.result == "clean":
        return None
    records = (check.snapshot or {}).get("records", [])
    if any(r.get("category") in FALSE_COMMITMENT_CATEGORIES for r in records):
        return ("该主体有虚假承诺或违背承诺记录，修复前不适用容缺受理，请按正常程序办理 / the subject has an earlier "
                "false or broken commitment: until it is repaired the 容缺 route is closed; use the normal route")
    zh, en = RESULT_LABELS[check.result]
    return (f"信用核查结果为“{zh}”，修复前不适用容缺受理，请按正常程序办理 / credit check result “{en}”: "
            f"until repaired the 容缺 route is closed; use the normal route")


# --- the snapshot -----------------------------------------------------------------------------

def counts_as_dishonesty(record: CreditRecord) -> bool:
    return record.is_dishonesty or record.category in FALSE_COMMITMENT_CATEGORIES


def is_basis_on(record: CreditRecord, on, calendar) -> bool:
    """May the record ground a decision on `on`? Only active dishonesty: repaired, revoked and
    expired information is no basis (SD-Cond §38 ¶2; NDRC36 §3), nor anything past the 5-year cap."""
    if not counts_as_dishonesty(record) or not is_active_on(record, on):
        return False
    if record.act_ended_on is not None:
        cap_last, _ = calendar.expiry(record.act_ended_on, DISCLOSURE_CAP_YEARS, "year")
        if on > cap_last:
            return False
    return True


def classify(records: list[dict[str, Any]]) -> str:
    """The result is a function of the frozen snapshot alone, so anyone can re-derive it."""
    if any(r["category"] == LISTED_CATEGORY for r in records):
        return "listed"
    if any(r["severity"] == "serious" for r in records):
        return "has_serious"
    return "has_dishonesty" if records else "clean"


def canonical_json(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(snapshot).encode("utf-8")).hexdigest()


def build_snapshot(session, subject: Subject, on, now, calendar) -> dict[str, Any]:
    records = session.execute(
        select(CreditRecord).where(CreditRecord.subject_id == subject.id)
        .order_by(CreditRecord.decided_on, CreditRecord.id)
    ).scalars()
    return {
        "format": SNAPSHOT_FORMAT,
        "checked_on": on.isoformat(),
        "checked_at": now.astimezone(BEIJING).isoformat(timespec="seconds"),
        # A natural person's ID number is masked: the check shares credit information, not identity.
        "subject": {"id": subject.id, "name": subject.name, "kind": subject.kind,
                    "identifier": subject.masked_identifier},
        "records": [
            {"id": r.id, "title": r.title, "severity": r.severity, "category": r.category or "",
             "decided_on": r.decided_on.isoformat(), "document_no": r.document_no,
             "department": r.department.name if r.department else None, "status": r.status}
            for r in records if is_basis_on(r, on, calendar)
        ],
    }


# --- guards: each returns why it blocks (bilingual), or None ------------------------------------

def snapshot_taken(ctx) -> str | None:
    check = check_of(ctx.case)
    if check.snapshot is None or check.snapshot_sha256 is None:
        return "尚未查询信用信息 / the records have not been queried yet"
    return None


def measure_has_basis(ctx) -> str | None:
    """A restrictive measure needs a record to rest on: a clean result is no basis for one."""
    measure = ctx.data.get("measure")
    if measure in forms.RESTRICTIVE_MEASURES and check_of(ctx.case).result == "clean":
        zh, en = MEASURE_LABELS[measure]
        return (f"核查结果为无失信记录，不能据此采取“{zh}”措施 / the check found no dishonesty record: "
                f"it is no basis for “{en}”")
    return None


# --- effects ----------------------------------------------------------------------------------

def open_check(ctx, data) -> None:
    requester = ctx.actor if isinstance(ctx.actor, User) else None
    ctx.session.add(CreditCheck(
        case_id=ctx.case.id, matter_type=data["matter_type"], matter=data["matter"], purpose=data["purpose"],
        requested_by_id=requester.id if requester else None,
    ))
    # The ledger's open event says who asked and why (its payload keeps the validated fields too).
    ctx.reason = f"核查事项：{MATTER_TYPE_LABELS[data['matter_type']][0]}（{data['matter']}）；查询目的：{data['purpose']}"


def take_snapshot(ctx) -> None:
    check = check_of(ctx.case)
    snapshot = build_snapshot(ctx.session, ctx.case.subject, ctx.today, ctx.now, ctx.calendar)
    check.snapshot = snapshot
    check.snapshot_sha256 = snapshot_digest(snapshot)
    check.checked_at = ctx.now
    ctx.ledger_extra.update({"snapshot_sha256": check.snapshot_sha256, "records": len(snapshot["records"]),
                             "checked_on": snapshot["checked_on"]})


def issue_result(ctx) -> None:
    check = check_of(ctx.case)
    check.result = classify(check.snapshot["records"])
    ctx.ledger_extra.update({"result": check.result, "snapshot_sha256": check.snapshot_sha256})
    zh, en = RESULT_LABELS[check.result]
    ctx.reason = f"核查结果：{zh} / result: {en}"


def record_use(ctx) -> None:
    zh, en = MEASURE_LABELS[ctx.data["measure"]]
    check_of(ctx.case).use_recorded = f"{zh}：{ctx.data['note']}"
    ctx.reason = f"{zh}：{ctx.data['note']} / {en}"


def describe(case: Case, runtime) -> dict:
    """Facts the case page and the API show beside the state."""
    from models import db

    check = check_of(case)
    requester = db.session.get(User, check.requested_by_id) if check.requested_by_id else None
    department = requester.department if requester else None
    use_event = next((e for e in reversed(case.events) if e.trigger == "record_use"), None)
    measure = use_event.payload.get("measure") if use_event else None
    snapshot = check.snapshot or {}
    records = [
        {**r, "severity_label_zh": SEVERITY_LABELS[r["severity"]][0] if r.get("severity") else None,
         "severity_label_en": SEVERITY_LABELS[r["severity"]][1] if r.get("severity") else None,
         "listed": r.get("category") == LISTED_CATEGORY,
         "false_commitment": r.get("category") in FALSE_COMMITMENT_CATEGORIES}
        for r in snapshot.get("records", [])
    ]
    subject = snapshot.get("subject")
    kind_labels = SUBJECT_KIND_LABELS.get(subject["kind"]) if subject else None
    return {
        "matter_type": check.matter_type,
        "matter_type_label_zh": MATTER_TYPE_LABELS.get(check.matter_type, (check.matter_type,) * 2)[0],
        "matter_type_label_en": MATTER_TYPE_LABELS.get(check.matter_type, (check.matter_type,) * 2)[1],
        "matter": check.matter,
        "purpose": check.purpose,
        "requested_by": requester.name if requester else None,
        "requested_by_department_zh": department.name if department else None,
        "requested_by_department_en": (department.name_en or department.name) if department else None,
        "result": check.result,
        "result_label_zh": RESULT_LABELS[check.result][0] if check.result else None,
        "result_label_en": RESULT_LABELS[check.result][1] if check.result else None,
        "checked_at": check.checked_at.isoformat() if check.checked_at else None,
        "checked_on": snapshot.get("checked_on"),
        "snapshot_sha256": check.snapshot_sha256,
        # Recomputed on every read: an edited snapshot (outside the ORM) shows as not intact.
        "snapshot_intact": bool(check.snapshot) and snapshot_digest(check.snapshot) == check.snapshot_sha256,
        "snapshot_subject": {**subject, "kind_label_zh": kind_labels[0] if kind_labels else subject["kind"],
                             "kind_label_en": kind_labels[1] if kind_labels else subject["kind"]} if subject else None,
        "snapshot_records": records,
        "use_recorded": check.use_recorded,
        "use_measure": measure,
        "use_measure_label_zh": MEASURE_LABELS[measure][0] if measure in MEASURE_LABELS else None,
        "use_measure_label_en": MEASURE_LABELS[measure][1] if measure in MEASURE_LABELS else None,
        "deficiency_block": passes_for_deficiency(check) if check.result else None,
    }


# --- steps ------------------------------------------------------------------------------------

S = State
P = Permission

STEPS = [
    Step("query", (S.REQUESTED,), S.QUERIED, P.SYSTEM, "查询信用信息并固定快照", "Query the records and freeze a snapshot",
         effect=take_snapshot),
    Step("issue_result", (S.QUERIED,), S.RESULT_ISSUED, P.SYSTEM, "出具核查结果", "Issue the result",
         guards=(snapshot_taken,), effect=issue_result),
    Step("record_use", (S.RESULT_ISSUED,), S.APPLIED, P.DEPARTMENT_DECIDE, "记录使用情况", "Record how the result was used",
         forms.RecordUseSchema, guards=(measure_has_basis,), effect=record_use, style="primary"),
]

# --- timers -----------------------------------------------------------------------------------

#: None. The online result is issued in the same moment the check is opened (the automatic steps
#: below), so the "same working day" limit (`verification.result_sla_wd` = 0) is met by
#: construction; how soon the department records its use is not regulated.
TIMERS: list = []

VERIFICATION = register(CaseType(
    key="verification",
    version=1,
    label_zh="信用核查",
    label_en="Credit check",
    states=State,
    initial=S.REQUESTED,
    terminal=(S.APPLIED,),
    steps=STEPS,
    timers=TIMERS,
    reference_prefix="HC",
    on_open=open_check,
    open_schema=forms.OpenCheckSchema,
    describe=describe,
    create_permission=Permission.CHECK_REQUEST,
    automatic={S.REQUESTED: "query", S.QUERIED: "issue_result"},
))
