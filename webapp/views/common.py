"""Helpers every audience's views share: the transaction boundary, loading a case the viewer may
see, the case read-model used by both the pages and the API, and checked uploads."""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import date

from flask_sqlalchemy.session import Session as FlaskSession
from werkzeug.datastructures import FileStorage

from models import Attachment, Case, Deadline, Subject, db
from models.permissions import Actor, Permission, can, can_view_case, can_view_subject
from models.subject import SEVERITY_LABELS, mask_id_number
from notifications.outbox import commit_and_dispatch, install
from workflows import deadlines as deadline_rules
from workflows.base import get_case_type
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed
from workflows.records import is_active_on, publicity_periods, regime_for
from workflows.service import Runtime, available_actions, linked_cases, linking_cases

install(FlaskSession)

MAGIC = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}


def commit() -> None:
    """The entry point's commit: then, and only then, hand new outbox rows to Celery."""
    commit_and_dispatch(db.session)


def case_for(user: Actor, case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not can_view_case(user, case):
        # Another applicant's case is indistinguishable from a missing one.
        raise NotFound("案件不存在 / No such case", details={"case_id": case_id})
    return case


def subject_for(user: Actor, subject_id: int) -> Subject:
    subject = db.session.get(Subject, subject_id)
    if subject is None or not can_view_subject(user, subject):
        raise NotFound("主体不存在 / No such subject", details={"subject_id": subject_id})
    return subject


def subject_payload(subject: Subject, viewer: Actor) -> dict:
    """Identifiers masked unless the viewer acts for the subject or is an administrator."""
    sees_full = can(viewer, Permission.ADMIN_USERS) or any(s.id == subject.id for s in getattr(viewer, "subjects", []))
    return {
        "id": subject.id,
        "kind": subject.kind,
        "name": subject.name,
        "uscc": subject.uscc,
        "id_number": (subject.id_number if sees_full else mask_id_number(subject.id_number))
        if subject.id_number else None,
        "legal_representative": subject.legal_representative,
    }


def record_payload(record, runtime: Runtime, on: date | None = None) -> dict:
    calendar = runtime.calendar()
    on = on or runtime.today()
    payload = {
        "id": record.id,
        "kind": record.kind,
        "title": record.title,
        "description": record.description,
        "severity": record.severity,
        "severity_label_zh": SEVERITY_LABELS[record.severity][0] if record.severity else None,
        "severity_label_en": SEVERITY_LABELS[record.severity][1] if record.severity else None,
        "category": record.category,
        "document_no": record.document_no,
        "decided_on": record.decided_on.isoformat(),
        "department": record.department.name if record.department else None,
        "points": record.points,
        "valid_until": record.valid_until.isoformat() if record.valid_until else None,
        "status": record.status,
        "repaired_on": record.repaired_on.isoformat() if record.repaired_on else None,
        "active": is_active_on(record, on),
        "under_objection": bool(record.under_objection),
    }
    if record.is_dishonesty:
        periods = publicity_periods(record, regime_for(calendar.deemed_receipt(on), runtime.rules),
                                    runtime.rules, calendar)
        payload.update({
            "eligible_from": periods.eligible_from.isoformat(),
            "publicity_until": periods.max_last_day.isoformat(),
            "repair_barred_until": record.repair_barred_until.isoformat() if record.repair_barred_until else None,
            "repairable_now": record.status == "active" and calendar.deemed_receipt(on) >= periods.eligible_from,
        })
    return payload


def deadline_payload(deadline: Deadline, runtime: Runtime) -> dict:
    case_type = get_case_type(deadline.case.case_type)
    timer = next((t for t in case_type.timers if t.kind == deadline.kind), None) if case_type else None
    return {
        "id": deadline.id,
        "kind": deadline.kind,
        "label_zh": timer.label_zh if timer else deadline.kind,
        "label_en": timer.label_en if timer else deadline.kind,
        "unit": deadline.unit,
        "budget": deadline.budget,
        "extended_by": deadline.extended_by,
        "start": deadline.start_on.isoformat(),
        "due": deadline.due_on.isoformat() if deadline.due_on else None,
        "status": deadline.status,
        "time_left": deadline_rules.time_left_status(deadline, runtime.clock.now(), runtime.calendar()),
        "responsible": deadline.responsible,
        "suspensions": [{"from": s.from_on.isoformat(), "until": s.until_on.isoformat() if s.until_on else None}
                        for s in deadline.suspensions],
        "extensions": [{"amount": e.amount, "reason": e.reason} for e in deadline.extensions],
    }


def action_payload(action) -> dict:
    from .forms import describe_schema

    return {
        "trigger": action.trigger,
        "label_zh": action.label_zh,
        "label_en": action.label_en,
        "enabled": action.enabled,
        "reasons": action.reasons,
        "style": action.style,
        "fields": describe_schema(action.schema) if action.schema else [],
    }


def case_payload(case: Case, viewer: Actor, runtime: Runtime) -> dict:
    case_type = get_case_type(case.case_type)
    label_zh, label_en = case_type.state_label(case.state)
    return {
        "id": case.id,
        "reference": case.reference,
        "case_type": case.case_type,
        "case_type_label_zh": case_type.label_zh,
        "case_type_label_en": case_type.label_en,
        "definition_version": case.definition_version,
        "state": case.state,
        "state_label_zh": label_zh,
        "state_label_en": label_en,
        "terminal": case_type.is_terminal(case.state),
        "version": case.version,
        "subject": subject_payload(case.subject, viewer),
        "department": case.department.name if case.department else None,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "deadlines": [deadline_payload(d, runtime) for d in case.deadlines],
        "events": [
            {"seq": e.seq, "trigger": e.trigger, "from": e.from_state, "to": e.to_state,
             "actor": e.actor_name, "actor_role": e.actor_role, "payload": e.payload, "reason": e.reason,
             "at": e.occurred_at.isoformat(), "hash": e.hash}
            for e in case.events
        ],
        "attachments": [
            {"id": a.id, "material_key": a.material_key, "filename": a.filename, "content_type": a.content_type,
             "size_bytes": a.size_bytes, "sha256": a.sha256, "uploaded_at": a.uploaded_at.isoformat()}
            for a in case.attachments
        ],
        "available_actions": [action_payload(a) for a in available_actions(case, viewer, runtime=runtime)],
        "details": case_type.describe(case, runtime) if case_type.describe else {},
        "links": links_payload(case, viewer),
    }


def links_payload(case: Case, viewer: Actor) -> list[dict]:
    """The cases this one opened or was opened by (a repair's commitment, a listing's repair), as far
    as the viewer may see them."""
    out = []
    for direction, cases in (("to", linked_cases(case)), ("from", linking_cases(case))):
        for other in cases:
            if not can_view_case(viewer, other):
                continue
            other_type = get_case_type(other.case_type)
            zh, en = other_type.state_label(other.state)
            out.append({"id": other.id, "reference": other.reference, "case_type": other.case_type,
                        "case_type_label_zh": other_type.label_zh, "case_type_label_en": other_type.label_en,
                        "state": other.state, "state_label_zh": zh, "state_label_en": en, "direction": direction})
    return out


def save_upload(case: Case, material_key: str, upload: FileStorage | None, user: Actor, runtime: Runtime) -> Attachment:
    """Store one material file after checking who, when, which item, type (by content) and size."""
    if not can(user, Permission.APPLICANT_ACT, case):
        raise Forbidden("只有申请人可以上传材料 / Only the applicant may upload materials")
    case_type = get_case_type(case.case_type)
    if case.state not in case_type.upload_states:
        raise TransitionNotAllowed(
            "当前状态不能上传材料 / Materials can be uploaded only while drafting or supplementing",
            details={"state": case.state, "reasons": ["state is " + case.state]},
        )
    known = {m.key for m in upload_materials(case_type, case)}
    if material_key not in known:
        raise InvalidInput("未知的材料项 / Unknown material", details={"fields": {"material_key": [
            f"应为以下之一 / must be one of: {', '.join(sorted(known))}"]}})
    return store_checked_file(case, material_key, upload, user, runtime, allowed=list(runtime.rules["uploads.allowed_types"]),
                              what=("文件", "File"), types_text=("PDF、PNG、JPEG", "PDF, PNG or JPEG"))


def store_checked_file(case: Case, material_key: str, upload: FileStorage | None, user: Actor, runtime: Runtime, *,
                       allowed: list[str], what: tuple[str, str], types_text: tuple[str, str]) -> Attachment:
    """Check one uploaded file's presence, size and type (by its content, not its name), store it
    and add its Attachment row. `what` and `types_text` word the errors ("照片"/"Photo", ...)."""
    what_zh, what_en = what
    if upload is None or not upload.filename:
        raise InvalidInput(f"请选择{what_zh} / Choose a {what_en.lower()}", details={"fields": {"file": ["必填 / Required"]}})
    max_bytes = int(runtime.rules["uploads.max_bytes"])
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        limit = human_size(max_bytes)
        raise InvalidInput(
            f"{what_zh}过大，上限 {limit} / {what_en} too large: the limit is {limit}",
            details={"fields": {"file": [f"max {max_bytes} bytes"]}, "max_bytes": max_bytes})
    sniffed = next((ctype for ctype, magics in MAGIC.items() if any(data.startswith(m) for m in magics)), None)
    if sniffed is None or sniffed not in allowed:
        raise InvalidInput(
            f"文件类型不允许，仅限 {types_text[0]} / File type not allowed: {types_text[1]} only",
            details={"fields": {"file": ["type not allowed / 类型不允许"]}, "allowed_types": allowed})
    storage_key = f"{case.id}-{uuid.uuid4().hex}"
    os.makedirs(runtime.upload_dir, exist_ok=True)
    with open(os.path.join(runtime.upload_dir, storage_key), "wb") as fh:
        fh.write(data)
    attachment = Attachment(
        case_id=case.id, material_key=material_key, filename=os.path.basename(upload.filename)[:255],
        content_type=sniffed, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=storage_key,
        uploaded_by_id=getattr(user, "id", None), uploaded_at=runtime.clock.now(),
    )
    db.session.add(attachment)
    db.session.flush()
    return attachment


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def upload_materials(case_type, case: Case) -> list:
    return case_type.uploads(case) if case_type.uploads else []
