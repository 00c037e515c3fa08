"""Step input schemas of the objection case type (异议), one per step that takes input."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import REQUIRED, label, reason, text

GROUNDS_CHOICES = (
    ("inaccurate", "信息错误", "The content is wrong"),
    ("incomplete", "信息不完整", "The content is incomplete"),
    ("infringement", "采集、公开或使用侵犯合法权益", "Collection, disclosure or use infringes lawful rights"),
    ("should_not_list", "不应列入", "Should not have been listed"),
    ("publicity_period", "公示期限有误", "The publicity period is wrong"),
    ("repair_result", "对修复结果有异议", "Objection to a repair result"),
)

CORRECTION_CHOICES = (
    ("correct", "更正", "Correct the record"),
    ("delete", "删除", "Delete the record"),
)


def _grounds():
    return fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in GROUNDS_CHOICES], error="请选择异议理由 / choose the grounds"),
        error_messages=REQUIRED,
        metadata=label("异议理由", "Grounds", widget="select", choices=GROUNDS_CHOICES),
    )


class OpenObjectionSchema(Schema):
    record_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                               metadata=label("异议信用信息", "Disputed record", widget="hidden"))
    grounds = _grounds()
    statement = text("异议说明（事实与理由）", "Statement: facts and reasons", required=False, widget="textarea")
    contact_phone = text("联系电话", "Contact phone", required=False, max_len=30)


class SubmitSchema(Schema):
    statement = text("异议说明（事实与理由）", "Statement: facts and reasons", min_len=5, widget="textarea")
    contact_phone = text("联系电话", "Contact phone", required=False, max_len=30)


class ResubmitSchema(Schema):
    note = text("补正说明", "Note on the supplement", required=False, widget="textarea")


class ReturnForSupplementSchema(Schema):
    reason = reason("需补正的内容（身份证明、证明材料等，一次性告知）", "What must be supplied (ID, proof), all at once")


class NotAcceptSchema(Schema):
    reason = reason("不予受理理由", "Why it is not accepted")


class NoteSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class RouteToProviderSchema(Schema):
    letter = text("协查函内容", "Verification request letter (协查函)", min_len=2, widget="textarea")


class UpholdSchema(Schema):
    correction = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in CORRECTION_CHOICES], error="请选择处理方式 / choose correct or delete"),
        error_messages=REQUIRED,
        metadata=label("处理方式", "Correction", widget="select", choices=CORRECTION_CHOICES),
    )
    title = text("更正后的标题", "Corrected title", required=False, max_len=300)
    description = text("更正后的内容", "Corrected description", required=False, widget="textarea")
    points = fields.Integer(required=False, load_default=None, allow_none=True, strict=False,
                            metadata=label("更正后的分值", "Corrected points"))
    reason = reason("核查意见", "Findings", required=False)

    @validates_schema
    def correction_has_content(self, data, **kwargs):
        if data.get("correction") == "correct" and not (data.get("title") or data.get("description")
                                                        or data.get("points") is not None):
            raise ValidationError("更正须给出更正后的标题、内容或分值 / a correction needs a new title, description "
                                  "or points", field_name="title")


class PartlyUpholdSchema(UpholdSchema):
    correction = fields.String(
        load_default="correct",
        validate=validate.Equal("correct", error="部分成立只能更正 / partly upheld means a correction"),
        metadata=label("处理方式", "Correction", widget="hidden"),
    )
    reason = reason("核查意见（哪些部分成立）", "Findings (which parts are upheld)")


class RejectSchema(Schema):
    reason = reason("不予更改的理由", "Why the record stays unchanged")


class UnresolvedSchema(Schema):
    reason = reason("核查情况（无法确认的原因）", "Verification outcome (why it cannot be confirmed)")


class NotifySchema(Schema):
    note = text("告知书补充说明", "Additional text for the written notice", required=False, widget="textarea")


class WithdrawSchema(Schema):
    reason = reason("撤回原因", "Why you withdraw", required=False)


class OpenPositiveDeletionSchema(Schema):
    record_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                               metadata=label("要删除的表彰、志愿、捐赠等信息", "Positive item to delete", widget="hidden"))
    statement = text("说明", "Statement", required=False, widget="textarea")
