"""Object storage: one ``ObjectStore`` protocol, a local-directory and an S3 implementation.

Originals and signed documents are large and must never sit whole in memory, so every write
streams and hashes (SHA-256) on the way through, and every read is a stream. Both
implementations run the same contract test (tests/storage/test_objects_contract.py).

Keys are built by our code from ids, but they end up as file paths and URLs, so they are
checked strictly anyway (see ``validate_key``).
"""

from __future__ import annotations

import abc
import builtins
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, cast, runtime_checkable
from urllib.parse import quote, unquote

from storage.errors import (
    ChecksumMismatch,
    InvalidMetadata,
    InvalidObjectKey,
    ObjectLocked,
    ObjectNotFound,
    RetentionNotSupported,
    StorageError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from minio import Minio
    from minio.helpers import DictType
    from urllib3 import BaseHTTPResponse

__all__ = [
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "PutResult",
    "Retention",
    "S3ObjectStore",
    "make_object_store",
    "validate_key",
]

MiB = 1024 * 1024
_CHUNK = MiB
MAX_KEY_LENGTH = 512
MAX_METADATA_BYTES = 2048  # S3's limit for all user metadata; enforced everywhere alike
MAX_PRESIGN = timedelta(days=7)  # SigV4's limit; enforced everywhere alike

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_META_KEY_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CONTENT_TYPE_RE = re.compile(r"[\x21-\x7e]+/[\x20-\x7e]+")
# Percent-encode everything outside printable ASCII, plus '%' (so decoding is exact) and
# space (HTTP trims it at the ends): metadata then survives S3's ASCII-only headers.
_META_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_RESERVED_META = frozenset({"sha256"})


# --------------------------------------------------------------------------- keys, values


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise InvalidObjectKey.

    Segments are ``[A-Za-z0-9._-]+`` joined by single ``/``; no empty, leading-slash or
    backslash parts, no control characters, at most 512 characters. A segment may not start
    with ``.``: that rules out ``.``/``..`` and keeps dot-names free for the local store's
    temp files and its hidden ``.meta`` tree.
    """
    if not isinstance(key, str) or not key:
        raise InvalidObjectKey("object key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidObjectKey(f"object key longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.fullmatch(key):
        raise InvalidObjectKey(f"invalid object key {key[:80]!r}")
    return key


def _validate_prefix(prefix: str) -> str:
    # A prefix is valid if some key could start with it ("docs/", "docs/2026-").
    if prefix:
        try:
            validate_key(prefix + "x")
        except InvalidObjectKey:
            raise InvalidObjectKey(f"invalid key prefix {prefix[:80]!r}") from None
    return prefix


def _normalize_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.lower()
    if not _SHA256_RE.fullmatch(value):
        raise InvalidMetadata("sha256 must be 64 hexadecimal digits")
    return value


def _check_content_type(content_type: str) -> str:
    if (
        not isinstance(content_type, str)
        or len(content_type) > 255
        or not (_CONTENT_TYPE_RE.fullmatch(content_type))
    ):
        raise InvalidMetadata(f"invalid content type {str(content_type)[:80]!r}")
    return content_type


def _encode_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user metadata and return it encoded as it travels in headers."""
    encoded: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _META_KEY_RE.fullmatch(name):
            raise InvalidMetadata(
                f"metadata key {str(name)[:80]!r} must match [a-z0-9][a-z0-9-]* (≤ 64 chars)"
            )
        if name in _RESERVED_META:
            raise InvalidMetadata(f"metadata key {name!r} is reserved; use the sha256 argument")
        if not isinstance(value, str):
            raise InvalidMetadata(f"metadata value for {name!r} must be a string")
        encoded[name] = quote(value, safe=_META_SAFE)
    size = sum(len(k) + len(v) for k, v in encoded.items())
    if size > MAX_METADATA_BYTES:
        raise InvalidMetadata(f"user metadata is {size} bytes encoded, over {MAX_METADATA_BYTES}")
    return encoded


def _check_expires(expires: timedelta) -> int:
    seconds = int(expires.total_seconds())
    if not 1 <= seconds <= MAX_PRESIGN.total_seconds():
        raise ValueError("presigned URL lifetime must be between 1 second and 7 days")
    return seconds


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class Retention:
    """WORM retention of one object; ``until`` must be timezone-aware."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    until: datetime

    def __post_init__(self) -> None:
        if self.mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError("retention mode must be GOVERNANCE or COMPLIANCE")
        if self.until.tzinfo is None:
            raise ValueError("retention 'until' must be timezone-aware")


@dataclass(frozen=True, slots=True)
class PutResult:
    key: str
    size: int
    sha256: str  # computed while streaming, always present
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    metadata: dict[str, str]
    last_modified: datetime
    sha256: str | None = None  # only if the writer announced it (see ObjectStore.put)
    retain_until: datetime | None = None
    retention_mode: str | None = None
    legal_hold: bool = False


@runtime_checkable
class ObjectStore(Protocol):
    """Where originals and signed documents live; chosen by configuration.

    Errors are ``storage.errors`` subclasses only. ``metadata`` keys are lowercase
    ``[a-z0-9-]``; values are any strings (non-ASCII is percent-encoded on the wire).
    """

    @property
    def supports_retention(self) -> bool:
        """Whether ``retention`` and ``legal_hold`` can be honoured (else RetentionNotSupported)."""
        ...

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        """Stream ``stream`` to ``key``, hashing on the way.

        With ``sha256`` the bytes must hash to it (else ChecksumMismatch and nothing is
        stored) and it is kept as metadata, so ``stat().sha256`` is set. Without it the digest
        is only returned: S3 sends metadata before the body, so no store keeps it afterwards.
        Exceptions raised by ``stream.read`` itself propagate unchanged.
        """
        ...

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult: ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A streaming reader; ObjectNotFound is raised by the call, not on enter."""
        ...

    def get_to_file(self, key: str, path: Path) -> None:
        """Download atomically (temp file + rename), verifying a stored sha256."""
        ...

    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def presigned_url(self, key: str, expires: timedelta) -> str: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """All objects under ``prefix`` (recursive), sorted by key."""
        ...

    def set_retention(self, key: str, retention: Retention) -> None: ...

    def set_legal_hold(self, key: str, on: bool) -> None: ...

    def delete(self, key: str) -> None:
        """Remove the object for good; a missing key is not an error (retries are safe)."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store can serve requests (for /readyz)."""
        ...


def copy_as_stored(store: ObjectStore, key: str, path: Path) -> bool:
    """The object's bytes as they are, into ``path``, with no checksum check; False if it is gone.

    For a validation that compares the recorded SHA-256 itself: ``get_to_file`` would refuse a
    changed object before the auditor's report could say what changed.
    """
    try:
        with store.open(key) as src, path.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except ObjectNotFound:
        path.unlink(missing_ok=True)
        return False
    return True


# --------------------------------------------------------------------------- shared helpers


def _copy_verified(src: BinaryIO, dest: Path, expected: str | None, key: str) -> None:
    """Stream ``src`` into ``dest`` atomically; on a digest mismatch leave nothing."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and hasher.hexdigest() != expected:
            raise ChecksumMismatch(f"{key}: stored object does not match its sha256")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _StoreBase(abc.ABC):
    """What both stores derive from their primitives."""

    @abc.abstractmethod
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult: ...

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    def _open_with_sha(self, key: str) -> tuple[BinaryIO, str | None]:
        """A reader and the sha256 stored with the object, if any."""

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        with Path(path).open("rb") as stream:
            return self.put(
                key,
                stream,
                content_type=content_type,
                metadata=metadata,
                sha256=sha256,
                retention=retention,
                legal_hold=legal_hold,
            )

    def get_to_file(self, key: str, path: Path) -> None:
        path = Path(path)
        src, expected = self._open_with_sha(key)
        with src:
            _copy_verified(src, path, expected, key)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True


# --------------------------------------------------------------------------- local


def _os_reason(exc: OSError) -> str:
    """The OS's reason without the file name: store paths stay out of messages that reach callers."""
    return exc.strerror or type(exc).__name__


class LocalObjectStore(_StoreBase):
    """Objects as files under one directory: for one machine and for development.

    Each write goes to a temp file in the target directory, is fsynced and renamed, so a
    reader sees the old object or the new one, never half of one. Content type, user metadata
    and sha256 live in a JSON sidecar in the hidden tree ``root/.meta/<key>.json``, which
    listing skips. There is no retention (``supports_retention`` is False) and presigned
    URLs are HMAC-signed for our own download route (``verify_presigned``). A key cannot be
    both an object and a "directory" of other keys here (``a`` and ``a/b``): that is
    refused with InvalidObjectKey.
    """

    supports_retention = False

    def __init__(self, root: Path, *, url_secret: bytes, base_url: str = "") -> None:
        if not url_secret:
            raise ValueError("url_secret must not be empty")
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()
        self._meta_root = self._root / ".meta"
        self._secret = bytes(url_secret)
        self._base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self._root)!r})"

    # paths
    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root):
            raise InvalidObjectKey("object path escapes the store root")
        return resolved

    def _data_path(self, key: str) -> Path:
        return self._inside(self._root / validate_key(key))

    def _meta_path(self, key: str) -> Path:
        return self._inside(self._meta_root / f"{validate_key(key)}.json")

    def _read_meta(self, key: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self._meta_path(key).read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return meta

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    # writes
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        path = self._data_path(key)
        meta_path = self._meta_path(key)
        _check_content_type(content_type)
        _encode_metadata(metadata)
        expected = _normalize_sha256(sha256)
        if retention is not None or legal_hold:
            raise RetentionNotSupported("the local object store has no retention or legal hold")
        fd, tmp = self._temp_beside(path, key)
        hasher = hashlib.sha256()
        size = 0
        reading = False  # errors of the caller's stream propagate unchanged
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    reading = True
                    chunk = stream.read(_CHUNK)
                    reading = False
                    if not chunk:
                        break
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            if expected is not None and digest != expected:
                raise ChecksumMismatch(f"{key}: content sha256 {digest} != expected {expected}")
            # Drop the old sidecar first: a crash before the new one is written then leaves
            # an object without metadata, never one with a stale sha256.
            meta_path.unlink(missing_ok=True)
            try:
                os.replace(tmp, path)
            except IsADirectoryError:
                raise InvalidObjectKey(f"{key}: other keys live under this key") from None
            _fsync_dir(path.parent)
            sidecar = {
                "content_type": content_type,
                "metadata": dict(metadata or {}),
                "sha256": expected,
            }
            self._write_atomic(meta_path, json.dumps(sidecar, ensure_ascii=False).encode())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if reading:
                raise
            raise StoreUnavailable(f"{key}: local store write failed: {_os_reason(exc)}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return PutResult(key=key, size=size, sha256=digest)

    def _temp_beside(self, path: Path, key: str) -> tuple[int, Path]:
        """A temp file in the object's directory (so os.replace is atomic)."""
        for _ in range(3):  # a concurrent delete may prune the directory in between
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidObjectKey(f"{key}: a parent of this key is an object") from None
            except OSError as exc:
                raise StoreUnavailable(
                    f"{key}: local store write failed: {_os_reason(exc)}"
                ) from exc
            try:
                fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreUnavailable(
                    f"{key}: local store write failed: {_os_reason(exc)}"
                ) from exc
            return fd, Path(name)
        raise StoreUnavailable(f"{key}: directory keeps disappearing under concurrent deletes")

    def delete(self, key: str) -> None:
        path = self._data_path(key)
        meta_path = self._meta_path(key)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            path.unlink()
        meta_path.unlink(missing_ok=True)
        self._prune(path.parent, self._root)
        self._prune(meta_path.parent, self._meta_root)

    @staticmethod
    def _prune(directory: Path, stop: Path) -> None:
        # Empty directories would block a later key of the same name ("a" after "a/b").
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def set_retention(self, key: str, retention: Retention) -> None:
        validate_key(key)
        raise RetentionNotSupported("the local object store has no retention")

    def set_legal_hold(self, key: str, on: bool) -> None:
        validate_key(key)
        raise RetentionNotSupported("the local object store has no legal hold")

    # reads
    def open(self, key: str) -> BinaryIO:
        path = self._data_path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r}") from None
        except OSError as exc:
            raise StoreUnavailable(f"{key}: local store read failed: {_os_reason(exc)}") from exc

    def _open_with_sha(self, key: str) -> tuple[BinaryIO, str | None]:
        stream = self.open(key)
        return stream, self._read_meta(key).get("sha256")

    def stat(self, key: str) -> ObjectInfo:
        path = self._data_path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r}") from None
        except OSError as exc:
            raise StoreUnavailable(f"{key}: local store read failed: {_os_reason(exc)}") from exc
        if not path.is_file():
            raise ObjectNotFound(f"no object {key!r}")
        meta = self._read_meta(key)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            content_type=meta.get("content_type", "application/octet-stream"),
            metadata=dict(meta.get("metadata", {})),
            last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
            sha256=meta.get("sha256"),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        _validate_prefix(prefix)
        start = self._inside(self._root / prefix.rpartition("/")[0])
        keys: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self._root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue  # temp files
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            try:
                yield self.stat(key)
            except ObjectNotFound:
                continue  # deleted while listing

    # URLs
    def _sign(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def presigned_url(self, key: str, expires: timedelta) -> str:
        validate_key(key)
        until = int(time.time()) + _check_expires(expires)
        return f"{self._base_url}/{key}?expires={until}&signature={self._sign(key, until)}"

    def verify_presigned(self, key: str, expires: int, signature: str) -> bool:
        """True if ``signature`` was made by ``presigned_url`` for key and expiry, not expired."""
        try:
            validate_key(key)
        except InvalidObjectKey:
            return False
        if not isinstance(signature, str) or not signature.isascii():
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._sign(key, int(expires)), signature)

    def ping(self) -> None:
        if not (self._root.is_dir() and os.access(self._root, os.W_OK | os.X_OK)):
            # The path is for the operator's log, not for /readyz's anonymous callers.
            log.error("object store directory %s is not writable", self._root)
            raise StoreUnavailable("the object store directory is not writable")


# --------------------------------------------------------------------------- S3


class _HashingReader:
    """Feeds minio's ``put_object`` while hashing; checks the digest at end of stream.

    Failing inside the last ``read`` makes minio abort the multipart upload (or never send
    the single part), so a mismatching body never becomes an object. Each ``read(n)`` returns
    exactly ``n`` bytes until EOF, so minio gets whole parts without concatenating chunks
    (its ``bytes +=`` loop would copy a part over and over).
    """

    def __init__(self, source: BinaryIO, expected: str | None, key: str) -> None:
        self._source = source
        self._expected = expected
        self._key = key
        self._hasher = hashlib.sha256()
        self.size = 0
        self.eof = False
        self.error: BaseException | None = None

    @property
    def sha256(self) -> str:
        return self._hasher.hexdigest()

    def read(self, size: int = -1) -> bytes:
        if self.eof:
            return b""
        chunks: builtins.list[bytes] = []
        remaining = size if size is not None and size >= 0 else None
        while remaining is None or remaining > 0:
            try:
                chunk = self._source.read(_CHUNK if remaining is None else remaining)
            except BaseException as exc:
                self.error = exc
                raise
            if not chunk:
                self.eof = True
                break
            chunk = bytes(chunk)
            self._hasher.update(chunk)
            self.size += len(chunk)
            chunks.append(chunk)
            if remaining is not None:
                remaining -= len(chunk)
        if self.eof and self._expected is not None and self.sha256 != self._expected:
            self.error = ChecksumMismatch(
                f"{self._key}: content sha256 {self.sha256} != expected {self._expected}"
            )
            raise self.error
        return b"".join(chunks)  # a single chunk (file sources) is returned without a copy


class _S3Body(io.RawIOBase):
    """A GET response as a raw stream; releases the connection and maps network errors."""

    def __init__(self, response: BaseHTTPResponse, key: str) -> None:
        super().__init__()
        self._response = response
        self._key = key
        self._done = False
        meta = response.headers.get("x-amz-meta-sha256")
        self.sha256: str | None = meta.lower() if meta else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._response.read(len(view))
        except Exception as exc:
            raise _translate(exc, self._key) from exc
        if not data:
            self._done = True
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            if not self._done:
                self._response.close()  # unread body: drop the connection
            self._response.release_conn()
        super().close()


def _translate(
    exc: BaseException,
    key: str | None = None,
    *,
    denied: type[StorageError] | None = None,
    invalid_request: type[StorageError] | None = None,
) -> StorageError:
    """Map a minio/urllib3 exception to our hierarchy (callers raise it ``from exc``)."""
    from minio.error import InvalidResponseError, S3Error, ServerError
    from urllib3.exceptions import HTTPError

    where = f"{key}: " if key else ""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, S3Error):
        code = exc.code or ""
        if code in ("NoSuchKey", "NoSuchVersion", "NoSuchObject"):
            return ObjectNotFound(f"no object {key or exc.object_name!r}")
        if code == "AccessDenied" and denied is not None:
            return denied(f"{where}{exc.message or code}")
        if code in ("InvalidRequest", "ObjectLockConfigurationNotFoundError") and invalid_request:
            return invalid_request(f"{where}{exc.message or code}")
        if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            return StoreUnavailable(f"{where}S3 {code}: {exc.message}")
        return StorageError(f"{where}S3 {code}: {exc.message}")
    if isinstance(exc, ServerError):
        return StoreUnavailable(f"{where}S3 server error: {exc}")
    if isinstance(exc, InvalidResponseError):
        status = getattr(exc, "_code", 0) or 0
        cls = StoreUnavailable if status >= 500 else StorageError
        return cls(f"{where}unexpected S3 response (HTTP {status})")
    if isinstance(exc, HTTPError | OSError):
        return StoreUnavailable(f"{where}S3 endpoint unreachable: {type(exc).__name__}: {exc}")
    return StorageError(f"{where}{type(exc).__name__}: {exc}")


@dataclass
class _Lazy:
    client: Minio | None = None
    bucket_ready: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class S3ObjectStore(_StoreBase):
    """Objects in one bucket of any S3 store (SeaweedFS, MinIO, Ceph RGW, AWS) via ``minio``.

    Nothing touches the network before the first call; the bucket is created then (with
    object lock if ``object_lock``) when ``create_bucket``. Uploads stream with unknown
    length in ``part_size`` parts; minio holds whole parts in memory to sign them (and copies
    each once more), so one upload peaks at about (``parallel_uploads`` + 2) x ``part_size``
    of RAM (48 MiB at the defaults, measured), whatever the file size.

    Metadata goes as ``x-amz-meta-*``. ``sha256`` is stored (``x-amz-meta-sha256``) only when
    passed in advance: the computed digest is known only after the headers went out, so it
    is returned in PutResult and not kept. With ``object_lock`` the bucket is versioned and
    ``delete`` removes every version, the current one last, so a refusal (ObjectLocked)
    leaves the object readable. Timeouts and retries are constructor arguments, so a dead
    endpoint fails fast with StoreUnavailable.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
        create_bucket: bool = True,
        object_lock: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
        part_size: int = 16 * MiB,
        parallel_uploads: int = 1,
    ) -> None:
        from minio.helpers import check_bucket_name  # no I/O: fail at start-up, not later

        if "://" in endpoint:
            raise ValueError("endpoint is host[:port]; use secure=True for https")
        check_bucket_name(bucket, strict=True)
        if not 5 * MiB <= part_size <= 5 * 1024 * MiB:
            raise ValueError("part_size must be between 5 MiB and 5 GiB")
        self._endpoint = endpoint
        self._access_key = access_key
        self._secret_key = secret_key
        self._bucket = bucket
        self._secure = secure
        self._region = region
        self._create_bucket = create_bucket
        self._object_lock = object_lock
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_retries = max_retries
        self._part_size = part_size
        self._parallel = max(1, parallel_uploads)
        self._lazy = _Lazy()

    @property
    def supports_retention(self) -> bool:
        return self._object_lock

    @property
    def bucket(self) -> str:
        return self._bucket

    def __repr__(self) -> str:
        scheme = "https" if self._secure else "http"
        return f"S3ObjectStore({scheme}://{self._endpoint}/{self._bucket})"

    # client and bucket
    def _client(self) -> Minio:
        lazy = self._lazy
        if lazy.client is None:
            with lazy.lock:
                if lazy.client is None:
                    lazy.client = self._make_client()
        return lazy.client

    def _make_client(self) -> Minio:
        import certifi
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=self._max_retries,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
            ),
        )
        return Minio(
            self._endpoint,
            access_key=self._access_key,
            secret_key=self._secret_key,
            secure=self._secure,
            region=self._region,
            http_client=http,
        )

    def _ready(self) -> Minio:
        """The client, with the bucket checked (and created) once per store."""
        client = self._client()
        lazy = self._lazy
        if not lazy.bucket_ready:
            with lazy.lock:
                if not lazy.bucket_ready:
                    if self._create_bucket:
                        self._ensure_bucket(client)
                    lazy.bucket_ready = True
        return client

    def _ensure_bucket(self, client: Minio) -> None:
        from minio.error import S3Error

        try:
            if not client.bucket_exists(self._bucket):
                try:
                    client.make_bucket(
                        self._bucket, location=self._region, object_lock=self._object_lock
                    )
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            elif self._object_lock:
                try:
                    client.get_object_lock_config(self._bucket)
                except S3Error as exc:
                    if exc.code == "ObjectLockConfigurationNotFoundError":
                        raise RetentionNotSupported(
                            f"bucket {self._bucket!r} exists without object lock"
                        ) from None
                    raise
        except StorageError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    def _check_lock(self, retention: Retention | None, legal_hold: bool) -> None:
        if (retention is not None or legal_hold) and not self._object_lock:
            raise RetentionNotSupported(
                f"bucket {self._bucket!r} is not configured for object lock"
            )

    # writes
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: str | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        from minio.retention import Retention as MinioRetention

        validate_key(key)
        _check_content_type(content_type)
        headers: DictType = {f"x-amz-meta-{k}": v for k, v in _encode_metadata(metadata).items()}
        expected = _normalize_sha256(sha256)
        if expected is not None:
            headers["x-amz-meta-sha256"] = expected
        self._check_lock(retention, legal_hold)
        client = self._ready()
        reader = _HashingReader(stream, expected, key)
        try:
            result = client.put_object(
                self._bucket,
                key,
                # minio only calls read(); its annotation asks for a whole BinaryIO.
                cast(BinaryIO, reader),
                length=-1,
                part_size=self._part_size,
                num_parallel_uploads=self._parallel,
                content_type=content_type,
                metadata=headers or None,
                retention=(MinioRetention(retention.mode, retention.until) if retention else None),
                legal_hold=legal_hold,
            )
        except Exception as exc:
            if exc is reader.error:
                raise
            raise _translate(exc, key) from exc
        return PutResult(
            key=key,
            size=reader.size,
            sha256=reader.sha256,
            etag=result.etag,
            version_id=result.version_id,
        )

    def set_retention(self, key: str, retention: Retention) -> None:
        from minio.retention import Retention as MinioRetention

        validate_key(key)
        self._check_lock(retention, False)
        client = self._ready()
        try:
            client.set_object_retention(
                self._bucket, key, MinioRetention(retention.mode, retention.until)
            )
        except Exception as exc:
            raise _translate(
                exc, key, denied=ObjectLocked, invalid_request=RetentionNotSupported
            ) from exc

    def set_legal_hold(self, key: str, on: bool) -> None:
        validate_key(key)
        self._check_lock(None, True)
        client = self._ready()
        try:
            if on:
                client.enable_object_legal_hold(self._bucket, key)
            else:
                client.disable_object_legal_hold(self._bucket, key)
        except Exception as exc:
            raise _translate(
                exc, key, denied=ObjectLocked, invalid_request=RetentionNotSupported
            ) from exc

    def delete(self, key: str) -> None:
        validate_key(key)
        client = self._ready()
        try:
            if not self._object_lock:
                client.remove_object(self._bucket, key)
                return
            versions = [
                v
                for v in client.list_objects(self._bucket, prefix=key, include_version=True)
                if v.object_name == key
            ]
            # Older versions first, the current one last: a refusal leaves it readable.
            versions.sort(key=lambda v: v.is_latest == "true")
            for version in versions:
                client.remove_object(self._bucket, key, version_id=version.version_id)
        except Exception as exc:
            raise _translate(exc, key, denied=ObjectLocked) from exc

    # reads
    def _get(self, key: str) -> _S3Body:
        validate_key(key)
        client = self._ready()
        try:
            response = client.get_object(self._bucket, key)
        except Exception as exc:
            raise _translate(exc, key) from exc
        return _S3Body(response, key)

    def open(self, key: str) -> BinaryIO:
        return io.BufferedReader(self._get(key), buffer_size=256 * 1024)

    def _open_with_sha(self, key: str) -> tuple[BinaryIO, str | None]:
        body = self._get(key)
        return io.BufferedReader(body, buffer_size=256 * 1024), body.sha256

    def stat(self, key: str) -> ObjectInfo:
        from minio.time import from_iso8601utc

        validate_key(key)
        client = self._ready()
        try:
            obj = client.stat_object(self._bucket, key)
        except Exception as exc:
            raise _translate(exc, key) from exc
        headers = obj.metadata or {}
        user: dict[str, str] = {}
        sha256: str | None = None
        for name, value in headers.items():
            lname = name.lower()
            if not lname.startswith("x-amz-meta-"):
                continue
            short = lname.removeprefix("x-amz-meta-")
            if short == "sha256":
                sha256 = value.lower()
            else:
                user[short] = unquote(value)
        until = headers.get("x-amz-object-lock-retain-until-date")
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            content_type=obj.content_type or "application/octet-stream",
            metadata=user,
            last_modified=obj.last_modified or datetime.now(UTC),
            sha256=sha256,
            retain_until=from_iso8601utc(until) if until else None,
            retention_mode=headers.get("x-amz-object-lock-mode") or None,
            legal_hold=(headers.get("x-amz-object-lock-legal-hold") or "").upper() == "ON",
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        _validate_prefix(prefix)
        client = self._ready()
        try:
            keys = sorted(
                obj.object_name
                for obj in client.list_objects(self._bucket, prefix=prefix or None, recursive=True)
                if obj.object_name and not obj.is_dir
            )
        except Exception as exc:
            raise _translate(exc) from exc
        for key in keys:
            try:
                yield self.stat(key)
            except ObjectNotFound:
                continue  # deleted while listing

    def presigned_url(self, key: str, expires: timedelta) -> str:
        validate_key(key)
        _check_expires(expires)
        client = self._ready()
        try:
            return client.presigned_get_object(self._bucket, key, expires=expires)
        except Exception as exc:
            raise _translate(exc, key) from exc

    def ping(self) -> None:
        try:
            client = self._client()
            if not client.bucket_exists(self._bucket):
                if not self._create_bucket:
                    raise StoreUnavailable(f"bucket {self._bucket!r} does not exist")
                self._lazy.bucket_ready = False
                self._ready()
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"S3 store not ready: {_translate(exc)}") from exc


# --------------------------------------------------------------------------- factory


def make_object_store(kind: Literal["local", "s3"], **kwargs: Any) -> ObjectStore:
    """Build the configured store; the settings layer passes the constructor's kwargs."""
    if kind == "local":
        return LocalObjectStore(**kwargs)
    if kind == "s3":
        return S3ObjectStore(**kwargs)
    raise ValueError(f"unknown object store kind {kind!r}")
