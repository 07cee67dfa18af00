"""The one place where settings become live objects: engine, store, signers, OCR, Celery.

Heavy parts (OCR engine, signing keys, Celery app) are built on first use, so the API process
never loads a private key and a forked worker child opens its own connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sohoa.settings import Settings
from storage import db
from storage.models import utcnow
from storage.objects import LocalObjectStore, ObjectStore, S3ObjectStore

if TYPE_CHECKING:
    from celery import Celery

    from dossiers.cashier import Cashier
    from dossiers.returns import Returns
    from dossiers.service import DossierService
    from ingest.validate import Limits
    from ocr.engine import OcrEngine
    from signing.backends import SignerRegistry
    from signing.sign import DocumentSigner

log = logging.getLogger(__name__)

DEV_CLERKS = (("clerk1", "Nguyễn Thị Lan"), ("clerk2", "Trần Văn Minh"))


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    # The time the domain sees; tests put a settable clock here to cross Tết on purpose.
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def limits(self) -> Limits:
        from ingest.validate import Limits

        s = self.settings
        return Limits(s.max_upload_bytes, s.max_pages, s.max_page_pixels, s.max_total_pixels)

    @cached_property
    def ocr_engine(self) -> OcrEngine:
        from ocr.engine import OcrEngine, OcrSettings

        s = self.settings
        return OcrEngine(
            OcrSettings(
                languages=s.ocr_languages,
                rotate_pages=s.ocr_rotate_pages,
                deskew=s.ocr_deskew,
                jobs=s.ocr_jobs,
            )
        )

    @cached_property
    def signers(self) -> SignerRegistry:
        from signing.backends import RegistryConfig, SignerRegistry

        s = self.settings
        if s.signer == "pkcs12":
            ensure_dev_pki(s)
        return SignerRegistry(
            RegistryConfig(
                kind=s.signer,
                pkcs12_dir=s.resolved_pki_dir,
                pkcs12_password=s.pkcs12_password.get_secret_value(),
                pkcs11_module=s.pkcs11_module,
                pkcs11_token_label=s.pkcs11_token_label,
                pkcs11_pin=s.pkcs11_pin.get_secret_value(),
                prefer_pss=s.prefer_pss,
            )
        )

    @cached_property
    def document_signer(self) -> DocumentSigner:
        from signing.sign import DocumentSigner, make_timestamper
        from signing.stamp import ensure_stamp_font

        s = self.settings
        return DocumentSigner(
            font_path=ensure_stamp_font(s.cache_dir),
            timestamper=make_timestamper(s.tsa_url),
            tz=s.timezone,
        )

    @cached_property
    def trust_roots(self) -> list[Any]:
        """Roots a verifier trusts: configured PEM files, else the development PKI's root."""
        from signing.verify import load_certificates

        s = self.settings
        paths = list(s.trust_roots)
        if not paths:
            if s.signer == "pkcs12":
                ensure_dev_pki(s)
            paths = [s.resolved_pki_dir / "ca.pem"]
        certs: list[Any] = []
        for path in paths:
            certs.extend(load_certificates(Path(path)))
        return certs

    @cached_property
    def other_certs(self) -> list[Any]:
        from signing.verify import load_certificates

        chain = self.settings.resolved_pki_dir / "chain.pem"
        return load_certificates(chain) if chain.exists() else []

    @cached_property
    def dossiers(self) -> DossierService:
        from dossiers.codes import make_generator
        from dossiers.service import DossierService

        return DossierService(
            self.sessions,
            self.store,
            codes=make_generator(self.settings.dossier_code_format),
            clock=lambda: self.clock(),
            form_signer=self.sign_form if self.settings.sign_forms else None,
            system_name=self.settings.system_name,
        )

    @cached_property
    def cashier(self) -> Cashier:
        from dossiers.cashier import Cashier

        return Cashier(self.dossiers)

    @cached_property
    def returns(self) -> Returns:
        from dossiers.returns import Returns

        return Returns(self.dossiers)

    def sign_form(self, src: Path, dst: Path, unit_name: str) -> Any:
        """Forms carry the unit's organization signature at the top right of page 1."""
        from dossiers.forms import sign_form

        return sign_form(
            src,
            dst,
            signer=self.document_signer,
            backend=self.signers.unit(),
            unit_name=unit_name,
            location=self.settings.signing_location,
        )

    @cached_property
    def celery(self) -> Celery:
        from ingest.tasks import create_celery

        return create_celery(self)


def enroll_dev_clerk(settings: Settings, clerk_id: str, name: str) -> bool:
    """Give a new counter clerk a personal certificate from the development PKI.

    Only where the development PKI is in use (``pki.json`` present); production certificates
    come from a licensed CA and are installed by the operator. Returns whether one was issued.
    """
    from signing.pki import init_dev_pki

    if settings.signer != "pkcs12":
        return False
    ensure_dev_pki(settings)
    pki_dir = settings.resolved_pki_dir
    if not (pki_dir / "pki.json").exists():
        return False
    init_dev_pki(
        pki_dir,
        unit_name=settings.unit_name,
        unit_code=settings.unit_code,
        clerks=[(clerk_id, name)],
        password=settings.pkcs12_password.get_secret_value(),
    )
    return True


def ensure_dev_pki(settings: Settings) -> None:
    """Create the development PKI on first start; it is marked as not for production."""
    from signing.pki import init_dev_pki

    pki_dir = settings.resolved_pki_dir
    if (pki_dir / "unit.p12").exists() and (
        pki_dir / "clerks" / f"{settings.default_clerk}.p12"
    ).exists():
        return
    log.warning("creating a DEVELOPMENT PKI in %s (not for production)", pki_dir)
    clerks = list(DEV_CLERKS)
    if settings.default_clerk not in dict(clerks):
        clerks.append((settings.default_clerk, settings.default_clerk))
    init_dev_pki(
        pki_dir,
        unit_name=settings.unit_name,
        unit_code=settings.unit_code,
        clerks=clerks,
        password=settings.pkcs12_password.get_secret_value(),
    )


def make_store(settings: Settings) -> ObjectStore:
    if settings.store == "s3":
        return S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            object_lock=settings.s3_object_lock,
        )
    secret = settings.url_secret.get_secret_value().encode() or _local_url_secret(settings)
    return LocalObjectStore(
        settings.resolved_store_path,
        url_secret=secret,
        base_url=f"{settings.public_url.rstrip('/')}/api/v1/objects",
    )


def _local_url_secret(settings: Settings) -> bytes:
    """A per-installation secret for local presigned URLs, made once and kept in data_dir."""
    import secrets

    path = settings.data_dir / "url-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def build(settings: Settings | None = None, *, migrate: bool = True) -> Services:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if migrate:
        db.upgrade(url)
    engine = db.make_engine(url)
    return Services(settings, engine, db.make_sessionmaker(engine), make_store(settings))
