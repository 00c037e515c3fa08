"""Input schemas of credit repair training (信用修复专题培训, DOMAIN.md §4.1): the session a trainer
schedules, the enrolment an applicant files for a subject, and one schema per step that takes input."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from .fields import REQUIRED, label, reason, text

MODE_CHOICES = (
    ("onsite", "线下（现场授课）", "On site"),
    ("online", "线上（网络直播）", "Online"),
)


class CreateSessionSchema(Schema):
    title = text("培训名称", "Title", max_len=200)
    held_on = fields.Date(required=True, error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
                          metadata=label("培训日期", "Date", widget="date"))
    starts_at = fields.Time(required=True, error_messages={**REQUIRED, "invalid": "时间格式应为 HH:MM / use HH:MM"},
                            metadata=label("开始时间（如 09:30）", "Start time (e.g. 09:30)"))
    mode = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([c[0] for c in MODE_CHOICES], error="请选择线下或线上 / choose on site or online"),
        metadata=label("培训方式", "Mode", widget="select", choices=MODE_CHOICES),
    )
    place = text("地点或线上会议链接", "Place, or the online meeting link", max_len=300)
    hours = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                           validate=validate.Range(min=1, max=40, error="学时应在1到40之间 / hours must be 1-40"),
                           metadata=label("学时", "Hours"))
    capacity = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                              validate=validate.Range(min=1, max=1000,
                                                      error="名额应在1到1000之间 / capacity must be 1-1000"),
                              metadata=label("名额（人）", "Capacity (places)"))
    description = text("培训内容", "Content", required=False, widget="textarea")


class CancelSessionSchema(Schema):
    reason = reason("取消培训的原因", "Why the session is cancelled")


class OpenEnrolmentSchema(Schema):
    session_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                                metadata=label("培训场次", "Session", widget="hidden"))
    attendee_name = text("参训人员姓名（法定代表人或指定人员）", "Who attends (legal representative or staff)",
                         max_len=120)
    attendee_phone = text("联系电话", "Contact phone", required=False, max_len=30)


class WithdrawSchema(Schema):
    reason = reason("取消报名的原因", "Why you cancel the enrolment", required=False)


class CancelSchema(Schema):
    reason = reason("取消报名的原因", "Why the enrolment is cancelled")


class MarkAttendedSchema(Schema):
    note = text("签到说明", "Sign-in note", required=False)


class MarkAbsentSchema(Schema):
    note = text("缺席说明", "Note on the absence", required=False)


class PassSchema(Schema):
    score = fields.Integer(required=False, strict=False, allow_none=True, load_default=None,
                           validate=validate.Range(min=0, max=100, error="成绩应在0到100之间 / score must be 0-100"),
                           metadata=label("考核成绩（0-100，可不填）", "Score (0-100, optional)"))
    note = text("考核意见", "Assessment note", required=False)


class FailSchema(Schema):
    score = fields.Integer(required=False, strict=False, allow_none=True, load_default=None,
                           validate=validate.Range(min=0, max=100, error="成绩应在0到100之间 / score must be 0-100"),
                           metadata=label("考核成绩（0-100，可不填）", "Score (0-100, optional)"))
    reason = reason("不合格的理由", "Why the assessment is failed")


class IssueCertificateSchema(Schema):
    note = text("备注", "Note", required=False)
