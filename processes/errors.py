"""Errors a use case raises; the web layer maps each to one HTTP status with its Dutch message."""

from __future__ import annotations

from datetime import datetime


class ExamflowError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ExamflowError):
    status = 404


class Unauthorized(ExamflowError):
    status = 401


class Forbidden(ExamflowError):
    status = 403


class BadRequest(ExamflowError):
    status = 400


class Conflict(ExamflowError):
    """Someone else was first (decision 2)."""

    status = 409

    def __init__(self, message: str, by: str | None = None, at: datetime | None = None):
        super().__init__(message)
        self.by = by
        self.at = at


class ValidationFailed(ExamflowError):
    status = 422

    def __init__(self, errors: dict[str, list[str]], message: str = "Het formulier bevat fouten."):
        super().__init__(message)
        self.errors = errors


class StepFailed(ExamflowError):
    """A handler or the engine failed mid-step; everything was rolled back."""

    status = 503
