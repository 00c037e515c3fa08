"""Input schemas of the mediation case type (信调委 调解 of credit disputes, DOMAIN.md §7).

An agreement's obligations are rows (who performs what, how much, by when). The API sends them as
a list of objects; the generated HTML form sends one obligation a line,
`申请人|支付货款|50000|2026-03-31` — the `Obligations` field takes both and always loads a list.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import REQUIRED, label, reason, text

CHANNEL_CHOICES = (
    ("application", "当事人申请", "Application by a party"),
    ("referral", "有关机关转介", "Referral"),
)
REFERRAL_CHOICES = (
    ("court", "人民法院委派/委托", "Court"),
    ("police", "公安机关", "Police"),
    ("credit_center", "社会信用中心", "Credit center"),
)
FORM_CHOICES = (("written", "书面", "Written"), ("oral", "口头", "Oral"))
PARTY_CHOICES = (("applicant", "申请人", "Applicant"), ("respondent", "被申请人", "Respondent"))
CHOSEN_BY_CHOICES = (("committee", "调解委员会指定", "Appointed by the committee"),
                     ("parties", "当事人选择", "Chosen by the parties"))
SIGNER_CHOICES = PARTY_CHOICES + (("mediator", "调解员签名", "Mediator"),
                                  ("seal", "调解委员会印章", "Committee seal"))
PERFORMED_CHOICES = (("performed", "已履行", "Performed"), ("not_performed", "未履行", "Not performed"))

_OBLIGOR_WORDS = {"applicant": "applicant", "申请人": "applicant", "申请方": "applicant",
                  "respondent": "respondent", "被申请人": "respondent", "被申请方": "respondent"}
OBLIGATION_LINE_HELP = "每行一项：义务人|内容|金额（元，可空）|履行期限（YYYY-MM-DD）"


def _problem(n: int, zh: str, en: str) -> str:
    return f"第{n}项：{zh} / obligation {n}: {en}"


class Obligations(fields.Field):
    """Agreed (or proposed) obligations: a list of {obligor, description, amount, due_on}, or lines."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> list[dict]:
        if isinstance(value, str):
            rows = [_parse_line(line) for line in value.splitlines() if line.strip()]
        elif isinstance(value, list):
            rows = value
        else:
            raise ValidationError("义务条款格式有误 / obligations must be a list or lines of text")
        loaded, problems = [], []
        for n, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                problems.append(_problem(n, "格式有误", "not an object"))
                continue
            obligor = _OBLIGOR_WORDS.get(str(row.get("obligor") or "").strip().lower())
            description = str(row.get("description") or "").strip()
            if obligor is None:
                problems.append(_problem(n, "义务人应为申请人或被申请人", "the obligor must be applicant or respondent"))
            if not description:
                problems.append(_problem(n, "缺少履行内容", "what is to be performed is missing"))
            amount = row.get("amount")
            if amount in (None, ""):
                amount = None
            else:
                try:
                    amount = Decimal(str(amount).replace(",", "").strip())
                except InvalidOperation:
                    problems.append(_problem(n, "金额不是数字", "the amount is not a number"))
                    amount = None
                else:
                    if not amount.is_finite() or amount < 0:
                        problems.append(_problem(n, "金额不能为负数", "the amount must not be negative"))
                    elif amount > Decimal("999999999999"):
                        problems.append(_problem(n, "金额过大", "the amount is too large"))
            due = row.get("due_on")
            if due in (None, ""):
                problems.append(_problem(n, "缺少履行期限", "the due date is missing"))
                due = None
            elif not isinstance(due, date):
                try:
                    due = date.fromisoformat(str(due).strip())
                except ValueError:
                    problems.append(_problem(n, "履行期限应为YYYY-MM-DD", "the due date must be YYYY-MM-DD"))
                    due = None
            loaded.append({"obligor": obligor, "description": description[:1000],
                           "amount": amount.quantize(Decimal("0.01")) if isinstance(amount, Decimal)
                           and amount.is_finite() else None, "due_on": due})
        if problems:
            raise ValidationError(problems)
        return loaded

    def _serialize(self, value: Any, attr, obj, **kwargs):
        if value is None:
            return None
        return [{"obligor": r["obligor"], "description": r["description"],
                 "amount": None if r["amount"] is None else str(r["amount"]),
                 "due_on": r["due_on"].isoformat()} for r in value]


def _parse_line(line: str) -> dict:
    parts = [p.strip() for p in line.replace("｜", "|").split("|")]
    parts += [""] * (4 - len(parts))
    return {"obligor": parts[0], "description": parts[1], "amount": parts[2], "due_on": parts[3]}


def obligation_lines(rows) -> str:
    """The line form of obligations (rows as loaded, or ORM rows): what the HTML form shows."""
    labels = {k: zh for k, zh, _en in PARTY_CHOICES}
    out = []
    for r in rows:
        get = r.get if isinstance(r, dict) else lambda k, _r=r: getattr(_r, k)
        amount = get("amount")
        due = get("due_on")
        out.append("|".join([labels.get(get("obligor"), get("obligor") or ""), get("description") or "",
                             "" if amount is None else str(amount),
                             due.isoformat() if isinstance(due, date) else str(due or "")]))
    return "\n".join(out)


def _choice(zh: str, en: str, choices, *, required: bool = True, default: str | None = None):
    kw: dict[str, Any] = {"required": required, "error_messages": REQUIRED,
                          "validate": validate.OneOf([c[0] for c in choices], error="请选择 / Choose one"),
                          "metadata": label(zh, en, widget="select", choices=choices)}
    if not required:
        kw["load_default"] = default
        kw["allow_none"] = True
    return fields.String(**kw)


def _note(zh: str = "备注", en: str = "Note"):
    return text(zh, en, required=False, widget="textarea")


class OpenMediationSchema(Schema):
    respondent_subject_id = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                                           metadata=label("被申请人（主体编号）", "Respondent (subject id)"))
    channel = _choice("来源", "How it came", CHANNEL_CHOICES, required=False, default="application")
    referral_source = _choice("转介机关", "Referred by", REFERRAL_CHOICES, required=False)
    application_form = _choice("申请方式", "Form of the application", FORM_CHOICES, required=False,
                               default="written")
    dispute = reason("纠纷事实与争议事项", "Facts and matters in dispute")
    claims = text("申请人的请求", "What the applicant asks for", required=False, widget="textarea")
    #: Set by workflows.mediation.open_mediation when the system opens a party's application or a
    #: credit-center referral on the user's behalf; ignored when a mediator opens the case itself.
    submitted_by = fields.Integer(load_default=None, allow_none=True, strict=False,
                                  metadata=label("提交人", "Submitted by", widget="hidden"))

    @validates_schema
    def referral_names_its_source(self, data, **kwargs):
        if data.get("channel") == "referral" and not data.get("referral_source"):
            raise ValidationError("转介须注明转介机关 / A referral names who referred it",
                                  field_name="referral_source")
        if data.get("channel") != "referral" and data.get("referral_source"):
            raise ValidationError("当事人申请无转介机关 / Only a referral has a referring body",
                                  field_name="referral_source")


class RecordConsentSchema(Schema):
    how = text("同意方式（如：书面同意书、电话确认）", "How the respondent consented", max_len=60)
    note = _note()


class ConsentSchema(Schema):
    agree = fields.Boolean(required=True, validate=validate.Equal(True, error="须勾选同意 / Tick to consent"),
                           error_messages=REQUIRED,
                           metadata=label("本方同意由信调委调解", "We agree to mediation by the committee",
                                          widget="checkbox"))
    note = _note()


class RefuseSchema(Schema):
    reason = reason("拒绝调解的意思表示", "The refusal, as stated")


class RecordRefusalSchema(Schema):
    reason = reason("被申请人明确拒绝调解的情况", "How the respondent clearly refused")


class RegisterSchema(Schema):
    note = _note("登记说明", "Registration note")


class AssignMediatorsSchema(Schema):
    mediators = fields.List(fields.String(validate=validate.Length(max=400)), load_default=list,
                            metadata=label("调解员（用户名，留空为本人）", "Mediators (usernames; empty: yourself)",
                                           widget="text"))
    chosen_by = _choice("调解员产生方式", "Chosen by", CHOSEN_BY_CHOICES)


class InformRightsSchema(Schema):
    how = _choice("告知方式", "How the parties were told", FORM_CHOICES)
    note = _note("告知内容摘要（调解性质、原则、效力及当事人权利义务）",
                 "What they were told (nature, principles, effect, rights and duties)")


class LogSessionSchema(Schema):
    held_on = fields.Date(load_default=None, allow_none=True,
                          error_messages={"invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
                          metadata=label("调解日期（留空为今天）", "Date (empty: today)", widget="date"))
    place = text("地点", "Place", required=False, max_len=200)
    participants = text("参加人员", "Participants", widget="textarea")
    applicant_said = text("申请人陈述", "What the applicant said", required=False, widget="textarea")
    respondent_said = text("被申请人陈述", "What the respondent said", required=False, widget="textarea")
    proposals = text("调解方案或建议", "Proposals", required=False, widget="textarea")
    proposed_obligations = Obligations(load_default=list, metadata=label(
        f"拟定义务条款（{OBLIGATION_LINE_HELP}）", "Proposed obligations (one a line: obligor|what|amount|due)",
        widget="textarea"))


class ExtendSchema(Schema):
    days = fields.Integer(required=True, strict=False,
                          validate=validate.Range(min=1, error="至少1日 / at least 1 day"),
                          error_messages=REQUIRED, metadata=label("延长日数（自然日）", "Days (calendar days)"))
    both_parties_consent = fields.Boolean(
        required=True, validate=validate.Equal(True, error="延长须经双方当事人同意 / both parties must consent"),
        error_messages=REQUIRED, metadata=label("双方当事人均同意延长", "Both parties consent", widget="checkbox"))
    note = _note()


class WithdrawSchema(Schema):
    reason = reason("终止调解的要求", "Why mediation is to end")


class RecordWithdrawalSchema(Schema):
    party = _choice("要求终止的一方", "Party ending mediation", PARTY_CHOICES)
    reason = reason("终止调解的要求", "Why mediation is to end")


class TerminateSchema(Schema):
    reason = reason("调解不成的情况", "Why no agreement was reached")


class RecordAgreementSchema(Schema):
    facts = text("纠纷事实、争议事项及各方责任", "Facts, matters in dispute and each side's responsibility",
                 widget="textarea")
    terms = text("协议内容", "Agreed terms", widget="textarea")
    obligations = Obligations(required=True, error_messages=REQUIRED, metadata=label(
        f"履行义务（{OBLIGATION_LINE_HELP}）", "Obligations (one a line: obligor|what|amount|due)",
        widget="textarea"))

    @validates_schema
    def has_an_obligation(self, data, **kwargs):
        if not data.get("obligations"):
            raise ValidationError("协议至少须有一项履行义务 / an agreement needs at least one obligation",
                                  field_name="obligations")


class SignSchema(Schema):
    signer = _choice("签署方", "Who signs", SIGNER_CHOICES)
    signer_name = text("签名人（或盖章单位）", "Name signed (or sealed)", required=False, max_len=120)


class TakeEffectSchema(Schema):
    note = _note()


class ApplyConfirmationSchema(Schema):
    court = text("受理法院", "Court", max_len=200)
    parties = fields.List(
        fields.String(validate=validate.OneOf([c[0] for c in PARTY_CHOICES])), required=True,
        error_messages=REQUIRED,
        metadata=label("共同申请的当事人", "Parties applying", widget="checkboxes", choices=PARTY_CHOICES))

    @validates_schema
    def jointly(self, data, **kwargs):
        if set(data.get("parties") or ()) != {"applicant", "respondent"}:
            raise ValidationError("司法确认须由双方当事人共同申请 / both parties must apply jointly",
                                  field_name="parties")


class CourtAcceptanceSchema(Schema):
    accepted_on = fields.Date(required=True,
                              error_messages={**REQUIRED, "invalid": "日期格式应为 YYYY-MM-DD / use YYYY-MM-DD"},
                              metadata=label("法院受理日", "Day the court accepted", widget="date"))


class ConfirmedSchema(Schema):
    ruling_no = text("确认裁定书文号", "Ruling number", max_len=120)
    note = _note()


class NotConfirmedSchema(Schema):
    reason = reason("法院不予确认的理由", "Why the court did not confirm")


class StartPerformanceSchema(Schema):
    note = _note()


class MarkObligationSchema(Schema):
    obligation = fields.Integer(required=True, strict=False, error_messages=REQUIRED,
                                metadata=label("义务序号", "Obligation number"))
    result = _choice("履行情况", "Result", PERFORMED_CHOICES)
    note = _note("回访记录", "Revisit record")


class FinishSchema(Schema):
    note = _note()


class ArchiveSchema(Schema):
    note = _note("归档说明", "Filing note")
