"""Input schemas of the credit verification case type (信用核查, 逢办必查), with bilingual choices."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.verification import MATTER_TYPES

from .fields import REQUIRED, label, text

#: The matters a department checks before deciding (SD-Cond §22), in the order a clerk looks for them.
MATTER_TYPE_CHOICES = (
    ("administrative_licensing", "行政许可", "Administrative licensing"),
    ("government_procurement", "政府采购", "Government procurement"),
    ("bidding", "招标投标", "Bidding and tendering"),
    ("honours", "评优评先、表彰奖励", "Honours and awards"),
    ("funding_support", "资金扶持、项目支持", "Funding and project support"),
    ("qualification", "资质认定", "Qualification recognition"),
    ("land_transfer", "国有土地出让", "Transfer of state-owned land"),
    ("administrative_benefit", "行政给付", "Administrative benefits"),
    ("administrative_penalty", "行政处罚", "Administrative penalty"),
    ("administrative_enforcement", "行政强制", "Administrative enforcement"),
    ("recruitment", "公务员招录、晋升", "Civil-service recruitment and promotion"),
    ("other", "其他管理事项", "Other management matters"),
)
assert {c[0] for c in MATTER_TYPE_CHOICES} == set(MATTER_TYPES), "choices must cover models.verification.MATTER_TYPES"

#: How the department used the result (§4.2 APPLIED). The restrictive ones need a record to rest on.
MEASURE_CHOICES = (
    ("normal", "正常办理", "Processed normally"),
    ("require_commitment", "要求信用承诺", "Credit commitment required"),
    ("deficiency_refused", "容缺受理不予适用", "容缺 route not available: normal route"),
    ("key_supervision", "重点监管", "Placed under key supervision"),
    ("restrict", "限制或不予办理", "Restricted or refused"),
)
RESTRICTIVE_MEASURES = ("deficiency_refused", "key_supervision", "restrict")


class OpenCheckSchema(Schema):
    matter_type = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in MATTER_TYPE_CHOICES], error="请选择核查事项类型 / choose the matter type"),
        error_messages=REQUIRED,
        metadata=label("事项类型", "Matter type", widget="select", choices=MATTER_TYPE_CHOICES),
    )
    matter = text("具体事项（如许可事项名称、项目编号）", "The concrete matter (licence, project number…)", max_len=300)
    purpose = text("查询目的（政务共享查询须说明用途）", "Purpose (a shared-data query must say why)",
                   min_len=4, max_len=1000, widget="textarea")


class RecordUseSchema(Schema):
    measure = fields.String(
        required=True,
        validate=validate.OneOf([c[0] for c in MEASURE_CHOICES], error="请选择处理措施 / choose the measure"),
        error_messages=REQUIRED,
        metadata=label("处理措施", "Measure", widget="select", choices=MEASURE_CHOICES),
    )
    note = text("使用情况说明", "How the result was used", min_len=2, widget="textarea")
