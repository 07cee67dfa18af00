"""PDFs that arrive already signed by someone else's CA: found, verified, and signed by us only
by appending, so that their signatures stay intact.

Also the corpus files whose page boxes crashed the signer (``'list' object has no attribute
'get_object'``), and reason messages that must be words, not Python exception text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signing.backends import RegistryConfig, SignerRegistry
from signing.errors import InvalidPdfForSigning, SignedInputLocked, SigningError
from signing.inputs import find_signed_input, signatures_in, verify_input_signatures
from signing.pki import DevPki
from signing.report import TOTAL_PASSED, simple_report
from signing.sign import DocumentSigner, SignResult
from signing.verify import load_certificates, verify_pdf
from tests.fixtures.pki import DEV_PASSWORD, FOREIGN_SIGNER, ForeignCa, born_digital_pdf

TEXT = "GIẤY CHỨNG NHẬN\nSố: 123/GCN-STP\nHọ và tên: Trần Văn Bình"
PYTHON_TEXT = ("object has no attribute", "Error:", "Error(", "Traceback", "'list'")


@pytest.fixture(scope="module")
def registry(dev_pki: DevPki) -> SignerRegistry:
    return SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password=DEV_PASSWORD)
    )


@pytest.fixture(scope="module")
def signer(stamp_font: Path) -> DocumentSigner:
    return DocumentSigner(stamp_font, tz="Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return born_digital_pdf(tmp_path_factory.mktemp("in") / "result.pdf", [TEXT])


@pytest.fixture(scope="module")
def received(unsigned: Path, foreign_ca: ForeignCa) -> Path:
    """An agency's electronic result, signed (approval) with a CA that is not ours."""
    return foreign_ca.sign(unsigned, unsigned.with_name("received.pdf"))


@pytest.fixture(scope="module")
def both_roots(trust_roots: list, foreign_ca: ForeignCa) -> list:
    return [*trust_roots, *load_certificates(foreign_ca.root_pem)]


def _sign(
    signer: DocumentSigner, registry: SignerRegistry, src: Path, dst: Path, **kw
) -> SignResult:  # type: ignore[no-untyped-def]
    return signer.sign(
        src,
        dst,
        registry.get("lan.nt"),
        stamp_lines=None,
        reason="Tiếp nhận tài liệu điện tử đã ký số",
        location="Bộ phận Một cửa",
        **kw,
    )


def test_detection(unsigned: Path, received: Path, foreign_ca: ForeignCa, tmp_path: Path) -> None:
    assert find_signed_input(unsigned) is None and signatures_in(unsigned) == []
    found = find_signed_input(received)
    assert found is not None and not found.certified and not found.locked
    (sig,) = signatures_in(received)
    assert sig.field_name == "Signature1" and sig.kind == "approval" and sig.permission is None

    certified = find_signed_input(
        foreign_ca.sign(unsigned, tmp_path / "certified.pdf", certify=True, docmdp=2)
    )
    assert certified is not None and certified.certified and not certified.locked
    assert certified.perms == ("/DocMDP",) and certified.signatures[0].permission == 2

    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\nnot really")
    assert find_signed_input(garbage) is None  # judged elsewhere, with its own reason


def test_input_signatures_verified_as_received(received: Path, trust_roots: list) -> None:
    (sig,) = verify_input_signatures(received, trust_roots=trust_roots)
    assert sig.field_name == "Signature1" and sig.signer == FOREIGN_SIGNER
    assert sig.intact and sig.valid and sig.covers_whole_document and sig.signing_time
    assert not sig.trusted  # their CA is not among our roots: recorded, not hidden
    assert sig.to_dict()["covers_whole_document"] is True


def test_signing_a_signed_input_only_appends(
    signer: DocumentSigner,
    registry: SignerRegistry,
    received: Path,
    trust_roots: list,
    both_roots: list,
    tmp_path: Path,
) -> None:
    original = received.read_bytes()
    result = _sign(signer, registry, received, tmp_path / "signed.pdf")
    data = result.path.read_bytes()
    assert data.startswith(original) and len(data) > len(original)
    assert result.field_name == "SohoaSignature"

    report = verify_pdf(result.path, trust_roots=both_roots, expected_sha256=result.sha256)
    theirs, ours = report.signatures
    assert theirs.field_name == "Signature1" and ours.field_name == "SohoaSignature"
    assert theirs.intact and theirs.valid and theirs.coverage == "ENTIRE_REVISION"
    # Our visible stamp is a later approval signature: allowed, and covered by ours.
    assert theirs.modification_level == "FORM_FILLING" and theirs.later_changes_signed
    assert ours.coverage == "ENTIRE_FILE" and ours.signer == "Nguyễn Thị Lan"
    assert theirs.ok and ours.ok and report.ok, report.to_dict()

    # With only our roots, theirs is intact but untrusted; ours still verifies.
    ours_only = verify_pdf(result.path, trust_roots=trust_roots)
    assert [s.field_name for s in ours_only.signatures] == ["Signature1", "SohoaSignature"]
    assert ours_only.signatures[0].intact and not ours_only.signatures[0].trusted
    assert ours_only.signatures[1].ok and not ours_only.ok

    simple = simple_report(result.path, trust_roots=both_roots, expected_sha256=result.sha256)
    assert [s.field_name for s in simple.signatures] == ["Signature1", "SohoaSignature"]
    assert simple.indication == TOTAL_PASSED and simple.valid_signatures_count == 2
    assert simple.signatures[0].signer.common_name == FOREIGN_SIGNER


def test_field_name_never_collides(
    signer: DocumentSigner,
    registry: SignerRegistry,
    unsigned: Path,
    foreign_ca: ForeignCa,
    both_roots: list,
    tmp_path: Path,
) -> None:
    # Someone else used our field name; then we sign twice more.
    theirs = foreign_ca.sign(unsigned, tmp_path / "theirs.pdf", field_name="SohoaSignature")
    first = _sign(signer, registry, theirs, tmp_path / "first.pdf")
    second = _sign(signer, registry, first.path, tmp_path / "second.pdf")
    assert (first.field_name, second.field_name) == ("SohoaSignature2", "SohoaSignature3")
    assert second.path.read_bytes().startswith(first.path.read_bytes())
    report = verify_pdf(second.path, trust_roots=both_roots)
    assert [s.field_name for s in report.signatures] == [
        "SohoaSignature",
        "SohoaSignature2",
        "SohoaSignature3",
    ]
    assert report.ok, report.to_dict()


def test_certified_input_gets_an_invisible_signature(
    signer: DocumentSigner,
    registry: SignerRegistry,
    unsigned: Path,
    foreign_ca: ForeignCa,
    both_roots: list,
    tmp_path: Path,
) -> None:
    certified = foreign_ca.sign(unsigned, tmp_path / "certified.pdf", certify=True, docmdp=2)
    result = _sign(signer, registry, certified, tmp_path / "signed.pdf", visible=False)
    assert result.path.read_bytes().startswith(certified.read_bytes())
    report = verify_pdf(result.path, trust_roots=both_roots)
    theirs, ours = report.signatures
    assert theirs.docmdp_ok and theirs.modification_level != "OTHER"
    assert theirs.ok and ours.ok and report.ok, report.to_dict()


def test_no_changes_certification_is_refused_not_broken(
    signer: DocumentSigner,
    registry: SignerRegistry,
    unsigned: Path,
    foreign_ca: ForeignCa,
    tmp_path: Path,
) -> None:
    locked = foreign_ca.sign(unsigned, tmp_path / "locked.pdf", certify=True, docmdp=1)
    found = find_signed_input(locked)
    assert found is not None and found.locked
    out = tmp_path / "out" / "signed.pdf"
    with pytest.raises(SignedInputLocked) as exc_info:
        _sign(signer, registry, locked, out)
    err = exc_info.value
    assert isinstance(err, InvalidPdfForSigning) and err.code == "signed_input_locked"
    assert not err.retryable and err.http_status == 422 and "DocMDP" in str(err)
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["aspect", "francais", "link", "truetype_font_nomapping"])
def test_corpus_page_boxes_sign(
    name: str,
    signer: DocumentSigner,
    registry: SignerRegistry,
    corpus: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    """These carry a /CropBox; slicing pyHanko's box array crashed the stamp placement."""
    src = corpus / "ocrmypdf" / f"{name}.pdf"
    result = _sign(signer, registry, src, tmp_path / f"{name}.pdf")
    assert result.path.read_bytes().startswith(src.read_bytes())
    report = verify_pdf(result.path, trust_roots=trust_roots, expected_sha256=result.sha256)
    assert report.ok, report.to_dict()


def test_reason_messages_are_words(
    signer: DocumentSigner, registry: SignerRegistry, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF\n")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"definitely not a PDF")
    for src in (broken, garbage, tmp_path / "missing.pdf"):
        with pytest.raises(SigningError) as exc_info:
            _sign(signer, registry, src, tmp_path / "out.pdf")
        message = str(exc_info.value)
        assert exc_info.value.code == "unsignable_pdf" and src.name in message
        assert not any(bit in message for bit in PYTHON_TEXT), message


@pytest.mark.slow
def test_cli_verify_lists_every_signature(
    signer: DocumentSigner,
    registry: SignerRegistry,
    received: Path,
    dev_pki: DevPki,
    foreign_ca: ForeignCa,
    tmp_path: Path,
) -> None:
    result = _sign(signer, registry, received, tmp_path / "signed.pdf")

    def verify(*roots: Path) -> tuple[int, dict]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env.update(
            SOHOA_DATA_DIR=str(tmp_path / "data"),
            SOHOA_TRUST_ROOTS=json.dumps([str(r) for r in roots]),
            PYTHONWARNINGS="ignore",
            COLUMNS="200",
        )
        done = subprocess.run(
            [sys.executable, "-m", "wiring.cli", "verify", "--json", str(result.path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return done.returncode, json.loads(done.stdout)

    code, report = verify(dev_pki.root_cert, foreign_ca.root_pem)
    assert code == 0 and report["ok"], report
    assert [s["field_name"] for s in report["signatures"]] == ["Signature1", "SohoaSignature"]
    assert [s["ok"] for s in report["signatures"]] == [True, True]
    code, report = verify(dev_pki.root_cert)  # their CA not trusted here: said, not hidden
    assert code == 1 and [s["trusted"] for s in report["signatures"]] == [False, True]
