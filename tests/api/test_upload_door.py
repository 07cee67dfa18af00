"""The upload door holds every part of the body to a budget, chunked or not.

The requests here are streamed through the ASGI app from generators, with no Content-Length, as
an attacker's chunked upload would be; each test counts how much of the body the API read.
"""

from __future__ import annotations

import asyncio
import io
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from api.app import create_app
from api.multipart import BadForm, FormLimits, PartHeadersTooLarge, read_upload
from ingest.errors import IngestError
from ingest.upload import upload_dir
from tests.conftest import TOKEN
from wiring.factory import Services, build

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = b"sohoa-door-test"
CTYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}


@pytest.fixture
def services(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    svc = build(make_settings(max_upload_bytes=2 * 2**20))
    yield svc
    svc.engine.dispose()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (300, 200), 255).save(buf, "PNG", dpi=(300, 300))
    return buf.getvalue()


def _field(name: str, value: bytes, extra_headers: bytes = b"") -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n'
        + extra_headers + b"\r\n" + value + b"\r\n"
    )  # fmt: skip


def _file(data: bytes, name: str = "file", filename: str = "scan.png") -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="' + name.encode() + b'"; filename="'
        + filename.encode() + b'"\r\nContent-Type: image/png\r\n\r\n' + data + b"\r\n"
    )  # fmt: skip


END = b"--" + BOUNDARY + b"--\r\n"


class Body:
    """A chunked request body that records how much of it the server pulled."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self.parts = parts
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.sent += len(part)
            yield part


def _post(services: Services, body: Body, length: int | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://sohoa.test") as client:
            request = client.build_request(
                "POST", "/api/v1/scans", content=body, headers={**AUTH, **CTYPE}
            )
            assert "content-length" not in request.headers  # really chunked
            if length is not None:  # what the client claims, checked before reading
                request.headers["Content-Length"] = str(length)
            return await client.send(request)

    return asyncio.run(go())


def _problem(resp: httpx.Response, status: int, code: str) -> dict:  # type: ignore[type-arg]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status and body["detail"]
    return body


def _spool_empty(services: Services) -> bool:
    return not any(upload_dir(services.settings).iterdir())


def test_a_flood_of_small_fields_is_refused_early_and_costs_no_memory(services: Services) -> None:
    """The probe's attack, scaled to 48 MB: before, every byte was read and kept in memory."""
    value = b"a" * 4000
    flood = 48 * 2**20

    def parts() -> Iterator[bytes]:
        for i in range(flood // len(value)):
            yield _field(f"f{i}", value)
        yield _file(_png())
        yield END

    body = Body(parts())
    tracemalloc.start()
    try:
        resp = _post(services, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 413
    code = resp.json()["code"]
    assert code in ("too_many_form_fields", "form_fields_too_large")
    # The API stopped reading at its budget, and held only that much.
    assert body.sent < 1 * 2**20, body.sent
    assert peak < 8 * 2**20, peak
    assert _spool_empty(services)


def test_form_fields_total_bytes_are_bounded(services: Services) -> None:
    """Few fields, each under the per-field cap, together over the 64 KB budget."""
    body = Body(iter([*(_field(f"f{i}", b"x" * 4000) for i in range(20)), _file(_png()), END]))
    got = _problem(_post(services, body), 413, "form_fields_too_large")
    assert "65536" in got["detail"]
    assert _spool_empty(services)


def test_form_field_count_is_bounded_and_the_budget_itself_is_accepted(
    services: Services,
) -> None:
    within = Body(iter([*(_field(f"f{i}", b"1") for i in range(32)), _file(_png()), END]))
    assert _post(services, within).status_code == 202
    over = Body(iter([*(_field(f"g{i}", b"1") for i in range(33)), _file(_png()), END]))
    _problem(_post(services, over), 413, "too_many_form_fields")


def test_part_headers_are_bounded(make_settings) -> None:  # type: ignore[no-untyped-def]
    svc = build(make_settings(upload_part_header_max_bytes=1024))
    try:
        headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 300) for i in range(5))
        body = Body(iter([_field("clerk_id", b"x", headers), _file(_png()), END]))
        _problem(_post(svc, body), 413, "part_headers_too_large")
        # The file part's headers count too, and the spool file does not outlive the refusal.
        body = Body(iter([_file(_png(), filename="a" * 2000), END]))
        _problem(_post(svc, body), 413, "part_headers_too_large")
        assert _spool_empty(svc)
    finally:
        svc.engine.dispose()


def test_at_most_one_file_part(services: Services) -> None:
    twice = Body(iter([_file(_png()), _file(_png()), END]))
    _problem(_post(services, twice), 400, "too_many_files")
    other = Body(iter([_file(_png()), _file(_png(), name="extra", filename="x.png"), END]))
    _problem(_post(services, other), 400, "too_many_files")
    assert _spool_empty(services)


def test_a_chunked_body_is_bounded_whatever_it_carries(services: Services) -> None:
    """A valid form followed by an endless epilogue: the parser drops it, the door counts it."""

    def parts() -> Iterator[bytes]:
        yield _file(_png())
        yield END
        for _ in range(64):  # 64 MB, far over the 2 MB file cap and the fields budget
            yield b"\0" * 2**20

    body = Body(parts())
    got = _problem(_post(services, body), 413, "upload_too_large")
    assert body.sent < 4 * 2**20 and "2 MB" in got["detail"]
    assert _spool_empty(services)


def test_a_chunked_file_over_the_cap_is_cut_off(services: Services) -> None:
    def parts() -> Iterator[bytes]:
        yield _file(b"\x89PNG\r\n\x1a\n")[:-2]  # the file part, still open
        for _ in range(16):
            yield b"\0" * 2**20

    body = Body(parts())
    _problem(_post(services, body), 413, "file_too_large")
    assert body.sent < 4 * 2**20
    assert _spool_empty(services)


def test_content_length_over_the_bound_is_refused_before_reading(services: Services) -> None:
    body = Body(iter([_file(b"\x89PNG\r\n\x1a\n" + b"\0" * 2**20), END]))
    limit = FormLimits.from_settings(services.settings).body_limit(2 * 2**20)
    resp = _post(services, body, limit + 1)
    _problem(resp, 413, "file_too_large")
    assert body.sent == 0


def test_read_upload_removes_its_spool_file_on_every_refusal(tmp_path: Path) -> None:
    """Whatever the caller does with its directory, a refused body leaves no file behind."""
    dest = tmp_path / "upload"
    ctype = CTYPE["Content-Type"]
    small = FormLimits(part_header_max_bytes=256)
    broken = b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\n"
    cases: list[tuple[list[bytes], int, FormLimits, type[Exception], str]] = [
        ([_file(b"\x89PNG" + b"\0" * 5000)], 1024, FormLimits(), IngestError, "file_too_large"),
        (
            [_file(b"\x89PNG"), _file(b"\x89PNG"), END],
            2**20,
            FormLimits(),
            BadForm,
            "too_many_files",
        ),
        ([_file(b"\x89PNG", filename="n" * 600), END], 2**20, small, PartHeadersTooLarge, ""),
        ([_file(b"\x89PNG"), broken], 2**20, FormLimits(), BadForm, "bad_form"),
        ([_file(b"")], 2**20, FormLimits(), IngestError, "empty_file"),
    ]
    for chunks, max_bytes, limits, kind, code in cases:

        async def stream(chunks: list[bytes] = chunks) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        with pytest.raises(kind) as info:
            asyncio.run(read_upload(stream(), ctype, dest, max_bytes=max_bytes, limits=limits))
        assert not code or info.value.code == code, info.value  # type: ignore[attr-defined]
        assert not dest.exists(), code
