"""Step input schemas of the 容缺受理 case type (acceptance with missing non-core materials).

Which matters and which items exist is configuration (`rongque.matters` in workflows.rules), so
these schemas check shapes only; the case type checks the values against the configured list and
the case's own items (an item that is not missing is refused with 422 there).
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from .fields import REQUIRED, label, reason, text

ITEM_KEY = validate.Regexp(r"^[a-z0-9_]{1,60}$", error="材料项代码无效 / invalid item key")


class _DropBlankItems(Schema):
    """HTML forms send a hidden `items` field as [""]: an empty selection, not a bad key."""

    @pre_load
    def drop_blank_items(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = {**data, "items": [k for k in data["items"] if isinstance(k, str) and k.strip()]}
        return data


def _items(zh: str, en: str, *, widget: str = "hidden", required: bool = False):
    return fields.List(
        fields.String(validate=ITEM_KEY),
        required=required,
        load_default=list,
        error_messages=REQUIRED,
        metadata=label(zh, en, widget=widget),
    )


class OpenDeficiencySchema(Schema):
    matter = fields.String(required=True, error_messages=REQUIRED,
                           validate=validate.Length(min=1, max=60, error="请选择办理事项 / Choose a matter"),
                           metadata=label("申请事项（容缺受理清单）", "Matter (on the 容缺 list)", widget="select"))
    missing = fields.List(
        fields.String(validate=ITEM_KEY),
        required=True,
        validate=validate.Length(min=1, error="请至少勾选一项暂缺的非核心材料 / Tick at least one missing non-core item"),
        error_messages=REQUIRED,
        metadata=label("暂缺的非核心材料", "Non-core items still missing", widget="checkboxes"),
    )
    core_complete = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="须声明核心材料齐全、真实、合法 / You must declare the core materials "
                                            "complete, true and lawful"),
        error_messages=REQUIRED,
        metadata=label("本人声明：主要（核心）材料齐全、真实、符合法定形式",
                       "I declare the main (core) materials complete, true and in legal form",
                       widget="checkbox"),
    )
    contact_phone = text("联系电话", "Contact phone", required=False, max_len=30)


class CheckCreditSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class RefuseRouteSchema(Schema):
    reason = reason("告知理由（默认采用信用核查结论）", "Reason (the credit check's finding if left empty)",
                    required=False)


class ChooseNormalRouteSchema(Schema):
    reason = reason("说明", "Note", required=False)


class SignSchema(Schema):
    signer_name = text("承诺人签名（法定代表人或本人姓名）", "Signed by (legal representative or yourself)", max_len=60)
    commitment_accepted = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="须阅读并签署容缺受理承诺书 / You must read and sign the commitment"),
        error_messages=REQUIRED,
        metadata=label("本人已阅读并签署容缺受理承诺书", "I have read and sign the 容缺 commitment", widget="checkbox"),
    )


class AcceptSchema(Schema):
    note = text("受理意见（将并入一次性告知书）", "Note (added to the one-time notice)", required=False,
                widget="textarea")


class StartReviewSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class ExtendSchema(Schema):
    reason = reason("延期理由（经本机关负责人批准）", "Why more time is needed (approved by the head)")


class DecideSchema(Schema):
    note = text("审查意见", "Review opinion", required=False, widget="textarea")


class RejectSchema(Schema):
    reason = reason("不予许可的理由", "Why the licence is refused")


class SupplySchema(_DropBlankItems):
    items = _items("补交的材料项（留空：全部已上传的待补材料）", "Items supplied (empty: every uploaded missing item)")
    note = text("补交说明", "Note", required=False, widget="textarea")


VERDICTS = (("conforms", "符合要求", "Conforms"), ("nonconforming", "不符合要求", "Does not conform"))


class CheckItemsSchema(_DropBlankItems):
    verdict = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([v for v, _, _ in VERDICTS], error="请选择查验结论 / Choose the finding"),
        metadata=label("查验结论", "Finding", widget="select", choices=VERDICTS),
    )
    items = _items("查验的材料项（留空：全部已补交待查验的材料）", "Items checked (empty: every supplied, unchecked item)")
    note = text("查验意见", "Note on the check", required=False, widget="textarea")

    @validates_schema
    def nonconforming_needs_a_note(self, data, **kwargs):
        if data.get("verdict") == "nonconforming" and len((data.get("note") or "").strip()) < 2:
            raise ValidationError("不符合要求时须说明理由 / Say why the item does not conform", "note")


class IssueCertificateSchema(Schema):
    note = text("备注", "Note", required=False, widget="textarea")


class DeclareOverdueSchema(Schema):
    reason = reason("事实与理由（补齐材料不符合要求或不具备许可条件）",
                    "Facts and reasons (supplied items do not conform, or the conditions are not met)")


class TerminateSchema(Schema):
    reason = reason("终止办理的理由", "Why processing ends")


GROUNDS = (("conditions_not_met", "补齐材料不符合要求，不具备许可条件", "Conditions not met"),
           ("deception", "以欺骗等不正当手段取得（虚假承诺）", "Obtained by deception (false commitment)"))


class RevokeSchema(Schema):
    grounds = fields.String(
        required=True, error_messages=REQUIRED,
        validate=validate.OneOf([g for g, _, _ in GROUNDS], error="请选择撤销依据 / Choose the grounds"),
        metadata=label("撤销依据（行政许可法第六十九条）", "Grounds (Licensing Law §69)", widget="select", choices=GROUNDS),
    )
    reason = reason("事实与理由", "Facts and reasons")


class WithdrawSchema(Schema):
    reason = reason("撤回原因", "Why you withdraw", required=False)
