"""The append-only, hash-chained audit ledger of every case.

Each event's hash covers its own content and the previous event's hash, so editing or deleting
any event breaks every later link; `verify_case` and `verify_all` find the first broken link.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Case, CaseEvent

GENESIS = "0" * 64


def event_hash(
    *,
    case_id: int,
    seq: int,
    trigger: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    actor_role: str,
    payload: dict[str, Any],
    reason: str,
    occurred_at: datetime,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        {
            "case_id": case_id,
            "seq": seq,
            "trigger": trigger,
            "from": from_state,
            "to": to_state,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "payload": payload,
            "reason": reason,
            # Always UTC: the database hands back UTC, whatever zone the clock used.
            "at": occurred_at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
            "prev": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append_event(
    session: Session,
    case: Case,
    *,
    trigger: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    actor_role: str,
    actor_name: str,
    payload: dict[str, Any],
    reason: str,
    occurred_at: datetime,
) -> CaseEvent:
    last = session.execute(
        select(CaseEvent.seq, CaseEvent.hash)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    event = CaseEvent(
        case_id=case.id,
        seq=seq,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor_id,
        actor_role=actor_role,
        actor_name=actor_name,
        payload=payload,
        reason=reason,
        occurred_at=occurred_at,
        prev_hash=prev,
        hash=event_hash(
            case_id=case.id, seq=seq, trigger=trigger, from_state=from_state, to_state=to_state,
            actor_id=actor_id, actor_role=actor_role, payload=payload, reason=reason,
            occurred_at=occurred_at, prev_hash=prev,
        ),
    )
    session.add(event)
    return event


@dataclass
class LedgerProblem:
    case_id: int
    seq: int
    problem: str


def verify_case(events: list[CaseEvent]) -> LedgerProblem | None:
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return LedgerProblem(event.case_id, event.seq, f"sequence gap: expected {expected_seq}")
        if event.prev_hash != prev:
            return LedgerProblem(event.case_id, event.seq, "previous-hash link broken")
        recomputed = event_hash(
            case_id=event.case_id, seq=event.seq, trigger=event.trigger, from_state=event.from_state,
            to_state=event.to_state, actor_id=event.actor_id, actor_role=event.actor_role,
            payload=event.payload, reason=event.reason, occurred_at=event.occurred_at, prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return LedgerProblem(event.case_id, event.seq, "content does not match its hash")
        prev = event.hash
    return None


def verify_all(session: Session, progress=None) -> tuple[int, list[LedgerProblem]]:
    """Check every case's chain and that each case's state is the last event's target."""
    problems: list[LedgerProblem] = []
    cases = session.execute(select(Case.id, Case.state)).all()
    for n, (case_id, state) in enumerate(cases, start=1):
        events = list(
            session.execute(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)).scalars()
        )
        problem = verify_case(events)
        if problem is None and events and events[-1].to_state != state:
            problem = LedgerProblem(case_id, events[-1].seq, f"case state {state!r} differs from the ledger")
        if problem is None and not events:
            problem = LedgerProblem(case_id, 0, "case has no ledger events")
        if problem:
            problems.append(problem)
        if progress:
            progress(n, len(cases))
    return len(cases), problems
