"""The auditor's simple report, on real signed PDF/A pages: indications, levels, the PDF."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from paper.fonts import FontMissingError, Fonts
from signing.backends import Pkcs12Backend
from signing.pki import DevPki
from signing.report import DEVELOPMENT_PKI_WARNING, SimpleReport, render_pdf, simple_report
from signing.sign import DocumentSigner, SignResult, make_timestamper
from signing.verify import load_certificates
from tests.fixtures.pki import DEV_PASSWORD, UNIT_NAME, LocalTsa

CLERK = "Nguyễn Thị Lan"


def _at(result: SignResult) -> dt.datetime:
    """A fixed validation time just after signing: certificates and timestamps are valid."""
    return result.signing_time + dt.timedelta(minutes=2)


@pytest.fixture(scope="module")
def clerk(dev_pki: DevPki) -> Pkcs12Backend:
    return Pkcs12Backend(dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD.encode())


@pytest.fixture(scope="module")
def unit(dev_pki: DevPki) -> Pkcs12Backend:
    return Pkcs12Backend(dev_pki.unit_p12, DEV_PASSWORD.encode())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def b_b(stamp_font: Path, clerk: Pkcs12Backend, pdfa_input: Path, work: Path) -> SignResult:
    return DocumentSigner(stamp_font).sign(
        pdfa_input, work / "b-b.pdf", clerk, stamp_lines=None, reason="Số hóa", location="HN"
    )


@pytest.fixture(scope="module")
def b_t(
    stamp_font: Path, clerk: Pkcs12Backend, pdfa_input: Path, local_tsa: LocalTsa, work: Path
) -> SignResult:
    signer = DocumentSigner(stamp_font, timestamper=make_timestamper(local_tsa.url, timeout=5))
    return signer.sign(
        pdfa_input, work / "b-t.pdf", clerk, stamp_lines=None, reason="Số hóa", location="HN"
    )


@pytest.fixture(scope="module")
def twice(stamp_font: Path, unit: Pkcs12Backend, b_b: SignResult, work: Path) -> SignResult:
    """Clerk's signature, then the unit's over it (a second field), as forms and results do."""
    return DocumentSigner(stamp_font).sign(
        b_b.path,
        work / "twice.pdf",
        unit,
        stamp_lines=None,
        position="top-right",
        reason="Ký số kết quả",
        location="HN",
        field_name="UnitSignature",
    )


@pytest.fixture(scope="module")
def flipped(b_b: SignResult, work: Path) -> Path:
    data = bytearray(b_b.path.read_bytes())
    start, length = (int(v) for v in re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)", data).groups())
    pos = data.index(b"stream", 200) + 40  # inside the first stream's data, not the syntax
    assert start <= pos < start + length
    data[pos] ^= 0x01
    out = work / "flipped.pdf"
    out.write_bytes(bytes(data))
    return out


def _pdf_text(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return unicodedata.normalize("NFC", " ".join(extract_text(str(path)).split()))


# --- indications ---------------------------------------------------------------------------


def test_b_b_total_passed(b_b: SignResult, trust_roots: list) -> None:
    at = _at(b_b)
    report = simple_report(b_b.path, trust_roots=trust_roots, validation_time=at)
    assert (report.indication, report.sub_indication) == ("TOTAL_PASSED", None)
    assert report.validation_time == at and report.errors == ()
    assert report.warnings == (DEVELOPMENT_PKI_WARNING,)  # signed by the development PKI
    assert (report.signatures_count, report.valid_signatures_count) == (1, 1)
    doc = report.document
    assert (doc.filename, doc.sha256, doc.size, doc.pages) == ("b-b.pdf", b_b.sha256, b_b.size, 1)
    assert doc.stored_hash_match is None

    (sig,) = report.signatures
    assert (sig.indication, sig.sub_indication, sig.errors) == ("TOTAL_PASSED", None, ())
    assert sig.field_name == "SohoaSignature" and sig.id.startswith("S-")
    assert sig.pades_level == "PAdES-BASELINE-B"
    assert sig.coverage == "ENTIRE_FILE" and sig.modifications_after_signing == "NONE"
    assert sig.signing_time == b_b.signing_time
    assert sig.timestamp.present is False and sig.timestamp.valid is None
    assert sig.digest_algorithm == "sha256"
    assert sig.signer is not None
    assert sig.signer.common_name == CLERK and sig.signer.organization == UNIT_NAME
    assert sig.signer.issuer_common_name == "sohoa DEVELOPMENT Issuing CA — NOT FOR PRODUCTION"
    assert sig.signer.serial_number == f"{clerk_serial(b_b):X}"
    assert any("dấu thời gian" in w for w in sig.warnings)  # B-B: the time is only claimed
    assert any("thu hồi" in w for w in sig.warnings)  # offline: revocation not checked

    again = simple_report(b_b.path, trust_roots=trust_roots, validation_time=at)
    assert again.to_dict() == report.to_dict()  # deterministic, id included


def clerk_serial(result: SignResult) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with result.path.open("rb") as fh:
        (sig,) = PdfFileReader(fh).embedded_regular_signatures
        return sig.signer_cert.serial_number


def test_to_dict_is_json_with_stable_keys(b_t: SignResult, trust_roots: list) -> None:
    report = simple_report(b_t.path, trust_roots=trust_roots, validation_time=_at(b_t))
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert list(data) == [
        "format",
        "validation_policy",
        "validation_time",
        "document",
        "indication",
        "sub_indication",
        "signatures_count",
        "valid_signatures_count",
        "development_pki",
        "signatures",
        "document_timestamps",
        "errors",
        "warnings",
    ]
    assert data["format"] == "sohoa-simple-report/1"
    assert list(data["document"]) == ["filename", "sha256", "size", "pages", "stored_hash_match"]
    (sig,) = data["signatures"]
    assert list(sig) == [
        "id",
        "field_name",
        "indication",
        "sub_indication",
        "signer",
        "signing_time",
        "timestamp",
        "pades_level",
        "coverage",
        "modifications_after_signing",
        "modification_level",
        "digest_algorithm",
        "signature_algorithm",
        "errors",
        "warnings",
        "development_pki",
        "best_signature_time",
        "proof",
        "revocation",
    ]
    assert list(sig["timestamp"]) == ["present", "time", "tsa_name", "valid"]
    assert (
        dt.datetime.fromisoformat(sig["timestamp"]["time"]) == report.signatures[0].timestamp.time
    )
    assert data["validation_time"] == _at(b_t).isoformat()


def test_b_t_reports_the_timestamp(b_t: SignResult, trust_roots: list) -> None:
    report = simple_report(b_t.path, trust_roots=trust_roots, validation_time=_at(b_t))
    (sig,) = report.signatures
    assert sig.indication == "TOTAL_PASSED" and sig.pades_level == "PAdES-BASELINE-T"
    ts = sig.timestamp
    assert ts.present and ts.valid is True
    assert ts.tsa_name == "sohoa DEVELOPMENT TSA — NOT FOR PRODUCTION"
    assert ts.time is not None
    assert abs(ts.time - b_t.signing_time) < dt.timedelta(seconds=30)
    assert not any("dấu thời gian" in w.lower() for w in sig.warnings)


def test_flipped_byte_total_failed(flipped: Path, b_b: SignResult, trust_roots: list) -> None:
    report = simple_report(flipped, trust_roots=trust_roots, validation_time=_at(b_b))
    (sig,) = report.signatures
    assert sig.indication == "TOTAL_FAILED"
    assert sig.sub_indication in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE")
    assert sig.errors and report.valid_signatures_count == 0
    assert (report.indication, report.sub_indication) == ("TOTAL_FAILED", sig.sub_indication)


def _unrelated_root() -> asn1_x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root CA")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@pytest.mark.parametrize("roots", ["empty", "unrelated"])
def test_untrusted_root_indeterminate(b_b: SignResult, roots: str) -> None:
    trust = [] if roots == "empty" else [_unrelated_root()]
    report = simple_report(b_b.path, trust_roots=trust, validation_time=_at(b_b))
    (sig,) = report.signatures
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert sig.signer is not None and sig.signer.common_name == CLERK  # still identified
    assert sig.coverage == "ENTIRE_FILE" and any("gốc tin cậy" in e for e in sig.errors)
    assert report.indication == "INDETERMINATE"


def test_expired_certificate_at_validation_time(b_b: SignResult, trust_roots: list) -> None:
    # The clerk's certificate lasts 3 years, the issuing CA's 5.
    later = b_b.signing_time + dt.timedelta(days=4 * 365)
    (sig,) = simple_report(b_b.path, trust_roots=trust_roots, validation_time=later).signatures
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    earlier = b_b.signing_time - dt.timedelta(days=2)
    (sig,) = simple_report(b_b.path, trust_roots=trust_roots, validation_time=earlier).signatures
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "NOT_YET_VALID")


def test_naive_validation_time_is_refused(b_b: SignResult, trust_roots: list) -> None:
    with pytest.raises(ValueError, match="timezone"):
        simple_report(b_b.path, trust_roots=trust_roots, validation_time=dt.datetime(2026, 1, 1))


def _add_comment(src: Path, dst: Path) -> None:
    """Append an incremental update that adds a text annotation to page 1."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with src.open("rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        page_ref, _ = writer.prev.find_page_for_modification(0)
        page = page_ref.get_object()
        annot = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.NameObject("/Type"): generic.NameObject("/Annot"),
                    generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                    generic.NameObject("/Rect"): generic.ArrayObject(
                        [generic.FloatObject(v) for v in (300, 100, 320, 120)]
                    ),
                    generic.NameObject("/Contents"): generic.TextStringObject("đã sửa"),
                }
            )
        )
        annots = page.get("/Annots")
        if annots is None:
            page[generic.NameObject("/Annots")] = generic.ArrayObject([annot])
        else:
            annots.get_object().append(annot)
            if isinstance(page.raw_get("/Annots"), generic.IndirectObject):
                writer.mark_update(page.raw_get("/Annots"))
        writer.update_container(page)
        out = BytesIO()
        writer.write(out)
    dst.write_bytes(out.getvalue())


def test_comment_added_after_signing_is_disallowed(
    b_b: SignResult, trust_roots: list, tmp_path: Path
) -> None:
    changed = tmp_path / "commented.pdf"
    _add_comment(b_b.path, changed)
    report = simple_report(changed, trust_roots=trust_roots, validation_time=_at(b_b))
    (sig,) = report.signatures
    assert sig.coverage == "ENTIRE_REVISION"
    assert sig.modifications_after_signing == "DISALLOWED" and sig.modification_level == "OTHER"
    assert (sig.indication, sig.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert any("không được phép" in e for e in sig.errors)
    assert sig.signer is not None and sig.signer.common_name == CLERK


def test_signed_twice_two_results(twice: SignResult, trust_roots: list) -> None:
    report = simple_report(
        twice.path,
        trust_roots=trust_roots,
        validation_time=_at(twice),
        expected_sha256=twice.sha256,
    )
    assert (report.signatures_count, report.valid_signatures_count) == (2, 2)
    assert report.indication == "TOTAL_PASSED" and report.document.stored_hash_match is True
    first, second = report.signatures
    assert (first.field_name, second.field_name) == ("SohoaSignature", "UnitSignature")
    assert first.signer.common_name == CLERK and second.signer.common_name == UNIT_NAME
    assert first.id != second.id
    # The unit's later signature is an update the clerk's signature allows.
    assert first.coverage == "ENTIRE_REVISION"
    assert (first.modifications_after_signing, first.modification_level) == (
        "ALLOWED",
        "FORM_FILLING",
    )
    assert any("FORM_FILLING" in w for w in first.warnings)
    assert second.coverage == "ENTIRE_FILE" and second.modifications_after_signing == "NONE"
    assert {first.indication, second.indication} == {"TOTAL_PASSED"}


def test_expected_sha256(b_b: SignResult, trust_roots: list) -> None:
    at = _at(b_b)
    ok = simple_report(
        b_b.path, trust_roots=trust_roots, validation_time=at, expected_sha256=b_b.sha256.upper()
    )
    assert ok.document.stored_hash_match is True and ok.indication == "TOTAL_PASSED"
    bad = simple_report(
        b_b.path, trust_roots=trust_roots, validation_time=at, expected_sha256="0" * 64
    )
    assert bad.document.stored_hash_match is False
    assert (bad.indication, bad.sub_indication) == ("TOTAL_FAILED", "STORED_HASH_MISMATCH")
    assert bad.signatures[0].indication == "TOTAL_PASSED"  # the signature is fine, the file is not
    assert bad.errors


def _crl_from_issuing_ca(dev_pki: DevPki) -> asn1_crl.CertificateList:
    issuer = x509.load_pem_x509_certificate(dev_pki.intermediate_cert.read_bytes())
    key = serialization.load_pem_private_key(
        (dev_pki.directory / "intermediate-key.pem").read_bytes(), DEV_PASSWORD.encode()
    )
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=7))
        .sign(key, hashes.SHA256())
    )
    return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def test_long_term_levels(
    b_t: SignResult, dev_pki: DevPki, local_tsa: LocalTsa, trust_roots: list, tmp_path: Path
) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers import PdfTimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    stream = BytesIO(b_t.path.read_bytes())
    DocumentSecurityStore.add_dss(
        stream,
        None,
        certs=load_certificates(dev_pki.chain),
        crls=[_crl_from_issuing_ca(dev_pki)],
    )
    lt = tmp_path / "lt.pdf"
    lt.write_bytes(stream.getvalue())
    lta = tmp_path / "lta.pdf"
    stamped = PdfTimeStamper(make_timestamper(local_tsa.url, timeout=5)).timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(stream.getvalue())), "sha256"
    )
    lta.write_bytes(stamped.getvalue())

    at = _at(b_t)
    (sig,) = simple_report(lt, trust_roots=trust_roots, validation_time=at).signatures
    assert sig.indication == "TOTAL_PASSED" and sig.pades_level == "PAdES-BASELINE-LT"
    assert sig.modifications_after_signing == "ALLOWED" and sig.modification_level == "LTA_UPDATES"
    assert not any("thu hồi" in w for w in sig.warnings)

    report = simple_report(lta, trust_roots=trust_roots, validation_time=at)
    (sig,) = report.signatures
    assert sig.indication == "TOTAL_PASSED" and sig.pades_level == "PAdES-BASELINE-LTA"
    (doc_ts,) = report.document_timestamps
    assert doc_ts.present and doc_ts.valid and doc_ts.tsa_name == sig.timestamp.tsa_name

    # Without the signature timestamp there is no T, so neither LT nor LTA.
    (sig,) = simple_report(lta, trust_roots=[], validation_time=at).signatures
    assert sig.pades_level == "PAdES-BASELINE-B" and sig.indication == "INDETERMINATE"


def test_unsigned_pdf(pdfa_input: Path, trust_roots: list) -> None:
    report = simple_report(pdfa_input, trust_roots=trust_roots)
    assert report.signatures_count == 0 and report.valid_signatures_count == 0
    assert report.indication == "INDETERMINATE" and report.sub_indication is None
    assert report.document.pages == 1 and report.errors == ()
    assert report.warnings == ("Tệp không có chữ ký số nào (no signature found).",)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a pdf at all", b"%PDF-1.7\n\x00\xff garbage", b"PK\x03\x04 a zip file"],
)
def test_non_pdf_is_format_failure(content: bytes, trust_roots: list, tmp_path: Path) -> None:
    path = tmp_path / "upload.pdf"
    path.write_bytes(content)
    report = simple_report(path, trust_roots=trust_roots)
    assert (report.indication, report.sub_indication) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.signatures == () and report.errors and report.document.pages is None
    assert report.document.size == len(content) and report.document.sha256
    json.dumps(report.to_dict())


def test_truncated_and_missing_files(b_b: SignResult, trust_roots: list, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(b_b.path.read_bytes()[: b_b.size // 2])
    assert simple_report(cut, trust_roots=trust_roots).indication != "TOTAL_PASSED"
    missing = simple_report(tmp_path / "missing.pdf", trust_roots=trust_roots)
    assert missing.indication == "INDETERMINATE" and missing.errors
    assert missing.document.filename == "missing.pdf" and missing.document.sha256 is None


# --- the PDF report ------------------------------------------------------------------------

_RGB = re.compile(rb"([\d.]+) ([\d.]+) ([\d.]+) rg")


def _fill_colours(path: Path) -> set[tuple[float, float, float]]:
    found = set()
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            for m in _RGB.finditer(page.Contents.read_bytes()):
                found.add(tuple(round(float(v) * 255) for v in m.groups()))
    return found


def _check_fonts_embedded(path: Path) -> None:
    with pikepdf.open(path) as pdf:
        assert 1 <= len(pdf.pages) <= 2
        names = set()
        for page in pdf.pages:
            for font in page.Resources.Font.values():
                assert font.Subtype == "/Type0"
                (cid_font,) = font.DescendantFonts
                assert "/FontFile2" in cid_font.FontDescriptor
                names.add(str(font.BaseFont).split("+")[-1])
        assert names == {"NotoSans", "NotoSansBold"}


@pytest.mark.parametrize(
    ("case", "indication", "colour"),
    [
        ("b_t", "TOTAL_PASSED", (232, 245, 233)),
        ("flipped", "TOTAL_FAILED", (255, 235, 238)),
        ("untrusted", "INDETERMINATE", (255, 243, 224)),
    ],
)
def test_render_pdf(
    case: str,
    indication: str,
    colour: tuple[int, int, int],
    b_t: SignResult,
    flipped: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    at = _at(b_t)
    if case == "b_t":
        report = simple_report(
            b_t.path, trust_roots=trust_roots, validation_time=at, expected_sha256=b_t.sha256
        )
    elif case == "flipped":
        report = simple_report(flipped, trust_roots=trust_roots, validation_time=at)
    else:
        report = simple_report(b_t.path, trust_roots=[], validation_time=at)
    assert report.indication == indication
    out = render_pdf(report, tmp_path / "sub" / "report.pdf")
    assert out == tmp_path / "sub" / "report.pdf" and out.read_bytes().startswith(b"%PDF-")
    assert [p.name for p in out.parent.iterdir()] == ["report.pdf"]  # no temp file left
    _check_fonts_embedded(out)
    assert colour in _fill_colours(out)

    text = _pdf_text(out)
    assert "BÁO CÁO XÁC THỰC CHỮ KÝ SỐ" in text
    assert f"{indication} — " in text
    assert CLERK in text and "sohoa" in text
    assert report.document.sha256 in text
    assert (
        report.validation_time.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime(
            "%d/%m/%Y %H:%M:%S"
        )
        in text
    )
    sig = report.signatures[0]
    if sig.sub_indication:
        assert sig.sub_indication in text
    if case == "b_t":
        assert "PAdES-BASELINE-T" in text and "ENTIRE_FILE" in text
        assert "Có, khớp (match)" in text and "sohoa DEVELOPMENT TSA" in text


def test_render_pdf_two_signatures_and_errors(
    twice: SignResult, trust_roots: list, tmp_path: Path
) -> None:
    report = simple_report(
        twice.path, trust_roots=trust_roots, validation_time=_at(twice), expected_sha256="0" * 64
    )
    out = render_pdf(report, tmp_path / "twice.pdf")
    _check_fonts_embedded(out)
    text = _pdf_text(out)
    assert text.count("TOTAL_PASSED — ") == 2 and "TOTAL_FAILED — " in text
    assert "STORED_HASH_MISMATCH" in text and "KHÔNG KHỚP" in text
    assert CLERK in text and UNIT_NAME in text and "FORM_FILLING" in text


def test_render_pdf_of_unreadable_file(trust_roots: list, tmp_path: Path) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(b"garbage")
    report: SimpleReport = simple_report(path, trust_roots=trust_roots)
    text = _pdf_text(render_pdf(report, tmp_path / "r.pdf"))
    assert "TOTAL_FAILED" in text and "FORMAT_FAILURE" in text and "x.pdf" in text


def test_render_pdf_without_fonts(trust_roots: list, tmp_path: Path) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(b"garbage")
    report = simple_report(path, trust_roots=trust_roots)
    out = tmp_path / "out" / "r.pdf"
    with pytest.raises(FontMissingError, match="fonts-noto-core") as err:
        render_pdf(report, out, fonts=Fonts(tmp_path / "no-such-dir"))
    assert err.value.code == "font_missing"
    assert not out.parent.exists()
