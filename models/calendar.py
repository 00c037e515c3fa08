"""Holiday tables loaded by an admin (e.g. 2027 once its State Council notice is published).

A loaded year replaces the packaged table for that year entirely.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base


class CalendarYear(Base):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source_notice: Mapped[str] = mapped_column(String(300), comment="The State Council notice it transcribes")
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str] = mapped_column(String(120))

    days: Mapped[list[CalendarDay]] = relationship(
        back_populates="calendar_year", cascade="all, delete-orphan", order_by="CalendarDay.day"
    )


class CalendarDay(Base):
    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint("kind IN ('rest','makeup')", name="kind_known"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8), comment="rest = 放假; makeup = 调休上班 on a weekend")

    calendar_year: Mapped[CalendarYear] = relationship(back_populates="days")


class AppSetting(Base):
    """Small shared settings every process must agree on (the adjustable clock's current time)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
