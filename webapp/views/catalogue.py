"""The scoring catalogue for administrators: the JSON API (/api/v1/admin/catalogue…) and a page.

WD-Score §21: the credit centre may adjust items and values and must publish them. Every change
goes through workflows.catalogue, which checks it against its scheme (sign, point limits, the
rural ≤2-point village items) and answers 422 with the limits in the message. Only administrators
(Permission.ADMIN_CATALOGUE) read or change it here.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, fields, validate
from sqlalchemy import func, or_, select

from models import CatalogueItem, ScoringScheme, db
from models.permissions import Permission, can
from workflows.catalogue import create_item, item_payload, update_item
from workflows.errors import Forbidden, InvalidInput, NotFound
from workflows.scoring import VALIDITY_CLASSES

from ..auth import current_user, login_required, require_api_user
from ..runtime import current_runtime
from .api import json_body, load, operation
from .common import commit

bp = Blueprint("catalogue", __name__)

PAGE_SIZE = 100
GRADES = ("B", "C", "D")


class _ItemFields(Schema):
    name_zh = fields.String(validate=validate.Length(min=1, max=400))
    name_en = fields.String(validate=validate.Length(max=400))
    kind = fields.String(validate=validate.OneOf(["add", "deduct"], error="kind 应为 add 或 deduct / add or deduct"))
    points = fields.Integer(strict=True)
    points_low = fields.Integer(strict=True, allow_none=True)
    points_high = fields.Integer(strict=True, allow_none=True)
    category = fields.String(validate=validate.Length(min=1, max=80))
    domain = fields.String(validate=validate.Length(max=80))
    validity_class = fields.String(validate=validate.OneOf(VALIDITY_CLASSES))
    subject_kinds = fields.List(fields.String(validate=validate.OneOf(["person", "organisation"])))
    direct_grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    repair_rule = fields.String(allow_none=True, validate=validate.Length(max=40))
    mirror_code = fields.String(allow_none=True, validate=validate.Length(max=40))
    scope = fields.String(validate=validate.OneOf(["standard", "village"]))
    active = fields.Boolean()


class CatalogueItemCreate(_ItemFields):
    scheme = fields.String(required=True, error_messages={"required": "必填 / Required"})
    code = fields.String(validate=validate.Length(min=3, max=40))
    name_zh = fields.String(required=True, validate=validate.Length(min=1, max=400),
                            error_messages={"required": "必填 / Required"})
    kind = fields.String(required=True, validate=validate.OneOf(["add", "deduct"]),
                         error_messages={"required": "必填 / Required"})
    points = fields.Integer(required=True, strict=True, error_messages={"required": "必填 / Required"})
    category = fields.String(required=True, validate=validate.Length(min=1, max=80),
                             error_messages={"required": "必填 / Required"})
    subject_kinds = fields.List(fields.String(validate=validate.OneOf(["person", "organisation"])), required=True,
                                error_messages={"required": "必填 / Required"})


class CatalogueItemUpdate(_ItemFields):
    code = fields.String(validate=validate.Length(min=3, max=40))


class CatalogueQuery(Schema):
    scheme = fields.String(load_default=None)
    q = fields.String(load_default="")
    kind = fields.String(load_default=None, validate=validate.OneOf(["add", "deduct"]))
    active = fields.Boolean(load_default=None)
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=PAGE_SIZE, validate=validate.Range(min=1, max=1000))


def _require_admin_api():
    user = require_api_user()
    if not can(user, Permission.ADMIN_CATALOGUE):
        raise Forbidden("仅管理员可管理评分事项目录 / Only administrators manage the scoring catalogue")
    return user


def _require_admin_page():
    user = current_user()
    if not can(user, Permission.ADMIN_CATALOGUE):
        raise Forbidden("仅管理员可管理评分事项目录 / Only administrators manage the scoring catalogue")
    return user


def _scheme_payload(row: ScoringScheme, counts: dict[tuple[int, str], int]) -> dict[str, Any]:
    return {"key": row.key, "name_zh": row.name_zh, "name_en": row.name_en, "code_prefix": row.code_prefix,
            "base": row.base, "grades": row.grades, "direct_grade_floors": row.direct_grade_floors,
            "validity_rules": row.validity_rules, "repeat_rule": row.repeat_rule, "bonus_freeze": row.bonus_freeze,
            "effective_from": row.effective_from.isoformat(),
            "effective_to": row.effective_to.isoformat() if row.effective_to else None,
            "points_min": row.points_min, "points_max": row.points_max, "options": row.options,
            "items": {"add": counts.get((row.id, "add"), 0), "deduct": counts.get((row.id, "deduct"), 0)}}


def _item_counts() -> dict[tuple[int, str], int]:
    rows = db.session.execute(select(CatalogueItem.scheme_id, CatalogueItem.kind, func.count(CatalogueItem.id))
                              .group_by(CatalogueItem.scheme_id, CatalogueItem.kind)).all()
    return {(scheme_id, kind): n for scheme_id, kind, n in rows}


def _query_items(scheme: str | None, q: str, kind: str | None, active: bool | None):
    query = select(CatalogueItem).join(ScoringScheme)
    if scheme:
        query = query.where(ScoringScheme.key == scheme)
    if q:
        like = f"%{q}%"
        query = query.where(or_(CatalogueItem.name_zh.like(like), CatalogueItem.name_en.like(like),
                                CatalogueItem.code.like(like), CatalogueItem.category.like(like)))
    if kind:
        query = query.where(CatalogueItem.kind == kind)
    if active is not None:
        query = query.where(CatalogueItem.active.is_(active))
    return query


# --- API ----------------------------------------------------------------------------------------

@operation("/admin/catalogue/schemes", "GET", "Scoring schemes (base, grade table, validity, limits)", tag="admin")
def api_schemes():
    """Admin only. Each scheme with its item counts by kind."""
    _require_admin_api()
    counts = _item_counts()
    rows = db.session.execute(select(ScoringScheme).order_by(ScoringScheme.id)).scalars()
    return jsonify({"schemes": [_scheme_payload(r, counts) for r in rows]})


@operation("/admin/catalogue", "GET", "Catalogue items, filtered by scheme, text, kind and active flag",
           query=CatalogueQuery, tag="admin")
def api_items():
    """Admin only. `q` searches the names, code and category (分项)."""
    _require_admin_api()
    args = load(CatalogueQuery, request.args)
    query = _query_items(args["scheme"], args["q"], args["kind"], args["active"])
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(query.order_by(CatalogueItem.code).offset(args["offset"])
                               .limit(args["limit"])).scalars()
    return jsonify({"total": total, "items": [item_payload(i) for i in items]})


@operation("/admin/catalogue/<int:item_id>", "GET", "One catalogue item", tag="admin")
def api_item(item_id: int):
    _require_admin_api()
    item = db.session.get(CatalogueItem, item_id)
    if item is None:
        raise NotFound(f"评分事项不存在 / no such catalogue item: {item_id}")
    return jsonify(item_payload(item))


@operation("/admin/catalogue", "POST", "Add a catalogue item to a scheme", body=CatalogueItemCreate, tag="admin")
def api_create():
    """Admin only. 422 when the points fall outside the scheme's limits (named in the message), when the
    sign does not match the kind, or for a rural village item over 2 points."""
    user = _require_admin_api()
    data = load(CatalogueItemCreate, json_body())
    scheme_key = data.pop("scheme")
    item = create_item(db.session, scheme_key, data, by=user.username, now=current_runtime().clock.now())
    payload = item_payload(item)
    commit()
    return jsonify(payload), 201


@operation("/admin/catalogue/<int:item_id>", "PUT", "Change a catalogue item (points, names, validity, active)",
           body=CatalogueItemUpdate, tag="admin")
def api_update(item_id: int):
    """Admin only. The code never changes (recorded items refer to it); deactivate instead of deleting.
    Items already recorded keep the points they were resolved with."""
    user = _require_admin_api()
    data = load(CatalogueItemUpdate, json_body())
    item = update_item(db.session, item_id, data, by=user.username, now=current_runtime().clock.now())
    payload = item_payload(item)
    commit()
    return jsonify(payload)


# --- page ---------------------------------------------------------------------------------------

def _form_changes(form) -> dict[str, Any]:
    """The edit form's fields as typed values (empty number fields mean 'no range')."""
    changes: dict[str, Any] = {}
    for name in ("name_zh", "name_en", "category", "domain", "validity_class"):
        if name in form:
            changes[name] = form[name].strip()
    errors: dict[str, list[str]] = {}
    for name in ("points", "points_low", "points_high"):
        if name in form:
            raw = form[name].strip()
            if raw == "":
                if name == "points":
                    errors[name] = ["必填 / Required"]
                changes[name] = None
                continue
            try:
                changes[name] = int(raw)
            except ValueError:
                errors[name] = ["应为整数 / Must be an integer"]
    if "direct_grade" in form:
        changes["direct_grade"] = form["direct_grade"] or None
    changes["active"] = form.get("active") == "on"
    if errors:
        raise InvalidInput("输入有误 / Invalid input", details={"fields": errors})
    return changes


def _page(status: int = 200, *, edit: CatalogueItem | None = None, errors: dict | None = None,
          message: str | None = None):
    scheme = request.args.get("scheme") or (edit.scheme.key if edit else None) or "wendeng"
    q = request.args.get("q", "").strip()
    kind = request.args.get("kind") or None
    counts = _item_counts()
    schemes = db.session.execute(select(ScoringScheme).order_by(ScoringScheme.id)).scalars().all()
    query = _query_items(scheme, q, kind if kind in ("add", "deduct") else None, None)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(query.order_by(CatalogueItem.code).limit(PAGE_SIZE * 5)).scalars().all()
    return render_template(
        "admin/catalogue.html", schemes=[(s, _scheme_payload(s, counts)) for s in schemes], scheme_key=scheme,
        q=q, kind=kind, items=items, total=total, edit=edit, errors=errors or {}, message=message,
        validity_classes=VALIDITY_CLASSES, grades=GRADES,
    ), status


@bp.get("/admin/catalogue")
@login_required
def page():
    _require_admin_page()
    edit = None
    if request.args.get("edit"):
        edit = db.session.get(CatalogueItem, int(request.args["edit"]))
    return _page(edit=edit)


@bp.post("/admin/catalogue/<int:item_id>")
@login_required
def page_update(item_id: int):
    user = _require_admin_page()
    item = db.session.get(CatalogueItem, item_id)
    if item is None:
        raise NotFound(f"评分事项不存在 / no such catalogue item: {item_id}")
    try:
        update_item(db.session, item_id, _form_changes(request.form), by=user.username,
                    now=current_runtime().clock.now())
    except InvalidInput as exc:
        db.session.rollback()
        item = db.session.get(CatalogueItem, item_id)
        errors = (exc.details or {}).get("fields") or {"points": [exc.message]}
        return _page(422, edit=item, errors=errors, message=exc.message)
    commit()
    flash(f"已保存 {item.code} / Saved {item.code}", "success")
    return redirect(url_for("catalogue.page", scheme=item.scheme.key, q=request.args.get("q", "")))

