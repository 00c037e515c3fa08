"""Scoring schemes (文登 district scale, 威海 海贝分, 文登 rural stars) and their item catalogues, as data.

A scheme holds what DOMAIN.md §8 says differs between localities: base, grade table, direct-grade
floors, validity rules, the repeat rule, the bonus freeze, the effective-date range and the point
limits of one catalogue item. The score engine (workflows/scoring.py) reads them as plain values;
the rows here are what an administrator edits and what the seed files in workflows/data/schemes/
load. A credit record names its catalogue row by `CreditRecord.item_code`.
"""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base


class ItemKind(enum.StrEnum):
    ADD = "add"          #: 加分 (守信信息)
    DEDUCT = "deduct"    #: 减分 or 直接判级 (失信信息)


class ValidityClass(enum.StrEnum):
    """Which validity rule of the scheme applies to an item (WD-Score §20, WH-HBF, WD-Rural)."""

    DEDUCTION = "deduction"                  #: by the size of the deduction (≤40 → 1 Y, >40 → 2 Y in 文登)
    DIRECT = "direct"                        #: by the direct grade (B 2 Y, C 3 Y, D 5 Y in 文登)
    HONOUR_DISTRICT = "honour_district"      #: 区县级 and department honours, city departments: 1 Y
    HONOUR_CITY = "honour_city"              #: 地市级 and provincial-department honours: 2 Y
    HONOUR_PROVINCIAL = "honour_provincial"  #: 省部级 honours: 3 Y
    HONOUR_NATIONAL = "honour_national"      #: 国家级 honours: 5 Y
    BONUS_OTHER = "bonus_other"              #: every other bonus: 1 Y


class ScoringScheme(Base):
    __tablename__ = "scoring_schemes"
    __table_args__ = (
        CheckConstraint("points_min <= 0 AND points_max >= 0", name="limits_around_zero"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="range_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True, comment="wendeng, weihai_haibei, wendeng_rural")
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    code_prefix: Mapped[str] = mapped_column(String(8), unique=True, comment="Prefix of its catalogue codes (WD, HB, WR)")
    base: Mapped[int] = mapped_column(Integer, default=1000)
    grades: Mapped[list[Any]] = mapped_column(
        JSON, comment="Rows [lowest score or null, grade, label zh, label en], best first; lowest is inclusive")
    direct_grade_floors: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="Score ceiling while a direct grade stands, e.g. {B: 850, C: 600, D: 599}")
    validity_rules: Mapped[dict[str, Any]] = mapped_column(JSON, comment="Validity per validity class (years)")
    repeat_rule: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="{multiplier: 2}: a repeat within the validity of an earlier deduction (null: none)")
    bonus_freeze: Mapped[bool] = mapped_column(Boolean, default=True, comment="WD-Score §17")
    options: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="Scheme-specific extras: D sub-labels, repair rules, rural stars and bonus")
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    points_min: Mapped[int] = mapped_column(Integer, comment="Most negative points one catalogue item may carry")
    points_max: Mapped[int] = mapped_column(Integer, comment="Largest bonus one catalogue item may carry")
    source: Mapped[str] = mapped_column(String(300), default="", comment="Legal basis of the scheme")
    loaded_at: Mapped[datetime | None]

    items: Mapped[list[CatalogueItem]] = relationship(back_populates="scheme", order_by="CatalogueItem.code")


class CatalogueItem(Base):
    """One row of a scheme's evaluation standard (评价标准): an item officers record against a subject."""

    __tablename__ = "catalogue_items"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("kind IN ('add','deduct')", name="kind_known"),
        CheckConstraint("direct_grade IS NULL OR direct_grade IN ('B','C','D')", name="direct_grade_known"),
        CheckConstraint("(kind = 'add' AND points >= 0) OR (kind = 'deduct' AND points <= 0)", name="sign_matches"),
        CheckConstraint("scope IN ('standard','village')", name="scope_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("scoring_schemes.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), comment="Globally unique, prefixed by the scheme's code_prefix")
    name_zh: Mapped[str] = mapped_column(String(400))
    name_en: Mapped[str] = mapped_column(String(400), default="")
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(Integer, default=0, comment="Default points; 0 for a pure direct grade")
    points_low: Mapped[int | None] = mapped_column(
        Integer, comment="For 视情节 items: the officer picks points between low and high (一事一议)")
    points_high: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(80), comment="The annex's 分项: the repeat-detection key")
    domain: Mapped[str] = mapped_column(String(80), default="", comment="The annex's 领域 heading, for display")
    validity_class: Mapped[str] = mapped_column(String(30))
    subject_kinds: Mapped[list[str]] = mapped_column(
        JSON, comment="Subject kinds it applies to: person (自然人) and/or organisation (法人, 非法人组织)")
    direct_grade: Mapped[str | None] = mapped_column(String(1), comment="直接判级 B/C/D")
    repair_rule: Mapped[str | None] = mapped_column(
        String(40), comment="Key into the scheme's repair rules (§3.8): what a repair turns the item into")
    mirror_code: Mapped[str | None] = mapped_column(
        String(40), comment="联奖联罚: the person-scale item written to the legal representative (WD-Score §6)")
    scope: Mapped[str] = mapped_column(
        String(10), default="standard", comment="standard, or village (村级自选项, ≤2 points, WD-Rural)")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(80))

    scheme: Mapped[ScoringScheme] = relationship(back_populates="items")

    @property
    def applies_to_persons(self) -> bool:
        return "person" in (self.subject_kinds or [])

    @property
    def applies_to_organisations(self) -> bool:
        return "organisation" in (self.subject_kinds or [])
