"""Schemas for subjects and their credit records (API and admin pages)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import REQUIRED, USCC, IDNumber, label, text


class SubjectCreateSchema(Schema):
    kind = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf(["legal_person", "other_org", "natural_person"],
                                error="主体类型应为 legal_person、other_org 或 natural_person / unknown subject kind"),
        metadata=label("主体类型", "Kind"),
    )
    name = text("名称或姓名", "Name", max_len=200)
    uscc = USCC(load_default=None, metadata=label("统一社会信用代码", "USCC"))
    id_number = IDNumber(load_default=None, metadata=label("身份证号码", "ID number"))
    legal_representative = text("法定代表人", "Legal representative", required=False, max_len=120)
    address = text("地址", "Address", required=False, max_len=300)

    @validates_schema
    def identifier_matches_kind(self, data, **kwargs):
        if data["kind"] == "natural_person":
            if not data.get("id_number"):
                raise ValidationError("自然人须提供身份证号码 / a natural person needs an ID number", "id_number")
            if data.get("uscc"):
                raise ValidationError("自然人没有统一社会信用代码 / a natural person has no USCC", "uscc")
        elif not data.get("uscc"):
            raise ValidationError("组织须提供统一社会信用代码 / an organisation needs a USCC", "uscc")


class RecordCreateSchema(Schema):
    kind = fields.String(load_default="dishonesty",
                         validate=validate.OneOf(["dishonesty", "positive"],
                                                 error="记录类型应为 dishonesty 或 positive / unknown kind"))
    title = text("事项", "Title", max_len=300)
    description = text("内容", "Description", required=False, max_len=5000)
    severity = fields.String(load_default=None, validate=validate.OneOf(
        ["minor", "general", "serious"], error="严重程度应为 minor、general 或 serious / unknown severity"))
    category = text("评价分项", "Scoring category", required=False, max_len=80)
    document_no = text("决定书文号", "Decision number", required=False, max_len=120)
    decided_on = fields.Date(required=True, error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"})
    act_ended_on = fields.Date(load_default=None)
    department_code = fields.String(load_default=None)
    points = fields.Integer(load_default=None, validate=validate.Range(min=-1000, max=1000))
    valid_until = fields.Date(load_default=None)

    @validates_schema
    def dishonesty_has_severity(self, data, **kwargs):
        if data["kind"] == "dishonesty" and not data.get("severity"):
            raise ValidationError("失信记录须注明严重程度 / a dishonesty record needs a severity", "severity")
