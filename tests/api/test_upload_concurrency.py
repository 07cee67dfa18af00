"""Uploads at once through a real server (uvicorn, one event loop): none lost, none mixed up,
and one upload's disk work never holds up the others (issue 16, "acknowledge uploads fast").

No timings: what is asserted is what must hold however loaded the machine is.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from PIL import Image

from api import multipart
from api.app import create_app
from storage.db import session_scope
from storage.models import Scan
from tests.conftest import TOKEN
from wiring.factory import Services, build

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLIENTS = 20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def services(request: pytest.FixtureRequest, make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    """The embedded default, and PostgreSQL (whose writers do not wait on one file lock)."""
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_database")
    svc = build(make_settings(**overrides))
    yield svc
    svc.engine.dispose()


@dataclass
class Server:
    base_url: str
    services: Services


@pytest.fixture
def server(services: Services) -> Iterator[Server]:
    """The app under uvicorn in a thread, on a socket bound here (no port race)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(services), log_config=None, access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", services)
    finally:
        srv.should_exit = True
        thread.join()
        sock.close()


def _jpeg(side: int = 1200) -> bytes:
    """Noise, so the file is large (about 1.5 MB: more than one spool flush)."""
    image = Image.frombytes("L", (side, side), os.urandom(side * side))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _distinct(jpeg: bytes) -> bytes:
    """Other bytes, the same picture: a JPEG comment segment after SOI."""
    note = f"sohoa test {uuid.uuid4()}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + jpeg[2:]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _stored_sha256(services: Services, scan_id: str) -> str:
    with session_scope(services.sessions) as session:
        scan = session.get(Scan, scan_id)
        assert scan is not None
        key = scan.original_key
    digest = hashlib.sha256()
    with services.store.open(key) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_twenty_uploads_at_once_are_each_accepted_and_kept_intact(server: Server) -> None:
    base = _jpeg()
    files = [_distinct(base) for _ in range(CLIENTS)]
    assert len(files[0]) > multipart.FLUSH_BYTES
    clients = [httpx.Client(base_url=server.base_url, headers=AUTH) for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    answers: list[httpx.Response | BaseException | None] = [None] * CLIENTS

    def upload(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = clients[i].post(
                "/api/v1/scans", files={"file": (f"scan-{i}.jpg", files[i], "image/jpeg")}
            )
        except BaseException as exc:  # reported below, with the others
            answers[i] = exc

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()

    ids = []
    for i, resp in enumerate(answers):
        assert isinstance(resp, httpx.Response), resp
        assert resp.status_code == 202, resp.text
        body = resp.json()
        want = hashlib.sha256(files[i]).hexdigest()
        assert (body["sha256"], body["size"], body["status"]) == (want, len(files[i]), "received")
        assert _stored_sha256(server.services, body["id"]) == want
        ids.append(body["id"])
    assert len(set(ids)) == CLIENTS


def test_a_stuck_spool_write_holds_up_no_other_request(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one upload's bytes wait on a slow disk, the server answers /healthz and accepts
    another upload. Were the write on the event loop, the hook refuses the upload instead of
    waiting, so the test fails rather than hangs."""
    slow = _distinct(_jpeg(600))
    marker = slow[4 : 4 + 40]  # inside its unique comment
    stuck, release = threading.Event(), threading.Event()
    on_loop: list[bool] = []
    write = multipart._FileSink._write

    def slow_write(self: multipart._FileSink, pieces: list[memoryview]) -> None:
        if marker in b"".join(pieces)[:128]:  # the slow upload's first write
            on_loop.append(_on_event_loop())
            if on_loop[-1]:
                raise OSError("the spool write runs on the event loop")
            stuck.set()
            release.wait()
        write(self, pieces)

    monkeypatch.setattr(multipart._FileSink, "_write", slow_write)
    result: dict[str, httpx.Response | BaseException] = {}

    def upload_slow() -> None:
        try:
            with httpx.Client(base_url=server.base_url, headers=AUTH) as client:
                result["slow"] = client.post(
                    "/api/v1/scans", files={"file": ("slow.jpg", slow, "image/jpeg")}
                )
        except BaseException as exc:
            result["slow"] = exc
        finally:
            stuck.set()  # also when it failed before reaching the write

    thread = threading.Thread(target=upload_slow)
    thread.start()
    try:
        stuck.wait()
        assert on_loop == [False], result.get("slow")
        with httpx.Client(base_url=server.base_url, headers=AUTH) as client:
            assert client.get("/healthz").status_code == 200
            other = _distinct(_jpeg(300))
            resp = client.post("/api/v1/scans", files={"file": ("other.jpg", other, "image/jpeg")})
            assert resp.status_code == 202, resp.text
        assert "slow" not in result  # still waiting on its disk all along
    finally:
        release.set()
        thread.join()
    answer = result["slow"]
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 202, answer.text
    assert answer.json()["sha256"] == hashlib.sha256(slow).hexdigest()
