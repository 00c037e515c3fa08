"""Errors the engine raises. Each carries a stable code, an HTTP status and bilingual text.

The web layer maps them to responses in one place (`webapp.errors`); nothing else decides statuses.
"""
from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    code = "workflow_error"
    http_status = 400

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}


class NotFound(WorkflowError):
    code = "not_found"
    http_status = 404


class UnknownTrigger(NotFound):
    code = "unknown_trigger"


class Forbidden(WorkflowError):
    code = "forbidden"
    http_status = 403


class TransitionNotAllowed(WorkflowError):
    """The trigger exists but not from the case's current state, or a guard blocks it."""

    code = "transition_not_allowed"
    http_status = 409


class StaleVersion(WorkflowError):
    code = "stale_version"
    http_status = 409


class InvalidInput(WorkflowError):
    code = "invalid_input"
    http_status = 422


class Conflict(WorkflowError):
    code = "conflict"
    http_status = 409
