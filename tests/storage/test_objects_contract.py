"""One contract for every ObjectStore: the local directory and S3 (on a real SeaweedFS).

S3 tests get a fresh bucket each (unique name, emptied and removed afterwards) and are
marked ``s3``. WORM behaviour is checked on SeaweedFS with an object-lock bucket; moto
would prove nothing there (notes/infra.md).
"""

from __future__ import annotations

import hashlib
import io
import random
import socket
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from storage import objects
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
from storage.objects import (
    LocalObjectStore,
    ObjectInfo,
    ObjectStore,
    Retention,
    S3ObjectStore,
    make_object_store,
    validate_key,
)
from tests.fixtures.seaweedfs import SeaweedFS, free_ports

MiB = 1024 * 1024
# minio-py buffers whole parts to sign them; 5 MiB (the S3 minimum) keeps an upload well
# under the 20 MB budget of the streaming test. Production uses the 16 MiB default.
TEST_PART_SIZE = 5 * MiB
MEMORY_BUDGET = 20 * 1000 * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class GeneratorStream:
    """A read()-able stream over a generator: the data never exists as a whole."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        if size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


# --------------------------------------------------------------------------- fixtures


def _empty_and_remove_bucket(server: SeaweedFS, bucket: str) -> None:
    from minio.deleteobjects import DeleteObject

    client = server.client()
    try:
        if not client.bucket_exists(bucket):
            return
        doomed = [
            DeleteObject(o.object_name, o.version_id)
            for o in client.list_objects(bucket, recursive=True, include_version=True)
            if o.object_name
        ]
        list(client.remove_objects(bucket, doomed, bypass_governance_mode=True))
        client.remove_bucket(bucket)
    except Exception:  # noqa: S110 - COMPLIANCE-locked leftovers die with the temp dir
        pass


@pytest.fixture
def s3_store_factory(seaweedfs: SeaweedFS) -> Iterator[Callable[..., S3ObjectStore]]:
    """Stores on fresh, uniquely named buckets; the buckets are removed afterwards."""
    buckets: list[str] = []

    def make(**kwargs: Any) -> S3ObjectStore:
        bucket = f"t-{uuid.uuid4().hex[:24]}"
        buckets.append(bucket)
        kwargs.setdefault("part_size", TEST_PART_SIZE)
        return S3ObjectStore(
            seaweedfs.endpoint,
            seaweedfs.access_key,
            seaweedfs.secret_key,
            bucket,
            secure=seaweedfs.secure,
            **kwargs,
        )

    yield make
    for bucket in buckets:
        _empty_and_remove_bucket(seaweedfs, bucket)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(
        tmp_path / "objects", url_secret=b"test-url-secret", base_url="http://testserver/files/"
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return cast(ObjectStore, request.getfixturevalue("local_store"))
    return request.getfixturevalue("s3_store_factory")()


@pytest.fixture
def lock_store(s3_store_factory: Callable[..., S3ObjectStore]) -> S3ObjectStore:
    return s3_store_factory(object_lock=True)


def put_bytes(store: ObjectStore, key: str, data: bytes, **kwargs: Any) -> objects.PutResult:
    return store.put(key, io.BytesIO(data), **kwargs)


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


# --------------------------------------------------------------------------- contract


def test_implements_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    store.ping()


def test_round_trip_with_sha256(store: ObjectStore) -> None:
    data = b"scan bytes \x00\xff" * 1000
    result = put_bytes(
        store,
        "originals/2026/scan-1.pdf",
        data,
        content_type="application/pdf",
        metadata={"scan-id": "42", "filename": "Giấy khai sinh 100%.pdf"},
        sha256=sha(data).upper(),
    )
    assert (result.key, result.size, result.sha256) == (
        "originals/2026/scan-1.pdf",
        len(data),
        sha(data),
    )
    assert read_all(store, "originals/2026/scan-1.pdf") == data

    info = store.stat("originals/2026/scan-1.pdf")
    assert isinstance(info, ObjectInfo)
    assert info.key == "originals/2026/scan-1.pdf"
    assert info.size == len(data)
    assert info.content_type == "application/pdf"
    assert info.metadata == {"scan-id": "42", "filename": "Giấy khai sinh 100%.pdf"}
    assert info.sha256 == sha(data)
    assert info.last_modified.tzinfo is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert (info.retain_until, info.retention_mode, info.legal_hold) == (None, None, False)


def test_digest_returned_but_not_stored_unless_announced(store: ObjectStore) -> None:
    result = put_bytes(store, "a/b", b"hello")
    assert result.sha256 == sha(b"hello")
    info = store.stat("a/b")
    assert info.sha256 is None
    assert info.content_type == "application/octet-stream"
    assert info.metadata == {}


@pytest.mark.parametrize("size", [1000, 6 * MiB], ids=["single-part", "multipart"])
def test_wrong_sha256_stores_nothing(store: ObjectStore, size: int) -> None:
    data = random.Random(size).randbytes(size)
    with pytest.raises(ChecksumMismatch) as err:
        put_bytes(store, "bad/object", data, sha256=sha(b"something else"))
    assert err.value.code == "checksum_mismatch"
    assert not store.exists("bad/object")
    assert list(store.list("bad/")) == []


def test_wrong_sha256_keeps_previous_version(store: ObjectStore) -> None:
    put_bytes(store, "doc", b"v1", sha256=sha(b"v1"))
    with pytest.raises(ChecksumMismatch):
        put_bytes(store, "doc", b"v2", sha256=sha(b"v1"))
    assert read_all(store, "doc") == b"v1"
    assert store.stat("doc").sha256 == sha(b"v1")


class ClientWentAway(OSError):
    pass


@pytest.mark.parametrize("fail_after", [0, 6 * MiB], ids=["first-read", "second-part"])
def test_source_stream_error_propagates_and_stores_nothing(
    store: ObjectStore, fail_after: int
) -> None:
    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent < fail_after:
            yield b"x" * MiB
            sent += MiB
        raise ClientWentAway("upload interrupted")

    with pytest.raises(ClientWentAway):
        store.put("partial", cast(BinaryIO, GeneratorStream(chunks())))
    assert not store.exists("partial")


def test_overwrite_replaces_content_and_metadata(store: ObjectStore) -> None:
    put_bytes(store, "doc", b"one", content_type="text/plain", metadata={"v": "1"})
    put_bytes(store, "doc", b"two!", metadata={"w": "2"})
    info = store.stat("doc")
    assert (info.size, info.content_type, info.metadata) == (
        4,
        "application/octet-stream",
        {"w": "2"},
    )
    assert read_all(store, "doc") == b"two!"


def test_large_object_streams_in_bounded_memory(store: ObjectStore) -> None:
    block = random.Random(7).randbytes(64 * 1024)
    count = 800  # 50 MiB
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(block)

    def chunks() -> Iterator[bytes]:
        for _ in range(count):
            yield block

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = store.put(
            "big/50mb.bin",
            cast(BinaryIO, GeneratorStream(chunks())),
            sha256=expected.hexdigest(),
        )
        put_peak = tracemalloc.get_traced_memory()[1]

        tracemalloc.reset_peak()
        got = hashlib.sha256()
        size = 0
        with store.open("big/50mb.bin") as stream:
            while chunk := stream.read(MiB):
                got.update(chunk)
                size += len(chunk)
        get_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.size == size == count * len(block)
    assert result.sha256 == got.hexdigest() == expected.hexdigest()
    assert put_peak < MEMORY_BUDGET, f"put peaked at {put_peak / MiB:.1f} MiB"
    assert get_peak < MEMORY_BUDGET, f"read peaked at {get_peak / MiB:.1f} MiB"


def test_put_file_and_get_to_file(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(b"%PDF-1.7 fake" * 100)
    result = store.put_file(
        "f/in.pdf", src, content_type="application/pdf", sha256=sha(src.read_bytes())
    )
    assert result.size == src.stat().st_size

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dest = out_dir / "copy.pdf"
    dest.write_bytes(b"old content")
    store.get_to_file("f/in.pdf", dest)
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in out_dir.iterdir()] == ["copy.pdf"]  # no temp file left


def test_get_to_file_missing_leaves_destination_alone(store: ObjectStore, tmp_path: Path) -> None:
    dest = tmp_path / "keep.bin"
    dest.write_bytes(b"keep me")
    with pytest.raises(ObjectNotFound):
        store.get_to_file("no/such/object", dest)
    assert dest.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as err:
        store.stat("no/such/object")
    assert (err.value.code, err.value.http_status, err.value.retryable) == (
        "object_not_found",
        404,
        False,
    )
    with pytest.raises(ObjectNotFound):
        store.open("no/such/object")
    assert store.exists("no/such/object") is False
    store.delete("no/such/object")  # idempotent


def test_exists_and_delete(store: ObjectStore) -> None:
    put_bytes(store, "d/x", b"1")
    put_bytes(store, "d/y", b"2")
    assert store.exists("d/x")
    store.delete("d/x")
    assert not store.exists("d/x")
    with pytest.raises(ObjectNotFound):
        store.stat("d/x")
    assert [i.key for i in store.list()] == ["d/y"]
    store.delete("d/x")
    store.delete("d/y")
    put_bytes(store, "d", b"a key where a 'directory' was")  # local store pruned "d/"
    assert read_all(store, "d") == b"a key where a 'directory' was"


def test_list_by_prefix_sorted(store: ObjectStore) -> None:
    keys = ["docs/2", "docs/10", "docs/1", "docs-x", "docs/sub/z", "other/a", "a-c", "a/b"]
    for key in random.Random(1).sample(keys, len(keys)):
        put_bytes(store, key, key.encode(), metadata={"k": key}, content_type="text/plain")

    everything = list(store.list())
    assert [i.key for i in everything] == sorted(keys)
    assert all(not i.key.startswith(".") and ".meta" not in i.key for i in everything)
    assert [i.key for i in store.list("docs/")] == ["docs/1", "docs/10", "docs/2", "docs/sub/z"]
    assert [i.key for i in store.list("docs/1")] == ["docs/1", "docs/10"]
    assert [i.key for i in store.list("docs")] == [
        "docs-x",
        "docs/1",
        "docs/10",
        "docs/2",
        "docs/sub/z",
    ]
    assert list(store.list("nothing/")) == []
    info = next(iter(store.list("other/")))
    assert (info.size, info.content_type, info.metadata) == (7, "text/plain", {"k": "other/a"})


HOSTILE_KEYS = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "a/",
    "a\\b",
    "a/./b",
    ".",
    "..",
    ".meta/x.json",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "tab\there",
    "space here",
    "ünicode",
    "",
    "x" * 1000,
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_hostile_keys_refused(store: ObjectStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidObjectKey) as err:
        validate_key(key)
    assert (err.value.code, err.value.http_status) == ("invalid_object_key", 400)
    calls: list[Callable[[], object]] = [
        lambda: put_bytes(store, key, b"x"),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.open(key),
        lambda: store.get_to_file(key, tmp_path / "out"),
        lambda: store.delete(key),
        lambda: store.presigned_url(key, timedelta(minutes=1)),
    ]
    for call in calls:
        with pytest.raises(InvalidObjectKey):
            call()
    assert list(store.list()) == []


def test_longest_key_accepted(store: ObjectStore) -> None:
    key = "/".join(["k" * 127] * 4)  # 511 characters
    put_bytes(store, key, b"deep")
    assert store.stat(key).size == 4
    assert validate_key("x" * 512)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metadata": {"Upper": "x"}},
        {"metadata": {"under_score": "x"}},
        {"metadata": {"sha256": "x"}},
        {"metadata": {"big": "x" * 3000}},
        {"content_type": "text/plain\r\nX-Evil: 1"},
        {"sha256": "not-hex"},
    ],
    ids=["upper", "underscore", "reserved", "too-big", "header-injection", "bad-sha"],
)
def test_invalid_metadata_refused(store: ObjectStore, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidMetadata):
        put_bytes(store, "m", b"x", **kwargs)
    assert not store.exists("m")


def test_retention_rules_on_stores_without_lock(store: ObjectStore) -> None:
    """The local store and a bucket without object lock refuse retention outright."""
    assert store.supports_retention is False
    until = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(RetentionNotSupported) as err:
        put_bytes(store, "r", b"x", retention=Retention("GOVERNANCE", until))
    assert err.value.code == "retention_not_supported"
    with pytest.raises(RetentionNotSupported):
        put_bytes(store, "r", b"x", legal_hold=True)
    assert not store.exists("r")
    put_bytes(store, "r", b"x")
    with pytest.raises(RetentionNotSupported):
        store.set_retention("r", Retention("COMPLIANCE", until))
    with pytest.raises(RetentionNotSupported):
        store.set_legal_hold("r", True)
    store.delete("r")


def test_presigned_url(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    put_bytes(store, "share/doc.pdf", b"signed pdf")
    url = store.presigned_url("share/doc.pdf", timedelta(minutes=5))
    with pytest.raises(ValueError, match="7 days"):
        store.presigned_url("share/doc.pdf", timedelta(days=8))

    if isinstance(store, LocalObjectStore):
        parts = urlsplit(url)
        assert (
            f"{parts.scheme}://{parts.netloc}{parts.path}"
            == "http://testserver/files/share/doc.pdf"
        )
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        expires, signature = int(query["expires"]), query["signature"]
        assert store.verify_presigned("share/doc.pdf", expires, signature)
        tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        assert not store.verify_presigned("share/doc.pdf", expires, tampered)
        assert not store.verify_presigned("share/other.pdf", expires, signature)
        assert not store.verify_presigned("share/doc.pdf", expires + 3600, signature)
        assert not store.verify_presigned("../doc.pdf", expires, signature)
        assert not store.verify_presigned("share/doc.pdf", expires, "ü" * 64)
        now = time.time()
        monkeypatch.setattr(objects.time, "time", lambda: now + 301)
        assert not store.verify_presigned("share/doc.pdf", expires, signature)  # expired
        return

    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"signed pdf"
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered, timeout=10).status_code == 403
    short = store.presigned_url("share/doc.pdf", timedelta(seconds=1))
    time.sleep(2.1)
    assert httpx.get(short, timeout=10).status_code == 403


def test_factory(tmp_path: Path) -> None:
    local = make_object_store("local", root=tmp_path, url_secret=b"s")
    assert isinstance(local, LocalObjectStore) and isinstance(local, ObjectStore)
    s3 = make_object_store(
        "s3", endpoint="127.0.0.1:1", access_key="a", secret_key="b", bucket="sohoa"
    )
    assert isinstance(s3, S3ObjectStore) and isinstance(s3, ObjectStore)
    with pytest.raises(ValueError):
        make_object_store("ftp")  # type: ignore[arg-type]
    # Configuration mistakes fail at construction, without any network.
    with pytest.raises(ValueError):
        S3ObjectStore("127.0.0.1:1", "a", "b", "Bad_Bucket")
    with pytest.raises(ValueError):
        S3ObjectStore("http://127.0.0.1:1", "a", "b", "sohoa")
    with pytest.raises(ValueError):
        S3ObjectStore("127.0.0.1:1", "a", "b", "sohoa", part_size=MiB)


# --------------------------------------------------------------------------- local specifics


def test_local_layout_and_corruption_detected(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    put_bytes(local_store, "x/y.bin", b"payload", sha256=sha(b"payload"), metadata={"a": "b"})
    root = tmp_path / "objects"
    assert (root / "x" / "y.bin").read_bytes() == b"payload"
    assert (root / ".meta" / "x" / "y.bin.json").exists()
    assert sorted(p.name for p in (root / "x").iterdir()) == ["y.bin"]  # no temp files

    (root / "x" / "y.bin").write_bytes(b"tampered")  # bit rot / someone edited the file
    dest = tmp_path / "dest.bin"
    with pytest.raises(ChecksumMismatch):
        local_store.get_to_file("x/y.bin", dest)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_local_key_conflicts_and_symlink_escape(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    put_bytes(local_store, "a/b", b"x")
    with pytest.raises(InvalidObjectKey):
        put_bytes(local_store, "a/b/c", b"y")
    with pytest.raises(InvalidObjectKey):
        put_bytes(local_store, "a", b"z")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "objects" / "link").symlink_to(outside)
    with pytest.raises(InvalidObjectKey):
        put_bytes(local_store, "link/evil", b"x")
    assert list(outside.iterdir()) == []


def test_local_ping_fails_when_root_gone(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "gone", url_secret=b"s")
    (tmp_path / "gone").rmdir()
    with pytest.raises(StoreUnavailable):
        store.ping()


# --------------------------------------------------------------------------- S3 specifics


@pytest.mark.s3
@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_retention_refuses_delete(
    lock_store: S3ObjectStore, mode: Literal["GOVERNANCE", "COMPLIANCE"]
) -> None:
    assert lock_store.supports_retention
    until = (datetime.now(UTC) + timedelta(seconds=90)).replace(microsecond=0)
    put_bytes(lock_store, "worm/set", b"set later", sha256=sha(b"set later"))
    lock_store.set_retention("worm/set", Retention(mode, until))
    put_bytes(lock_store, "worm/put", b"locked at put", retention=Retention(mode, until))

    for key in ("worm/set", "worm/put"):
        info = lock_store.stat(key)
        assert info.retention_mode == mode
        assert info.retain_until is not None
        assert abs(info.retain_until - until) < timedelta(seconds=1)
        with pytest.raises(ObjectLocked) as err:
            lock_store.delete(key)
        assert (err.value.code, err.value.http_status) == ("object_locked", 409)
        assert lock_store.exists(key)
    assert read_all(lock_store, "worm/set") == b"set later"
    # Shortening a lock is refused too.
    with pytest.raises(ObjectLocked):
        lock_store.set_retention("worm/set", Retention(mode, until - timedelta(seconds=30)))


@pytest.mark.s3
def test_legal_hold_refuses_delete_until_removed(lock_store: S3ObjectStore) -> None:
    put_bytes(lock_store, "hold/a", b"evidence", legal_hold=True)
    put_bytes(lock_store, "hold/b", b"evidence too")
    lock_store.set_legal_hold("hold/b", True)
    for key in ("hold/a", "hold/b"):
        assert lock_store.stat(key).legal_hold is True
        with pytest.raises(ObjectLocked):
            lock_store.delete(key)
        assert lock_store.exists(key)
        lock_store.set_legal_hold(key, False)
        assert lock_store.stat(key).legal_hold is False
        lock_store.delete(key)
        assert not lock_store.exists(key)


@pytest.mark.s3
def test_lock_store_delete_removes_every_version(
    lock_store: S3ObjectStore, seaweedfs: SeaweedFS
) -> None:
    for version in (b"v1", b"v2", b"v3"):
        put_bytes(lock_store, "versions/doc", version)
    assert read_all(lock_store, "versions/doc") == b"v3"
    lock_store.delete("versions/doc")
    assert not lock_store.exists("versions/doc")
    left = list(
        seaweedfs.client().list_objects(lock_store.bucket, include_version=True, recursive=True)
    )
    assert left == []


@pytest.mark.s3
def test_lock_store_refusal_keeps_current_version(lock_store: S3ObjectStore) -> None:
    until = datetime.now(UTC) + timedelta(seconds=90)
    put_bytes(lock_store, "v/doc", b"old, locked", retention=Retention("GOVERNANCE", until))
    put_bytes(lock_store, "v/doc", b"new, unlocked")
    with pytest.raises(ObjectLocked):
        lock_store.delete("v/doc")
    assert read_all(lock_store, "v/doc") == b"new, unlocked"


@pytest.mark.s3
def test_object_lock_on_existing_plain_bucket_refused(
    s3_store_factory: Callable[..., S3ObjectStore], seaweedfs: SeaweedFS
) -> None:
    plain = s3_store_factory()
    put_bytes(plain, "x", b"x")
    locked = S3ObjectStore(
        seaweedfs.endpoint,
        seaweedfs.access_key,
        seaweedfs.secret_key,
        plain.bucket,
        object_lock=True,
    )
    with pytest.raises(RetentionNotSupported):
        locked.stat("x")


@pytest.mark.s3
def test_bucket_missing_without_create(seaweedfs: SeaweedFS) -> None:
    store = S3ObjectStore(
        seaweedfs.endpoint,
        seaweedfs.access_key,
        seaweedfs.secret_key,
        f"t-missing-{uuid.uuid4().hex[:12]}",
        create_bucket=False,
    )
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StorageError):
        put_bytes(store, "x", b"x")


@pytest.mark.s3
def test_wrong_credentials_fail_ping(seaweedfs: SeaweedFS) -> None:
    store = S3ObjectStore(
        seaweedfs.endpoint, seaweedfs.access_key, "wrong-secret", "t-any", max_retries=0
    )
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_closed_port_is_store_unavailable() -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    store = S3ObjectStore(
        f"127.0.0.1:{port}", "ak", "sk", "bucket", connect_timeout=0.5, max_retries=1
    )  # constructing touches nothing
    with pytest.raises(StoreUnavailable) as err:
        store.ping()
    assert (err.value.code, err.value.retryable, err.value.http_status) == (
        "store_unavailable",
        True,
        503,
    )
    for call in (
        lambda: store.stat("k"),
        lambda: put_bytes(store, "k", b"x"),
        lambda: store.open("k"),
        lambda: store.delete("k"),
        lambda: list(store.list()),
    ):
        with pytest.raises(StoreUnavailable):
            call()
    assert time.monotonic() - started < 10


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.s3
def test_server_down_then_back(
    s3_store_factory: Callable[..., S3ObjectStore], seaweedfs: SeaweedFS
) -> None:
    """The fixture's stop()/start() keep dir and ports: data survives, errors are retryable."""
    store = s3_store_factory(connect_timeout=0.5, max_retries=0)
    put_bytes(store, "survives", b"restart")
    seaweedfs.stop()
    try:
        assert not _listening(int(seaweedfs.endpoint.rsplit(":", 1)[1]))
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.stat("survives")
    finally:
        seaweedfs.start()
    store.ping()
    assert read_all(store, "survives") == b"restart"
