"""Errors a service raises to refuse a request; their messages are shown to staff as is."""

from __future__ import annotations


class BackofficeError(Exception):
    """A request Backoffice refuses, with a message staff can read."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(BackofficeError):
    status_code = 404


class PermissionDenied(BackofficeError):
    status_code = 403


class Conflict(BackofficeError):
    """The request is valid but clashes with the current state (e.g. a job already running)."""

    status_code = 409
