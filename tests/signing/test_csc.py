"""Remote signing through a CSC provider: a real HTTP provider on 127.0.0.1 holding the
development PKI's keys, a real PDF signed through DocumentSigner, validated offline."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.backends import RegistryConfig, SignerBackend, SignerRegistry
from signing.csc import Confirmation, CscBackend, CscConfig, Secret, list_credentials
from signing.errors import (
    ConfirmationRejected,
    ConfirmationRequired,
    KeyUnavailableError,
    RemoteCredentialError,
    RemoteSignerError,
    SignerConfigError,
)
from signing.pki import DevPki
from signing.sign import DocumentSigner
from signing.validation import validate_pdf
from tests.fixtures.pki import DEV_PASSWORD
from tests.signing.csc_server import CscTestServer

TOKEN = "provider-token-0d1e2f"
PIN = "246810"
SHA256_OID = "2.16.840.1.101.3.4.2.1"
SHA256_RSA_OID = "1.2.840.113549.1.1.11"


@pytest.fixture
def provider(dev_pki: DevPki) -> Iterator[CscTestServer]:
    """lan.nt: PIN + texted OTP, SCAL 2; binh.tv: disabled; the unit: implicit (no PIN)."""
    server = CscTestServer(token=TOKEN)
    server.add_credential("cred-lan.nt", dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD, pin=PIN)
    server.add_credential("cred-binh.tv", dev_pki.clerk_p12("binh.tv"), DEV_PASSWORD, enabled=False)
    server.add_credential(
        "org-seal", dev_pki.unit_p12, DEV_PASSWORD, pin=None, otp_type=None, auth_mode="implicit"
    )
    server.start()
    yield server
    server.close()


def _registry(provider: CscTestServer, **overrides: Any) -> SignerRegistry:
    values: dict[str, Any] = {
        "kind": "csc",
        "csc_url": provider.base_url + "/",
        "csc_access_token": TOKEN,
        "csc_credential_template": "cred-{clerk_id}",
        "csc_credentials": {"unit": "org-seal"},
        "csc_timeout": 5.0,
    }
    values.update(overrides)
    return SignerRegistry(RegistryConfig(**values))


@pytest.fixture
def lan(provider: CscTestServer) -> CscBackend:
    backend = _registry(provider).for_clerk("lan.nt")
    assert isinstance(backend, CscBackend)
    return backend


@pytest.fixture(scope="module")
def doc_signer(stamp_font: Path) -> DocumentSigner:
    return DocumentSigner(stamp_font, tz="Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("csc") / "to-sign.pdf"
    with pikepdf.new() as doc:
        doc.add_blank_page(page_size=(595, 842))
        doc.save(path)
    return path


def _sign(doc_signer: DocumentSigner, pdf: Path, dst: Path, backend: Any) -> Any:
    return doc_signer.sign(
        pdf, dst, backend, stamp_lines=None, reason="Số hóa hồ sơ", location="Bộ phận Một cửa"
    )


def _otp(provider: CscTestServer, lan: CscBackend) -> str:
    lan.send_otp()
    return provider.sent_otps["cred-lan.nt"][-1]


def _assert_no_secrets(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r}"
    for secret in (TOKEN, *secrets):
        assert secret not in text


def _signed_attrs_digest(path: Path) -> tuple[bytes, bytes, bytes]:
    """(sha256 of the signed attributes, their messageDigest, sha256 of the signed bytes)."""
    data = path.read_bytes()
    with path.open("rb") as f:
        (sig,) = PdfFileReader(f).embedded_signatures
        signer_info = sig.signer_info
    attrs: cms.CMSAttributes = signer_info["signed_attrs"]
    der = attrs.dump()
    attrs_digest = hashlib.sha256(b"\x31" + der[1:]).digest()  # hashed as SET OF, not [0]
    (message_digest,) = [
        a["values"][0].native for a in attrs if a["type"].native == "message_digest"
    ]
    found = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", data)
    assert found is not None
    a, b, c, d = (int(v) for v in found.groups())
    document_digest = hashlib.sha256(data[a : a + b] + data[c : c + d]).digest()
    return attrs_digest, message_digest, document_digest


def _post(url: str, body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --- the happy path -------------------------------------------------------------------------


def test_sign_with_pin_and_texted_otp_validates(
    caplog: pytest.LogCaptureFixture,
    provider: CscTestServer,
    lan: CscBackend,
    doc_signer: DocumentSigner,
    pdf: Path,
    trust_roots: list[Any],
    tmp_path: Path,
) -> None:
    assert lan.name == "Nguyễn Thị Lan"
    assert [r.status for r in provider.calls("credentials/info")] == [200]  # fetched once

    caplog.set_level(logging.DEBUG)
    otp = _otp(provider, lan)
    confirmed = lan.confirmed(pin=PIN, otp=otp, description="Ký số hồ sơ 000.00.16.H08-261127-0001")
    result = _sign(doc_signer, pdf, tmp_path / "signed.pdf", confirmed)
    assert caplog.records and not any(x in caplog.text for x in (TOKEN, PIN, otp))
    assert result.signer_name == "Nguyễn Thị Lan"

    report = validate_pdf(result.path, trust_roots=trust_roots)
    (sig,) = report.signatures
    assert (sig.intact, sig.valid, sig.trusted, sig.bottom_line) == (True,) * 4, sig
    assert sig.signer is not None and sig.signer.common_name == "Nguyễn Thị Lan"
    assert sig.coverage == "ENTIRE_FILE"

    # What the provider saw: one OTP request, one authorization, one signature, no second info.
    assert len(provider.calls("credentials/info")) == 1
    assert len(provider.calls("credentials/sendOTP")) == 1
    (auth,) = provider.calls("credentials/authorize")
    (sign,) = provider.calls("signatures/signHash")
    assert auth.status == sign.status == 200
    assert all(r.authorization == f"Bearer {TOKEN}" for r in provider.received)
    assert auth.body["credentialID"] == sign.body["credentialID"] == "cred-lan.nt"
    assert auth.body["numSignatures"] == 1 and auth.body["PIN"] == PIN and auth.body["OTP"] == otp
    assert auth.body["description"] == "Ký số hồ sơ 000.00.16.H08-261127-0001"
    assert sign.body["hashAlgo"] == SHA256_OID and sign.body["signAlgo"] == SHA256_RSA_OID
    # The hash signed is the one authorized, and it is the document's: the signed attributes
    # in the file hash to it, and their messageDigest is the hash of the signed byte ranges.
    assert sign.body["hash"] == auth.body["hash"]
    attrs_digest, message_digest, document_digest = _signed_attrs_digest(result.path)
    assert base64.b64decode(sign.body["hash"][0]) == attrs_digest
    assert message_digest == document_digest


def test_registry_builds_csc_backends(provider: CscTestServer) -> None:
    registry = _registry(provider)
    lan = registry.for_clerk("lan.nt")
    assert isinstance(lan, CscBackend) and lan.credential_id == "cred-lan.nt"
    assert isinstance(lan, SignerBackend) and isinstance(
        lan.confirmed(pin="1", otp="2"), SignerBackend
    )
    assert registry.get("lan.nt") is lan
    unit = registry.unit()
    assert isinstance(unit, CscBackend) and unit.credential_id == "org-seal"
    assert unit.name == "UBND Phường Thử Nghiệm - Bộ phận Một cửa"
    assert len(provider.calls("credentials/info")) == 2  # once per credential
    with pytest.raises(SignerConfigError, match="csc_url and csc_access_token"):
        SignerRegistry(RegistryConfig(kind="csc", csc_url=provider.base_url))


def test_implicit_credential_signs_without_confirmation(
    provider: CscTestServer,
    doc_signer: DocumentSigner,
    pdf: Path,
    trust_roots: list[Any],
    tmp_path: Path,
) -> None:
    unit = _registry(provider).unit()
    result = _sign(doc_signer, pdf, tmp_path / "sealed.pdf", unit)
    (sig,) = validate_pdf(result.path, trust_roots=trust_roots).signatures
    assert sig.bottom_line and sig.signer is not None
    assert sig.signer.common_name == "UBND Phường Thử Nghiệm - Bộ phận Một cửa"
    (auth,) = provider.calls("credentials/authorize")
    assert "PIN" not in auth.body and "OTP" not in auth.body


def test_size_estimate_never_reaches_the_provider(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner
) -> None:
    import asyncio

    signer = lan.confirmed(pin=PIN, otp="000000").pyhanko_signer()
    cms_estimate = asyncio.run(
        signer.async_sign(hashlib.sha256().digest(), "sha256", use_pades=True, dry_run=True)
    )
    assert cms_estimate.dump()
    assert provider.calls("credentials/authorize") == provider.calls("signatures/signHash") == []


# --- confirmation ---------------------------------------------------------------------------


def test_wrong_otp_is_rejected_and_writes_nothing(
    caplog: pytest.LogCaptureFixture,
    provider: CscTestServer,
    lan: CscBackend,
    doc_signer: DocumentSigner,
    pdf: Path,
    tmp_path: Path,
) -> None:
    good = _otp(provider, lan)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    out = tmp_path / "out" / "signed.pdf"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfirmationRejected) as caught:
        _sign(doc_signer, pdf, out, lan.confirmed(pin=PIN, otp=wrong))
    exc = caught.value
    assert exc.code == "signing_confirmation_rejected" and exc.http_status == 403
    assert "OTP" in str(exc) and "lan.nt" in str(exc)
    _assert_no_secrets(exc, wrong, PIN, good)
    assert "invalid_otp" in caplog.text
    assert not any(x in caplog.text for x in (TOKEN, PIN, wrong, good))
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert [r.error for r in provider.calls("credentials/authorize")] == ["invalid_otp"]
    assert provider.calls("signatures/signHash") == []


def test_wrong_pin_is_rejected(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    otp = _otp(provider, lan)
    with pytest.raises(ConfirmationRejected, match="PIN") as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin="999999", otp=otp))
    _assert_no_secrets(caught.value, "999999", otp)


def test_unconfirmed_or_incomplete_confirmation_is_refused(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfirmationRequired) as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan)
    assert caught.value.code == "signing_confirmation_required"
    with pytest.raises(ConfirmationRequired, match="OTP"):
        lan.confirmed(pin=PIN)
    assert provider.calls("credentials/authorize") == []
    assert not (tmp_path / "x.pdf").exists()


def test_a_confirmation_signs_one_document_and_sad_reuse_is_refused(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    once = lan.confirmed(pin=PIN, otp=_otp(provider, lan))
    _sign(doc_signer, pdf, tmp_path / "1.pdf", once)
    with pytest.raises(ConfirmationRequired, match="own confirmation"):
        _sign(doc_signer, pdf, tmp_path / "2.pdf", once)
    assert len(provider.calls("credentials/authorize")) == 1  # refused before asking

    # Replaying the SAD at the provider is refused there too, as is the used OTP.
    (sign,) = provider.calls("signatures/signHash")
    status, answer = _post(f"{provider.base_url}/csc/v1/signatures/signHash", sign.body)
    assert (
        status == 400
        and answer["error"] == "invalid_request"
        and "SAD" in answer["error_description"]
    )
    assert not (tmp_path / "2.pdf").exists()


def test_expired_sad_is_a_rejected_confirmation(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    provider.sad_lifetime = 0
    with pytest.raises(ConfirmationRejected, match="confirm again"):
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=_otp(provider, lan)))
    assert [r.error for r in provider.calls("signatures/signHash")] == ["invalid_request"]


# --- the provider failing -------------------------------------------------------------------


def test_provider_down_is_key_unavailable(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    otp = _otp(provider, lan)
    provider.stop_listening()
    with pytest.raises(KeyUnavailableError) as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=otp))
    exc = caught.value
    assert exc.code == "signing_key_unavailable" and exc.retryable and exc.http_status == 503
    assert "cannot be reached" in str(exc) and "try again" in str(exc)
    _assert_no_secrets(exc, PIN, otp)
    assert not (tmp_path / "x.pdf").exists()

    # Nothing cached from a failure: a registry built while down fails, then works when up.
    registry = _registry(provider)
    with pytest.raises(KeyUnavailableError):
        registry.for_clerk("lan.nt")
    provider.start_listening()
    assert registry.for_clerk("lan.nt").name == "Nguyễn Thị Lan"


def test_slow_provider_times_out(
    provider: CscTestServer, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    lan = _registry(provider, csc_timeout=0.5).for_clerk("lan.nt")
    assert isinstance(lan, CscBackend)
    otp = _otp(provider, lan)
    provider.delay = 3.0
    with pytest.raises(KeyUnavailableError, match=r"did not answer within 0\.5 s") as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=otp))
    _assert_no_secrets(caught.value, PIN, otp)
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize(
    ("endpoint", "status", "body"),
    [
        ("signatures/signHash", 200, b"<html>Bad gateway</html>"),
        ("signatures/signHash", 200, b'{"signatures": ["not base64!"]}'),
        ("signatures/signHash", 502, b"<html>Bad gateway</html>"),
        ("credentials/authorize", 200, b'{"expiresIn": 300}'),
    ],
)
def test_garbage_answers_are_provider_errors(
    provider: CscTestServer,
    lan: CscBackend,
    doc_signer: DocumentSigner,
    pdf: Path,
    tmp_path: Path,
    endpoint: str,
    status: int,
    body: bytes,
) -> None:
    otp = _otp(provider, lan)
    provider.canned[endpoint] = (status, body)
    with pytest.raises(RemoteSignerError) as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=otp))
    assert caught.value.code == "signing_provider_error" and caught.value.retryable
    _assert_no_secrets(caught.value, PIN, otp)
    assert not (tmp_path / "x.pdf").exists()


def test_a_signature_that_does_not_verify_is_refused(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    provider.corrupt_signatures = True
    with pytest.raises(RemoteSignerError, match="does not match the certificate"):
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=_otp(provider, lan)))
    assert not (tmp_path / "x.pdf").exists()


def test_unknown_and_disabled_credentials(provider: CscTestServer) -> None:
    registry = _registry(provider, csc_credentials={"ghost.x": "no-such-credential"})
    with pytest.raises(RemoteCredentialError, match="no-such-credential") as caught:
        registry.for_clerk("ghost.x")
    assert caught.value.code == "signing_credential_unusable" and not caught.value.retryable
    with pytest.raises(RemoteCredentialError, match="disabled"):
        registry.for_clerk("binh.tv")


def test_rejected_token_is_a_configuration_error(provider: CscTestServer) -> None:
    with pytest.raises(SignerConfigError, match="access token") as caught:
        _registry(provider, csc_access_token="expired-token-42").for_clerk("lan.nt")
    _assert_no_secrets(caught.value, "expired-token-42")
    (call,) = provider.calls("credentials/info")
    assert call.status == 401 and call.error == "invalid_token"


def test_provider_text_is_scrubbed_of_secrets(
    provider: CscTestServer, lan: CscBackend, doc_signer: DocumentSigner, pdf: Path, tmp_path: Path
) -> None:
    otp = _otp(provider, lan)
    echo = json.dumps({"error": "invalid_otp", "error_description": f"OTP {otp} sai, PIN {PIN}"})
    provider.canned["credentials/authorize"] = (400, echo.encode())
    with pytest.raises(ConfirmationRejected) as caught:
        _sign(doc_signer, pdf, tmp_path / "x.pdf", lan.confirmed(pin=PIN, otp=otp))
    assert "sai" in str(caught.value)
    _assert_no_secrets(caught.value, PIN, otp)


def test_secrets_stay_out_of_reprs(provider: CscTestServer, lan: CscBackend) -> None:
    config = CscConfig(provider.base_url, access_token=Secret(TOKEN))
    confirmed = lan.confirmed(pin=PIN, otp="135790")
    for value in (config, lan, confirmed, Confirmation(pin=PIN, otp="135790"), Secret(TOKEN)):
        assert TOKEN not in repr(value) and PIN not in repr(value) and "135790" not in repr(value)
    assert TOKEN not in repr(RegistryConfig(kind="csc", csc_url="x", csc_access_token=TOKEN))
    with pytest.raises(SignerConfigError, match="https"):
        CscConfig("ftp://provider.example", access_token=Secret(TOKEN))


def test_offline_otp_cannot_be_sent(provider: CscTestServer, dev_pki: DevPki) -> None:
    provider.add_credential(
        "cred-app", dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD, otp_type="offline", offline_otp="1"
    )
    backend = CscBackend(
        CscConfig(provider.base_url, access_token=Secret(TOKEN), credentials={"a.b": "cred-app"}),
        "a.b",
    )
    with pytest.raises(SignerConfigError, match="OTP app"):
        backend.send_otp()
    assert provider.calls("credentials/sendOTP") == []


# --- the test provider checks what it receives ----------------------------------------------


def test_list_credentials(provider: CscTestServer) -> None:
    config = CscConfig(provider.base_url, access_token=Secret(TOKEN))
    assert list_credentials(config) == ["cred-lan.nt", "cred-binh.tv", "org-seal"]
    assert list_credentials(config, user_id="org-seal") == ["org-seal"]
    (call,) = provider.calls("credentials/list")[-1:]
    assert call.body == {"maxResults": 1000, "userID": "org-seal"}
    with pytest.raises(SignerConfigError, match="access token"):
        list_credentials(CscConfig(provider.base_url, access_token=Secret("nope")))


def test_provider_checks_requests(provider: CscTestServer, lan: CscBackend) -> None:
    url = f"{provider.base_url}/csc/v1"
    status, answer = _post(f"{url}/credentials/list", {}, token=None)
    assert status == 401 and answer["error"] == "invalid_token"
    status, answer = _post(f"{url}/credentials/list", {})
    assert status == 200 and answer["credentialIDs"] == ["cred-lan.nt", "cred-binh.tv", "org-seal"]
    status, answer = _post(f"{url}/info", {})
    assert status == 200 and answer["specs"] == "1.0.4.0"

    otp = _otp(provider, lan)
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    status, answer = _post(
        f"{url}/credentials/authorize",
        {"credentialID": "cred-lan.nt", "numSignatures": 1, "PIN": PIN, "OTP": otp},
    )
    assert (status, answer["error"]) == (400, "invalid_request")  # SCAL 2 needs the hash
    status, answer = _post(
        f"{url}/credentials/authorize",
        {
            "credentialID": "cred-lan.nt",
            "numSignatures": 2,
            "hash": [digest],
            "PIN": PIN,
            "OTP": otp,
        },
    )
    assert status == 400 and "too high" in answer["error_description"]  # multisign is 1
    status, answer = _post(
        f"{url}/credentials/authorize",
        {
            "credentialID": "cred-lan.nt",
            "numSignatures": 1,
            "hash": [digest],
            "PIN": PIN,
            "OTP": otp,
        },
    )
    assert status == 200
    sad = answer["SAD"]

    base = {
        "credentialID": "cred-lan.nt",
        "SAD": sad,
        "hashAlgo": SHA256_OID,
        "signAlgo": SHA256_RSA_OID,
    }
    short = base64.b64encode(b"\0" * 20).decode()
    for bad, description in (
        ({"hash": [short]}, "Invalid digest value length"),
        ({"hash": ["@@@"]}, "Invalid Base64 hash string parameter"),
        ({"hash": [digest], "signAlgo": "1.2.840.10045.4.3.2"}, "Invalid parameter signAlgo"),
        ({"hash": [base64.b64encode(hashlib.sha256(b"y").digest()).decode()]}, "not authorized"),
        ({"hash": [digest], "SAD": "forged"}, "Invalid parameter SAD"),
        ({"hash": digest}, "Missing (or invalid type) array parameter hash"),
    ):
        status, answer = _post(f"{url}/signatures/signHash", {**base, **bad})
        assert status == 400 and description in answer["error_description"], (bad, answer)
    status, answer = _post(f"{url}/signatures/signHash", {**base, "hash": [digest]})
    assert status == 200 and len(answer["signatures"]) == 1
    status, answer = _post(f"{url}/signatures/signHash", {**base, "hash": [digest]})
    assert status == 400 and answer["error_description"] == "Invalid parameter SAD"
