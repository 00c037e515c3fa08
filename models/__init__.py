"""SQLAlchemy models on one DeclarativeBase, the Flask-SQLAlchemy `db`, and the permission policy."""
from .base import Base, db
from .blacklist import ListingCase
from .calendar import AppSetting, CalendarDay, CalendarYear
from .case import Attachment, Case, CaseEvent, CaseLink, Deadline, DeadlineExtension, DeadlineReminder, DeadlineSuspension
from .credit_commitment import Commitment
from .credit_repair import RepairApplication
from .deficiency_acceptance import DeficiencyApplication, DeficiencyItem
from .objection import ObjectionApplication
from .record_withdrawal import RecordWithdrawal
from .mediation import (MediationCase, MediationMediator, MediationObligation, MediationParty,
                        MediationSession, MediationSignature)
from .outbox import InboxMessage, OutboxMessage
from .people import CREDIT_CENTER_CODE, Department, Role, User, user_subjects
from .subject import CreditRecord, RecordKind, RecordStatus, Severity, Subject, SubjectKind
from .score_store import RecentSubjectScore, ScoreDirty, ScoreSnapshot, SubjectScore
from .scoring import CatalogueItem, ItemKind, ScoringScheme, ValidityClass
from .verification import CreditCheck
from .spot_check import SpotCheckPlan  # noqa: F401 (registers the table for create_all)
from .onsite_verification import OnsiteInspector, OnsiteVerification
from .training import TrainingCertificate, TrainingEnrolment, TrainingSession
from .information_access import InformationAccessLog, QueryAuthorisation  # 授权查询 and the access log (§9.3)

__all__ = [
    "ListingCase",
    "AppSetting", "Attachment", "Base", "CREDIT_CENTER_CODE", "CalendarDay", "CalendarYear", "Case",
    "CaseEvent", "CaseLink", "CreditRecord", "Deadline", "DeadlineExtension", "DeadlineReminder", "DeadlineSuspension",
    "Commitment", "CreditCheck", "DeficiencyApplication", "DeficiencyItem",
    "Department", "InboxMessage", "OutboxMessage", "RecordKind", "RecordStatus", "RepairApplication", "Role",
    "Severity", "Subject", "SubjectKind", "User", "db", "user_subjects",
    "ObjectionApplication", "RecordWithdrawal",
    "MediationCase", "MediationMediator", "MediationObligation", "MediationParty", "MediationSession",
    "MediationSignature",
    "OnsiteInspector", "OnsiteVerification",
    "TrainingCertificate", "TrainingEnrolment", "TrainingSession",
    "RecentSubjectScore", "ScoreDirty", "ScoreSnapshot", "SubjectScore",
    "CatalogueItem", "ItemKind", "ScoringScheme", "ValidityClass",
]
