"""Input schemas of the on-site verification case type (现场核查 of a commitment, DOMAIN.md §4.3)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import REQUIRED, label, reason, text

RESULT_CHOICES = (
    ("conforming", "符合承诺", "Conforming: the commitment is kept"),
    ("nonconforming", "不符合承诺", "Nonconforming: the commitment is not kept"),
)

SIGNATURE_CHOICES = (
    ("signed", "当事人已签字确认", "The subject signed the record"),
    ("refused", "当事人拒绝签字", "The subject refused to sign"),
)


def inspector_signature_field():
    """The inspector's own signature of the on-site record: a tick that must be given."""
    return fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="核查人员须签名确认现场核查记录 / The inspector must sign the record"),
        error_messages=REQUIRED,
        metadata=label("本人作为核查人员签名确认上述现场核查记录", "I sign the on-site record as an inspector",
                       widget="checkbox"),
    )


class OpenOnsiteVerificationSchema(Schema):
    commitment_case_id = fields.Integer(
        required=True, strict=False, error_messages={**REQUIRED, "invalid": "应为案件编号 / must be a case id"},
        metadata=label("核查的信用承诺", "Commitment to check", widget="hidden"))
    inspector_ids = fields.List(
        fields.Integer(strict=False, error_messages={"invalid": "应为用户编号 / must be a user id"}),
        required=True, error_messages=REQUIRED,
        metadata=label("指派的核查人员（两名）", "Inspectors assigned (two)"))
    scope = text("核查事项与要求", "What to check on site", required=False, max_len=1000, widget="textarea")


class ScheduleSchema(Schema):
    visit_on = fields.Date(
        required=True, error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
        metadata=label("核查日期", "Visit date", widget="date"))
    place = text("核查地点", "Place of the visit", required=False, max_len=300)


class InspectSchema(Schema):
    observations = reason("现场核查记录（核查情况）", "On-site record: what was seen and checked")
    subject_signature = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([c[0] for c in SIGNATURE_CHOICES],
                                error="请选择当事人是否签字 / say whether the subject signed"),
        metadata=label("当事人签字", "The subject's signature", widget="select", choices=SIGNATURE_CHOICES))
    signer_name = text("签字人姓名（当事人或其法定代表人、负责人）", "Signed by (the subject or its representative)",
                       required=False, max_len=120)
    refusal_reason = text("拒绝签字的情况与理由", "Why the subject refused to sign", required=False,
                          widget="textarea")
    inspector_signs = inspector_signature_field()

    @validates_schema
    def signature_or_refusal(self, data, **kwargs):
        if data.get("subject_signature") == "signed" and not (data.get("signer_name") or "").strip():
            raise ValidationError("当事人签字时须填写签字人姓名 / Name who signed", field_name="signer_name")
        if data.get("subject_signature") == "refused" and len((data.get("refusal_reason") or "").strip()) < 2:
            raise ValidationError("拒绝签字须记录情况与理由 / Record why the subject refused to sign",
                                  field_name="refusal_reason")


class CountersignSchema(Schema):
    inspector_signs = inspector_signature_field()


class ReportSchema(Schema):
    result = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([c[0] for c in RESULT_CHOICES], error="请选择核查结论 / choose the result"),
        metadata=label("核查结论", "Result", widget="select", choices=RESULT_CHOICES))
    findings = text("核查发现（不符合时必填）", "Findings (required when nonconforming)", required=False,
                    widget="textarea")
    # load_only: the note is stored on the case but never dumped into the ledger payload, which the
    # subject may read; the ledger keeps only its SHA-256 (see workflows.onsite_verification).
    internal_note = fields.String(
        load_only=True, load_default="",
        validate=validate.Length(max=2000, error="长度应在0到2000之间 / length must be 0-2000"),
        metadata=label("内部备注（仅核查人员可见，不向当事人公开）", "Internal note (inspectors only, not shown to the subject)",
                       widget="textarea"))

    @validates_schema
    def nonconforming_needs_findings(self, data, **kwargs):
        if data.get("result") == "nonconforming" and len((data.get("findings") or "").strip()) < 2:
            raise ValidationError("不符合承诺须写明核查发现 / A nonconforming report states the findings",
                                  field_name="findings")


class CancelSchema(Schema):
    reason = reason("取消核查的原因", "Why the check is cancelled")
