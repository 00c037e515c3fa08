"""An organisation's public credit summary (企业信用信息公示), its search, and the QR code 信用名片
a shop puts on its door: /public/subjects/<uscc>, /public/search, /public/subjects/<uscc>/qr.svg
and the printable card /public/subjects/<uscc>/card. No log-in.

Only 公开公示 information (DOMAIN.md §9.3; SD-Cond §20) is shown: the organisation's registration
data (name, USCC, legal representative), its published commitments, its dishonesty records while
they are publicly displayed (workflows.records.is_publicly_displayed: within the publicity period,
not repaired, not revoked, not 轻微; "异议处理中" when an objection is open), its black- and red-list
entries and its current grade under the district scheme. A natural person is never found here:
USCCs belong to organisations only, and the kind is checked again on every page (a natural
person's identifiers or name never reach a public page, whatever the URL says).
"""
from __future__ import annotations

import io
from datetime import date

import segno
from flask import Blueprint, Response, current_app, render_template, request, url_for
from sqlalchemy import or_, select

from models import (
    Case,
    Commitment,
    CreditRecord,
    Deadline,
    Department,
    ListingCase,
    RecordKind,
    RecordStatus,
    Subject,
    SubjectKind,
    db,
)
from models.score_store import ScoreDirty, current_stored_score
from models.subject import SEVERITY_LABELS, SUBJECT_KIND_LABELS
from workflows.blacklist import State as ListingState
from workflows.errors import NotFound
from workflows.records import is_active_on, is_publicly_displayed, publicity_periods, regime_for
from workflows.scoring import GRADE_LABELS, score_at
from workflows.service import Runtime

from ..runtime import current_runtime
from .public import PUBLIC_STATUS, PUBLISHED_LISTING_STATES, TYPE_LABELS, State

bp = Blueprint("public_subjects", __name__)

SEARCH_LIMIT = 50


def public_subject(uscc: str) -> Subject:
    """The organisation with this USCC, or 404 — also for anything that is a natural person's."""
    code = (uscc or "").strip().upper()
    subject = db.session.execute(
        select(Subject).where(Subject.uscc == code, Subject.kind != SubjectKind.NATURAL_PERSON)
    ).scalar() if code else None
    if subject is None or subject.is_natural_person:
        raise NotFound("未找到该组织的公示信息 / No published information for this organisation",
                       details={"uscc": code})
    return subject


def summary_url(subject: Subject) -> str:
    """The absolute address a QR code points at: the configured public address when there is one
    (the server may sit behind a proxy under an internal name), else this request's host."""
    path = url_for("public_subjects.summary", uscc=subject.uscc)
    base = current_app.config.get("CREDITDESK_BASE_URL")
    return base.rstrip("/") + path if base else url_for("public_subjects.summary", uscc=subject.uscc, _external=True)


def qr_svg(url: str) -> bytes:
    """The QR code of `url` as a standalone SVG document (error correction M survives a worn sticker)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=6, border=4, xmldecl=True,
                                                 title="信用名片 / Credit card", svgclass="credit-qr")
    return out.getvalue()


def current_grade(subject: Subject, runtime: Runtime, today: date) -> dict | None:
    """The district-scheme grade today: the stored row of the score store when it is current (the
    subject is not queued for recomputation), otherwise computed from the records. The score itself
    stays out of the public page; the grade is what the 文登 scheme publishes."""
    stored = current_stored_score(db.session, subject.id)
    if stored is not None and stored.scheme != "wendeng":
        return None  # scored under another scheme: the district grade is not published for it
    if stored is not None and db.session.get(ScoreDirty, subject.id) is None:
        return {"grade": stored.grade_label or stored.grade, "label_zh": GRADE_LABELS.get(stored.grade, ""),
                "as_of": stored.as_of, "stored": True}
    result = score_at(subject.records, today, base=int(runtime.rules["score.base"]))
    return {"grade": result.grade, "label_zh": result.grade_label_zh, "as_of": today, "stored": False}


def public_summary(subject: Subject, runtime: Runtime) -> dict:
    if subject.is_natural_person:  # SD-Cond §20, the second time: never a person, whatever the caller
        raise NotFound("未找到该组织的公示信息 / No published information for this organisation")
    today = runtime.today()
    calendar = runtime.calendar()
    rules = runtime.rules

    records = []
    for record in subject.records:
        if not is_publicly_displayed(record, subject, today, rules, calendar):
            continue
        periods = publicity_periods(record, regime_for(today, rules), rules, calendar)
        records.append({
            "id": record.id, "title": record.title, "document_no": record.document_no,
            "severity": SEVERITY_LABELS[record.severity_enum] if record.severity else None,
            "department": record.department, "decided_on": record.decided_on,
            "publicity_until": periods.max_last_day, "under_objection": bool(record.under_objection),
        })

    commitments = db.session.execute(
        select(Case, Commitment)
        .join(Commitment, Commitment.case_id == Case.id)
        .where(Case.subject_id == subject.id, Case.case_type == "credit_commitment",
               Case.state.in_([str(s) for s in PUBLIC_STATUS]), Commitment.public.is_(True),
               Commitment.published_on.is_not(None))
        .order_by(Commitment.published_on.desc(), Case.id.desc())
    ).all()

    listings = db.session.execute(
        select(Case, ListingCase)
        .join(ListingCase, ListingCase.case_id == Case.id)
        .where(Case.subject_id == subject.id, Case.case_type == "blacklist",
               Case.state.in_([str(s) for s in PUBLISHED_LISTING_STATES]),
               ListingCase.published_on.is_not(None), ListingCase.exit_kind.is_(None))
        .order_by(ListingCase.published_on.desc())
    ).all()
    planned_end = dict(db.session.execute(
        select(Deadline.case_id, Deadline.due_on).where(
            Deadline.case_id.in_([case.id for case, _ in listings]), Deadline.kind == "expiry",
            Deadline.status == "open")
    ).all()) if listings else {}
    criteria = rules["blacklist.criteria"]

    red = db.session.execute(
        select(CreditRecord, Department)
        .outerjoin(Department, Department.id == CreditRecord.department_id)
        .where(CreditRecord.subject_id == subject.id, CreditRecord.kind == RecordKind.POSITIVE,
               CreditRecord.status == RecordStatus.ACTIVE, CreditRecord.decided_on <= today)
        .order_by(CreditRecord.decided_on.desc())
    ).all()

    return {
        "subject": {
            "name": subject.name, "uscc": subject.uscc,
            "kind": SUBJECT_KIND_LABELS[subject.kind_enum],
            # An organisation's legal representative is public registration information (营业执照).
            "legal_representative": subject.legal_representative,
        },
        "today": today,
        "records": records,
        "commitments": [{
            "reference": case.reference, "type": TYPE_LABELS[commitment.commitment_type],
            "matter": commitment.matter, "published_on": commitment.published_on,
            "term_until": commitment.term_until, "status": PUBLIC_STATUS[State(case.state)],
        } for case, commitment in commitments],
        "black": [{
            "reference": case.reference,
            "criterion": (criteria.get(listing.criteria_key, {}).get("name_zh") or listing.criteria_key,
                          criteria.get(listing.criteria_key, {}).get("name_en") or listing.criteria_key),
            "legal_basis": listing.legal_basis, "published_on": listing.published_on,
            "planned_end": planned_end.get(case.id),
            "repair_pending": case.state == ListingState.REPAIR_PENDING,
        } for case, listing in listings],
        "red": [{"title": record.title, "document_no": record.document_no, "department": department,
                 "decided_on": record.decided_on, "valid_until": record.valid_until}
                for record, department in red if is_active_on(record, today)],
        "grade": current_grade(subject, runtime, today),
    }


@bp.get("/public/search")
def search():
    needle = (request.args.get("q") or "").strip()[:100]
    results = []
    if needle:
        rows = db.session.execute(
            select(Subject).where(
                Subject.kind != SubjectKind.NATURAL_PERSON,
                or_(Subject.name.contains(needle, autoescape=True),
                    Subject.uscc.contains(needle.upper(), autoescape=True)))
            .order_by(Subject.name, Subject.id).limit(SEARCH_LIMIT + 1)
        ).scalars().all()
        results = [s for s in rows[:SEARCH_LIMIT] if not s.is_natural_person]
        truncated = len(rows) > SEARCH_LIMIT
    else:
        truncated = False
    return render_template("public/search.html", q=needle, results=[
        {"name": s.name, "uscc": s.uscc, "kind": SUBJECT_KIND_LABELS[s.kind_enum]} for s in results],
        truncated=truncated)


@bp.get("/public/subjects/<uscc>")
def summary(uscc: str):
    subject = public_subject(uscc)
    return render_template("public/subject.html", summary=public_summary(subject, current_runtime()),
                           url=summary_url(subject))


@bp.get("/public/subjects/<uscc>/qr.svg")
def qr(uscc: str):
    subject = public_subject(uscc)
    response = Response(qr_svg(summary_url(subject)), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/public/subjects/<uscc>/card")
def card(uscc: str):
    subject = public_subject(uscc)
    summary_data = public_summary(subject, current_runtime())
    return render_template("public/card.html", summary=summary_data, url=summary_url(subject))
