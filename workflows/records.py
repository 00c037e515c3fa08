"""Rules about credit records that several case types share: regime, publicity, eligibility.

All periods come from `Rules` (DOMAIN.md §3.2); all dates from the statutory calendar (C2, C9, C10).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from models import CreditRecord, RecordStatus, Subject

from .calendar import StatutoryCalendar
from .rules import Rules

if TYPE_CHECKING:
    from .service import StepContext

REGIME_LABELS = {
    "ndrc58": ("国家发展改革委令第58号", "NDRC Order No. 58"),
    "ndrc36": ("国家发展改革委令第36号", "NDRC Order No. 36"),
}


def regime_for(submitted_on: date, rules: Rules) -> str:
    """The submission date decides the regime (DOMAIN.md §0.1: 令36号 from 2026-04-01)."""
    return "ndrc36" if submitted_on >= rules.repair_transition_date else "ndrc58"


@dataclass(frozen=True)
class PublicityPeriods:
    regime: str
    start: date            # 认定之日, or the restart date after a revoked repair
    min_last_day: date     # last day of the minimum publicity period (C9: no roll-over)
    eligible_from: date    # first day a repair may be applied for
    max_last_day: date     # publicity stops automatically after this day (C10)


def publicity_periods(record: CreditRecord, regime: str, rules: Rules, calendar: StatutoryCalendar) -> PublicityPeriods:
    severity = record.severity or "general"
    start = record.publicity_restarted_on or record.decided_on
    min_amount, min_unit = rules.publicity_period(regime, severity, "min")
    max_amount, max_unit = rules.publicity_period(regime, severity, "max")
    if min_amount == 0:
        # 轻微: repair is possible as soon as the obligations are met.
        min_last, eligible = start, start
    else:
        min_last, eligible = calendar.waiting_period_end(start, min_amount, min_unit)  # type: ignore[arg-type]
    max_last, _ = calendar.expiry(record.decided_on, max_amount, max_unit)  # type: ignore[arg-type]
    if record.act_ended_on:
        # SD-Cond §38: never disclosed past 5 years from the end of the act.
        cap_last, _ = calendar.expiry(record.act_ended_on, 5, "year")
        max_last = min(max_last, cap_last)
    if record.repair_barred_until and eligible <= record.repair_barred_until:
        eligible = record.repair_barred_until + timedelta(days=1)
    return PublicityPeriods(regime, start, min_last, eligible, max_last)


def is_active_on(record: CreditRecord, on: date) -> bool:
    """Does the record count (score, display) on `on`? Repaired and revoked records stop counting."""
    if on < record.decided_on:
        return False
    if record.valid_until is not None and on > record.valid_until:
        return False
    if record.status == RecordStatus.REVOKED:
        return False
    if record.status == RecordStatus.REPAIRED and record.repaired_on is not None and on >= record.repaired_on:
        return False
    return True


def is_publicly_displayed(record: CreditRecord, subject: Subject, on: date, rules: Rules,
                          calendar: StatutoryCalendar) -> bool:
    """公开公示: legal persons' dishonesty records within their publicity period, unless repaired.

    A natural person's records are never public (SD-Cond §20); 轻微 records are not published.
    """
    if subject.is_natural_person or not record.is_dishonesty or record.severity == "minor":
        return False
    if record.status != RecordStatus.ACTIVE or on < record.decided_on:
        return False
    periods = publicity_periods(record, regime_for(on, rules), rules, calendar)
    return on <= periods.max_last_day


def default_valid_until(points: int, decided_on: date, calendar: StatutoryCalendar) -> date:
    """文登 validity (WD-Score §20): deductions ≤40 → 1 Y, >40 → 2 Y; bonuses 1 Y (county level)."""
    years = 2 if points < -40 else 1
    last, _ = calendar.expiry(decided_on, years, "year")
    return last


# --- revocation: one way to delete a record, so everything resting on it follows ---------------

#: Called as hook(ctx, record, reason) after a record is revoked, inside the same fire(): open
#: objections to it are upheld (DOMAIN.md §2.3 T10) and list entries resting only on it end (§2.6).
RevocationHook = Callable[["StepContext", CreditRecord, str], None]
_REVOCATION_HOOKS: list[RevocationHook] = []


def on_record_revoked(hook: RevocationHook) -> RevocationHook:
    """Register `hook` (a case type module does this at import)."""
    _REVOCATION_HOOKS.append(hook)
    return hook


def revoke_record(ctx: StepContext, record: CreditRecord, reason: str) -> bool:
    """Delete `record` from display and score (the row stays, status revoked) and let the case
    types that rest on it react. Returns False when it was already revoked (nothing happens twice)."""
    if record.status == RecordStatus.REVOKED:
        return False
    record.status = RecordStatus.REVOKED
    record.under_objection = False
    for hook in _REVOCATION_HOOKS:
        hook(ctx, record, reason)
    return True
