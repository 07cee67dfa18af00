"""PAdES signing of (PDF/A) files with a visible Vietnamese stamp.

Choices, and why:

* Incremental update only: the original bytes (and so the PDF/A-2b header, XMP ``pdfaid`` and
  OutputIntent) stay as they are; a new ``IncrementalPdfFileWriter`` per signature, as pyHanko
  requires.
* ``/ETSI.CAdES.detached`` (PAdES) with SHA-256: pyHanko's default subfilter is the older
  ``adbe.pkcs7.detached``, and SHA-384 trips a PDF-2.0 version bump (pyHanko#543).
* The PAdES level is the deployment's (B-LTA by default): B-T adds a signature timestamp (one
  :class:`RequestsHTTPTimeStamper` reused, so pyHanko's size-estimate request is made once per process,
  not per document); B-LT adds, in the document's DSS, the certificates, OCSP responses and
  CRLs that prove the signer's and the TSA's certificates were valid, fetched while signing;
  B-LTA adds a document timestamp over all of it, which an archive renews before its TSA
  certificate expires (:mod:`signing.archive`). A revoked or unknown signer certificate is
  refused at B-LT and above: pyHanko validates the chain before embedding its proof.
* A fresh validation context per document (B-LT and above): its fetchers live on the
  document's own event loop, and a revocation is seen by the next document, not after a
  cache expires.
* Room for the CMS reserved from one estimate per key (and timestamper): pyHanko's own
  estimate is a dry-run CMS per document, as costly in asn1crypto as the real one.
* The file's SHA-256 is taken while pyHanko copies the original (:class:`_HashingCopyWriter`);
  only the appended update is read back. The document is streamed, never held in memory.
* Signing time in Asia/Ho_Chi_Minh whatever the host's TZ, so stamp and ``/M`` agree with the
  counter's clock.
* Sync API that is safe to call from a thread, or even from a running event loop (it then
  runs on a helper thread, since pyHanko's ``sign_pdf`` would call ``asyncio.run`` there).
* Files that are already signed (an agency's result, a citizen's e-certificate) get our
  signature in a field whose name is not taken yet, and are refused with
  :class:`~signing.errors.SignedInputLocked` when a certification forbids every change. After
  a certification signature a new field must be invisible: pyHanko's diff policy, like
  Acrobat, rejects a new visible field there (``visible=False``).
* Reason messages say what happened in words; the parser's or pyHanko's own text is logged,
  never put in the message a counter reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathValidationError, RevokedError

from signing._aio import run_sync
from signing.backends import SignerBackend
from signing.errors import (
    CertificateNotValid,
    InvalidPdfForSigning,
    KeyUnavailableError,
    SignedInputLocked,
    SignerConfigError,
    SigningError,
    TimestampError,
)
from signing.stamp import (
    VN_TZ,
    Position,
    as_tz,
    default_stamp_style,
    printable,
    stamp_box,
    stamp_style,
)

__all__ = ["DocumentSigner", "SignResult", "make_timestamper"]

log = logging.getLogger(__name__)

PadesLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]
PADES_LEVELS: tuple[PadesLevel, ...] = ("B-B", "B-T", "B-LT", "B-LTA")
_MD = "sha256"  # see the module docstring: SHA-384 bumps the PDF version
_CHUNK = 1 << 20  # I/O chunk for copying and hashing (pyHanko's default is 4 KiB)
_HORIZON_TTL = 300.0  # seconds a read-back archive horizon is reused (see _archive_horizon)


def make_timestamper(url: str | None, *, timeout: int = 10) -> TimeStamper | None:
    """The RFC 3161 client for ``url`` (B-T signatures), or ``None`` for B-B.

    Build it once at start-up and reuse it: pyHanko caches its size-estimate token per
    timestamper object. Nothing is contacted here; an unreachable TSA surfaces as
    :class:`~signing.errors.TimestampError` when signing.
    """
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise SignerConfigError(f"timestamp URL must start with http:// or https://: {url}")
    # requests, not aiohttp: each document signs on its own event loop, and an aiohttp session
    # (with its TLS context) built per document cost ~40 ms of CPU, more than the TSA's answer.
    return RequestsHTTPTimeStamper(url, timeout=timeout)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class SignResult:
    """What the caller records about a signed file (keep ``sha256``: the audit check needs it)."""

    path: Path
    sha256: str
    size: int
    signer_name: str
    signing_time: datetime
    level: PadesLevel
    field_name: str
    archive_until: datetime | None = None
    """When the newest timestamp's TSA certificate expires: the date by which a B-LTA document
    needs a fresh document timestamp (``None`` below B-T)."""

    @property
    def signed_at(self) -> datetime:
        """Alias of :attr:`signing_time` (the name the pipeline's Document row uses)."""
        return self.signing_time


class _ZonedPdfSigner(signers.PdfSigner):
    """``PdfSigner`` whose signing time is taken in a chosen zone instead of the host's."""

    def __init__(
        self,
        signature_meta: signers.PdfSignatureMetadata,
        signer: signers.Signer,
        *,
        timestamper: TimeStamper | None,
        stamp_style: BaseStampStyle | None,
        new_field_spec: fields.SigFieldSpec,
        tz: tzinfo,
    ) -> None:
        super().__init__(
            signature_meta,
            signer,
            timestamper=timestamper,
            stamp_style=stamp_style,
            new_field_spec=new_field_spec,
        )
        self._tz = tz
        self.signing_time: datetime | None = None

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        # /M has one-second resolution; report exactly what the file says.
        session.system_time = datetime.now(self._tz).replace(microsecond=0)
        self.signing_time = session.system_time
        return session


class _HashingCopyWriter(IncrementalPdfFileWriter):
    """Incremental writer that hashes the original while copying it to the output.

    A signed file is the original byte for byte plus the appended update, so its SHA-256 needs
    only the update read back, not a third pass over a 300-page file. Hooks pyHanko's
    ``_write_header`` (the copy); were it not called, ``copied`` stays 0 and the whole output
    is hashed as before. Copies in 1 MiB chunks instead of pyHanko's 4 KiB.
    """

    IO_CHUNK_SIZE = _CHUNK

    def __init__(self, input_stream: BinaryIO) -> None:
        super().__init__(input_stream)
        self.copy_digest = hashlib.sha256()
        self.copied = 0

    def _write_header(self, stream: BinaryIO) -> None:
        digest, copied = hashlib.sha256(), 0
        position = self.input_stream.tell()
        self.input_stream.seek(0)
        buffer = bytearray(self.IO_CHUNK_SIZE)
        view = memoryview(buffer)
        while n := self.input_stream.readinto(buffer):
            stream.write(view[:n])
            digest.update(view[:n])
            copied += n
        self.input_stream.seek(position)
        self.copy_digest, self.copied = digest, copied


class DocumentSigner:
    """Signs PDFs with a visible stamp on page 1; one instance per process, used by threads."""

    def __init__(
        self,
        font_path: Path,
        *,
        timestamper: TimeStamper | None = None,
        tz: tzinfo | str = VN_TZ,
        level: PadesLevel | None = None,
        validation_context: Callable[[], ValidationContext] | None = None,
    ) -> None:
        """``level`` defaults to B-T with a timestamper and B-B without one. B-LT and B-LTA
        need ``validation_context``: a factory of contexts that trust the roots and may fetch
        revocation data (``allow_fetching=True``), one per document."""
        self.font_path = Path(font_path)
        self.timestamper = timestamper
        self.tz = as_tz(tz)
        self._level: PadesLevel = level or ("B-T" if timestamper is not None else "B-B")
        if self._level not in PADES_LEVELS:
            raise SignerConfigError(f"unknown PAdES level {level!r}: one of {PADES_LEVELS}")
        if self._level != "B-B" and timestamper is None:
            raise SignerConfigError(f"PAdES {self._level} needs a timestamp authority (TSA URL)")
        if self._level in ("B-LT", "B-LTA") and validation_context is None:
            raise SignerConfigError(f"PAdES {self._level} needs a validation context")
        self._validation_context = validation_context
        self._horizon: tuple[float, datetime | None] | None = None  # (read at, value)
        # signer -> (timestamper, bytes to reserve); weak, so a dropped backend is forgotten.
        self._reserved: weakref.WeakKeyDictionary[
            signers.Signer, tuple[TimeStamper | None, int]
        ] = weakref.WeakKeyDictionary()
        self._reserved_lock = threading.Lock()
        if not self.font_path.is_file():
            raise SignerConfigError(
                f"stamp font {self.font_path} missing; build it with ensure_stamp_font()"
            )

    @property
    def level(self) -> PadesLevel:
        return self._level

    def sign(
        self,
        src: Path,
        dst: Path,
        backend: SignerBackend,
        *,
        stamp_lines: Sequence[str] | None,
        position: Position = "top-left",
        reason: str,
        location: str,
        field_name: str = "SohoaSignature",
        visible: bool = True,
    ) -> SignResult:
        """Sign ``src`` into ``dst`` (written atomically; ``src`` is never modified).

        ``stamp_lines`` are shown literally; ``None`` gives "Đã ký số bởi: <CN> / Thời gian".
        When ``field_name`` is taken (the file was signed before, maybe by us), the first free
        of ``<field_name>2``, ``<field_name>3``... is used; :attr:`SignResult.field_name`
        says which. ``visible=False`` adds no stamp (needed after a certification signature).
        Failures are :class:`~signing.errors.SigningError` subclasses (``ValueError`` only for
        a bad ``position``, a programming error).
        """
        if position not in ("top-left", "top-right"):
            raise ValueError(f"unknown stamp position {position!r}")
        src, dst = Path(src), Path(dst)
        pyhanko_signer = backend.pyhanko_signer()
        signer_name = backend.name
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
        except OSError as exc:
            raise SigningError(f"cannot write the signed file {dst}: {_os_reason(exc)}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w+b") as out:
                signing_time, used_field, digest, hashed = self._sign_into(
                    src,
                    out,
                    pyhanko_signer,
                    signer_name,
                    stamp_lines=stamp_lines,
                    position=position,
                    reason=reason,
                    location=location,
                    field_name=field_name,
                    visible=visible,
                )
                # No fsync: dst is a work file; durability is the object store's job.
                # The copied original is hashed already; only the appended update is read.
                out.seek(hashed)
                for chunk in iter(lambda: out.read(_CHUNK), b""):
                    digest.update(chunk)
                size = out.tell()
            os.replace(tmp, dst)
        except OSError as exc:
            raise SigningError(f"cannot write the signed file {dst}: {_os_reason(exc)}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        log.info("signed %s as %s (%s, %d bytes)", dst.name, signer_name, self.level, size)
        archive_until = self._archive_horizon(dst) if self.level != "B-B" else None
        return SignResult(
            path=dst,
            sha256=digest.hexdigest(),
            size=size,
            signer_name=signer_name,
            signing_time=signing_time,
            level=self.level,
            field_name=used_field,
            archive_until=archive_until,
        )

    async def async_sign(
        self,
        src: Path,
        dst: Path,
        backend: SignerBackend,
        *,
        stamp_lines: Sequence[str] | None,
        position: Position = "top-left",
        reason: str,
        location: str,
        field_name: str = "SohoaSignature",
        visible: bool = True,
    ) -> SignResult:
        """:meth:`sign` on a worker thread, for async callers (FastAPI handlers)."""
        return await asyncio.to_thread(
            self.sign,
            src,
            dst,
            backend,
            stamp_lines=stamp_lines,
            position=position,
            reason=reason,
            location=location,
            field_name=field_name,
            visible=visible,
        )

    def _sign_into(
        self,
        src: Path,
        out: BinaryIO,
        pyhanko_signer: signers.Signer,
        signer_name: str,
        *,
        stamp_lines: Sequence[str] | None,
        position: Position,
        reason: str,
        location: str,
        field_name: str,
        visible: bool,
    ) -> tuple[datetime, str, hashlib._Hash, int]:
        """Sign into ``out``; return the time, the field, and the SHA-256 of the file's first
        bytes (the copied original) with their count."""
        try:
            infile = open(src, "rb")  # noqa: SIM115 - closed below, after signing
        except OSError as exc:
            raise InvalidPdfForSigning(f"cannot read {src}: {_os_reason(exc)}") from None
        with infile:
            try:
                writer = _HashingCopyWriter(infile)
                if writer.prev.encrypted:
                    raise InvalidPdfForSigning(f"{src.name} is encrypted (not PDF/A)")
                _refuse_locked(writer, src.name)
                field_name = _free_field_name(writer, field_name)
                rect, rotation = self._placement(writer, position) if visible else (None, 0)
            except SigningError:
                raise
            except Exception:  # any parser failure means the input is unusable
                log.warning("cannot prepare %s for signing", src.name, exc_info=True)
                raise InvalidPdfForSigning(
                    f"{src.name} cannot be signed: its PDF structure could not be read "
                    "(damaged or unusual file; details in the worker log)"
                ) from None
            if stamp_lines is None:
                style = default_stamp_style(self.font_path, rotation=rotation)
            else:
                style = stamp_style(self.font_path, stamp_lines, rotation=rotation)
            shown_name = printable(self.font_path, signer_name)
            long_term = self.level in ("B-LT", "B-LTA")
            meta = signers.PdfSignatureMetadata(
                field_name=field_name,
                md_algorithm=_MD,
                subfilter=fields.SigSeedSubFilter.PADES,
                reason=reason,
                location=location,
                embed_validation_info=long_term,
                use_pades_lta=self.level == "B-LTA",
            )
            pdf_signer = _ZonedPdfSigner(
                meta,
                pyhanko_signer,
                timestamper=self.timestamper,
                stamp_style=style,
                new_field_spec=fields.SigFieldSpec(
                    field_name,
                    on_page=0,
                    # pyHanko annotates the box as ints but writes reals, as PDF rectangles are
                    box=rect,  # type: ignore[arg-type]
                ),
                tz=self.tz,
            )

            async def sign_pdf() -> None:
                reserved = await self._bytes_reserved(pyhanko_signer)
                vc = self._validation_context() if long_term and self._validation_context else None
                pdf_signer.signature_meta = replace(meta, validation_context=vc)
                try:
                    await pdf_signer.async_sign_pdf(
                        writer,
                        bytes_reserved=reserved,
                        output=out,
                        chunk_size=_CHUNK,
                        appearance_text_params={"signer": shown_name},
                    )
                finally:
                    if vc is not None:
                        # pyhanko_certvalidator leaves aclose unannotated
                        await vc.aclose()  # type: ignore[no-untyped-call]

            try:
                run_sync(sign_pdf)
            except SigningError:
                raise
            except TimestampRequestError as exc:
                log.warning("timestamp request for %s failed", src.name, exc_info=True)
                raise TimestampError(
                    "the timestamp authority did not answer or answered badly "
                    "(details in the worker log)"
                ) from exc
            except PyHankoSigningError as exc:
                _refuse_invalid_certificate(exc, signer_name)
                log.warning("pyHanko refused to sign %s", src.name, exc_info=True)
                raise SigningError(
                    f"{src.name} could not be signed: the signing library refused the file or "
                    "the certificate (details in the worker log)"
                ) from exc
            except PdfError as exc:
                log.warning("PDF error while signing %s", src.name, exc_info=True)
                raise InvalidPdfForSigning(
                    f"{src.name} cannot be signed: part of its PDF structure is damaged or "
                    "unusual (details in the worker log)"
                ) from exc
            except Exception as exc:
                log.warning("signing %s failed", src.name, exc_info=True)
                if type(exc).__module__.startswith("pkcs11"):
                    raise KeyUnavailableError(
                        "the signing token (PKCS#11) did not answer (details in the worker log)"
                    ) from exc
                raise SigningError(
                    f"signing {src.name} failed unexpectedly (details in the worker log)"
                ) from exc
        assert pdf_signer.signing_time is not None
        return pdf_signer.signing_time, field_name, writer.copy_digest, writer.copied

    def _archive_horizon(self, signed: Path) -> datetime | None:
        """The newest timestamp's TSA certificate expiry, read back from a signed file at most
        every ``_HORIZON_TTL`` seconds: reading the token costs ~85 ms a document, and a TSA
        changes its certificate a few times a decade. A renewal reads its own file anyway."""
        from signing.archive import archive_horizon

        now = time.monotonic()
        with self._reserved_lock:
            cached = self._horizon
        if cached is not None and now - cached[0] < _HORIZON_TTL:
            return cached[1]
        value = archive_horizon(signed)
        with self._reserved_lock:
            self._horizon = (now, value)
        return value

    async def _bytes_reserved(self, signer: signers.Signer) -> int:
        """Bytes for the signature's /Contents, estimated once per signer and timestamper.

        The estimate is pyHanko's (``PdfSigningSession.estimate_signature_container_size``): a
        dry-run CMS with a dummy digest (and, for B-T, the timestamper's cached dummy token), hex
        doubled, plus its 50 % margin. Every input of it is fixed per key and timestamper: the
        same certificates, algorithms, signature length and attributes of fixed size.
        """
        timestamper = self.timestamper
        with self._reserved_lock:
            known = self._reserved.get(signer)
        if known is not None and known[0] is timestamper:
            return known[1]
        dummy = await signer.async_sign(
            hashlib.new(_MD).digest(),
            _MD,
            use_pades=True,
            dry_run=True,
            timestamper=timestamper,
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(self.tz)),
        )
        size = len(dummy.dump()) * 2
        reserved = size + 2 * (size // 4)
        with self._reserved_lock:
            self._reserved[signer] = (timestamper, reserved)
        return reserved

    @staticmethod
    def _placement(
        writer: IncrementalPdfFileWriter, position: Position
    ) -> tuple[tuple[float, float, float, float], int]:
        # pyHanko leaves find_page_for_modification unannotated
        page_ref, _ = writer.prev.find_page_for_modification(0)  # type: ignore[no-untyped-call]
        page = page_ref.get_object()
        media = _rectangle(_inherited(page, "/MediaBox"))
        if media is None:
            raise InvalidPdfForSigning("page 1 has no usable page size (/MediaBox)")
        crop = _rectangle(_inherited(page, "/CropBox"))
        box = crop if crop is not None else media
        if crop is not None:  # the visible area is the CropBox clipped to the MediaBox
            m = sorted(media[0::2]), sorted(media[1::2])
            xs, ys = sorted(box[0::2]), sorted(box[1::2])
            box = [
                max(xs[0], m[0][0]),
                max(ys[0], m[1][0]),
                min(xs[1], m[0][1]),
                min(ys[1], m[1][1]),
            ]
        return stamp_box(box, _rotation(_inherited(page, "/Rotate")), position)


def _refuse_invalid_certificate(exc: BaseException, signer_name: str) -> None:
    """Raise :class:`CertificateNotValid` when pyHanko refused because a certificate did not
    validate before signing (B-LT and above); return otherwise."""
    cause = exc.__cause__
    if isinstance(cause, RevokedError):
        log.warning("certificate of %s is revoked", signer_name, exc_info=True)
        raise CertificateNotValid(
            f"the signing certificate of {signer_name} has been revoked: it can no longer "
            "sign; ask the administrator for a new certificate",
            code="certificate_revoked",
        ) from exc
    if isinstance(cause, PathValidationError):
        log.warning("certificate of %s did not validate", signer_name, exc_info=True)
        raise CertificateNotValid(
            f"the signing certificate of {signer_name} (or the timestamp authority's) could "
            "not be proven valid: its revocation status is unknown or its chain is not "
            "trusted (details in the worker log)",
            retryable=True,  # an OCSP responder that is down now may answer later
        ) from exc


def _rotation(value: object) -> int:
    """A page's /Rotate as an int (0 when absent); a non-number is a broken page."""
    if value is None:
        return 0
    if isinstance(value, int | float | Decimal | str):
        return int(value)
    raise TypeError(f"/Rotate is not a number: {type(value).__name__}")


def _rectangle(value: object) -> list[float] | None:
    """Four numbers of a page box, or None if absent or malformed.

    pyHanko's ``ArrayObject`` resolves indirect entries on indexing but not on slicing (a
    slice comes back as a plain list of raw objects), so entries are taken one by one.
    """
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        return [float(value[i]) for i in range(4)]
    except (TypeError, ValueError):
        return None


def _refuse_locked(writer: IncrementalPdfFileWriter, name: str) -> None:
    """Refuse a file whose certification or field lock allows no change at all."""
    from pyhanko.sign.validation import read_certification_data

    certification = read_certification_data(writer.prev)
    locked = certification is not None and certification.permission == fields.MDPPerm.NO_CHANGES
    if not locked:
        locked = any(
            sig.docmdp_level == fields.MDPPerm.NO_CHANGES for sig in writer.prev.embedded_signatures
        )
    if locked:
        raise SignedInputLocked(
            f"{name} is certified by its signer with 'no changes allowed' (DocMDP P=1): "
            "adding our signature would break theirs, so it is not signed"
        )


def _free_field_name(writer: IncrementalPdfFileWriter, wanted: str) -> str:
    """``wanted``, or ``wanted2``, ``wanted3``...: the first name no top-level field has.

    Reusing a filled field's name would make pyHanko try to sign that (already signed) field.
    """
    taken: set[str] = set()
    root = writer.prev.root
    # [] and not .get(): pyHanko resolves indirect objects only in __getitem__.
    form = root["/AcroForm"] if "/AcroForm" in root else None  # noqa: SIM401
    fields_array = None
    if isinstance(form, generic.DictionaryObject) and "/Fields" in form:
        fields_array = form["/Fields"]
    if isinstance(fields_array, generic.ArrayObject):
        for i in range(len(fields_array)):  # indexing resolves indirect entries
            field_dict = fields_array[i]
            if isinstance(field_dict, generic.DictionaryObject) and "/T" in field_dict:
                taken.add(str(field_dict["/T"]))
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}{n}"
    return name


def _os_reason(exc: OSError) -> str:
    """An OS error in words ("No space left on device"), without Python's repr."""
    return exc.strerror or type(exc).__name__


def _inherited(page: generic.DictionaryObject, key: str) -> object | None:
    """A page attribute that may be inherited from the page tree (ISO 32000 §7.7.3.4)."""
    node: object = page
    for _ in range(64):  # bounded: a malformed /Parent loop must not hang us
        if not isinstance(node, generic.DictionaryObject):
            return None
        if key in node:
            value: object = node[key]
            return value
        parent = node.get("/Parent")
        if parent is None:
            return None
        if isinstance(parent, generic.IndirectObject):
            # Dereferenceable declares get_object's type; IndirectObject's override does not.
            reference: generic.Dereferenceable = parent
            node = reference.get_object()
        else:
            node = parent
    return None
