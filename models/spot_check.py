"""Spot-check plans (双随机抽查计划) drawn under 信用分级分类监管 (DOMAIN.md §9.2).

A plan is drawn once per department and period and then kept: the seed, the population it was drawn
from (subject ids per supervision class, with their hash) and the drawn subject ids are stored with
who drew it and when, so that an auditor can re-run the draw and get the same sample. A second draw
for the same department and period is refused (the unique constraint), never silently redrawn.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .people import Department, User


class SpotCheckPlan(Base):
    __tablename__ = "spot_check_plans"
    __table_args__ = (
        UniqueConstraint("department_id", "period"),
        CheckConstraint("size >= 0", name="size_nonnegative"),
        CheckConstraint("seed >= 0", name="seed_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    period: Mapped[str] = mapped_column(String(7), comment="The inspection month, YYYY-MM")
    as_of: Mapped[date] = mapped_column(Date, comment="The day whose grades gave the supervision classes")
    seed: Mapped[int] = mapped_column(BigInteger, comment="Seed of the draw (63 random bits), kept to reproduce it")
    algorithm: Mapped[str] = mapped_column(
        String(60), comment="How the sample was drawn from seed and population; names the reproduction code"
    )
    ratios: Mapped[dict[str, Any]] = mapped_column(JSON, comment="Ratio per class in force at the draw")
    population: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="Subject ids per supervision class the draw chose from (sorted)"
    )
    population_sha256: Mapped[str] = mapped_column(String(64))
    drawn: Mapped[dict[str, Any]] = mapped_column(JSON, comment="Drawn subject ids per class (sorted)")
    size: Mapped[int] = mapped_column(Integer, comment="Number of subjects drawn, all classes")
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    drawn_by_name: Mapped[str] = mapped_column(String(120))
    drawn_at: Mapped[datetime]

    department: Mapped[Department] = relationship()
    drawn_by: Mapped[User | None] = relationship()
