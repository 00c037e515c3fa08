"""Input schemas of the record withdrawal case type (信息撤回: the decision behind a record was
revoked or changed, DOMAIN.md §2.3 T10, §9.1)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import REQUIRED, label, reason, text

CHANGE_CHOICES = (
    ("revoke", "原决定撤销：撤回（删除）该信息", "Decision revoked: withdraw (delete) the record"),
    ("change", "原决定变更：更正该信息", "Decision changed: correct the record"),
)


class OpenWithdrawalSchema(Schema):
    record_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                               metadata=label("所涉信用信息", "Record concerned", widget="hidden"))
    change = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([c[0] for c in CHANGE_CHOICES], error="请选择撤销或变更 / choose revoke or change"),
        metadata=label("原决定的变化", "What happened to the decision", widget="select", choices=CHANGE_CHOICES),
    )
    revoked_on = fields.Date(required=True, error_messages=REQUIRED,
                             metadata=label("原决定撤销或变更之日（3个工作日自此起算）",
                                            "Day the decision was revoked or changed (the 3 WD run from it)",
                                            widget="date"))
    document_no = text("撤销或变更文书文号", "Number of the revoking or changing document", max_len=120)
    reason = reason("撤销或变更情况", "What was revoked or changed, and by whom")
    title = text("更正后的信息标题", "Corrected title", required=False, max_len=300)
    points = fields.Integer(required=False, allow_none=True, strict=False,
                            metadata=label("更正后的分值", "Corrected points"))

    @validates_schema
    def change_needs_content(self, data, **kwargs):
        if data.get("change") == "change" and not data.get("title") and data.get("points") is None:
            raise ValidationError("变更须给出更正后的标题或分值 / A change needs a corrected title or points",
                                  field_name="title")


class WithdrawSchema(Schema):
    note = text("办理说明（已撤回或更正并报送平台）", "Note (withdrawn or corrected and reported to the platform)",
                required=False, widget="textarea")


class CancelSchema(Schema):
    reason = reason("撤销理由（报告有误的情况）", "Why the report was wrong")
