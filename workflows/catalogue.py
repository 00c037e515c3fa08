"""The scoring catalogue as rows: loading the shipped schemes, and an administrator's edits.

`load_builtin_schemes` seeds workflows/data/schemes/*.json into `scoring_schemes` and
`catalogue_items`. It is idempotent: a scheme or item that exists is left as it is (an
administrator's edits win over the seed file), a missing one is added. `validate_item` is the one
place that checks a row against its scheme: sign, the scheme's point limits (422 with the limits in
the message), the ≤2-point village items of the rural scheme, ranges, validity class and subject
kinds. Everything here flushes and never commits.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from models import CatalogueItem, ScoringScheme

from .errors import InvalidInput, NotFound
from .scoring import (DEFAULT_SCHEME_KEY, VALIDITY_CLASSES, Scheme, builtin_scheme, builtin_scheme_data,
                      builtin_scheme_keys)

ITEM_FIELDS = ("code", "name_zh", "name_en", "kind", "points", "points_low", "points_high", "category", "domain",
               "validity_class", "subject_kinds", "direct_grade", "repair_rule", "mirror_code", "scope", "active")
SCHEME_FIELDS = ("key", "name_zh", "name_en", "code_prefix", "base", "grades", "direct_grade_floors",
                 "validity_rules", "repeat_rule", "bonus_freeze", "options", "points_min", "points_max", "source")


def _scheme_row(data: Mapping[str, Any], now: datetime | None) -> ScoringScheme:
    row = ScoringScheme(**{k: data.get(k) for k in SCHEME_FIELDS})
    row.effective_from = date.fromisoformat(data["effective_from"])
    row.effective_to = date.fromisoformat(data["effective_to"]) if data.get("effective_to") else None
    row.loaded_at = now
    return row


def load_builtin_schemes(session: Session, *, now: datetime | None = None,
                         keys: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Seed the shipped schemes and catalogues; returns {scheme key: {"scheme": 0/1, "items": n added}}."""
    result: dict[str, dict[str, int]] = {}
    for key in keys or builtin_scheme_keys():
        data = builtin_scheme_data(key)
        scheme_row = session.execute(select(ScoringScheme).where(ScoringScheme.key == key)).scalar_one_or_none()
        created = scheme_row is None
        if scheme_row is None:
            scheme_row = _scheme_row(data, now)
            session.add(scheme_row)
            session.flush()
        known = set(session.execute(select(CatalogueItem.code)).scalars())
        rows = [{"scheme_id": scheme_row.id, "active": True, "updated_at": now, "updated_by": "seed",
                 **{k: item.get(k) for k in ITEM_FIELDS if k != "active"}}
                for item in data["items"] if item["code"] not in known]
        if rows:
            # One executemany: the demo seed runs before many tests, hundreds of ORM objects would show.
            session.execute(insert(CatalogueItem), rows)
        result[key] = {"scheme": int(created), "items": len(rows)}
    return result


def scheme_row(session: Session, key: str) -> ScoringScheme:
    row = session.execute(select(ScoringScheme).where(ScoringScheme.key == key)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"评分方案不存在：{key} / no such scoring scheme: {key}")
    return row


def scheme_for(session: Session | None, key: str = DEFAULT_SCHEME_KEY) -> Scheme:
    """The scheme as the administrator left it, or the shipped one when the tables are not seeded."""
    if session is not None:
        row = session.execute(select(ScoringScheme).where(ScoringScheme.key == key)).scalar_one_or_none()
        if row is not None:
            return Scheme.from_model(row)
    return builtin_scheme(key)


# --- validation ---------------------------------------------------------------------------------

def _err(field: str, zh: str, en: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"{zh} / {en}", details={"fields": {field: [f"{zh} / {en}"]}, **details})


def validate_item(scheme: Scheme, values: Mapping[str, Any], *, village_count: int = 0) -> None:
    """Raise InvalidInput (422) when `values` (a full item) does not fit `scheme`."""
    kind, points = values.get("kind"), values.get("points")
    if kind not in ("add", "deduct"):
        raise _err("kind", "类型应为 add 或 deduct", "kind must be add or deduct")
    if not isinstance(points, int) or isinstance(points, bool):
        raise _err("points", "分值应为整数", "points must be an integer")
    limits = {"points_min": scheme.points_min, "points_max": scheme.points_max}
    for name in ("points", "points_low", "points_high"):
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _err(name, "分值应为整数", "points must be integers")
        if not scheme.points_min <= value <= scheme.points_max:
            raise _err(name, f"分值 {value} 超出方案“{scheme.name_zh}”的限制（{scheme.points_min} 至 {scheme.points_max}）",
                       f"points {value} outside the limits of scheme {scheme.key} ({scheme.points_min} to "
                       f"{scheme.points_max})", limits=limits)
        if (kind == "add" and value < 0) or (kind == "deduct" and value > 0):
            raise _err(name, "加分事项分值不能为负，减分事项分值不能为正",
                       "an add item cannot carry negative points, a deduct item positive ones")
    low, high = values.get("points_low"), values.get("points_high")
    if (low is None) != (high is None):
        raise _err("points_low", "分值范围须同时给出上下限", "give both ends of the points range")
    if low is not None and not low <= points <= high:
        raise _err("points", f"默认分值应在范围 {low} 至 {high} 之内", f"the default points must lie in {low}..{high}")
    direct = values.get("direct_grade")
    if direct not in (None, "B", "C", "D"):
        raise _err("direct_grade", "直接判级应为 B、C 或 D", "direct_grade must be B, C or D")
    if direct and kind != "deduct":
        raise _err("direct_grade", "只有减分事项可以直接判级", "only deduct items carry a direct grade")
    if values.get("validity_class") not in VALIDITY_CLASSES:
        raise _err("validity_class", "未知的有效期类别", "unknown validity class", allowed=list(VALIDITY_CLASSES))
    kinds = values.get("subject_kinds")
    if not kinds or not isinstance(kinds, list) or not set(kinds) <= {"person", "organisation"}:
        raise _err("subject_kinds", "适用主体应为 person 和/或 organisation", "subject_kinds: person and/or organisation")
    if not (values.get("category") or "").strip():
        raise _err("category", "分项（重复失信判断依据）必填", "category (the repeat-detection key) is required")
    if not (values.get("name_zh") or "").strip():
        raise _err("name_zh", "中文名称必填", "name_zh is required")
    scope = values.get("scope") or "standard"
    if scope not in ("standard", "village"):
        raise _err("scope", "范围应为 standard 或 village", "scope must be standard or village")
    if scope == "village":
        max_abs = scheme.options.get("village_item_max_abs")
        if max_abs is None:
            raise _err("scope", "该方案没有村级自选项", f"scheme {scheme.key} has no village items")
        if any(abs(v) > int(max_abs) for v in (points, low, high) if v is not None):
            raise _err("points", f"村级自选项每项分值不超过 {max_abs} 分（更大分值须报区社会信用中心审核）",
                       f"village items carry at most {max_abs} points (larger ones need the district centre's approval)",
                       limits={"village_item_max_abs": max_abs})
        per_kind = scheme.options.get("village_items_per_kind")
        if per_kind is not None and village_count >= int(per_kind):
            raise _err("scope", f"村级自选{'奖' if kind == 'add' else '扣'}分项最多 {per_kind} 条",
                       f"at most {per_kind} village {kind} items")
    code = values.get("code") or ""
    if not code.startswith(scheme.code_prefix + "-"):
        raise _err("code", f"编码应以 {scheme.code_prefix}- 开头", f"the code must start with {scheme.code_prefix}-")


def _village_count(session: Session, scheme_id: int, kind: str, exclude_id: int | None = None) -> int:
    query = select(func.count(CatalogueItem.id)).where(
        CatalogueItem.scheme_id == scheme_id, CatalogueItem.scope == "village", CatalogueItem.kind == kind,
        CatalogueItem.active.is_(True))
    if exclude_id is not None:
        query = query.where(CatalogueItem.id != exclude_id)
    return int(session.execute(query).scalar_one())


def item_values(item: CatalogueItem) -> dict[str, Any]:
    return {k: getattr(item, k) for k in ITEM_FIELDS}


def item_payload(item: CatalogueItem) -> dict[str, Any]:
    return {"id": item.id, "scheme": item.scheme.key, **item_values(item),
            "updated_at": item.updated_at.isoformat() if item.updated_at else None, "updated_by": item.updated_by}


def next_code(session: Session, scheme: ScoringScheme, subject_kinds: list[str], kind: str) -> str:
    """A fresh code in the seed files' pattern, e.g. WD-P-D272 (P person, O organisation, PO both)."""
    who = "PO" if len(subject_kinds) > 1 else ("P" if subject_kinds == ["person"] else "O")
    stem = f"{scheme.code_prefix}-{who}-{'D' if kind == 'deduct' else 'A'}"
    codes = session.execute(select(CatalogueItem.code).where(CatalogueItem.code.like(f"{stem}%"))).scalars()
    numbers = [int(c[len(stem):]) for c in codes if c[len(stem):].isdigit()]
    return f"{stem}{max(numbers, default=0) + 1:03d}"


def create_item(session: Session, scheme_key: str, values: Mapping[str, Any], *, by: str,
                now: datetime | None = None) -> CatalogueItem:
    row = scheme_row(session, scheme_key)
    scheme = Scheme.from_model(row)
    data = {"scope": "standard", "active": True, "name_en": "", "domain": "", **values}
    kind = data.get("kind")
    if data.get("validity_class") is None and kind in ("add", "deduct"):
        data["validity_class"] = "direct" if data.get("direct_grade") else (
            "deduction" if kind == "deduct" else "bonus_other")
    if not data.get("code") and kind in ("add", "deduct") and isinstance(data.get("subject_kinds"), list):
        data["code"] = next_code(session, row, data["subject_kinds"], kind)
    village = _village_count(session, row.id, str(kind)) if data.get("scope") == "village" else 0
    validate_item(scheme, data, village_count=village)
    if session.execute(select(CatalogueItem.id).where(CatalogueItem.code == data["code"])).first():
        raise _err("code", f"编码 {data['code']} 已存在", f"code {data['code']} exists already")
    item = CatalogueItem(scheme_id=row.id, updated_at=now, updated_by=by, **{k: data.get(k) for k in ITEM_FIELDS})
    session.add(item)
    session.flush()
    return item


def update_item(session: Session, item_id: int, changes: Mapping[str, Any], *, by: str,
                now: datetime | None = None) -> CatalogueItem:
    item = session.get(CatalogueItem, item_id)
    if item is None:
        raise NotFound(f"评分事项不存在 / no such catalogue item: {item_id}")
    if "code" in changes and changes["code"] != item.code:
        raise _err("code", "编码不可修改（已记录的事项引用它）", "the code cannot change (recorded items refer to it)")
    values = {**item_values(item), **{k: v for k, v in changes.items() if k in ITEM_FIELDS}}
    village = (_village_count(session, item.scheme_id, values["kind"], exclude_id=item.id)
               if values.get("scope") == "village" and values.get("active") else 0)
    validate_item(Scheme.from_model(item.scheme), values, village_count=village)
    for key, value in values.items():
        setattr(item, key, value)
    item.updated_at, item.updated_by = now, by
    session.flush()
    return item


def configured_scheme(session: Session | None, rules: Mapping[str, Any]) -> Scheme:
    """The deployment's scheme (rules key `score.scheme`, DOMAIN.md §12), as edited by the administrator."""
    return scheme_for(session, str(rules.get("score.scheme", DEFAULT_SCHEME_KEY)))
