"""Streaming multipart upload: the file part goes straight to disk, hashed, with a size cap.

Starlette's form parser would buffer the whole body before our checks run; a counter's upload
can be hundreds of megabytes, so we parse as bytes arrive and stop at the limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.errors import EmptyUpload, IngestError
from ingest.validate import Spooled, too_large

MAX_FIELD_BYTES = 4096


class BadForm(IngestError):
    code = "bad_form"
    http_status = 400


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
    file_field: str = "file",
) -> UploadForm:
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadForm("send the scan as multipart/form-data with the file in the field 'file'")

    form = UploadForm()
    state: dict[str, object] = {}
    digest = hashlib.sha256()
    out: BinaryIO | None = None
    size = 0
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}

    def on_part_begin() -> None:
        headers.clear()
        state.update(name=None, is_file=False, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal out
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == file_field:
            if out is not None:
                raise BadForm("send one file per upload")
            state["is_file"] = True
            raw = disp.get(b"filename")
            form.filename = raw.decode("utf-8", "replace") if raw else None
            out = dest.open("wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal size
        chunk = data[start:end]
        if state.get("is_file"):
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            digest.update(chunk)
            assert out is not None
            out.write(chunk)
        else:
            buf = state["buf"]
            assert isinstance(buf, bytearray)
            buf.extend(chunk)
            if len(buf) > MAX_FIELD_BYTES:
                raise BadForm(f"the form field '{state['name']}' is too long")

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
        callbacks={  # type: ignore[arg-type]
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except IngestError:
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        raise BadForm(f"the multipart body is malformed: {exc}") from None
    finally:
        if out is not None:
            out.close()
    if out is None:
        raise BadForm("no file in the upload: put the scan in the form field 'file'")
    if size == 0:
        raise EmptyUpload("the file is empty: scan the paper again and upload the result")
    form.file = Spooled(dest, size, digest.hexdigest())
    return form
