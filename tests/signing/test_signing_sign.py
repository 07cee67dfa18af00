"""Signing real PDF/A-2b pages with PKCS#12 keys, and verifying what comes out."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from signing import backends
from signing.backends import Pkcs12Backend, RegistryConfig, SignerRegistry
from signing.errors import InvalidPdfForSigning, SignerConfigError
from signing.pki import DevPki
from signing.sign import DocumentSigner, SignResult
from signing.stamp import SCAN_STAMP_NOTE, VN_TZ, scan_stamp_lines, stamp_box
from signing.verify import verify_pdf
from tests.fixtures.pki import DEV_PASSWORD

SCANNED_AT = dt.datetime(2026, 11, 27, 2, 5, tzinfo=dt.UTC)  # 09:05 in Hà Nội


@pytest.fixture(scope="module")
def registry(dev_pki: DevPki) -> SignerRegistry:
    return SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password=DEV_PASSWORD)
    )


@pytest.fixture(scope="module")
def signer(stamp_font: Path) -> DocumentSigner:
    return DocumentSigner(stamp_font, tz="Asia/Ho_Chi_Minh")  # settings hold the zone name


@pytest.fixture(scope="module")
def signed(
    signer: DocumentSigner,
    registry: SignerRegistry,
    pdfa_input: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> SignResult:
    lan = registry.get("lan.nt")
    return signer.sign(
        pdfa_input,
        tmp_path_factory.mktemp("signed") / "signed.pdf",
        lan,
        stamp_lines=scan_stamp_lines(lan.name, SCANNED_AT),
        reason="Số hóa hồ sơ",
        location="Bộ phận Một cửa",
    )


def test_scan_stamp_lines() -> None:
    assert scan_stamp_lines("Nguyễn Thị Lan", SCANNED_AT) == [
        "Người số hóa: Nguyễn Thị Lan",
        "Thời gian: 27/11/2026 09:05",
        SCAN_STAMP_NOTE,
    ]


def test_sign_pkcs12_verifies(signed: SignResult, trust_roots: list) -> None:
    data = signed.path.read_bytes()
    assert signed.sha256 == hashlib.sha256(data).hexdigest() and signed.size == len(data)
    assert signed.signer_name == "Nguyễn Thị Lan" and signed.level == "B-B"
    assert signed.signing_time.utcoffset() == dt.timedelta(hours=7)
    assert signed.signed_at == signed.signing_time
    assert b"/ETSI.CAdES.detached" in data

    report = verify_pdf(signed.path, trust_roots=trust_roots, expected_sha256=signed.sha256)
    assert report.ok and report.signed and report.sha256_matches, report.to_dict()
    (sig,) = report.signatures
    assert sig.signer == "Nguyễn Thị Lan" and "UID=lan.nt" in sig.signer_subject
    assert (sig.intact, sig.valid, sig.trusted, sig.bottom_line) == (True,) * 4
    assert sig.pades_level == "B-B" and sig.timestamp is None
    assert sig.modification_level == "NONE" and sig.coverage == "ENTIRE_FILE"
    assert sig.signing_time == signed.signing_time.isoformat()
    assert report.to_dict()["signatures"][0]["ok"] is True


@pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="pdftotext not installed (apt-get install poppler-utils)",
)
def test_stamp_text_is_extractable(signed: SignResult) -> None:
    out = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(signed.path), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    flat = " ".join(out.split())
    assert SCAN_STAMP_NOTE in flat
    assert "Nguyễn Thị Lan" in flat
    assert "27/11/2026 09:05" in flat


def test_still_pdfa_2b_with_embedded_fonts(signed: SignResult) -> None:
    assert signed.path.read_bytes().startswith(b"%PDF-1.")
    with pikepdf.open(signed.path) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "2" and meta.get("pdfaid:conformance") == "B"
        assert len(pdf.Root.OutputIntents) >= 1
        assert "/Encrypt" not in pdf.trailer

        fonts, not_embedded = [], []
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Dictionary) or obj.get("/Type") != "/Font":
                continue
            if obj.get("/Subtype") == "/Type3":
                continue
            targets = list(obj.DescendantFonts) if obj.get("/Subtype") == "/Type0" else [obj]
            for font in targets:
                fonts.append(str(font.get("/BaseFont")))
                fd = font.get("/FontDescriptor")
                if fd is None or not any(
                    k in fd for k in ("/FontFile", "/FontFile2", "/FontFile3")
                ):
                    not_embedded.append(str(font.get("/BaseFont")))
        assert any("NotoSans" in f for f in fonts) and len(fonts) >= 2, fonts
        assert not_embedded == []

        (widget,) = [a for a in pdf.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig"]
        assert int(widget.F) & 4  # Print flag: PDF/A wants visible signatures printable
        assert set(widget.AP.keys()) == {"/N"}
        llx, lly, urx, ury = (float(v) for v in widget.Rect)
        mb = [float(v) for v in pdf.pages[0].MediaBox]
        assert (llx, ury) == pytest.approx((mb[0] + 15, mb[3] - 15))  # top-left corner
        assert (urx - llx, ury - lly) == pytest.approx((200, 50))


def _flip_byte_in_signed_range(path: Path, out: Path) -> None:
    data = bytearray(path.read_bytes())
    br = [
        int(v)
        for v in re.search(
            rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", bytes(data)
        ).groups()
    ]
    pos = data.index(b"stream", 200) + 40  # inside the first stream's data, not the syntax
    assert br[0] <= pos < br[0] + br[1]
    data[pos] ^= 0x01
    out.write_bytes(bytes(data))


def test_flipped_byte_is_detected(signed: SignResult, trust_roots: list, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.pdf"
    _flip_byte_in_signed_range(signed.path, tampered)
    report = verify_pdf(tampered, trust_roots=trust_roots)
    assert report.signed and not report.ok
    assert report.signatures[0].intact is False


def test_expected_sha256_mismatch(signed: SignResult, trust_roots: list) -> None:
    report = verify_pdf(signed.path, trust_roots=trust_roots, expected_sha256="0" * 64)
    assert report.sha256_matches is False and report.ok is False
    assert report.signatures[0].ok  # the signature itself is fine: the file is not the one


@pytest.mark.parametrize("content", [b"", b"not a pdf at all", b"%PDF-1.7\n\x00\xff garbage"])
def test_garbage_never_raises(content: bytes, trust_roots: list, tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(content)
    report = verify_pdf(path, trust_roots=trust_roots)
    assert report.ok is False and report.signed is False and report.error
    assert verify_pdf(tmp_path / "missing.pdf", trust_roots=trust_roots).error


def test_truncated_signed_file(signed: SignResult, trust_roots: list, tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    path.write_bytes(signed.path.read_bytes()[: signed.size // 2])
    assert verify_pdf(path, trust_roots=trust_roots).ok is False


def _self_signed_p12(path: Path, cn: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"forged", key, cert, None, serialization.BestAvailableEncryption(b"x")
        )
    )


def test_self_signed_same_name_is_untrusted(
    signer: DocumentSigner, pdfa_input: Path, trust_roots: list, tmp_path: Path
) -> None:
    _self_signed_p12(tmp_path / "forged.p12", "Nguyễn Thị Lan")
    forged = Pkcs12Backend(tmp_path / "forged.p12", b"x")
    out = tmp_path / "forged.pdf"
    signer.sign(pdfa_input, out, forged, stamp_lines=None, reason="r", location="l")
    report = verify_pdf(out, trust_roots=trust_roots)
    (sig,) = report.signatures
    assert sig.signer == "Nguyễn Thị Lan"
    assert sig.intact and sig.valid and sig.trusted is False
    assert report.ok is False


def test_key_is_loaded_once(
    signer: DocumentSigner,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Path] = []
    real = backends.load_pkcs12

    def counting(path: Path, password: bytes):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path, password)

    monkeypatch.setattr(backends, "load_pkcs12", counting)
    backend = Pkcs12Backend(dev_pki.clerk_p12("binh.tv"), DEV_PASSWORD.encode())
    results = [
        signer.sign(
            pdfa_input,
            tmp_path / f"{i}.pdf",
            backend,
            stamp_lines=scan_stamp_lines(backend.name, SCANNED_AT),
            reason="r",
            location="l",
        )
        for i in range(5)
    ]
    assert calls == [dev_pki.clerk_p12("binh.tv")]
    assert len({r.sha256 for r in results}) == 5
    assert verify_pdf(results[-1].path, trust_roots=trust_roots).ok

    registry = SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password=DEV_PASSWORD)
    )
    assert registry.get("binh.tv") is registry.for_clerk("binh.tv")
    assert registry.unit() is registry.get("unit")
    assert len(calls) == 3  # once for binh.tv in the registry, once for the unit


def test_registry_errors(dev_pki: DevPki) -> None:
    registry = SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password=DEV_PASSWORD)
    )
    with pytest.raises(SignerConfigError, match="nobody"):
        registry.get("nobody")
    with pytest.raises(SignerConfigError):
        registry.get("../unit")
    with pytest.raises(SignerConfigError):
        registry.for_clerk("unit")  # reserved for the organisation certificate
    wrong = SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password="hunter2-wrong")
    )
    with pytest.raises(SignerConfigError) as exc_info:
        wrong.get("lan.nt")
    assert "hunter2" not in str(exc_info.value) and "hunter2" not in repr(wrong.config)
    with pytest.raises(SignerConfigError):
        SignerRegistry(RegistryConfig(kind="pkcs11"))


def test_unsignable_input(signer: DocumentSigner, registry: SignerRegistry, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"definitely not a PDF")
    for src in (garbage, tmp_path / "missing.pdf"):
        with pytest.raises(InvalidPdfForSigning) as exc_info:
            signer.sign(
                src,
                tmp_path / "out.pdf",
                registry.get("lan.nt"),
                stamp_lines=None,
                reason="r",
                location="l",
            )
        assert exc_info.value.code == "unsignable_pdf" and not exc_info.value.retryable
    assert not (tmp_path / "out.pdf").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["garbage.pdf"]  # no temp files left


def test_pss_signature(
    signer: DocumentSigner,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    backend = Pkcs12Backend(dev_pki.unit_p12, DEV_PASSWORD.encode(), prefer_pss=True)
    out = tmp_path / "pss.pdf"
    signer.sign(
        pdfa_input, out, backend, stamp_lines=None, position="top-right", reason="r", location="l"
    )
    assert verify_pdf(out, trust_roots=trust_roots).ok
    with out.open("rb") as fh:
        (sig,) = PdfFileReader(fh).embedded_regular_signatures
        assert sig.signer_info["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    with pikepdf.open(out) as pdf:
        (widget,) = pdf.pages[0].Annots
        mb = [float(v) for v in pdf.pages[0].MediaBox]
        assert (float(widget.Rect[2]), float(widget.Rect[3])) == pytest.approx(
            (mb[2] - 15, mb[3] - 15)
        )


@pytest.mark.parametrize(
    ("rotate", "position", "expected"),
    [
        (0, "top-left", (15, 827, 215, 877)),
        (0, "top-right", (380, 827, 580, 877)),
        (90, "top-left", (15, 15, 65, 215)),  # visual top-left = user bottom-left
        (90, "top-right", (15, 677, 65, 877)),
        (180, "top-left", (380, 15, 580, 65)),
        (180, "top-right", (15, 15, 215, 65)),
        (270, "top-left", (530, 677, 580, 877)),
        (-90, "top-right", (530, 15, 580, 215)),
    ],
)
def test_stamp_box_follows_rotation(rotate: int, position: str, expected: tuple) -> None:
    rect, _ = stamp_box((0, 0, 595, 892), rotate, position)  # type: ignore[arg-type]
    assert rect == pytest.approx(expected)


def test_rotated_page_stamp_reads_upright(
    signer: DocumentSigner,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    rotated = tmp_path / "rotated.pdf"
    with pikepdf.open(pdfa_input) as pdf:
        pdf.pages[0].Rotate = 90
        pdf.save(rotated)
    out = tmp_path / "rotated-signed.pdf"
    signer.sign(
        rotated,
        out,
        registry.get("lan.nt"),
        stamp_lines=["Dòng một", "100% bản sao"],
        reason="r",
        location="l",
    )
    assert verify_pdf(out, trust_roots=trust_roots).ok
    with pikepdf.open(out) as pdf:
        (widget,) = pdf.pages[0].Annots
        assert [float(v) for v in widget.Rect] == pytest.approx([15, 15, 65, 215])
        assert [float(v) for v in widget.AP.N.Matrix] == [0, 1, -1, 0, 0, 0]
        assert [float(v) for v in widget.AP.N.BBox] == pytest.approx([0, 50, 200, 0])


def test_sign_inside_running_event_loop(
    signer: DocumentSigner,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    lan = registry.get("lan.nt")

    async def handler() -> tuple[SignResult, SignResult]:
        # A careless sync call from async code must not hit "asyncio.run() cannot be called
        # from a running event loop"; the async variant runs on a worker thread.
        sync = signer.sign(
            pdfa_input, tmp_path / "a.pdf", lan, stamp_lines=None, reason="r", location="l"
        )
        other = await signer.async_sign(
            pdfa_input, tmp_path / "b.pdf", lan, stamp_lines=None, reason="r", location="l"
        )
        return sync, other

    for result in asyncio.run(handler()):
        assert result.signing_time.tzinfo == VN_TZ
        assert verify_pdf(result.path, trust_roots=trust_roots).ok


def test_threads_share_one_signer_while_a_loop_runs(
    signer: DocumentSigner,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    lan = registry.get("lan.nt")

    async def main() -> list[SignResult]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                loop.run_in_executor(
                    pool,
                    lambda i=i: signer.sign(
                        pdfa_input,
                        tmp_path / f"t{i}.pdf",
                        lan,
                        stamp_lines=[f"Bản {i}"],
                        reason="r",
                        location="l",
                    ),
                )
                for i in range(4)
            ]
            return list(await asyncio.gather(*jobs))

    results = asyncio.run(main())
    assert all(verify_pdf(r.path, trust_roots=trust_roots).ok for r in results)


def test_bad_position_is_a_programming_error(
    signer: DocumentSigner, registry: SignerRegistry, pdfa_input: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="position"):
        signer.sign(
            pdfa_input,
            tmp_path / "x.pdf",
            registry.get("lan.nt"),
            stamp_lines=None,
            position="bottom",
            reason="r",
            location="l",
        )  # type: ignore[arg-type]
