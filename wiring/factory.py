"""The one place where settings become live objects: engine, store, signers, OCR, Celery.

Heavy parts (OCR engine, signing keys, Celery app) are built on first use, so the API process
never loads a private key and a forked worker child opens its own connections.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigurationError
from core.settings import Settings
from paper.fonts import Fonts
from storage import db
from storage.models import utcnow
from storage.objects import LocalObjectStore, ObjectStore, S3ObjectStore

if TYPE_CHECKING:
    from celery import Celery
    from pyhanko_certvalidator import ValidationContext

    from connect.dispatcher import Dispatcher
    from dossiers.fees.cashier import Cashier
    from dossiers.results.returns import Returns
    from dossiers.workflow.lookup import StatusLookup
    from dossiers.workflow.service import DossierService
    from ingest.ports import PipelineConfig, PipelineDeps
    from ingest.tasks import QueueConfig
    from ocr.engine import OcrEngine
    from signing.authority import DevAuthority
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

    @cached_property
    def url_secret(self) -> bytes:
        """The installation's URL secret (see :func:`url_secret`); never logged or served."""
        return url_secret(self.settings)

    @cached_property
    def pipeline_config(self) -> PipelineConfig:
        """The settings the pipeline reads (``ingest.ports.Pipeline``, with ``pipeline_deps``)."""
        return pipeline_config(self.settings)

    @cached_property
    def pipeline_deps(self) -> PipelineDeps:
        """What the pipeline runs on; the engines and keys are built when a step first needs
        them, so the API process, which only queues scans, never builds them."""
        from dossiers.workflow.scanhooks import on_signed
        from ingest.ports import PipelineDeps
        from ingest.tasks import CeleryDispatcher

        return PipelineDeps(
            sessions=self.sessions,
            store=self.store,
            dispatcher=CeleryDispatcher(lambda: self.celery),
            on_signed=on_signed,
            build_ocr_engine=lambda: self.ocr_engine,
            build_signers=lambda: self.signers,
            build_document_signer=lambda: self.document_signer,
            load_trust_roots=lambda: self.trust_roots,
            load_other_certs=lambda: self.other_certs,
        )

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
                direct=s.ocr_direct,
                machine_slots=s.ocr_slots or os.cpu_count() or 2,
                slots_dir=s.ocr_slots_dir or s.data_dir / "ocr-slots",
                child_memory_mb=s.ocr_child_memory_mb,
                max_stream_bytes=s.max_stream_bytes,
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
                csc_url=s.csc_url,
                csc_access_token=s.csc_access_token.get_secret_value() or None,
                csc_credential_template=s.csc_credential_template,
                csc_credentials=dict(s.csc_credentials),
                csc_timeout=s.csc_timeout,
            )
        )

    @cached_property
    def fonts(self) -> Fonts:
        """The fonts every printed page embeds: forms, receipts, reports and the stamp."""
        return Fonts(self.settings.font_dir)

    @cached_property
    def document_signer(self) -> DocumentSigner:
        from signing.sign import DocumentSigner, make_timestamper
        from signing.stamp import ensure_stamp_font

        s = self.settings
        level = s.pades_level
        tsa_url = s.tsa_url or None  # compose passes an unset one as ""
        own_tsa = s.signer == "pkcs12" and development_pki_allowed(s)
        if tsa_url is None and level != "B-B" and own_tsa:
            tsa_url = f"{s.resolved_pki_url}/tsa"  # the development PKI's own TSA
        if level != "B-B" and tsa_url is None:
            raise ConfigurationError(
                f"SOHOA_PADES_LEVEL={level} needs a timestamp authority: set SOHOA_TSA_URL "
                "(or SOHOA_PADES_LEVEL=B-B)"
            )
        return DocumentSigner(
            font_path=ensure_stamp_font(s.cache_dir, self.fonts),
            timestamper=make_timestamper(tsa_url),
            tz=s.timezone,
            level=level,
            validation_context=self.signing_validation_context,
        )

    def signing_validation_context(self) -> ValidationContext:
        """A context for B-LT/B-LTA signing: our trust roots, revocation fetched online and
        required (a signer whose status cannot be established is not signed for)."""
        from pyhanko_certvalidator import ValidationContext
        from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

        return ValidationContext(
            trust_roots=self.trust_roots,
            other_certs=self.other_certs,
            allow_fetching=True,
            revocation_mode="hard-fail",
            # Not aiohttp's: a session (and TLS context) per document costs more than the OCSP.
            fetcher_backend=RequestsFetcherBackend(),
        )

    @cached_property
    def dev_authority(self) -> DevAuthority | None:
        """The development PKI's OCSP responder, CRL and TSA, where that PKI signs here."""
        from signing.authority import DevAuthority
        from signing.pki import DevPki

        s = self.settings
        if s.signer != "pkcs12" or not development_pki_allowed(s):
            return None
        ensure_dev_pki(s)
        if not (s.resolved_pki_dir / "pki.json").exists():
            return None  # an operator's own PKCS#12 files: no authority of ours
        pki = DevPki(s.resolved_pki_dir, s.unit_name, s.unit_code, base_url=s.resolved_pki_url)
        return DevAuthority(pki, s.pkcs12_password.get_secret_value())

    @cached_property
    def trust_roots(self) -> list[Any]:
        """Roots a verifier trusts: configured PEM files, else the development PKI's root."""
        from signing.verify import load_certificates

        s = self.settings
        paths = list(s.trust_roots)
        if not paths and development_pki_allowed(s):
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

    @property
    def development_pki(self) -> bool:
        """Signing with, or trusting, the development PKI (what ``/readyz`` reports)."""
        return development_pki_in_use(self.settings)

    def enroll_clerk(self, clerk_id: str, name: str) -> bool:
        """Give a new clerk a development certificate where that PKI is in use."""
        return enroll_dev_clerk(self.settings, clerk_id, name)

    @cached_property
    def dossiers(self) -> DossierService:
        from dossiers.workflow.codes import make_generator
        from dossiers.workflow.service import DossierService

        return DossierService(
            self.sessions,
            self.store,
            codes=make_generator(self.settings.dossier_code_format),
            clock=lambda: self.clock(),
            form_signer=self.sign_form if self.settings.sign_forms else None,
            system_name=self.settings.system_name,
            fonts=self.fonts,
            status_lookup=self.status_lookup,
        )

    @cached_property
    def status_lookup(self) -> StatusLookup:
        """The citizen's lookup secrets (keyed by the URL secret) and where to use them."""
        from dossiers.workflow.lookup import StatusLookup

        return StatusLookup(self.url_secret, self.settings.public_url)

    @cached_property
    def cashier(self) -> Cashier:
        from dossiers.fees.cashier import Cashier

        return Cashier(self.dossiers)

    @cached_property
    def returns(self) -> Returns:
        from dossiers.results.returns import Returns

        return Returns(self.dossiers)

    def sign_form(self, src: Path, dst: Path, unit_name: str) -> Any:
        """Forms carry the unit's organization signature at the top right of page 1."""
        from dossiers.paperwork.forms import sign_form

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
        from connect.notify.deadlines import alert_deadlines
        from connect.notify.tasks import install_deadline_alerts
        from connect.tasks import install_outbox
        from dossiers.records.tasks import install_periodic
        from ingest.tasks import create_celery
        from wiring.archive import periodic_jobs

        # A forked pool child must not share the parent's database connections.
        app = create_celery(
            queue_config(self.settings),
            self,
            after_fork=lambda: self.engine.dispose(close=False),
        )
        install_periodic(app, periodic_jobs(self))  # archive renewal and fixity, on beat
        install_outbox(
            app,
            lambda: self.dispatcher.run(budget_seconds=self.settings.outbox_run_seconds),
            every=self.settings.outbox_interval,
        )
        install_deadline_alerts(
            app,
            lambda: alert_deadlines(
                self.sessions, now=self.clock(), hours=self.settings.deadline_alert_hours
            ),
            every=self.settings.deadline_alert_interval,
        )
        return app

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """The outbox's dispatcher over this installation's subscribers."""
        from wiring.connect import make_dispatcher

        return make_dispatcher(self)


def pipeline_config(settings: Settings) -> PipelineConfig:
    from ingest.limits import Limits
    from ingest.ports import PipelineConfig

    s = settings
    return PipelineConfig(
        work_dir=s.work_dir,
        work_min_free_mb=s.work_min_free_mb,
        limits=Limits(
            s.max_upload_bytes,
            s.max_pages,
            s.max_page_pixels,
            s.max_total_pixels,
            max_page_area_in2=s.max_page_area_in2,
            max_document_pixels=s.max_document_pixels,
            max_stream_bytes=s.max_stream_bytes,
            max_inflated_bytes=s.max_inflated_bytes,
            max_inflation_ratio=s.max_inflation_ratio,
        ),
        default_clerk=s.default_clerk,
        max_attempts=s.max_attempts,
        lease_seconds=s.lease_seconds,
        heartbeat_seconds=s.heartbeat_seconds,
        requeue_grace=s.requeue_grace,
        quarantine_refused=s.quarantine_refused,
        quarantine_max_bytes=s.quarantine_max_bytes,
        quarantine_days=s.quarantine_days,
        retention_days=s.retention_days,
        retention_mode=s.retention_mode,
        ocr_languages=s.ocr_languages,
        signing_location=s.signing_location,
    )


def queue_config(settings: Settings) -> QueueConfig:
    from ingest.tasks import QueueConfig

    s = settings
    return QueueConfig(
        broker_url=s.resolved_broker_url,
        broker_dir=s.broker_dir,
        poll_interval=s.broker_poll_interval,
        visibility_timeout=s.visibility_timeout,
        ocr_soft_time_limit=s.ocr_soft_time_limit,
        ocr_time_limit=s.ocr_time_limit,
        sign_soft_time_limit=s.sign_soft_time_limit,
        sign_time_limit=s.sign_time_limit,
        max_retries=s.max_attempts,
    )


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
        base_url=settings.resolved_pki_url,
    )
    return True


def embedded(settings: Settings) -> bool:
    """No database, object store or broker server configured: one machine, trying it out."""
    database = settings.database_url
    broker = settings.broker_url
    return (
        (not database or database.startswith("sqlite"))
        and settings.store == "local"
        and (not broker or broker.startswith(("filesystem", "memory")))
    )


def development_pki_allowed(settings: Settings) -> bool:
    """The development PKI may be created and trusted: named, or the embedded default."""
    return settings.pki == "development" or embedded(settings)


def development_pki_in_use(settings: Settings) -> bool:
    """Signing with, or trusting, the development PKI (what ``/readyz`` reports)."""
    if not development_pki_allowed(settings):
        return False  # check_signing_setup refused to start otherwise
    if settings.signer == "pkcs12":
        pki_dir = settings.resolved_pki_dir
        if (pki_dir / "pki.json").exists() or not (pki_dir / "unit.p12").exists():
            return True
    return not settings.trust_roots


def check_signing_setup(settings: Settings) -> None:
    """Refuse to start a production-like install on the development PKI.

    A PostgreSQL database, an S3 store or a broker server means this is meant to be used, and
    the development PKI would sign every document with a CA nobody trusts without anyone
    noticing. Such an install needs real certificates and trust roots, or says
    ``SOHOA_PKI=development`` by name.
    """
    from signing.verify import is_development_name, load_certificates

    if settings.signer == "csc":
        # Keys at a remote-signing provider: its CA root is what signing (B-LT and up) and
        # verification trust, and no development PKI stands in for it, embedded or not.
        needed = {
            "SOHOA_CSC_URL": settings.csc_url,
            "SOHOA_CSC_ACCESS_TOKEN": settings.csc_access_token.get_secret_value(),
            "SOHOA_TRUST_ROOTS (PEM of the signing provider's CA root)": settings.trust_roots,
        }
        absent = [name for name, value in needed.items() if not value]
        if absent:
            raise ConfigurationError(f"SOHOA_SIGNER=csc (remote signing) needs {', '.join(absent)}")
    if development_pki_allowed(settings):
        return
    missing: list[str] = []
    if not settings.trust_roots:
        missing.append("SOHOA_TRUST_ROOTS (PEM files of the licensed CAs' roots)")
    else:
        for path in settings.trust_roots:
            try:
                certs = load_certificates(Path(path))
            except Exception as exc:
                missing.append(f"SOHOA_TRUST_ROOTS ({exc})")
                break
            if any(is_development_name(c.subject) for c in certs):
                missing.append("SOHOA_TRUST_ROOTS (it names the development root)")
                break
    if settings.pades_level != "B-B" and not settings.tsa_url:
        missing.append(
            f"SOHOA_TSA_URL (a licensed timestamp authority: SOHOA_PADES_LEVEL is "
            f"{settings.pades_level})"
        )
    if settings.signer == "pkcs12":
        pki_dir = settings.resolved_pki_dir
        if (pki_dir / "pki.json").exists():
            missing.append("SOHOA_PKI_DIR (it holds the development PKI)")
        elif not (pki_dir / "unit.p12").exists():
            missing.append(
                "SOHOA_PKI_DIR (unit.p12 and clerks/<clerk id>.p12 from a licensed CA), "
                "or SOHOA_SIGNER=pkcs11"
            )
    if missing:
        raise ConfigurationError(
            "Chưa cấu hình chứng thư số thật (no real signing certificates): this install uses "
            "a database, store or broker server, so it will not sign with the development PKI. "
            f"Set {'; '.join(missing)}. To try it out anyway, set SOHOA_PKI=development "
            "(every signature is then marked as development-only)."
        )


def ensure_dev_pki(settings: Settings) -> None:
    """Create the development PKI on first start; it is marked as not for production.

    Also when the address of its online services (``pki_url``) changed, which re-issues its
    end-entity certificates. Never outside :func:`development_pki_allowed`: in production a
    missing certificate is an error to fix, not a reason to make a fake one; nor over an
    operator's own PKCS#12 files (a ``unit.p12`` without ``pki.json``).
    """
    from signing.pki import holds_operator_pkcs12, init_dev_pki

    if not development_pki_allowed(settings):
        return
    pki_dir = settings.resolved_pki_dir
    meta = pki_dir / "pki.json"
    if not meta.exists():
        if holds_operator_pkcs12(pki_dir):
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
        base_url=settings.resolved_pki_url,
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
    return LocalObjectStore(
        settings.resolved_store_path,
        url_secret=url_secret(settings),
        base_url=f"{settings.public_url.rstrip('/')}/api/v1/objects",
    )


URL_SECRET_FILE = "url-secret"  # noqa: S105 - a file name, not a secret


def url_secret(settings: Settings) -> bytes:
    """``SOHOA_URL_SECRET``, else a random per-installation secret kept in the data dir.

    It keys presigned URLs of the local store and OAI resumption tokens, so every process on
    the same data dir must agree on it and nobody may guess it: it is made once (32 random
    bytes, mode 0600) and published with a hard link, so two processes starting together
    cannot each keep a different one, and a reader never sees a half-written file.
    """
    configured = settings.url_secret.get_secret_value()
    if configured:
        return configured.encode()
    import os
    import secrets
    import tempfile

    path = settings.data_dir / URL_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".url-secret-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            os.unlink(tmp)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigurationError(
            f"{URL_SECRET_FILE} in the data dir is damaged: delete it or set SOHOA_URL_SECRET"
        )
    return secret.encode()


def build(settings: Settings | None = None, *, migrate: bool = True) -> Services:
    from wiring.connect import check_connect_setup

    settings = settings or Settings()
    check_signing_setup(settings)
    check_connect_setup(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if migrate:
        db.upgrade(url)
    engine = db.make_engine(url)
    return Services(settings, engine, db.make_sessionmaker(engine), make_store(settings))
