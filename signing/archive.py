"""Archive renewal: extend a signed PDF's proof of existence before its newest timestamp expires.

A PAdES B-LTA file stays verifiable only while the newest timestamp in it can be validated: once
that TSA certificate expires (or its hash algorithm weakens), nothing proves any more that the
earlier signatures existed while their certificates were good. Before then, the validation data
of that newest timestamp goes into the DSS and a fresh document timestamp covers the whole file,
so the new TSA vouches for everything before it. Both are appended as incremental updates: the
earlier bytes, and every signature over them, stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from signing._aio import run_sync
from signing.errors import (
    ArchiveChainError,
    InvalidPdfForSigning,
    SigningError,
    TimestampError,
)

if TYPE_CHECKING:
    from asn1crypto import cms, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import BasePdfFileWriter
    from pyhanko.sign.timestamps import TimeStamper
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.path import ValidationPath

__all__ = ["ArchiveStamp", "add_document_timestamp", "archive_horizon"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MD = "sha256"


@dataclass(frozen=True)
class ArchiveStamp:
    """The renewed file and what the ledger records about it."""

    path: Path
    sha256: str
    size: int
    #: The new document timestamp's time (the TSA's ``genTime``).
    timestamped_at: datetime
    #: notAfter of the new timestamp's TSA certificate: renew again before then.
    archive_until: datetime


def add_document_timestamp(
    src: Path,
    dst: Path,
    *,
    timestamper: TimeStamper,
    validation_context: ValidationContext | None,
) -> ArchiveStamp:
    """Append the newest timestamp's validation data and a new document timestamp to ``src``.

    ``dst`` is written atomically and ``src`` is never modified; ``src``'s bytes are a prefix
    of ``dst``. Without ``validation_context`` no DSS update is made (the timestamp alone is
    still appended). Failures are :class:`~signing.errors.SigningError` subclasses:
    :class:`TimestampError` when the TSA is down, :class:`ArchiveChainError` when the newest
    timestamp no longer validates, :class:`InvalidPdfForSigning` for an unusable file.
    """
    src, dst = Path(src), Path(dst)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    except OSError as exc:
        raise SigningError(f"cannot write the renewed file {dst}: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as out:
            digest, copied = _copy(src, out)
            _append(src.name, out, timestamper, validation_context)
            out.seek(copied)
            for chunk in iter(lambda: out.read(_CHUNK), b""):
                digest.update(chunk)
            size = out.tell()
            out.seek(0)
            facts = _newest_facts(out, src.name, document_only=True)
            if facts is None:
                raise InvalidPdfForSigning(f"{src.name}: the new timestamp is not in the file")
            timestamped_at, until = facts
        os.replace(tmp, dst)
    except OSError as exc:  # after _append: pyHanko's TimestampRequestError is an OSError too
        raise SigningError(f"cannot write the renewed file {dst}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.info("document timestamp added to %s (archive until %s)", dst.name, until.date())
    return ArchiveStamp(dst, digest.hexdigest(), size, timestamped_at, until)


def archive_horizon(path: Path) -> datetime | None:
    """notAfter of the TSA certificate of the newest timestamp in ``path``.

    The newest is the last document timestamp, or the timestamp token of a signature made
    after it; ``None`` when the file carries no timestamp at all (a B-B signature, which
    renewal cannot extend: there is no earlier proof of time to build on).
    """
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidPdfForSigning(f"cannot read {path.name}: {exc.strerror}") from exc
    with fh:
        facts = _newest_facts(fh, path.name, document_only=False)
    return None if facts is None else facts[1]


# --- internals ------------------------------------------------------------------------------


def _copy(src: Path, out: BinaryIO) -> tuple[hashlib._Hash, int]:
    """Copy ``src`` into ``out`` byte for byte, hashing on the way (the new file's prefix)."""
    digest, copied = hashlib.sha256(), 0
    try:
        with src.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                copied += len(chunk)
    except OSError as exc:
        raise InvalidPdfForSigning(f"cannot read {src.name}: {exc.strerror}") from exc
    out.flush()
    return digest, copied


def _append(
    name: str,
    out: BinaryIO,
    timestamper: TimeStamper,
    vc: ValidationContext | None,
) -> None:
    """Write the DSS update and the document timestamp as one incremental update of ``out``."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign.general import SigningError as PyHankoSigningError
    from pyhanko.sign.signers import PdfTimeStamper
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

    try:
        out.seek(0)
        writer = IncrementalPdfFileWriter(out)
        if writer.prev.encrypted:
            raise InvalidPdfForSigning(f"{name} is encrypted")
    except SigningError:
        raise
    except Exception as exc:
        log.warning("cannot read %s for renewal", name, exc_info=True)
        raise InvalidPdfForSigning(f"{name}: its PDF structure could not be read") from exc

    async def stamp() -> None:
        if vc is not None:
            await _supply_dss(writer, writer.prev, vc, name)
        await PdfTimeStamper(timestamper).async_timestamp_pdf(
            writer, _MD, validation_context=vc, in_place=True
        )

    try:
        run_sync(stamp)
    except SigningError:
        raise
    except TimestampRequestError as exc:
        log.warning("timestamp request for %s failed", name, exc_info=True)
        raise TimestampError(
            "the timestamp authority did not answer or answered badly (details in the log)"
        ) from exc
    except (PathBuildingError, PathValidationError) as exc:
        log.warning("the TSA chain of %s does not validate", name, exc_info=True)
        raise ArchiveChainError(
            f"{name}: a timestamp's certificate chain does not validate now ({exc}); "
            "a new timestamp cannot extend it"
        ) from exc
    except PdfError as exc:
        log.warning("PDF error while renewing %s", name, exc_info=True)
        raise InvalidPdfForSigning(f"{name}: part of its PDF structure is damaged") from exc
    except PyHankoSigningError as exc:
        log.warning("pyHanko refused to timestamp %s", name, exc_info=True)
        raise SigningError(f"{name} could not be timestamped (details in the log)") from exc
    except Exception as exc:
        log.warning("timestamping %s failed", name, exc_info=True)
        raise SigningError(f"timestamping {name} failed unexpectedly (details in the log)") from exc


async def _supply_dss(
    writer: BasePdfFileWriter, reader: PdfFileReader, vc: ValidationContext, name: str
) -> None:
    """Put the chain (and whatever revocation data ``vc`` gathers) of the newest timestamp in
    the DSS; for a file without a document timestamp yet, also its signers' chains."""
    from pyhanko.sign.validation import DocumentSecurityStore
    from pyhanko.sign.validation.dss import collect_validation_info

    token = _newest_token(reader)
    # The newest timestamp must validate: a new one over a broken chain would prove nothing.
    paths: list[ValidationPath] = [] if token is None else [await _tsa_path(token, vc)]
    if not reader.embedded_timestamp_signatures:
        # A B-T (or B-B) file becoming LTA: the signers' chains, as far as they validate now.
        # A signer outside our trust roots (a received file) does not stop the renewal.
        for sig in reader.embedded_regular_signatures:
            try:
                paths.extend(await collect_validation_info(sig, vc))
            except Exception:
                log.warning("%s: no validation data for signature %s", name, sig.field_name)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, sig_contents=None, paths=paths, validation_context=vc
    )


async def _tsa_path(token: cms.SignedData, vc: ValidationContext) -> ValidationPath:
    from pyhanko.sign.general import extract_certificate_info
    from pyhanko_certvalidator import CertificateValidator

    info = extract_certificate_info(token)
    validator = CertificateValidator(
        info.signer_cert,
        intermediate_certs=info.other_certs,
        validation_context=vc,
    )
    # pyhanko_certvalidator leaves async_validate_usage unannotated
    path: ValidationPath = await validator.async_validate_usage(  # type: ignore[no-untyped-call]
        set(), extended_key_usage={"time_stamping"}
    )
    return path


def _tokens(reader: PdfFileReader) -> Iterator[tuple[bool, cms.SignedData]]:
    """Every timestamp token in the file, newest first: (is a document timestamp, token)."""
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    for sig in reversed(reader.embedded_signatures):
        if sig.sig_object_type == "/DocTimeStamp":
            yield True, sig.signed_data
            continue
        for signed in (False, True):  # the signature's timestamp, else its content timestamp
            tokens = list(extract_tst_data_iter(sig.signer_info, signed=signed))
            if tokens:
                yield False, tokens[-1]
                break


def _newest_token(reader: PdfFileReader) -> cms.SignedData | None:
    return next((token for _, token in _tokens(reader)), None)


def _newest_facts(
    fh: BinaryIO, name: str, *, document_only: bool
) -> tuple[datetime, datetime] | None:
    """(genTime, TSA notAfter) of the newest timestamp (only document timestamps if asked)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.general import extract_certificate_info

    try:
        reader = PdfFileReader(fh)
        found = next((tok for is_doc, tok in _tokens(reader) if is_doc or not document_only), None)
        if found is None:
            return None
        info = extract_certificate_info(found)
        gen_time = found["encap_content_info"]["content"].parsed["gen_time"].native
        return gen_time, _not_after(info.signer_cert)
    except SigningError:
        raise
    except Exception as exc:
        log.warning("cannot read the timestamps of %s", name, exc_info=True)
        raise InvalidPdfForSigning(f"{name}: its signatures could not be read") from exc


def _not_after(cert: x509.Certificate) -> datetime:
    value: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return value
