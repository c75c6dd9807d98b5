"""One error type for the whole hub, rendered as RFC 9457 problem details.

Every refusal carries a stable machine `code` (kebab-case) that clients may branch on;
the human `detail` text is free to change and must never be parsed.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HubError(Exception):
    """Base of every error the hub reports to a client.

    Subclasses fix the HTTP status and a default code; a raise site may pass a more
    precise `code` (e.g. `archive-path-traversal` for an `InvalidArchive`).
    """

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://envhub.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(HubError):
    status = 400
    default_code = "bad-request"
    title = "Bad request"


class Unauthorized(HubError):
    status = 401
    default_code = "unauthorized"
    title = "Authentication required"


class Forbidden(HubError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(HubError):
    status = 404
    default_code = "not-found"
    title = "Not found"


class Conflict(HubError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class Gone(HubError):
    status = 410
    default_code = "gone"
    title = "Gone"


class PayloadTooLarge(HubError):
    status = 413
    default_code = "payload-too-large"
    title = "Payload too large"


class InvalidInput(HubError):
    status = 422
    default_code = "invalid-input"
    title = "Invalid input"


class InvalidArchive(HubError):
    """An uploaded wheel or source archive failed validation."""

    status = 422
    default_code = "invalid-archive"
    title = "Invalid archive"


class NotImplementedYet(HubError):
    status = 501
    default_code = "not-implemented"
    title = "Not implemented"


class Unavailable(HubError):
    status = 503
    default_code = "unavailable"
    title = "Service unavailable"
