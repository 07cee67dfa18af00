"""The one validation of a PDF's signatures, which every verification report presents.

pyHanko validates each signature and each document timestamp of a file once, here, and the
result is plain facts in frozen dataclasses: :mod:`signing.verify` reads ``sohoa verify``'s and
the API's verdict from them, :mod:`signing.report` the auditor's DSS-style simple report and
its PDF. Neither of those touches pyHanko, so the two can never validate differently.

Each signature is validated twice. First at the validation time (default now) against the
trust roots the caller passes, offline unless ``online`` and with the caller's revocation
policy: ``soft-fail`` accepts a certificate whose revocation status cannot be found,
``hard-fail`` (the auditor's) does not. Then, when it carries a timestamp, as a long-term
signature (ETSI EN 319 102-1 §5.6.3, pyHanko's AdES LTA validation): the revocation data in
the file's DSS, the signature timestamp and the chain of document timestamps prove the
signature valid at an earlier time, so a signature made before its certificate was revoked or
expired still passes. :class:`LongTermProof` says when it was proven valid and by what.

Nothing here raises on bad input: an unreadable path, a non-PDF or a signature pyHanko
refuses becomes a :class:`Failure` in the result.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from asn1crypto import x509
from cryptography import x509 as pyca_x509

from signing._aio import run_sync
from signing.backends import common_name
from signing.errors import SignerConfigError

if TYPE_CHECKING:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.ades.report import AdESSubIndic
    from pyhanko.sign.validation.ades import AdESLTAValidationResult
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec
    from pyhanko.sign.validation.status import PdfSignatureStatus, TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

__all__ = [
    "INDETERMINATE",
    "PADES_SUBFILTER",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "AdesStatus",
    "DocumentTimestamp",
    "Failure",
    "FileValidation",
    "Indication",
    "LongTermProof",
    "SignatureValidation",
    "SignerInfo",
    "TimestampCheck",
    "development_chain",
    "etsi_report",
    "is_development_name",
    "load_certificates",
    "validate_pdf",
]

Indication = Literal["TOTAL_PASSED", "INDETERMINATE", "TOTAL_FAILED"]
"""ETSI EN 319 102-1's main indications, as EU DSS reports them."""

TOTAL_PASSED: Indication = "TOTAL_PASSED"
INDETERMINATE: Indication = "INDETERMINATE"
TOTAL_FAILED: Indication = "TOTAL_FAILED"

PADES_SUBFILTER = "/ETSI.CAdES.detached"
_SIGNING_CERT_ATTRS = {"signing_certificate", "signing_certificate_v2"}
# signing.pki names every CA of the development PKI "sohoa DEVELOPMENT ... NOT FOR PRODUCTION".
_DEV_WORDS = ("sohoa DEVELOPMENT", "NOT FOR PRODUCTION")
_MAX_CHAIN = 8


# --- certificates ---------------------------------------------------------------------------


def is_development_name(name: x509.Name | pyca_x509.Name) -> bool:
    """Whether an X.509 name (asn1crypto or cryptography) is one of the development PKI's."""
    if isinstance(name, pyca_x509.Name):
        values = [str(attr.value) for attr in name]
    else:
        values = [str(v) for v in name.native.values()]
    return any(all(word in v for word in _DEV_WORDS) for v in values)


def development_chain(cert: x509.Certificate, certs: Sequence[x509.Certificate]) -> bool:
    """Whether ``cert`` was issued under the development PKI, walking its issuers through
    ``certs`` (embedded and known certificates) up to the root."""
    by_subject = {c.subject.hashable: c for c in certs}
    for _ in range(_MAX_CHAIN):
        if is_development_name(cert.issuer):
            return True
        issuer = by_subject.get(cert.issuer.hashable)
        if issuer is None or issuer.subject.hashable == cert.subject.hashable:
            return False
        cert = issuer
    return False


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Certificates from a PEM (one or several) or DER file, e.g. ``ca.pem``/``chain.pem``."""
    from pyhanko.keys import load_certs_from_pemder_data

    try:
        certs: list[x509.Certificate] = list(load_certs_from_pemder_data(Path(path).read_bytes()))
    except (OSError, ValueError) as exc:
        raise SignerConfigError(f"cannot read certificates from {path}: {exc}") from None
    if not certs:
        raise SignerConfigError(f"no certificate in {path}")
    return certs


# --- the result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdesStatus:
    """An indication with its sub-indication (``NO_CERTIFICATE_CHAIN_FOUND``, ...)."""

    indication: Indication
    sub_indication: str


@dataclass(frozen=True)
class Failure:
    """An exception met while validating, kept as text: the verifier reports, never raises."""

    kind: str
    """The exception's class name."""
    message: str
    strerror: str | None = None
    """The operating system's words, for a file that could not be read."""
    rejected: bool = False
    """pyHanko read the signature and refused it (``SignatureValidationError``), as opposed
    to a signature too malformed to be read at all."""
    ades: AdesStatus | None = None
    """What the refusal means in AdES terms, when pyHanko says more than ``GENERIC``."""

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class SignerInfo:
    """The signing certificate, as an auditor identifies the signer."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    serial_number: str | None = None
    issuer_common_name: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    certificate_sha256: str | None = None


@dataclass(frozen=True)
class TimestampCheck:
    """An RFC 3161 token as validated: a signature's, its content's, or a document timestamp.

    All ``False`` with ``failure`` set when pyHanko could not validate the token at all.
    """

    time: datetime | None = None
    tsa_name: str | None = None
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    trust_problem: str | None = None
    """pyHanko's sub-indication for the TSA's chain, when it has one."""
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """Intact, cryptographically valid, and issued by a TSA chaining to the trust roots."""
        return self.intact and self.valid and self.trusted


@dataclass(frozen=True)
class DocumentTimestamp:
    """A ``/DocTimeStamp`` and the revision it covers (a later one makes a signature LTA)."""

    check: TimestampCheck
    signed_revision: int


@dataclass(frozen=True)
class LongTermProof:
    """The long-term (AdES LTA) validation of one signature: its verdict and its evidence."""

    indication: Indication
    sub_indication: str
    proven_at: datetime | None = None
    """The best signature time: the earliest time the signature is proven to have existed
    while its certificates were valid (its timestamp, when the proof holds)."""
    evidence: tuple[str, ...] = ()
    """What the proof rests on, in words: the signature timestamp, the DSS's revocation data,
    each document timestamp."""

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED


@dataclass(frozen=True)
class SignatureValidation:
    """One signature field as pyHanko validated it.

    When ``failure`` is set pyHanko could not validate the signature, and every fact after
    ``failure`` keeps its default: only the field, the id and what could be read of the
    signer without validating are known.
    """

    field_name: str
    id: str
    """Stable across validations (DSS-style): derived from the signature value itself."""
    signed_revision: int
    signer: SignerInfo | None = None
    development_pki: bool = False
    """The signer's chain ends in sohoa's development root: a test signature, never a real one."""
    failure: Failure | None = None
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    bottom_line: bool = False
    """pyHanko's overall judgement (chain, timestamps, seed values, DocMDP)."""
    chain_problem: AdesStatus | None = None
    """Why the signer's chain is not accepted at the validation time; ``None`` when it is."""
    signer_subject: str | None = None
    """The signer's subject as an RFC 4514 string."""
    signing_time: datetime | None = None
    """Claimed by the signer (``/M`` or signed attributes): proven only by a timestamp."""
    timestamp: TimestampCheck | None = None
    content_timestamp: TimestampCheck | None = None
    coverage: str | None = None
    """pyHanko's ``SignatureCoverageLevel`` name (``ENTIRE_FILE``, ``ENTIRE_REVISION``...)."""
    modification_level: str | None = None
    """pyHanko's ``ModificationLevel`` name (``NONE``, ``LTA_UPDATES``, ``FORM_FILLING``...)."""
    docmdp_ok: bool | None = None
    seed_value_error: str | None = None
    """Why the signature breaks its field's seed value constraints, if it does."""
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    summary: str | None = None
    """pyHanko's machine-readable one-line summary."""
    subfilter: str | None = None
    signing_certificate_attribute: bool = False
    """The signed attributes name the signing certificate (required from PAdES B-B on)."""
    dss_revocation_data: bool = False
    """The file's /DSS holds a CRL from the signer's issuer or an OCSP response on its
    certificate."""
    long_term: LongTermProof | None = None
    """The long-term validation, for a signature with a timestamp."""
    revocation_mode: str = "soft-fail"


@dataclass(frozen=True)
class FileValidation:
    """Every signature and document timestamp of one file, in signing order.

    ``filename`` is the file's name only: reports are served over HTTP, where a server path
    (a work directory under the data dir) is nobody's business.
    """

    filename: str
    validation_time: datetime
    sha256: str | None = None
    size: int | None = None
    stored_hash_match: bool | None = None
    """The SHA-256 equals the one recorded at signing; ``None`` when none was given."""
    pages: int | None = None
    has_dss: bool = False
    signatures: tuple[SignatureValidation, ...] = ()
    document_timestamps: tuple[DocumentTimestamp, ...] = ()
    read_error: Failure | None = None
    """The file could not be read at all."""
    format_error: Failure | None = None
    """The file was read but is not a PDF pyHanko can open."""


# --- validating -----------------------------------------------------------------------------


def validate_pdf(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
    expected_sha256: str | None = None,
    validation_time: datetime | None = None,
    revocation: Literal["soft-fail", "hard-fail"] = "soft-fail",
    online: bool = False,
) -> FileValidation:
    """Validate every signature and document timestamp in ``path``.

    ``online`` lets the validation fetch OCSP responses and CRLs named by the certificates
    (the file's DSS is always read first); ``revocation="hard-fail"`` rejects a certificate
    whose revocation status cannot be established.

    ``validation_time`` (timezone-aware; default now) is the time at which certificates must
    be valid; pass it for reproducible results. A naive datetime is a programming error
    (``ValueError``); bad input never raises.
    """
    if validation_time is None:
        validation_time = datetime.now(UTC)
    elif validation_time.utcoffset() is None:
        raise ValueError("validation_time must be timezone-aware")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileValidation(
            filename=path.name,
            validation_time=validation_time,
            read_error=_failure(exc, strerror=exc.strerror),
        )
    sha256 = hashlib.sha256(data).hexdigest()
    match = None if expected_sha256 is None else sha256 == expected_sha256.strip().lower()
    read = FileValidation(
        filename=path.name,
        validation_time=validation_time,
        sha256=sha256,
        size=len(data),
        stored_hash_match=match,
    )
    moment = validation_time
    policy = _Policy(revocation, online)
    try:
        return run_sync(
            lambda: _validate_file(read, data, trust_roots, other_certs, moment, policy)
        )
    except Exception as exc:  # garbage in, report out: the verifier must never crash
        return replace(read, format_error=_failure(exc))


async def _validate_file(
    read: FileValidation,
    data: bytes,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    moment: datetime,
    policy: _Policy,
) -> FileValidation:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(BytesIO(data))
    sigs: list[EmbeddedPdfSignature] = list(reader.embedded_regular_signatures)
    doc_ts_sigs: list[EmbeddedPdfSignature] = list(reader.embedded_timestamp_signatures)
    pages = _page_count(reader)
    if not sigs and not doc_ts_sigs:
        return replace(read, pages=pages)
    has_dss = "/DSS" in reader.root
    # Revocation data from the file's DSS first: what the signer embedded (B-LT and above).
    dss_kwargs: dict[str, object] = {
        "trust_roots": list(trust_roots),
        "other_certs": list(other_certs),
        "allow_fetching": policy.online,
        "revocation_mode": policy.revocation,
        "moment": moment,
        "crls": [],
        "ocsps": [],
    }
    vc: ValidationContext
    if has_dss:
        from pyhanko.sign.validation.dss import DocumentSecurityStore

        try:
            vc = DocumentSecurityStore.read_dss(reader).as_validation_context(dss_kwargs)
        except Exception:  # an unreadable DSS: validate as if it were absent
            vc = ValidationContext(**dss_kwargs)  # type: ignore[arg-type]
    else:
        vc = ValidationContext(**dss_kwargs)  # type: ignore[arg-type]
    try:
        doc_timestamps = tuple([await _document_timestamp(ts, vc) for ts in doc_ts_sigs])
        signatures = []
        for sig in sigs:
            basic = await _signature(reader, sig, vc, moment)
            long_term = None
            # Only evidence can prove a past time: revocation data in the DSS, or fetched.
            if basic.failure is None and basic.timestamp is not None and (has_dss or policy.online):
                long_term = await _long_term(sig, trust_roots, other_certs, moment, policy)
            signatures.append(
                replace(basic, long_term=long_term, revocation_mode=policy.revocation)
            )
    finally:
        # pyhanko_certvalidator leaves ValidationContext.aclose unannotated
        await vc.aclose()  # type: ignore[no-untyped-call]
    return replace(
        read,
        pages=pages,
        has_dss=has_dss,
        signatures=tuple(signatures),
        document_timestamps=doc_timestamps,
    )


@dataclass(frozen=True)
class _Policy:
    revocation: Literal["soft-fail", "hard-fail"]
    online: bool


def _lta_spec(
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    policy: _Policy,
) -> PdfSignatureValidationSpec:
    from pyhanko.sign.validation.policy_decl import (
        LocalKnowledge,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy
    from pyhanko_certvalidator.registry import SimpleTrustManager

    cert_policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=list(trust_roots)),
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy(policy.revocation)),
    )
    rule = (
        RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH
        if policy.online
        else RevinfoOnlineFetchingRule.LOCAL_ONLY
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=cert_policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=rule),
            local_knowledge=LocalKnowledge(known_certs=list(other_certs)),
        )
    )


async def _ades_lta(
    sig: EmbeddedPdfSignature,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    moment: datetime,
    policy: _Policy,
) -> AdESLTAValidationResult:
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

    return await ades_lta_validation(
        sig,
        _lta_spec(trust_roots, other_certs, policy),
        timing_info=ValidationTimingInfo(moment, moment, point_in_time_validation=False),
    )


async def _long_term(
    sig: EmbeddedPdfSignature,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
    moment: datetime,
    policy: _Policy,
) -> LongTermProof:
    try:
        result = await _ades_lta(sig, trust_roots, other_certs, moment, policy)
    except Exception as exc:  # pyHanko's AdES code is incubating: report, never crash
        return LongTermProof(INDETERMINATE, "GENERIC", evidence=(f"{type(exc).__name__}",))
    indication = _indication_of(result.ades_subindic)
    evidence = ["signature timestamp"]
    if result.validation_objects:
        kinds: dict[str, int] = {}
        for vo in result.validation_objects:
            kinds[vo.object_type.name] = kinds.get(vo.object_type.name, 0) + 1
        evidence += [f"{n} {kind}" for kind, n in sorted(kinds.items())]
    if result.oldest_evidence_record_timestamp is not None:
        evidence.append(
            "document timestamps since " + result.oldest_evidence_record_timestamp.isoformat()
        )
    return LongTermProof(
        indication=indication,
        sub_indication=_name(result.ades_subindic),
        proven_at=result.best_signature_time if indication == TOTAL_PASSED else None,
        evidence=tuple(evidence),
    )


def etsi_report(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
    validation_time: datetime | None = None,
    revocation: Literal["soft-fail", "hard-fail"] = "soft-fail",
    online: bool = False,
) -> str:
    """The ETSI TS 119 102-2 validation report (XML) of every signature in ``path``.

    Made by pyHanko's AdES LTA validation and its report writer; several signatures go into
    one ``ValidationReport``. Raises :class:`ValueError` for a file that is not a signed PDF
    pyHanko can read (callers answer that as a bad request).
    """
    moment = validation_time or datetime.now(UTC)
    policy = _Policy(revocation, online)
    data = Path(path).read_bytes()

    async def build() -> str:
        from pyhanko.generated.etsi import ts_11910202
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation.report import tools
        from xsdata.formats.dataclass.serializers import XmlSerializer
        from xsdata.formats.dataclass.serializers.config import SerializerConfig

        reader = PdfFileReader(BytesIO(data))
        sigs = list(reader.embedded_regular_signatures)
        if not sigs:
            raise ValueError("the file carries no signature")
        reports: list[ts_11910202.SignatureValidationReportType] = []
        objects: list[ts_11910202.ValidationObjectType] = []
        for sig in sigs:
            result = await _ades_lta(sig, trust_roots, other_certs, moment, policy)
            # pinned pyHanko: the writer's per-signature parts, to put every signature in one
            reports.append(tools._generate_report(sig, result))
            objects.extend(tools._package_validation_object(vo) for vo in result.validation_objects)
        report = ts_11910202.ValidationReport(
            signature_validation_report=tuple(reports),
            signature_validation_objects=ts_11910202.ValidationObjectListType(tuple(objects)),
        )
        xml: str = XmlSerializer(config=SerializerConfig(indent="  ")).render(
            report, ns_map=tools.NAMESPACES
        )
        return xml

    try:
        return run_sync(build)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"cannot report on this file: {type(exc).__name__}") from exc


def _page_count(reader: PdfFileReader) -> int | None:
    try:
        return int(reader.root["/Pages"]["/Count"])
    except Exception:  # a broken page tree does not stop signature validation
        return None


async def _document_timestamp(ts: EmbeddedPdfSignature, vc: ValidationContext) -> DocumentTimestamp:
    from pyhanko.sign.validation import async_validate_pdf_timestamp

    try:
        st = await async_validate_pdf_timestamp(ts, vc)
    except Exception as exc:  # one broken token must not hide the rest of the file
        return DocumentTimestamp(TimestampCheck(failure=_failure(exc)), ts.signed_revision)
    return DocumentTimestamp(_timestamp_check(st), ts.signed_revision)


def _timestamp_check(st: TimestampSignatureStatus) -> TimestampCheck:
    indic = st.trust_problem_indic
    return TimestampCheck(
        time=st.timestamp,
        tsa_name=common_name(st.signing_cert),
        intact=bool(st.intact),
        valid=bool(st.valid),
        trusted=bool(st.trusted),
        trust_problem=_name(indic) if indic is not None else None,
    )


async def _signature(
    reader: PdfFileReader, sig: EmbeddedPdfSignature, vc: ValidationContext, moment: datetime
) -> SignatureValidation:
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError

    field_name = str(sig.field_name)
    sig_id = _signature_id(sig)
    signer = None
    dev = False
    with contextlib.suppress(Exception):  # the CMS blob may be too broken to name anyone
        signer = _signer_info(sig.signer_cert)
        dev = development_chain(sig.signer_cert, _known_certs(sig, vc))
    try:
        st = await async_validate_pdf_signature(sig, vc, ts_validation_context=vc)
    except SignatureValidationError as exc:
        sub = exc.ades_subindication
        ades = None
        if sub is not None and _name(sub) != "GENERIC":
            ades = AdesStatus(_indication_of(sub), _name(sub))
        failure = _failure(exc, rejected=True, ades=ades)
        return _unvalidated(field_name, sig_id, sig, signer, dev, failure)
    except Exception as exc:  # a malformed signature must not hide the other signatures
        return _unvalidated(field_name, sig_id, sig, signer, dev, _failure(exc))

    raw_subfilter = sig.sig_object.get("/SubFilter")
    coverage = st.coverage
    modification_level = st.modification_level
    tsv = st.timestamp_validity
    content_tsv = st.content_timestamp_validity
    seed_error = st.seed_value_constraint_error
    return SignatureValidation(
        field_name=field_name,
        id=sig_id,
        signed_revision=sig.signed_revision,
        signer=_signer_info(st.signing_cert),
        development_pki=dev,
        intact=bool(st.intact),
        valid=bool(st.valid),
        trusted=bool(st.trusted),
        bottom_line=bool(st.bottom_line),
        chain_problem=_chain_problem(st, _known_certs(sig, vc), moment),
        signer_subject=_rfc4514_subject(st.signing_cert),
        signing_time=st.signer_reported_dt,
        timestamp=_timestamp_check(tsv) if tsv is not None else None,
        content_timestamp=_timestamp_check(content_tsv) if content_tsv is not None else None,
        coverage=coverage.name if coverage is not None else None,
        modification_level=modification_level.name if modification_level is not None else None,
        docmdp_ok=st.docmdp_ok,
        seed_value_error=str(seed_error) if seed_error is not None else None,
        digest_algorithm=st.md_algorithm,
        signature_algorithm=st.pkcs7_signature_mechanism,
        summary=st.summary(),
        subfilter=str(raw_subfilter) if raw_subfilter is not None else None,
        signing_certificate_attribute=_names_signing_certificate(sig),
        dss_revocation_data=_dss_has_revinfo_for(reader, st.signing_cert),
    )


def _unvalidated(
    field_name: str,
    sig_id: str,
    sig: EmbeddedPdfSignature,
    signer: SignerInfo | None,
    dev: bool,
    failure: Failure,
) -> SignatureValidation:
    return SignatureValidation(
        field_name=field_name,
        id=sig_id,
        signed_revision=sig.signed_revision,
        signer=signer,
        development_pki=dev,
        failure=failure,
    )


def _failure(
    exc: BaseException,
    *,
    strerror: str | None = None,
    rejected: bool = False,
    ades: AdesStatus | None = None,
) -> Failure:
    return Failure(
        kind=type(exc).__name__, message=str(exc), strerror=strerror, rejected=rejected, ades=ades
    )


def _known_certs(sig: EmbeddedPdfSignature, vc: ValidationContext) -> list[x509.Certificate]:
    """The certificates a chain can be walked through: embedded in the signature and known
    to the validation context (trust roots, ``other_certs``, what it has met so far)."""
    return [*sig.other_embedded_certs, *vc.certificate_registry]


def _name(sub: AdESSubIndic) -> str:
    """The sub-indication's name: pyHanko's sub-indications are enum members, but their
    common base class does not say so."""
    return sub.name if isinstance(sub, Enum) else str(sub)


def _indication_of(sub: AdESSubIndic) -> Indication:
    from pyhanko.sign.ades.report import AdESFailure, AdESPassed

    if isinstance(sub, AdESFailure):
        return TOTAL_FAILED
    if isinstance(sub, AdESPassed):
        return TOTAL_PASSED
    return INDETERMINATE


def _chain_problem(
    st: PdfSignatureStatus, chain: Sequence[x509.Certificate], moment: datetime
) -> AdesStatus | None:
    indic = st.trust_problem_indic
    if indic is None and st.validation_path is not None:
        return None
    if indic is None:
        return AdesStatus(INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    name = _name(indic)
    if name == "CERTIFICATE_CHAIN_GENERAL_FAILURE":
        with contextlib.suppress(Exception):  # a malformed certificate keeps the general code
            name = _out_of_bounds(st, chain, moment) or name
    return AdesStatus(_indication_of(indic), name)


def _out_of_bounds(
    st: PdfSignatureStatus, chain: Sequence[x509.Certificate], moment: datetime
) -> str | None:
    """Refine pyHanko's catch-all chain failure into DSS's time-bound codes where we can.

    pyHanko gives ``OUT_OF_BOUNDS_NO_POE`` only for an expired signer certificate; an expired
    CA certificate comes back as a general failure whose time horizon is that expiry.
    """
    horizon = st.error_time_horizon
    for cert in (st.signing_cert, *chain):
        validity = cert["tbs_certificate"]["validity"]
        not_after = validity["not_after"].native
        if not_after < moment and (cert is st.signing_cert or horizon == not_after):
            return "OUT_OF_BOUNDS_NO_POE"
        if validity["not_before"].native > moment and cert is st.signing_cert:
            return "NOT_YET_VALID"
    return None


def _names_signing_certificate(sig: EmbeddedPdfSignature) -> bool:
    try:
        attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    except Exception:  # unreadable signed attributes name nothing
        return False
    return bool(attrs & _SIGNING_CERT_ATTRS)


def _dss_has_revinfo_for(reader: PdfFileReader, cert: x509.Certificate) -> bool:
    """A CRL from the certificate's issuer, or an OCSP response about its serial, in /DSS."""
    from asn1crypto import crl, ocsp

    try:
        dss = reader.root.get("/DSS")
        if dss is None:
            return False
        dss = dss.get_object()
        for ref in dss.get("/CRLs", ()):
            with contextlib.suppress(Exception):
                if crl.CertificateList.load(ref.get_object().data).issuer == cert.issuer:
                    return True
        for ref in dss.get("/OCSPs", ()):
            with contextlib.suppress(Exception):
                resp = ocsp.OCSPResponse.load(ref.get_object().data)
                basic = resp["response_bytes"]["response"].parsed
                for single in basic["tbs_response_data"]["responses"]:
                    if single["cert_id"]["serial_number"].native == cert.serial_number:
                        return True
    except Exception:  # an unreadable DSS simply gives no long-term level
        return False
    return False


def _signature_id(sig: EmbeddedPdfSignature) -> str:
    try:
        raw = sig.pkcs7_content
    except Exception:
        raw = str(sig.field_name).encode()
    return "S-" + hashlib.sha256(raw).hexdigest()[:16].upper()


def _signer_info(cert: x509.Certificate) -> SignerInfo:
    subject = cert.subject.native
    issuer = cert.issuer.native
    validity = cert["tbs_certificate"]["validity"]
    return SignerInfo(
        common_name=common_name(cert),
        organization=_first(subject.get("organization_name")),
        organizational_unit=_first(subject.get("organizational_unit_name")),
        serial_number=f"{cert.serial_number:X}",
        issuer_common_name=_first(issuer.get("common_name")),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        certificate_sha256=cert.sha256.hex(),
    )


def _rfc4514_subject(cert: x509.Certificate) -> str | None:
    try:
        return pyca_x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    except ValueError:  # asn1crypto reads some certificates cryptography refuses
        return None


def _first(value: object) -> str | None:
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)
