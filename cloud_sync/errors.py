"""The cloud-sync exception tree: every error cloud_sync raises derives from CloudSyncError."""

from __future__ import annotations


class CloudSyncError(Exception):
    """Root of every error raised by cloud_sync."""


class ConfigError(CloudSyncError):
    """The service configuration is unusable; the message names the setting and what is expected."""


class StorageError(CloudSyncError):
    """The artifact store (filesystem or S3) failed; the request may succeed later."""


class ClientError(CloudSyncError):
    """The CLI could not talk to the service, or the service refused a request."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ApiError(CloudSyncError):
    """An HTTP request cannot be served; carries the status and machine code of the error body."""

    status = 500
    code = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ApiError):
    """The request body or parameters are invalid."""

    status = 400
    code = "bad_request"


class PackageRejected(BadRequest):
    """An uploaded model package is malformed, unsafe or inconsistent."""

    code = "bad_package"


class Unauthorized(ApiError):
    """No token, or a token the service does not know."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """A known token that may not touch this resource."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The resource does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request contradicts the current state (existing version, rollout already finished)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The request body exceeds the configured limit."""

    status = 413
    code = "too_large"
