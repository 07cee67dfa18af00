"""Files that arrive already signed: an agency's electronic result, a citizen's e-certificate.

Such a file is evidence as received. OCR or any other rewrite would break its signatures, so
the pipeline keeps it byte for byte and only appends our signature as an incremental update.
This module says whether a file is one (:func:`find_signed_input`, :func:`signatures_in`) and
what its signatures were worth on arrival (:func:`verify_input_signatures`, with the same
validation as ``sohoa verify``).

A file is a signed input when a signature field has a value (``/FT /Sig`` with ``/V``, document
timestamps included) or its catalog has a ``/Perms`` entry (DocMDP certification, usage rights):
both promise that the bytes signed so far stay as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asn1crypto import x509

if TYPE_CHECKING:
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

__all__ = [
    "FoundSignature",
    "InputSignature",
    "SignedInput",
    "find_signed_input",
    "signatures_in",
    "verify_input_signatures",
]

log = logging.getLogger(__name__)

SignatureKind = Literal["approval", "certification", "timestamp"]


@dataclass(frozen=True)
class FoundSignature:
    """One filled signature field, as read without validating anything."""

    field_name: str
    kind: SignatureKind
    #: DocMDP permission the signature imposes (1 no changes, 2 form filling and signing,
    #: 3 also annotations), ``None`` when it imposes none.
    permission: int | None = None


@dataclass(frozen=True)
class SignedInput:
    """What makes a file a signed input, and what it still allows."""

    signatures: tuple[FoundSignature, ...]
    perms: tuple[str, ...] = ()  # keys of the catalog's /Perms: /DocMDP, /UR3

    @property
    def certified(self) -> bool:
        """A certification (DocMDP) signature is present: after it, a new signature field
        must be invisible, or the certification no longer validates."""
        return "/DocMDP" in self.perms or any(s.kind == "certification" for s in self.signatures)

    @property
    def locked(self) -> bool:
        """No change at all is allowed: our signature cannot be added without breaking theirs."""
        return any(s.permission == 1 for s in self.signatures)


@dataclass(frozen=True)
class InputSignature:
    """An earlier signature as verified on arrival; stored on the document as a dict."""

    field_name: str
    signer: str | None
    signing_time: str | None  # claimed by the signer (/M), ISO 8601
    intact: bool
    valid: bool
    trusted: bool
    #: The signature covered the whole file as received (nothing was appended after it).
    covers_whole_document: bool
    pades_level: str | None = None
    modification_level: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def signatures_in(path: Path) -> list[FoundSignature]:
    """The filled signature fields of ``path``, in signing order; ``[]`` when it has none or
    cannot be read as a PDF (then it is not ours to judge here: the normal path refuses it)."""
    found = find_signed_input(path)
    return list(found.signatures) if found is not None else []


def find_signed_input(path: Path) -> SignedInput | None:
    """``SignedInput`` when ``path`` carries a signature or a /Perms entry, else ``None``.

    Encrypted and unreadable files give ``None``: the pipeline treats them as before.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with open(path, "rb") as fh:
            reader = PdfFileReader(fh, strict=False)
            if reader.encrypted:
                return None
            root = reader.root
            perms: tuple[str, ...] = ()
            if "/Perms" in root:
                raw = root["/Perms"]
                perms = tuple(str(k) for k in raw) if hasattr(raw, "keys") else ()
            signatures = tuple(_found(sig) for sig in reader.embedded_signatures)
    except Exception:  # a damaged file is judged by normalization, with its own reason
        log.debug("cannot look for signatures in %s", path, exc_info=True)
        return None
    if not signatures and not perms:
        return None
    return SignedInput(signatures=signatures, perms=perms)


def _found(sig: EmbeddedPdfSignature) -> FoundSignature:
    if sig.sig_object_type == "/DocTimeStamp":
        return FoundSignature(field_name=str(sig.field_name), kind="timestamp")
    kind: SignatureKind = "approval"
    sig_object = sig.sig_object
    # [] and not .get(): pyHanko resolves indirect objects only in __getitem__.
    refs = sig_object["/Reference"] if "/Reference" in sig_object else ()  # noqa: SIM401
    for i in range(len(refs)):  # indexing resolves indirect entries
        ref = refs[i]
        if "/TransformMethod" in ref and ref["/TransformMethod"] == "/DocMDP":
            kind = "certification"
    level = sig.docmdp_level
    return FoundSignature(
        field_name=str(sig.field_name),
        kind=kind,
        permission=int(level.value) if level is not None else None,
    )


def verify_input_signatures(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
) -> list[InputSignature]:
    """Every signature in ``path`` as :func:`signing.verify.verify_pdf` judges it, offline.

    ``trusted`` is about *our* trust roots: a citizen's provider or another agency's CA is
    often not among them, so an intact, valid but untrusted signature is normal here. Never
    raises: a file that cannot be validated gives ``[]``.
    """
    from signing.verify import verify_pdf

    report = verify_pdf(path, trust_roots=trust_roots, other_certs=other_certs)
    if report.error is not None:
        log.warning("signatures of %s could not be validated: %s", path, report.error)
    return [
        InputSignature(
            field_name=sig.field_name,
            signer=sig.signer,
            signing_time=sig.signing_time,
            intact=sig.intact,
            valid=sig.valid,
            trusted=sig.trusted,
            covers_whole_document=sig.coverage == "ENTIRE_FILE",
            pades_level=sig.pades_level,
            modification_level=sig.modification_level,
            error=sig.error,
        )
        for sig in report.signatures
    ]
