"""Where signing keys live: one interface, a PKCS#12 and a PKCS#11 implementation.

A worker process signs thousands of documents with a handful of keys, so every backend loads
its key once (lazily, on first use) and keeps it for the life of the process:

* PKCS#12: pyHanko's stock ``SimpleSigner`` re-parses the private key on every ``sign_raw``
  (≈45 ms, twice per document); :class:`CachedKeySigner` keeps the parsed key (4 → 20 docs/s).
* PKCS#11: one logged-in session per (module, token) and process, shared by all keys on the
  token (a second ``C_Login`` would fail), serialised by a lock and reopened when it is lost.
* Both: the CMS signing-certificate-v2 attribute (the same bytes in every signature of a key)
  is built once and kept as DER; asn1crypto spends ≈11 ms building it afresh each time.

Nothing here logs or repeats key material, passwords or PINs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.attributes import (
    CMSAttributeProvider,
    SignedAttributeProviderSpec,
    SigningCertificateV2Provider,
)
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from signing.errors import KeyUnavailableError, SignerConfigError, SigningError
from signing.pki import UNIT_ID, validate_clerk_id

if TYPE_CHECKING:
    import pkcs11
    from pyhanko.sign.pkcs11 import PKCS11Signer

__all__ = [
    "CachedKeySigner",
    "Pkcs11Backend",
    "Pkcs12Backend",
    "RegistryConfig",
    "SignerBackend",
    "SignerRegistry",
    "load_pkcs12",
]

log = logging.getLogger(__name__)


@runtime_checkable
class SignerBackend(Protocol):
    """A signing key plus its certificate, as pyHanko needs them."""

    @property
    def name(self) -> str:
        """Signer display name (certificate CN), shown in the visible stamp."""
        ...

    @property
    def certificate(self) -> x509.Certificate:
        """The signing certificate."""
        ...

    def pyhanko_signer(self) -> Signer:
        """The (cached) pyHanko signer; loads the key on first call."""
        ...


def common_name(cert: x509.Certificate) -> str:
    """CN of a certificate, or its whole subject if it has none."""
    cn = cert.subject.native.get("common_name")
    if isinstance(cn, list):
        cn = cn[-1]
    return str(cn) if cn else str(cert.subject.human_friendly)


# --- PKCS#12 -------------------------------------------------------------------------------


def load_pkcs12(
    path: Path, password: bytes
) -> tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]]:
    """Read and decrypt a PKCS#12 file: (pyca private key, certificate, other certificates).

    A module-level function on purpose: it is the expensive step that must run once per key
    and process, and tests count its calls.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SignerConfigError(f"PKCS#12 file not found: {path}") from None
    except OSError as exc:
        raise SignerConfigError(f"cannot read PKCS#12 file {path}: {exc.strerror}") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise SignerConfigError(
            f"cannot open PKCS#12 file {path}: wrong password or damaged file"
        ) from exc
    if key is None or cert is None:
        raise SignerConfigError(f"PKCS#12 file {path} holds no private key and certificate")
    as_asn1 = [x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra]
    return key, x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)), as_asn1


class _SigningCertAttribute(SigningCertificateV2Provider):
    """signing-certificate-v2 served from DER made once: byte for byte what pyHanko builds.

    A fresh parse per signature (cheap and lazy), so no two signatures share a mutable value.
    """

    def __init__(self, signing_cert: x509.Certificate) -> None:
        super().__init__(signing_cert)
        self.der = as_signing_certificate_v2(signing_cert).dump()

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self.der)


class _CachedAttributesSpec(SignedAttributeProviderSpec):
    """pyHanko's own attribute choice, with its signing-certificate-v2 provider swapped."""

    def __init__(self, inner: SignedAttributeProviderSpec, cached: _SigningCertAttribute) -> None:
        self.inner = inner
        self.cached = cached

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterator[CMSAttributeProvider]:
        for provider in self.inner.signed_attr_providers(data_digest, digest_algorithm):
            if (
                type(provider) is SigningCertificateV2Provider
                and provider.signing_cert is self.cached.signing_cert
            ):
                yield self.cached
            else:
                yield provider


class _CachedAttributes:
    """Signer mixin: keeps the signing-certificate-v2 attribute of its certificate.

    Hooks pyHanko's ``_signed_attr_provider_spec`` (pyHanko is pinned; a test counts how often
    the attribute is built, so a rename there shows up as a failure, not as silence).
    """

    _cert_attribute: _SigningCertAttribute | None = None

    def _signed_attr_provider_spec(
        self,
        attr_settings: object,
        timestamper: object = None,
        use_cades: bool = False,
        is_pdf_sig: bool = True,
    ) -> SignedAttributeProviderSpec:
        spec: SignedAttributeProviderSpec = super()._signed_attr_provider_spec(  # type: ignore[misc]
            attr_settings, timestamper=timestamper, use_cades=use_cades, is_pdf_sig=is_pdf_sig
        )
        cert = getattr(self, "signing_cert", None)
        if cert is None:
            return spec
        cached = self._cert_attribute
        if cached is None or cached.signing_cert is not cert:
            # Threads may race here; both build the same bytes and one assignment wins.
            cached = self._cert_attribute = _SigningCertAttribute(cert)
        return _CachedAttributesSpec(spec, cached)


class CachedKeySigner(_CachedAttributes, SimpleSigner):
    """``SimpleSigner`` that keeps the parsed private key instead of re-parsing it per call.

    The stock ``sign_raw`` runs ``load_der_private_key`` on every call, which costs ~60 times
    the RSA signature itself. Uncommon algorithms fall back to the stock path.
    """

    def __init__(
        self,
        private_key: RSAPrivateKey | EllipticCurvePrivateKey,
        signing_cert: x509.Certificate,
        other_certs: Sequence[x509.Certificate] = (),
        *,
        prefer_pss: bool = False,
    ) -> None:
        # pyhanko_certvalidator leaves SimpleCertificateStore.__init__ unannotated
        store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        store.register_multiple(other_certs)
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        super().__init__(
            signing_cert=signing_cert,
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=store,
            prefer_pss=prefer_pss,
        )
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algo = mechanism.signature_algo
        except ValueError:
            algo = mechanism["algorithm"].native
        key = self._private_key
        if isinstance(key, RSAPrivateKey) and algo == "rsassa_pkcs1v15":
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if isinstance(key, RSAPrivateKey) and algo == "rsassa_pss":
            padding, hash_algo = process_pss_params(mechanism["parameters"])
            return key.sign(data, padding, hash_algo)
        if isinstance(key, EllipticCurvePrivateKey) and algo == "ecdsa":
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)


class _SignerIdentity:
    """The signing certificate and its holder's name, read from the backend's pyHanko signer."""

    def pyhanko_signer(self) -> Signer:
        raise NotImplementedError

    @property
    def certificate(self) -> x509.Certificate:
        cert = self.pyhanko_signer().signing_cert
        assert cert is not None
        return cert

    @property
    def name(self) -> str:
        return common_name(self.certificate)


class Pkcs12Backend(_SignerIdentity):
    """A key in a PKCS#12 file, loaded once per process on first use."""

    def __init__(self, path: Path, password: bytes, *, prefer_pss: bool = False) -> None:
        self.path = Path(path)
        self._password = password
        self.prefer_pss = prefer_pss
        self._signer: CachedKeySigner | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the password
        return f"Pkcs12Backend({str(self.path)!r}, prefer_pss={self.prefer_pss})"

    def pyhanko_signer(self) -> CachedKeySigner:
        signer = self._signer
        if signer is None:
            with self._lock:
                if self._signer is None:
                    key, cert, others = load_pkcs12(self.path, self._password)
                    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
                        raise SignerConfigError(f"{self.path}: only RSA and EC keys are supported")
                    self._signer = CachedKeySigner(key, cert, others, prefer_pss=self.prefer_pss)
                    log.info("loaded signing key %s (%s)", self.path, common_name(cert))
                signer = self._signer
        return signer


# --- PKCS#11 -------------------------------------------------------------------------------


def _require_pkcs11() -> None:
    """Import python-pkcs11 only when a PKCS#11 backend is used (it loads a C extension), so
    that its absence reads as a configuration error; callers then import from it."""
    try:
        import pkcs11  # noqa: F401
    except ImportError as exc:  # pragma: no cover - installed with pyhanko[pkcs11]
        raise SignerConfigError(
            "PKCS#11 signing needs python-pkcs11: pip install 'pyhanko[pkcs11]'"
        ) from exc


class _Token:
    """One logged-in session per (module, token) and process, plus the lock that serialises it.

    PKCS#11 login state is per application, so every key on a token shares this session; a
    second ``C_Login`` would fail with USER_ALREADY_LOGGED_IN.
    """

    def __init__(self, module_path: str, label: str, pin: str) -> None:
        self.module_path = module_path
        self.label = label
        self._pin = pin
        self.lock = threading.RLock()
        self._session: pkcs11.Session | None = None

    def session(self) -> pkcs11.Session:
        with self.lock:
            if self._session is None:
                self._session = self._open()
            return self._session

    def reopen(self, stale: object) -> pkcs11.Session:
        """Replace ``stale`` by a fresh session, unless another thread already did."""
        with self.lock:
            if self._session is None or self._session is stale:
                if self._session is not None:
                    with contextlib.suppress(Exception):
                        self._session.close()
                self._session = None
                self._session = self._open()
                log.warning("reopened PKCS#11 session on token %r", self.label)
            return self._session

    def _open(self) -> pkcs11.Session:
        _require_pkcs11()
        from pkcs11 import exceptions as p11
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import open_pkcs11_session

        if not os.path.exists(self.module_path):
            raise SignerConfigError(f"PKCS#11 module not found: {self.module_path}")
        pin_errors = (
            p11.PinIncorrect,
            p11.PinInvalid,
            p11.PinLenRange,
            p11.PinLocked,
            p11.PinExpired,
            p11.UserPinNotInitialized,
        )
        criteria = TokenCriteria(label=self.label)
        try:
            return open_pkcs11_session(
                self.module_path, token_criteria=criteria, user_pin=self._pin
            )
        except pin_errors as exc:
            raise SignerConfigError(
                f"PKCS#11 login to token {self.label!r} refused ({type(exc).__name__}); "
                "check the PIN before retrying, tokens lock after a few failures"
            ) from None
        except p11.UserAlreadyLoggedIn:
            # Another session of this process is logged in; the new one inherits the login.
            try:
                return open_pkcs11_session(self.module_path, token_criteria=criteria)
            except p11.PKCS11Error as exc:
                raise KeyUnavailableError(
                    f"cannot open a session on PKCS#11 token {self.label!r}: {exc!r}"
                ) from exc
        except p11.PKCS11Error as exc:
            raise KeyUnavailableError(
                f"cannot open a session on PKCS#11 token {self.label!r}: {exc}"
            ) from exc


_TOKENS: dict[tuple[str, str], _Token] = {}
_TOKENS_LOCK = threading.Lock()


def _token(module_path: str, label: str, pin: str) -> _Token:
    with _TOKENS_LOCK:
        token = _TOKENS.get((module_path, label))
        if token is None:
            token = _TOKENS[(module_path, label)] = _Token(module_path, label, pin)
        return token


def _make_hsm_signer(
    token: _Token,
    *,
    cert_label: str,
    key_label: str,
    prefer_pss: bool,
    ca_chain: Sequence[x509.Certificate] | None,
) -> PKCS11Signer:
    """Build a ``PKCS11Signer`` subclass bound to ``token`` (class made lazily: no pkcs11
    import unless PKCS#11 is configured)."""
    _require_pkcs11()
    from pkcs11 import exceptions as p11
    from pyhanko.sign.pkcs11 import PKCS11Signer

    permanent = (
        p11.MechanismInvalid,
        p11.MechanismParamInvalid,
        p11.KeyTypeInconsistent,
        p11.FunctionNotSupported,
        p11.DataLenRange,
    )

    class _HsmSigner(_CachedAttributes, PKCS11Signer):
        """Signs under the token lock and survives a lost session by reopening it once."""

        async def async_sign_raw(
            self, data: bytes, digest_algorithm: str, dry_run: bool = False
        ) -> bytes:
            if dry_run:
                return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
            return await asyncio.to_thread(self._sign_blocking, data, digest_algorithm)

        def _sign_blocking(self, data: bytes, digest_algorithm: str) -> bytes:
            spec = self._select_pkcs11_signing_params(
                digest_algorithm, sign_kwargs=self.sign_kwargs(data)
            )
            if spec.pre_sign_transform is not None:
                data = spec.pre_sign_transform(data)
            for attempt in (1, 2):
                with token.lock:
                    try:
                        if attempt == 2:
                            self.pkcs11_session = token.reopen(self.pkcs11_session)
                            # pyHanko leaves _pull_signing_key_handle unannotated
                            handle = self._pull_signing_key_handle()  # type: ignore[no-untyped-call]
                            self._key_handle = handle
                        assert self._key_handle is not None
                        signature = self._key_handle.sign(data, **spec.sign_kwargs)
                        break
                    except permanent as exc:
                        raise SigningError(
                            f"token {token.label!r} cannot perform this signature: {exc!r}"
                        ) from exc
                    except p11.PKCS11Error as exc:
                        if attempt == 2:
                            raise KeyUnavailableError(
                                f"PKCS#11 signing on token {token.label!r} failed "
                                f"after reopening the session: {exc!r}"
                            ) from exc
                        log.warning(
                            "PKCS#11 sign failed (%s); reopening session", type(exc).__name__
                        )
            if spec.post_sign_transform is not None:
                signature = spec.post_sign_transform(signature)
            return signature

    return _HsmSigner(
        token.session(),
        cert_label=cert_label,
        key_label=key_label,
        prefer_pss=prefer_pss,
        ca_chain=ca_chain,
    )


def _load_hsm_objects(signer: PKCS11Signer, token: _Token) -> None:
    """Find the certificate and key handle on the token now, under its lock, so that a wrong
    label or a lost session surfaces when the backend loads rather than when it signs."""
    with token.lock:
        # pyHanko leaves _load_objects unannotated
        signer._load_objects()  # type: ignore[no-untyped-call]


class Pkcs11Backend(_SignerIdentity):
    """A key on a PKCS#11 token (HSM, smart card, SoftHSM2), found by label."""

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: str,
        key_label: str,
        cert_label: str | None = None,
        *,
        prefer_pss: bool = False,
        ca_chain: Sequence[x509.Certificate] = (),
    ) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self.key_label = key_label
        self.cert_label = cert_label or key_label
        self.prefer_pss = prefer_pss
        self._pin = pin
        self._ca_chain = tuple(ca_chain)
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the PIN
        return (
            f"Pkcs11Backend({self.module_path!r}, token={self.token_label!r}, "
            f"key={self.key_label!r})"
        )

    def pyhanko_signer(self) -> Signer:
        signer = self._signer
        if signer is None:
            with self._lock:
                if self._signer is None:
                    self._signer = self._load()
                signer = self._signer
        return signer

    def _load(self) -> Signer:
        _require_pkcs11()
        from pkcs11 import exceptions as p11

        token = _token(self.module_path, self.token_label, self._pin)
        for attempt in (1, 2):
            signer = _make_hsm_signer(
                token,
                cert_label=self.cert_label,
                key_label=self.key_label,
                prefer_pss=self.prefer_pss,
                ca_chain=self._ca_chain or None,
            )
            try:
                _load_hsm_objects(signer, token)
            except p11.PKCS11Error as exc:
                if type(exc) is p11.PKCS11Error:  # pyHanko's "could not find ..." lookups
                    raise SignerConfigError(
                        f"no key/certificate labelled {self.key_label!r} on PKCS#11 token "
                        f"{self.token_label!r}: {exc}"
                    ) from None
                if attempt == 2:
                    raise KeyUnavailableError(
                        f"PKCS#11 token {self.token_label!r} unusable: {exc!r}"
                    ) from exc
                token.reopen(signer.pkcs11_session)
                continue
            log.info("loaded PKCS#11 key %r from token %r", self.key_label, self.token_label)
            return signer
        raise AssertionError("unreachable")  # pragma: no cover


# --- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryConfig:
    """How to find signing keys: a directory of PKCS#12 files, or labels on a PKCS#11 token.

    PKCS#12: ``pkcs12_dir/unit.p12`` and ``pkcs12_dir/clerks/<clerk_id>.p12`` (the layout of
    :func:`signing.pki.init_dev_pki`). PKCS#11: key and certificate labelled with the clerk id
    (or ``unit``); ``pkcs11_chain_pem`` names the CA certificates to embed in signatures, so
    verifiers need only the root.
    """

    kind: Literal["pkcs12", "pkcs11", "csc"]
    pkcs12_dir: Path | None = None
    pkcs12_password: str | None = field(default=None, repr=False)
    pkcs11_module: str | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: str | None = field(default=None, repr=False)
    prefer_pss: bool = False
    pkcs11_chain_pem: Path | None = None
    # CSC (remote signing at a provider): see signing.csc.CscConfig
    csc_url: str | None = None
    csc_access_token: str | None = field(default=None, repr=False)
    csc_credential_template: str = "{clerk_id}"
    csc_credentials: Mapping[str, str] = field(default_factory=dict)
    csc_timeout: float = 30.0


class SignerRegistry:
    """Maps a clerk id (or ``"unit"``) to its backend, each loaded once per process."""

    def __init__(self, config: RegistryConfig) -> None:
        if config.kind == "pkcs12":
            if config.pkcs12_dir is None or config.pkcs12_password is None:
                raise SignerConfigError("PKCS#12 signing needs pkcs12_dir and pkcs12_password")
        elif config.kind == "pkcs11":
            if not (
                config.pkcs11_module and config.pkcs11_token_label and config.pkcs11_pin is not None
            ):
                raise SignerConfigError(
                    "PKCS#11 signing needs pkcs11_module, pkcs11_token_label and pkcs11_pin"
                )
        elif config.kind == "csc":
            if not (config.csc_url and config.csc_access_token):
                raise SignerConfigError("CSC remote signing needs csc_url and csc_access_token")
        else:
            raise SignerConfigError(f"unknown signer kind {config.kind!r}")
        self.config = config
        self._backends: dict[str, SignerBackend] = {}
        self._lock = threading.Lock()
        self._chain: tuple[x509.Certificate, ...] | None = None

    def unit(self) -> SignerBackend:
        """The organisation certificate (receipts, results)."""
        return self.get(UNIT_ID)

    def for_clerk(self, clerk_id: str) -> SignerBackend:
        """A clerk's personal certificate (scans); ``"unit"`` is not a clerk."""
        return self.get(validate_clerk_id(clerk_id))

    def get(self, signer_id: str) -> SignerBackend:
        """Backend for a clerk id or ``"unit"``, with its key loaded (so errors surface here)."""
        if signer_id != UNIT_ID:
            validate_clerk_id(signer_id)
        backend = self._backends.get(signer_id)
        if backend is not None:
            return backend
        with self._lock:
            backend = self._backends.get(signer_id)
            if backend is None:
                backend = self._build(signer_id)
                backend.pyhanko_signer()  # fail now, and only cache what works
                self._backends[signer_id] = backend
        return backend

    def _build(self, signer_id: str) -> SignerBackend:
        cfg = self.config
        who = "the unit" if signer_id == UNIT_ID else f"clerk {signer_id!r}"
        if cfg.kind == "pkcs12":
            assert cfg.pkcs12_dir is not None and cfg.pkcs12_password is not None
            path = (
                cfg.pkcs12_dir / "unit.p12"
                if signer_id == UNIT_ID
                else cfg.pkcs12_dir / "clerks" / f"{signer_id}.p12"
            )
            if not path.is_file():
                raise SignerConfigError(f"no signing certificate for {who}: {path} does not exist")
            return Pkcs12Backend(path, cfg.pkcs12_password.encode(), prefer_pss=cfg.prefer_pss)
        if cfg.kind == "csc":
            from signing.csc import CscBackend, CscConfig, Secret

            assert cfg.csc_url and cfg.csc_access_token
            csc = CscConfig(
                service_url=cfg.csc_url,
                access_token=Secret(cfg.csc_access_token),
                credential_template=cfg.csc_credential_template,
                credentials=dict(cfg.csc_credentials),
                timeout=cfg.csc_timeout,
            )
            return CscBackend(csc, signer_id)
        assert cfg.pkcs11_module and cfg.pkcs11_token_label and cfg.pkcs11_pin is not None
        return Pkcs11Backend(
            cfg.pkcs11_module,
            cfg.pkcs11_token_label,
            cfg.pkcs11_pin,
            key_label=signer_id,
            prefer_pss=cfg.prefer_pss,
            ca_chain=self._ca_chain(),
        )

    def _ca_chain(self) -> tuple[x509.Certificate, ...]:
        if self._chain is None:
            path = self.config.pkcs11_chain_pem
            if path is None:
                self._chain = ()
            else:
                from pyhanko.keys import load_certs_from_pemder_data

                try:
                    self._chain = tuple(load_certs_from_pemder_data(Path(path).read_bytes()))
                except (OSError, ValueError) as exc:
                    raise SignerConfigError(f"cannot read CA chain {path}: {exc}") from None
        return self._chain
