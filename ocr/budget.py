"""Measure what a PDF will cost before anything renders or inflates it.

Everything here reads the PDF's own numbers (boxes, ``/UserUnit``, image dimensions) or decodes
a stream with a ceiling and in small chunks, so a 1 KB file cannot make us allocate gigabytes
to find out that it is hostile. ``Stream.read_bytes()`` is never called on a stream whose
decoded size is not already known to be small: qpdf would inflate it whole.

The policy (which limits, which error) belongs to the caller: :mod:`ingest.budget` at upload
and in the worker, :mod:`ocr.prepare` when it re-emits what we sign.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from ocr.errors import OcrInputError

#: Decoded bytes held at once while counting.
CHUNK = 1 << 20
#: The most any PDF stream filter we cannot bound can expand its input (LZW tops out near 2,700).
_UNBOUNDED_FILTER_RATIO = 4096
#: Image codecs: their output size is the image's dimensions, checked separately.
IMAGE_CODECS = frozenset({Name.DCTDecode, Name.JPXDecode, Name.CCITTFaxDecode, Name.JBIG2Decode})
_POINTS_PER_INCH = 72.0


class Unmeasurable(ValueError):
    """The stream uses a filter chain we cannot decode with a ceiling and it is not tiny."""


def filters(stream: Stream) -> list[Name]:
    """The stream's filters in decoding order ([] for none)."""
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, Name):
        return [value]
    if isinstance(value, Array):
        return [f for f in value if isinstance(f, Name)]
    raise Unmeasurable("malformed /Filter")


def _inflate_chunks(data: bytes) -> Iterator[bytes]:
    """Inflate ``data`` a chunk at a time; stops at the end of the zlib stream or at damage."""
    inflater = zlib.decompressobj()
    pending = data
    while True:
        try:
            out = inflater.decompress(pending, CHUNK)
        except zlib.error:
            return  # qpdf keeps what decoded before the damage; so do we
        if out:
            yield out
        pending = inflater.unconsumed_tail
        if inflater.eof or (not out and not pending):
            return


def decoded_size(stream: Stream, limit: int) -> int:
    """Bytes the stream decodes to (before any image codec), counted up to ``limit + 1``.

    Chains of Flate, LZW, RunLength and the ASCII filters are decoded filter by filter with
    the ceiling; :class:`Unmeasurable` is raised for anything else (a filter we do not know).
    """
    chain = filters(stream)
    raw = stream.read_raw_bytes()
    if chain and chain[-1] in IMAGE_CODECS:
        chain = chain[:-1]
    if not chain:
        return len(raw)
    if chain == [Name.FlateDecode]:
        total = 0
        for chunk in _inflate_chunks(raw):
            total += len(chunk)
            if total > limit:
                return limit + 1
        return total
    if len(raw) * _UNBOUNDED_FILTER_RATIO <= limit:
        return len(stream.read_bytes())
    parms = _parms(stream, len(chain))
    data = raw
    for name, parm in zip(chain, parms, strict=True):
        data = _decode_at_most(name, parm, data, limit)
        if len(data) > limit:
            return limit + 1
    return len(data)


def _parms(stream: Stream, count: int) -> list[Dictionary | None]:
    value = stream.get("/DecodeParms")
    items = list(value) if isinstance(value, Array) else [value] * (1 if value else 0)
    items += [None] * count
    return [v if isinstance(v, Dictionary) else None for v in items[:count]]


def _decode_at_most(name: Name, parm: Dictionary | None, data: bytes, limit: int) -> bytes:
    """One filter of a chain, decoded to at most ``limit + 1`` bytes.

    The ASCII filters only ever shrink their input, so qpdf may decode them; Flate, LZW and
    RunLength are decoded here with the ceiling (predictors are ignored: they never grow data
    by more than a byte a row, and only the size matters here).
    """
    if name in (Name.ASCIIHexDecode, Name.ASCII85Decode):
        scratch = pikepdf.Pdf.new()
        return bytes(scratch.make_stream(data, Filter=name).read_bytes())
    if name == Name.FlateDecode:
        out = bytearray()
        for chunk in _inflate_chunks(data):
            out += chunk
            if len(out) > limit:
                break
        return bytes(out[: limit + 1])
    if name == Name.RunLengthDecode:
        return run_length_at_most(data, limit)
    if name == Name.LZWDecode:
        early = int(parm.get("/EarlyChange", 1)) if parm is not None else 1
        return lzw_at_most(data, limit, early_change=early)
    raise Unmeasurable(f"filter {name} cannot be decoded with a ceiling")


def run_length_at_most(data: bytes, limit: int) -> bytes:
    """RunLengthDecode (ISO 32000 7.4.5) up to ``limit + 1`` bytes."""
    out = bytearray()
    i = 0
    while i < len(data) and len(out) <= limit:
        n = data[i]
        i += 1
        if n == 128:  # end of data
            break
        if n < 128:
            out += data[i : i + n + 1]
            i += n + 1
        elif i < len(data):
            out += data[i : i + 1] * (257 - n)
            i += 1
    return bytes(out[: limit + 1])


def lzw_at_most(data: bytes, limit: int, *, early_change: int = 1) -> bytes:
    """LZWDecode (ISO 32000 7.4.4: 9- to 12-bit codes, most significant bit first, 256 clears
    the table, 257 ends) up to ``limit + 1`` bytes; damaged input ends the output early."""
    table = [bytes([i]) for i in range(256)] + [b"", b""]
    out = bytearray()
    width, buffer, held = 9, 0, 0
    previous: bytes | None = None
    for byte in data:
        buffer = (buffer << 8) | byte
        held += 8
        while held >= width:
            held -= width
            code = (buffer >> held) & ((1 << width) - 1)
            buffer &= (1 << held) - 1
            if code == 256:
                del table[258:]
                width, previous = 9, None
                continue
            if code == 257:
                return bytes(out[: limit + 1])
            if code < len(table) and code != 256:
                entry = table[code]
                if previous is not None and len(table) < 4096:
                    table.append(previous + entry[:1])
            elif code == len(table) and previous is not None:
                entry = previous + previous[:1]
                table.append(entry)
            else:
                return bytes(out[: limit + 1])
            out += entry
            if len(out) > limit:
                return bytes(out[: limit + 1])
            previous = entry
            if len(table) + early_change >= (1 << width) and width < 12:
                width += 1
    return bytes(out[: limit + 1])


def inflate_at_most(raw: bytes, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a Flate stream, and whether anything followed them.

    "Anything" is more decoded data or bytes after the end of the zlib stream: both are what
    a well-formed image of these dimensions does not have.
    """
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, limit)
    except zlib.error:
        return b"", False
    more = bool(inflater.unconsumed_tail) or bool(inflater.unused_data.strip(b"\r\n \t"))
    if not more and not inflater.eof:
        try:
            more = bool(inflater.decompress(b"", 1))
        except zlib.error:
            more = False
    return out, more


def page_inches(page: pikepdf.Page) -> tuple[float, float]:
    """Width and height of the page in inches: the larger of MediaBox and CropBox × UserUnit.

    Rotation does not change the area; both boxes count because renderers differ in which
    they draw (OCRmyPDF rasterizes the MediaBox).
    """
    unit = page.obj.get("/UserUnit", 1)
    scale = abs(float(unit)) if isinstance(unit, int | float | pikepdf.Object) else 1.0
    if not math.isfinite(scale) or scale <= 0:
        scale = 1.0
    best = (0.0, 0.0)
    for box in (page.mediabox, page.cropbox):
        if not isinstance(box, Array) or len(box) != 4:
            continue
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = abs(x1 - x0) * scale / _POINTS_PER_INCH, abs(y1 - y0) * scale / _POINTS_PER_INCH
        if w * h > best[0] * best[1]:
            best = (w, h)
    if not all(math.isfinite(v) for v in best):
        raise ValueError("page box is not a finite number")
    return best


def image_pixels(stream: Stream) -> int:
    """Width × Height an image XObject declares (what a decoder would allocate)."""
    width, height = stream.get("/Width", 0), stream.get("/Height", 0)
    return max(int(width), 0) * max(int(height), 0)


def expected_image_bytes(stream: Stream) -> int | None:
    """Bytes a Flate-coded image of this size decodes to (with its predictor), or None."""
    try:
        width, height = int(stream.Width), int(stream.Height)
        components: int | None
        if stream.get("/ImageMask", False):
            components, bpc = 1, 1
        else:
            bpc = int(stream.get("/BitsPerComponent", 8))
            components = _components(stream.get("/ColorSpace"))
    except (AttributeError, TypeError, ValueError):
        return None
    if components is None or width <= 0 or height <= 0:
        return None
    row = (width * components * bpc + 7) // 8
    parms = stream.get("/DecodeParms")
    if isinstance(parms, Array):
        parms = parms[0] if len(parms) else None
    if isinstance(parms, Dictionary) and int(parms.get("/Predictor", 1)) >= 10:
        colors = int(parms.get("/Colors", 1))
        pbpc = int(parms.get("/BitsPerComponent", 8))
        columns = int(parms.get("/Columns", 1))
        row = 1 + (columns * colors * pbpc + 7) // 8
    return row * height


def _components(space: object) -> int | None:
    simple = {Name.DeviceGray: 1, Name.CalGray: 1, Name.DeviceRGB: 3, Name.CalRGB: 3}
    simple |= {Name.DeviceCMYK: 4, Name.Lab: 3, Name.Indexed: 1, Name.Separation: 1}
    if isinstance(space, Name):
        return simple.get(space)
    if isinstance(space, Array) and len(space):
        kind = space[0]
        if kind == Name.ICCBased and len(space) > 1 and isinstance(space[1], Stream):
            return int(space[1].get("/N", 0)) or None
        if kind == Name.DeviceN and len(space) > 1 and isinstance(space[1], Array):
            return len(space[1])
        return simple.get(kind) if isinstance(kind, Name) else None
    return None


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the JPEG's EOI marker, walking its segments (not searching for FFD9,
    which also ends an EXIF thumbnail); None if the data is not a complete JPEG."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return i + 2
        if marker in (0x01, *range(0xD0, 0xD8)):  # TEM, RSTn: no length
            i += 2
            continue
        if i + 3 >= n:
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        i += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return None
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    i = j + 2  # stuffed byte or restart marker: still entropy-coded data
                elif following == 0xFF:
                    i = j + 1  # fill byte before a marker
                else:
                    i = j
                    break
    return None


class StreamOverBudget(OcrInputError):
    """A stream we would have to parse or re-emit inflates beyond the budget."""

    code = "pdf_stream_too_large"
    http_status = 413
