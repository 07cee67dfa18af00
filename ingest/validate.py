"""Upload-time checks: what the bytes are (by magic number, never by name) and whether they fit.

These run while the counter waits, so they read headers only; full decoding happens in the
worker's normalize step, where a damaged file ends the scan ``failed`` with a reason code.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ingest.errors import (
    CorruptFile,
    EmptyUpload,
    EncryptedPdf,
    ImageTooLarge,
    InvalidField,
    TooManyPages,
    UnsupportedMediaType,
    UploadTooLarge,
    WrongPassword,
    XfaForm,
)
from ingest.limits import Limits

JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
PDF = "application/pdf"

EXTENSIONS = {JPEG: "jpg", PNG: "png", TIFF: "tif", PDF: "pdf"}

log = logging.getLogger(__name__)


@dataclass
class Inspection:
    """What an upload turned out to be."""

    media_type: str
    pages: int
    encrypted: bool = False
    warnings: list[str] = field(default_factory=list)


def sniff(head: bytes) -> str:
    """Media type from the first bytes; the name and the client's Content-Type are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    # PDF readers accept the header anywhere in the first kilobyte; so do we.
    if b"%PDF-" in head[:1024]:
        return PDF
    if not head:
        raise EmptyUpload("the file is empty: scan the paper again and upload the result")
    raise UnsupportedMediaType(
        "the file is not a JPEG, PNG, TIFF or PDF (checked by its content, not its name)"
    )


@dataclass(frozen=True)
class Spooled:
    path: Path
    size: int
    sha256: str


def too_large(max_bytes: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"the file is larger than the {max_bytes // (1024 * 1024)} MB limit; "
        "split the dossier into several uploads"
    )


def spool(chunks: Iterable[bytes], dest: Path, *, max_bytes: int) -> Spooled:
    """Write an upload to disk, hashing as it streams and stopping at the size cap."""
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise EmptyUpload("the file is empty: scan the paper again and upload the result")
    return Spooled(dest, size, digest.hexdigest())


def read_chunks(stream: BinaryIO, size: int = 1024 * 1024) -> Iterable[bytes]:
    while chunk := stream.read(size):
        yield chunk


def inspect(path: Path, limits: Limits, *, password: str | None = None) -> Inspection:
    """Check a spooled upload against the limits; raise an IngestError that says what to do."""
    with path.open("rb") as f:
        head = f.read(1024)
    media_type = sniff(head)
    if media_type == PDF:
        return _inspect_pdf(path, limits, password)
    return _inspect_image(path, media_type, limits)


def pillow_limit(limits: Limits) -> None:
    """Make our pixel limit the one that decides, not Pillow's built-in 89 MP bomb guard.

    Pillow warns above ``MAX_IMAGE_PIXELS`` (errors above twice that) while it reads the
    header; the callers turn that warning into :class:`ImageTooLarge`. It is Pillow-global,
    so it is set where images are opened, from the setting, never at import.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits.max_page_pixels


def image_too_large(limits: Limits) -> ImageTooLarge:
    return ImageTooLarge(
        f"Ảnh lớn hơn giới hạn {limits.max_page_pixels / 1e6:,.0f} triệu điểm ảnh một trang: "
        "hãy quét lại ở 300 dpi. (The image has too many pixels; scan at 300 dpi.)"
    )


def damaged_image(exc: BaseException) -> CorruptFile:
    """A plain message for the counter; Pillow's own words (and any path) go to the log."""
    log.info("unreadable image: %s: %s", type(exc).__name__, exc)
    return CorruptFile(
        "Ảnh bị hỏng, không đọc được: hãy quét lại giấy tờ. (The image is damaged; scan again.)"
    )


def _inspect_image(path: Path, media_type: str, limits: Limits) -> Inspection:
    from PIL import Image, UnidentifiedImageError

    pillow_limit(limits)
    total = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on damaged metadata
            with Image.open(path) as img:
                frames = getattr(img, "n_frames", 1)
                if frames > limits.max_pages:
                    raise TooManyPages(
                        f"the image has {frames} pages; the limit is {limits.max_pages}"
                    )
                for i in range(frames):
                    if i:
                        img.seek(i)
                    pixels = img.width * img.height
                    if pixels > limits.max_page_pixels:
                        raise ImageTooLarge(
                            f"page {i + 1} is {img.width}×{img.height} pixels, over the limit of "
                            f"{limits.max_page_pixels:,}; scan at 300 dpi"
                        )
                    total += pixels
                    if total > limits.max_total_pixels:
                        raise ImageTooLarge("the pages together exceed the pixel limit")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise image_too_large(limits) from None
    except UnidentifiedImageError:
        raise CorruptFile("the image cannot be read; it is damaged or not an image") from None
    except (OSError, SyntaxError, ValueError, TypeError, struct.error, EOFError) as exc:
        raise damaged_image(exc) from None
    return Inspection(media_type, frames)


def _inspect_pdf(path: Path, limits: Limits, password: str | None) -> Inspection:
    import pikepdf

    from ingest.budget import check_pdf

    try:
        with pikepdf.open(path, password=password or "") as pdf:
            pages = len(pdf.pages)
            encrypted = pdf.is_encrypted
            dynamic_xfa = bool(pdf.Root.get("/NeedsRendering", False))
            if 0 < pages <= limits.max_pages and not dynamic_xfa:
                check_pdf(pdf, limits)  # before anything renders or inflates it
    except pikepdf.PasswordError:
        if password:
            raise WrongPassword("the password given does not open this PDF") from None
        raise EncryptedPdf(
            "the PDF is password-protected: send its password in the form field 'password', "
            "or ask the citizen for an unprotected copy"
        ) from None
    except (pikepdf.PdfError, RecursionError, OSError, ValueError) as exc:
        log.info("unreadable PDF: %s: %s", type(exc).__name__, exc)
        raise CorruptFile(
            "Tệp PDF bị hỏng, không đọc được: hãy xuất lại tệp hoặc quét lại giấy tờ. "
            "(The PDF is damaged and cannot be read.)"
        ) from None
    if dynamic_xfa:
        raise XfaForm(
            "Biểu mẫu XFA động (LiveCycle) chưa có trang để số hóa: mở tệp bằng Adobe Reader, "
            "chọn In và máy in PDF (Lưu thành PDF), rồi tải lên tệp PDF vừa in. "
            "(A dynamic XFA form: print it to PDF and upload that.)"
        )
    if pages == 0:
        raise CorruptFile("the PDF has no pages")
    if pages > limits.max_pages:
        raise TooManyPages(f"the PDF has {pages} pages; the limit is {limits.max_pages}")
    return Inspection(PDF, pages, encrypted=encrypted)


def decrypt_pdf(src: Path, dst: Path, password: str) -> None:
    """Write an unencrypted copy so the pipeline never needs the password again."""
    import pikepdf

    with pikepdf.open(src, password=password) as pdf:
        pdf.save(dst)


_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def display_name(name: str | None, media_type: str) -> str:
    """A file name fit for display and logs only; it never becomes a path or an object key."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" ._")[:200]
    return base or f"scan.{EXTENSIONS.get(media_type, 'bin')}"


_CLERK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def validate_clerk_id(clerk_id: str) -> str:
    """Clerk ids name key files and token labels, so only a safe alphabet is accepted."""
    if not _CLERK_ID.match(clerk_id):
        raise InvalidField("clerk_id must be lower-case letters, digits, '.', '_' or '-'")
    return clerk_id


def validate_languages(field: str) -> str:
    """The upload's ``languages`` field as Tesseract models joined by ``+`` ("en,fr" → "eng+fra").

    An unknown language is refused now, while the counter waits, not when OCR starts.
    """
    from ocr.errors import OcrInputError
    from ocr.language import SUPPORTED, normalize_languages

    if len(field) > 64:
        raise InvalidField("languages: at most a few language codes, e.g. 'vi' or 'en,fr'")
    try:
        return "+".join(normalize_languages([field]))
    except OcrInputError:
        raise InvalidField(
            f"languages: use one or more of vi, en, fr ({', '.join(sorted(SUPPORTED))}), "
            "separated by commas"
        ) from None
