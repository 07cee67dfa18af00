"""The connectors' one error family: a delivery that failed, and whether trying again may help."""

from __future__ import annotations

from core.errors import SohoaError


class ConnectError(SohoaError):
    code = "connect_failed"
    http_status = 502


class DeliveryFailed(ConnectError):
    """A subscriber could not deliver an event.

    ``retryable`` (the default) puts the delivery back with a longer wait; otherwise (the
    receiver refused the payload itself) it goes straight to the dead letters, where an operator
    reads ``code`` and the message and replays it once the cause is fixed.
    """

    code = "delivery_failed"
    retryable = True

    def __init__(self, message: str, *, response: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        #: What the receiver answered (HTTP status, the portal's error code), for the log.
        self.response = response
