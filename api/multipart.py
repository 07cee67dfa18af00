"""Streaming multipart upload: the file part goes straight to disk, hashed, with a size cap.

Starlette's form parser would buffer the whole body before our checks run; a counter's upload
can be hundreds of megabytes, so we parse as bytes arrive and stop at the limit. Everything
else in the body is on a budget too: the form fields together (bytes and count), each part's
headers, and the body as a whole, because a chunked request carries no Content-Length to check
up front and the parser itself silently accepts any amount of epilogue.

Parsing runs on the event loop (it is cheap: a boundary search per chunk); hashing and writing
the file do not. They run in a worker thread a mebibyte at a time (:class:`_FileSink`), where
both release the GIL, so while one upload is being written the loop goes on reading the others
and answering every other request.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from anyio import to_thread
from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.errors import EmptyUpload, IngestError
from ingest.validate import Spooled, too_large

#: One field (a clerk id, a password, a language list) is short; this stops a single huge one.
MAX_FIELD_BYTES = 4096
#: Boundary lines, CRLFs and the closing delimiter around each part (boundaries are ≤ 256 bytes).
FRAMING_PER_PART = 2 * 256 + 16
#: File bytes gathered on the loop before one trip to a worker thread to hash and write them:
#: large enough that the trip costs nothing next to the work, small enough to hold 20 at once.
FLUSH_BYTES = 1024 * 1024


class BadForm(IngestError):
    code = "bad_form"
    http_status = 400


class TooManyFiles(BadForm):
    code = "too_many_files"


class FormTooLarge(IngestError):
    """Something in the body beyond the file is over its budget: refused before it costs memory."""

    code = "form_too_large"
    http_status = 413


class FormFieldsTooLarge(FormTooLarge):
    code = "form_fields_too_large"


class TooManyFormFields(FormTooLarge):
    code = "too_many_form_fields"


class PartHeadersTooLarge(FormTooLarge):
    code = "part_headers_too_large"


class BodyTooLarge(FormTooLarge):
    code = "upload_too_large"


@dataclass(frozen=True)
class FormLimits:
    """What one upload body may hold besides the file (whose cap is ``max_bytes``)."""

    fields_max_bytes: int = 64 * 1024
    fields_max_count: int = 32
    part_header_max_bytes: int = 8 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> FormLimits:
        return cls(
            fields_max_bytes=settings.upload_fields_max_bytes,
            fields_max_count=settings.upload_fields_max_count,
            part_header_max_bytes=settings.upload_part_header_max_bytes,
        )

    def body_limit(self, max_file_bytes: int) -> int:
        """The largest body a legitimate upload can be: file + fields + every part's framing."""
        parts = self.fields_max_count + 1
        return (
            max_file_bytes
            + self.fields_max_bytes
            + parts * (self.part_header_max_bytes + FRAMING_PER_PART)
        )


class _FileSink:
    """The file part on its way to ``dest``: slices gather on the loop, a thread hashes and writes.

    The slices are views of the parser's input chunks (immutable bytes), so nothing is copied
    before the write. The file is opened by the first flush, also off the loop.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.digest = hashlib.sha256()
        self.size = 0
        self.out: BinaryIO | None = None
        self._pending: list[memoryview] = []
        self._pending_bytes = 0

    def add(self, data: bytes, start: int, end: int) -> None:
        self._pending.append(memoryview(data)[start:end])
        self._pending_bytes += end - start
        self.size += end - start

    @property
    def full(self) -> bool:
        return self._pending_bytes >= FLUSH_BYTES

    async def flush(self) -> None:
        pieces, self._pending, self._pending_bytes = self._pending, [], 0
        await to_thread.run_sync(self._write, pieces)

    def _write(self, pieces: list[memoryview]) -> None:
        if self.out is None:
            self.out = self.dest.open("wb")
        for piece in pieces:
            self.digest.update(piece)
            self.out.write(piece)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


@dataclass
class UploadForm:
    file: Spooled | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(
    stream: AsyncIterator[bytes],
    content_type: str | None,
    dest: Path,
    *,
    max_bytes: int,
    limits: FormLimits | None = None,
    file_field: str = "file",
) -> UploadForm:
    """Parse the body into ``dest`` (the file) and a few small fields, or refuse it.

    On any refusal ``dest`` is removed: nothing of a refused body stays on disk.
    """
    limits = limits or FormLimits()
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadForm("send the scan as multipart/form-data with the file in the field 'file'")
    body_limit = limits.body_limit(max_bytes)

    form = UploadForm()
    state: dict[str, object] = {}
    sink: _FileSink | None = None
    fields_bytes = 0
    fields_count = 0
    header_bytes = 0
    file_parts = 0
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}

    def count_header(n: int) -> None:
        nonlocal header_bytes
        header_bytes += n
        if header_bytes > limits.part_header_max_bytes:
            raise PartHeadersTooLarge(
                f"the headers of one part of the form are over {limits.part_header_max_bytes} bytes"
            )

    def on_part_begin() -> None:
        nonlocal header_bytes
        headers.clear()
        header_bytes = 0
        state.update(name=None, is_file=False, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        count_header(end - start)
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        count_header(end - start)
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal sink, file_parts, fields_count
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if b"filename" in disp:
            file_parts += 1
            if file_parts > 1:
                raise TooManyFiles("send one file per upload")
        if name == file_field:
            if sink is not None:
                raise TooManyFiles("send one file per upload")
            state["is_file"] = True
            raw = disp.get(b"filename")
            form.filename = raw.decode("utf-8", "replace") if raw else None
            sink = _FileSink(dest)
            return
        fields_count += 1
        if fields_count > limits.fields_max_count:
            raise TooManyFormFields(
                f"the form has more than {limits.fields_max_count} fields besides the file"
            )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal fields_bytes
        n = end - start
        if state.get("is_file"):
            assert sink is not None
            if sink.size + n > max_bytes:
                raise too_large(max_bytes)
            sink.add(data, start, end)
            return
        fields_bytes += n
        if fields_bytes > limits.fields_max_bytes:
            raise FormFieldsTooLarge(
                f"the form fields besides the file are over {limits.fields_max_bytes} bytes"
            )
        buf = state["buf"]
        assert isinstance(buf, bytearray)
        if len(buf) + n > MAX_FIELD_BYTES:
            raise BadForm(f"the form field '{state['name']}' is too long")
        buf.extend(data[start:end])

    def on_part_end() -> None:
        if not state.get("is_file") and state.get("name"):
            buf = state["buf"]
            assert isinstance(buf, bytearray)
            try:
                form.fields[str(state["name"])] = buf.decode("utf-8")
            except UnicodeDecodeError:
                raise BadForm(f"the form field '{state['name']}' is not UTF-8 text") from None

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parse = parser.write
    received = 0
    done = False
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > body_limit:
                raise BodyTooLarge(
                    f"the upload body is over {body_limit} bytes: one file of at most "
                    f"{max_bytes // 2**20} MB and a few short fields"
                )
            # The sink keeps views of the chunk until it is written: it must not change.
            parse(chunk if type(chunk) is bytes else bytes(chunk))
            if sink is not None and sink.full:
                await sink.flush()
        parser.finalize()
        if sink is not None:
            await sink.flush()
        done = True
    except IngestError:
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        raise BadForm(f"the multipart body is malformed: {exc}") from None
    finally:
        if sink is not None:
            sink.close()
        if not done:  # refused, malformed, or the client went away: keep nothing
            with contextlib.suppress(OSError):
                dest.unlink(missing_ok=True)
    if sink is None:
        raise BadForm("no file in the upload: put the scan in the form field 'file'")
    if sink.size == 0:
        dest.unlink(missing_ok=True)
        raise EmptyUpload("the file is empty: scan the paper again and upload the result")
    form.file = Spooled(dest, sink.size, sink.digest.hexdigest())
    return form
