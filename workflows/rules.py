"""Every rule value DOMAIN.md marks *assumed* (and the sourced ones a locality may change), as data.

Defaults follow DOMAIN.md §12. A deployment overrides them with a JSON file named by the
`CREDITDESK_RULES` environment variable, e.g. `{"repair.extension_wd": 15}`. Unknown keys are an
error, so that a typo never silently leaves the default in force.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

#: (amount, unit) of the minimum and maximum publicity period per regime and severity class.
DEFAULT_PUBLICITY_PERIODS: dict[str, dict[str, dict[str, list[Any]]]] = {
    # 令36号 (from 2026-04-01) and 国办发〔2025〕22号: sourced.
    "ndrc36": {
        "minor": {"min": [0, "month"], "max": [3, "month"]},
        "general": {"min": [3, "month"], "max": [1, "year"]},
        "serious": {"min": [1, "year"], "max": [3, "year"]},
    },
    # 令58号 / 527号 practice: 一般 3 M / 1 Y sourced; the 严重 minimum (6 M) is unverified (DOMAIN §11.2).
    "ndrc58": {
        "minor": {"min": [0, "month"], "max": [3, "month"]},
        "general": {"min": [3, "month"], "max": [1, "year"]},
        "serious": {"min": [6, "month"], "max": [3, "year"]},
    },
}

#: The published 容缺受理清单 (§6.2 P1–P3): matters where non-core materials may follow later.
#: Each item is (key, 中文, English); `department` is the code of the department that handles the
#: matter (accepts, reviews, issues). A deployment replaces this list with its own.
DEFAULT_RONGQUE_MATTERS: dict[str, dict[str, Any]] = {
    "food-business-licence": {
        "name_zh": "食品经营许可", "name_en": "Food business licence", "department": "market-regulation",
        "core": [["application_form", "食品经营许可申请书", "Application form"],
                 ["premises_layout", "经营场所平面布局图", "Premises layout"]],
        "noncore": [["business_licence", "营业执照复印件", "Copy of the business licence"],
                    ["legal_rep_id", "法定代表人身份证明", "Legal representative's ID"],
                    ["staff_health_certificates", "从业人员健康证明", "Staff health certificates"],
                    ["safety_rules", "食品安全管理制度", "Food safety management rules"]],
    },
    "construction-permit": {
        "name_zh": "建筑工程施工许可", "name_en": "Construction permit", "department": "housing-construction",
        "core": [["application_form", "施工许可申请表", "Application form"],
                 ["land_use_certificate", "用地批准手续", "Land-use approval"]],
        "noncore": [["contractor_qualification", "施工企业资质证书", "Contractor qualification"],
                    ["safety_plan", "安全施工措施资料", "Safety plan"],
                    ["funding_proof", "建设资金落实证明", "Proof of funding"]],
    },
}

#: 严重失信主体名单 criteria (DOMAIN §5.1): only lists set by law, regulation or a central policy
#: document may be used (GB49 §(六)(七)); a locality configures which ones it applies.
DEFAULT_BLACKLIST_CRITERIA: dict[str, dict[str, str]] = {
    "food_drug_safety": {
        "name_zh": "严重危害人民群众身体健康和生命安全（食品药品安全）",
        "name_en": "Seriously endangering health and life (food and drug safety)",
        "legal_basis": "《山东省社会信用条例》第二十九条第（一）项；国办发〔2020〕49号 第（六）项",
    },
    "unfair_competition": {
        "name_zh": "严重破坏市场公平竞争秩序和社会正常秩序",
        "name_en": "Seriously disrupting fair competition and social order",
        "legal_basis": "《山东省社会信用条例》第二十九条第（二）项；国办发〔2020〕49号 第（六）项",
    },
    "refusing_court_judgment": {
        "name_zh": "有履行能力但拒不履行、逃避执行法定义务，严重影响司法机关、行政机关公信力",
        "name_en": "Refusing legal duties (court judgments) in a way that damages the credibility of courts or government",
        "legal_basis": "《山东省社会信用条例》第二十九条第（三）项；国办发〔2020〕49号 第（六）项",
    },
    "refusing_defence_duty": {
        "name_zh": "拒不履行国防义务",
        "name_en": "Refusing defence duties",
        "legal_basis": "《山东省社会信用条例》第二十九条第（四）项",
    },
}

#: 信用分级分类监管 (DOMAIN §9.2): supervision classes with the spot-check ratio range of the 林甸
#: example (sourced-example) and the ratio a draw uses (assumed: the top of each range).
DEFAULT_SUPERVISION_CLASSES: dict[str, dict[str, Any]] = {
    "A": {"name_zh": "低风险", "name_en": "Low risk", "ratio_min": 0.0, "ratio_max": 0.05, "ratio": 0.05,
          "frequency_zh": "一年不超过1次", "frequency_en": "less than once a year"},
    "B": {"name_zh": "一般风险", "name_en": "Average risk", "ratio_min": 0.05, "ratio_max": 0.20, "ratio": 0.20,
          "frequency_zh": "一年1次", "frequency_en": "once a year"},
    "C": {"name_zh": "较高风险", "name_en": "Higher risk", "ratio_min": 0.21, "ratio_max": 0.60, "ratio": 0.60,
          "frequency_zh": "一年不超过2次", "frequency_en": "up to twice a year"},
    "D": {"name_zh": "高风险", "name_en": "High risk", "ratio_min": 0.61, "ratio_max": 1.0, "ratio": 1.0,
          "frequency_zh": "根据需要", "frequency_en": "as needed"},
}

DEFAULTS: dict[str, Any] = {
    "calendar.deem_nonworking_receipt_next_wd": True,      # C6
    "calendar.rest_day_rollover_for_party_deadlines": True,  # C3
    "calendar.rollover_for_waiting_periods": False,        # C9
    "repair.transition_date": "2026-04-01",                # 令36号 in force; submission date decides
    "repair.publicity_periods": DEFAULT_PUBLICITY_PERIODS,
    "repair.acceptance_wd": 3,                             # GB22: department accepts within 3 WD of the push
    "repair.result_wd": 10,                                # GB22: result within 10 WD of receipt
    "repair.extension_wd": 10,                             # assumed
    "repair.sync_wd": 3,                                   # local platforms sync within 3 WD
    "repair.supplement_cd": 30,                            # assumed: the applicant's time to supply (补正)
    "repair.monitoring_months": 12,                        # assumed: commitment monitoring after a repair
    "repair.reapply_bar_years": 1,                         # §3.7, assumed
    "repair.restart_min_period_on_revocation": True,       # §3.6 T10, assumed
    "repair.require_training_certificate_for_serious": False,  # §4.1: local option
    "repair.breach_points": -10,                           # 违反信用承诺 (WD-Score annex), assumed for repairs
    "repair.remove_district_deduction_on_national_repair": True,  # §3.8, assumed
    # Reminder ladders (workflows/deadlines.py `ladder_for`): rungs at `offset_wd` working days from
    # the due day (−3 = T−3 WD, 0 = the due day, +1 = the first working day after it, the moment the
    # overdue escalation also goes out), each to the timer's "responsible" party or another audience
    # ("department_head", "window", ...). Per timer: {"<case_type>.<timer kind>": [rungs]}.
    "reminders.ladder": [{"offset_wd": -3, "audience": "responsible"},   # T−3 WD
                         {"offset_wd": -1, "audience": "responsible"}],  # T−1 WD
    "reminders.ladders": {},
    # Channels beyond in-app and e-mail, when configured (SMS_GATEWAY_URL, WEBHOOK_URL(S)):
    # which events they carry (fnmatch patterns). SMS: reminders and decisions (assumed).
    "notifications.sms_events": ["deadline-reminder", "deadline-overdue", "*-approved", "*-rejected",
                                 "*-decided", "*-refused", "*-not-accepted", "*-upheld", "*-revoked",
                                 "*-lapsed"],
    "notifications.webhook_events": ["*"],
    "commitment.publish_wd": 7,                            # §1.5 (same as 双公示), assumed
    "commitment.first_check_cd": 30,                       # §1.5, assumed
    "commitment.interview_attend_wd": 3,                   # §1.5, assumed
    "commitment.rectify_wd": 10,                           # §1.5, assumed
    # WD-Score annexes: false promise where 告知承诺 conditions were not met (−40 person / −30 legal
    # person); licence then revoked −100. Applying them to 容缺 breaches is assumed (§6.6).
    "commitment.breach_points_person": -40,
    "commitment.breach_points_organisation": -30,
    "commitment.revoked_licence_points": -100,
    "verification.result_sla_wd": 0,                       # §4.2: same working day online
    "onsite.inspector_count": 2,                           # §4.3: two officers per visit, assumed
    "onsite.visit_wd": 10,                                 # §4.3: visit within 10 WD of assignment, assumed
    "onsite.report_wd": 3,                                 # §4.3: report within 3 WD of the visit, assumed
    "onsite.min_photos": 1,                                # §4.3: photos before the record, assumed
    "onsite.photo_types": ["image/jpeg", "image/png"],     # §4.3: photographs only, checked by content
    "rongque.supply_wd": 20,                               # §6.5: default supply deadline in the notice
    "rongque.reminder_before_wd": 3,                       # §6.5
    "licensing.decision_wd": 20,                           # Licensing §42, §82
    "licensing.extension_wd": 10,                          # Licensing §42: +10 WD with the head's approval
    "licensing.certificate_wd": 10,                        # Licensing §44
    "rongque.matters": DEFAULT_RONGQUE_MATTERS,
    "uploads.max_bytes": 10 * 1024 * 1024,
    "uploads.allowed_types": ["application/pdf", "image/png", "image/jpeg"],
    "score.base": 1000,
    "score.scheme": "wendeng",                             # §12: default scheme (workflows/data/schemes/<key>.json)
    "blacklist.statement_wd": 5,                           # §5.5: statement/objection period after the notice
    "blacklist.objection_answer_wd": 7,                    # §5.5: answer to a statement, assumed
    "blacklist.publish_wd": 7,                             # §5.5: publication after the decision, assumed
    "blacklist.min_years": 1,                              # §5.5: earliest early removal (NDRC36)
    "blacklist.max_years": 3,                              # §5.5: automatic removal (NDRC36)
    "blacklist.cap_years_from_act_end": 5,                 # §5.5: hard cap from the end of the act (SD-Cond §38)
    "blacklist.sync_wd": 3,                                # §5.5: platforms stop display after removal (QY58)
    "blacklist.points": -100,                              # §5.6 placeholder until the direct grade exists
    "blacklist.criteria": DEFAULT_BLACKLIST_CRITERIA,
    "objection.in_scope_wd": 3,                           # §2.4: SD-Cond §39 ¶2, decided by the receiving unit
    "objection.with_provider_wd": 7,                       # §2.4: total when the provider must verify
    "objection.provider_reply_wd": 4,                      # §2.4: assumed provider sub-deadline (协查函)
    "objection.push_correction_wd": 3,                     # §2.3 T6: push the correction, assumed
    "objection.revoked_document_wd": 3,                    # §2.4: withdraw within 3 WD of a revocation (SD-Cond §40)
    "objection.positive_deletion_wd": 3,                   # §2.6: 文登 residents delete own positive items
    "mediation.conclusion_months": 1,                      # §7.4: MOJ2002 §33, normally within 1 month
    "mediation.extension_cd": 30,                          # §7.4: at most 30 CD more, both parties consenting
    "mediation.confirmation_window_cd": 30,                # §7.4: MedLaw §33, joint application within 30 days
    "mediation.court_acceptance_days": 3,                  # §7.4: SPC2011 §4
    "mediation.court_decision_days": 30,                   # §7.4: CPL §187 outer bound (SPC2011 §5: 15)
    "mediation.revisit_after_performance_wd": 5,           # §7.4: 回访 after each performance date, assumed
    "mediation.not_performed_validity_years": 1,           # §7.6: validity of the direct grade B, assumed
    "training.enrolment_close_wd": 1,                      # §4.1: enrolment closes 1 WD before the session, assumed
    "training.certificate_wd": 3,                          # §4.1: certificate within 3 WD of the session, assumed
    "training.certificate_valid_m": 12,                    # §4.1, §12: certificate valid 12 M for repair use, assumed
    # Reports (workflows/reports.py): 双公示 timeliness (§9.1), supervision classes (§9.2), case SLA.
    "shuanggongshi.publish_wd": 7,                         # §9.1: online within 7 WD of the decision (Shuang)
    "shuanggongshi.record_kinds": ["dishonesty"],          # penalty decisions; licences are not held as records yet
    "shuanggongshi.include_natural_persons": False,        # SD-Cond §20: a person's info is not published
    "shuanggongshi.target_on_time_rate": 0.98,             # §9.1: seed 004, ≥98%
    "shuanggongshi.target_late_rate": 0.05,                # §9.1: seed 004, late rate ≤5%
    "supervision.ratio_table": DEFAULT_SUPERVISION_CLASSES,  # §9.2, §12
    "supervision.class_by_grade": {"AAA": "A", "AA": "A", "A": "A", "B": "B", "C": "C", "D": "D"},  # §9.2, assumed
    "supervision.subject_kinds": ["legal_person", "other_org"],  # §9.2: enterprises are classed, not persons
    "reports.sla_responsible": ["window", "department", "mediator", "trainer", "inspector"],  # office clocks only
    "reports.max_subjects": 20000,                         # grades computed per request at most; beyond: the score store
}


class Rules(Mapping[str, Any]):
    def __init__(self, overrides: Mapping[str, Any] | None = None):
        values = copy.deepcopy(DEFAULTS)
        for key, value in (overrides or {}).items():
            if key not in DEFAULTS:
                raise KeyError(f"未知的规则配置项 / unknown rule setting: {key!r}")
            values[key] = value
        self._values = values

    @classmethod
    def from_json_file(cls, path: str) -> Rules:
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def repair_transition_date(self) -> date:
        return date.fromisoformat(self["repair.transition_date"])

    def publicity_period(self, regime: str, severity: str, bound: str) -> tuple[int, str]:
        amount, unit = self["repair.publicity_periods"][regime][severity][bound]
        return int(amount), str(unit)
