"""The one error base: what went wrong, as a stable reason code, and how callers react to it.

Each package subclasses :class:`SohoaError` for its own failures and wraps foreign exceptions at
its edge. The class attributes carry the behaviour callers need without knowing the package:
the API answers ``http_status`` with a problem whose ``code`` clients branch on, the Celery
tasks retry what is ``retryable`` and end a scan ``failed`` with the code otherwise.
"""

from __future__ import annotations

from typing import Any


class SohoaError(Exception):
    code: str = "error"
    http_status: int = 500
    retryable: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        retryable: bool | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        # Fields for the problem body (a scan id, the limit that was exceeded); never secrets.
        self.extra: dict[str, Any] = extra

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(SohoaError):
    """The settings cannot run this service; an operator must change them before it starts."""

    code = "configuration_invalid"
    http_status = 500
    retryable = False
