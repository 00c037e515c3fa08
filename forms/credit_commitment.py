"""Step input schemas of the credit commitment case type (信用承诺), one per step that takes input."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.credit_commitment import COMMITMENT_TYPES

from .fields import REQUIRED, label, reason, text

#: (value, zh, en) for every commitment type (DOMAIN.md §1.2), in COMMITMENT_TYPES order.
COMMITMENT_TYPE_CHOICES = (
    ("approval_substitute", "审批替代型（告知承诺）", "Approval substitute (notify-and-commit)"),
    ("deficiency", "容缺受理型", "Acceptance with deficiencies"),
    ("certificate_substitute", "证明事项告知承诺型", "Commitment replacing a certificate"),
    ("industry_self_discipline", "行业自律型", "Industry self-discipline"),
    ("voluntary", "主动型（主动公示型）", "Voluntary public commitment"),
    ("repair", "信用修复型", "Credit repair commitment"),
)
assert tuple(c[0] for c in COMMITMENT_TYPE_CHOICES) == COMMITMENT_TYPES

#: The types an applicant opens by itself; the others are opened by the case they belong to
#: (a repair application, a 容缺 or 告知承诺 approval).
SELF_OPENED_TYPES = ("voluntary", "industry_self_discipline")
SELF_OPENED_CHOICES = tuple(c for c in COMMITMENT_TYPE_CHOICES if c[0] in SELF_OPENED_TYPES)

SUSPICION_SOURCES = (
    ("data_match", "信用信息比对（新增同类失信记录）", "Data match (a new dishonesty record in the committed area)"),
    ("complaint", "投诉举报", "Complaint"),
    ("failed_check", "核查未通过", "Failed verification"),
    ("overdue_supply", "逾期未补齐材料", "Materials not supplied in time"),
    ("other", "其他", "Other"),
)

FULFILMENT_BASES = (
    ("verified", "核查通过", "Verification passed"),
    ("term_ended", "承诺期届满未违诺", "Term ended without breach"),
)

BREACH_KINDS = (
    ("breach", "违反承诺", "Breach of the commitment"),
    ("false_commitment", "虚假承诺", "False commitment"),
)


class OpenCommitmentSchema(Schema):
    commitment_type = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in COMMITMENT_TYPE_CHOICES], error="未知的承诺类型 / unknown commitment type"),
        error_messages=REQUIRED,
        metadata=label("承诺类型", "Commitment type", widget="select", choices=SELF_OPENED_CHOICES),
    )
    matter = text("承诺事项", "What is committed to (the matter)", min_len=2, max_len=300, widget="textarea")
    term_until = fields.Date(
        load_default=None, allow_none=True,
        error_messages={"invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
        metadata=label("承诺期限至（可不填）", "Commitment term ends on (optional)", widget="date"),
    )


class SignSchema(Schema):
    signer_name = text("承诺人签名（法定代表人或本人姓名）", "Signed by (legal representative or yourself)", max_len=60)
    commitment_accepted = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="须阅读并签署信用承诺书 / You must read and sign the credit commitment"),
        error_messages=REQUIRED,
        metadata=label("本人已阅读并签署上述信用承诺书（我承诺）", "I have read the credit commitment and accept it",
                       widget="checkbox"),
    )


class PublishSchema(Schema):
    note = text("公示说明", "Note on publication", required=False, widget="textarea")


class FulfilSchema(Schema):
    basis = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in FULFILMENT_BASES], error="请选择履约依据 / choose the basis"),
        error_messages=REQUIRED,
        metadata=label("履约依据", "Basis", widget="select", choices=FULFILMENT_BASES),
    )
    note = text("核查或履约情况", "Verification or fulfilment notes", required=False, widget="textarea")


class SuspectBreachSchema(Schema):
    source = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in SUSPICION_SOURCES], error="请选择线索来源 / choose the source"),
        error_messages=REQUIRED,
        metadata=label("线索来源", "Source", widget="select", choices=SUSPICION_SOURCES),
    )
    reason = reason("疑似违诺的事实", "Facts suggesting a breach")


class HoldPromptInterviewSchema(Schema):
    reason = reason("约谈通知（时间、地点、事项）", "Interview notice (when, where, what about)")


class OrderRectificationSchema(Schema):
    interview_record = reason("约谈记录", "Record of the interview")
    requirements = reason("整改要求", "What must be rectified")
    days = fields.Integer(
        load_default=None, allow_none=True, strict=False,
        validate=validate.Range(min=1, max=60, error="整改期限应为1到60个工作日 / 1 to 60 working days"),
        error_messages={"invalid": "请填写整数 / enter a whole number"},
        metadata=label("整改期限（工作日，默认10个）", "Rectification period (working days, default 10)"),
    )


class RectifiedSchema(Schema):
    reason = reason("整改情况", "How it was rectified")


class EscalateToWarningSchema(Schema):
    reason = reason("转入警示约谈的理由（拒不整改或逾期未整改）", "Why (refused or failed to rectify)")


class ConfirmBreachSchema(Schema):
    reason = reason("违诺认定的事实与理由", "Facts and reasons of the breach finding")


class FindFalseCommitmentSchema(Schema):
    reason = reason("虚假承诺的事实与证据", "Facts and evidence of the false commitment")


class RecordBreachSchema(Schema):
    """Input of the system step another case fires when it has already decided the breach."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in BREACH_KINDS], error="未知的违诺类型 / unknown breach kind"),
        error_messages=REQUIRED,
        metadata=label("违诺类型", "Kind", widget="select", choices=BREACH_KINDS),
    )
    reason = reason("事实与理由", "Facts and reasons")


class WithdrawSchema(Schema):
    reason = reason("撤回原因", "Why you withdraw", required=False)
