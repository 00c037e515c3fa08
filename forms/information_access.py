"""Input schemas for authorised queries (授权查询, DOMAIN.md §9.3): granting an authorisation, and
the purpose a government-sharing query states."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema

from .fields import REQUIRED, label, text


class GrantAuthorisationSchema(Schema):
    grantee_username = text("被授权人账号", "Grantee's user name", max_len=80)
    purpose = text("查询用途", "Purpose of the queries", min_len=2, max_len=300, widget="textarea")
    valid_from = fields.Date(required=True, error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
                             metadata=label("授权起始日", "Valid from", widget="date"))
    valid_until = fields.Date(required=True, error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
                              metadata=label("授权截止日（含当日）", "Valid until (inclusive)", widget="date"))

    @validates_schema
    def period_ordered(self, data, **kwargs):
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] < data["valid_from"]:
            raise ValidationError("截止日不能早于起始日 / The period cannot end before it starts", "valid_until")

