"""The one error hierarchy of the ``storage`` package.

Errors carry their behaviour (reason code, retryability, HTTP status) so that only the API
layer and the Celery base task have to translate them. Vendor exceptions (minio, urllib3,
database drivers) are turned into these inside the package and never cross its edge.
"""

from __future__ import annotations

from core.errors import SohoaError


class StorageError(SohoaError):
    """Base of every error the storage package raises."""

    code: str = "storage_error"
    retryable: bool = False
    http_status: int = 500


class ObjectNotFound(StorageError):
    """No object under that key."""

    code = "object_not_found"
    http_status = 404


class InvalidObjectKey(StorageError):
    """The key is not one our code would build; refused before touching the store."""

    code = "invalid_object_key"
    http_status = 400


class InvalidMetadata(StorageError):
    """User metadata or content type that cannot travel as HTTP headers."""

    code = "invalid_metadata"
    http_status = 400


class ChecksumMismatch(StorageError):
    """The bytes did not hash to the SHA-256 the caller announced (or that was stored)."""

    code = "checksum_mismatch"
    http_status = 400


class StoreUnavailable(StorageError):
    """The store cannot be reached or answered with a server error; trying again may work."""

    code = "store_unavailable"
    retryable = True
    http_status = 503


class RetentionNotSupported(StorageError):
    """Retention or legal hold asked of a store (or bucket) without object lock."""

    code = "retention_not_supported"


class ObjectLocked(StorageError):
    """Retention or a legal hold forbids the change (WORM)."""

    code = "object_locked"
    http_status = 409


__all__ = [
    "ChecksumMismatch",
    "InvalidMetadata",
    "InvalidObjectKey",
    "ObjectLocked",
    "ObjectNotFound",
    "RetentionNotSupported",
    "StorageError",
    "StoreUnavailable",
]
