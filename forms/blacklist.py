"""Step input schemas of the blacklist case type (严重失信主体名单), one per step that takes input.

The list criteria are configuration (rules `blacklist.criteria`), so the case type checks the chosen
key against the rules when the case is opened; the schema only requires one.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflows.rules import DEFAULT_BLACKLIST_CRITERIA

from .fields import REQUIRED, label, reason, text

#: The default criteria as form choices; a deployment's configured set is checked when the case opens.
CRITERIA_CHOICES = tuple((key, c["name_zh"], c["name_en"]) for key, c in DEFAULT_BLACKLIST_CRITERIA.items())


class OpenListingSchema(Schema):
    criteria_key = text("列入标准", "List criterion", max_len=60, widget="select", choices=CRITERIA_CHOICES)
    facts = text("失信事实", "Facts of the dishonest act", min_len=5, widget="textarea")
    act_ended_on = fields.Date(required=True, error_messages=REQUIRED,
                               metadata=label("失信行为终止之日", "Day the act ended", widget="date"))
    legal_basis = text("列入依据（默认取列入标准所载依据）", "Legal basis (defaults to the criterion's)",
                       required=False, widget="textarea")
    basis_record_ids = fields.List(
        fields.Integer(strict=False), load_default=list,
        metadata=label("据以列入的失信记录（全部撤销时自动移出）",
                       "Dishonesty records the listing rests on (removed when all are revoked)", widget="hidden"),
    )


class ApproveProposalSchema(Schema):
    note = text("审核意见（告知书同时送达）", "Review opinion (the notice is served with it)", required=False,
                widget="textarea")


class FileStatementSchema(Schema):
    statement = text("陈述申辩 / 异议", "Statement or objection", min_len=2, widget="textarea")


class DecideListSchema(Schema):
    answer = reason("书面答复（核实情况及列入理由）", "Written answer: verification and reasons for listing")


class DropSchema(Schema):
    reason = reason("不予列入理由", "Why the subject is not listed")


class PublishSchema(Schema):
    repair_notice_served = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="列入决定书须与信用修复告知书同时送达 / "
                                             "The repair notice must be served with the decision"),
        error_messages=REQUIRED,
        metadata=label("信用修复告知书已与列入决定书同时送达（两书同达）",
                       "The credit repair notice was served with the listing decision", widget="checkbox"),
    )
    note = text("备注", "Note", required=False, widget="textarea")


class ConfirmSyncSchema(Schema):
    note = text("同步情况（信用中国等平台已停止公示）", "Sync note (Credit China and others stopped display)",
                required=False, widget="textarea")


class RevokeSchema(Schema):
    reason = reason("撤销依据（原决定被撤销的情况）", "Grounds: how the underlying decision was revoked")
    document_no = text("撤销文书文号", "Number of the revoking document", required=False, max_len=120)
