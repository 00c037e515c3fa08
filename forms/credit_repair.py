"""Step input schemas of the credit repair case type (信用修复), one per step that takes input."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from .fields import REQUIRED, label, reason, text

MATERIAL_CHOICES = (
    ("application", "修复申请书", "Repair application"),
    ("commitment", "信用承诺书", "Signed credit commitment"),
    ("fulfilment_proof", "履行法定义务证明", "Proof the obligations are fulfilled"),
    ("credit_report", "信用报告", "Credit report"),
    ("training_certificate", "信用修复培训证明", "Repair training certificate"),
)


class OpenRepairSchema(Schema):
    record_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                               metadata=label("失信记录", "Dishonesty record", widget="hidden"))
    statement = text("申请说明（纠正失信行为的情况）", "Statement: how the act was corrected",
                     required=False, widget="textarea")
    contact_phone = text("联系电话", "Contact phone", required=False, max_len=30)


class SubmitSchema(Schema):
    statement = text("申请说明（纠正失信行为的情况）", "Statement: how the act was corrected",
                     min_len=5, widget="textarea")
    signer_name = text("承诺人签名（法定代表人或本人姓名）", "Signed by (legal representative or yourself)", max_len=60)
    commitment_accepted = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="须阅读并签署信用承诺书 / You must read and sign the credit commitment"),
        error_messages=REQUIRED,
        metadata=label("本人已阅读并签署上述信用承诺书", "I have read and sign the credit commitment above",
                       widget="checkbox"),
    )
    contact_phone = text("联系电话", "Contact phone", required=False, max_len=30)
    training_certificate_no = text("信用修复培训证明编号（严重失信信息按要求填写）",
                                   "Repair training certificate no. (serious records, where required)",
                                   required=False, max_len=40)


class ResubmitSchema(Schema):
    note = text("补正说明", "Note on the supplement", required=False, widget="textarea")
    training_certificate_no = text("信用修复培训证明编号（严重失信信息按要求填写）",
                                   "Repair training certificate no. (serious records, where required)",
                                   required=False, max_len=40)


class ReturnForSupplementSchema(Schema):
    missing = fields.List(
        fields.String(validate=validate.OneOf([c[0] for c in MATERIAL_CHOICES],
                                              error="未知的材料 / unknown material")),
        required=True,
        validate=validate.Length(min=1, error="请至少选择一项需补正的材料 / Select at least one missing item"),
        error_messages=REQUIRED,
        metadata=label("需补正的材料（一次性告知）", "Missing materials (all at once)",
                       widget="checkboxes", choices=MATERIAL_CHOICES),
    )
    reason = reason("补正说明", "What must be supplied and how")


class PushSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class NotAcceptSchema(Schema):
    reason = reason("不予受理理由", "Why it is not accepted")


class AcceptSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class ExtendSchema(Schema):
    reason = reason("延期理由（案情复杂或需核查）", "Why more time is needed (complex case, verification)")


class ApproveSchema(Schema):
    note = text("审查意见", "Review opinion", required=False, widget="textarea")


class RejectSchema(Schema):
    reason = reason("不予修复理由", "Why the repair is refused")


class ConfirmSyncSchema(Schema):
    note = text("同步情况", "Platforms synchronised", required=False, widget="textarea")


class RevokeSchema(Schema):
    grounds = fields.String(
        required=True,
        validate=validate.OneOf(["broken_commitment", "forged_material"],
                                error="请选择撤销依据 / choose the grounds"),
        error_messages=REQUIRED,
        metadata=label("撤销依据", "Grounds", widget="select",
                       choices=(("broken_commitment", "违反信用承诺", "Broken commitment"),
                                ("forged_material", "提供虚假材料", "Forged material"))),
    )
    reason = reason("事实与理由", "Facts and reasons")


class WithdrawSchema(Schema):
    reason = reason("撤回原因", "Why you withdraw", required=False)
