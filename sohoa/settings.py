"""One settings object for the whole service.

Every default works on a single machine with nothing else installed (the embedded default):
SQLite, a local directory as object store, a filesystem Celery broker and a development PKI,
all under ``SOHOA_DATA_DIR``. Production points the same code at PostgreSQL, Redis and S3
through environment variables with the ``SOHOA_`` prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOHOA_", env_file=None, extra="ignore")

    data_dir: Path = Path("./data")
    # Logs on stderr: "json" (one object per line, with request/task ids) for log shippers.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    # Database: SQLite file under data_dir unless a URL is given
    # (e.g. postgresql+psycopg://user@127.0.0.1:5432/sohoa).
    database_url: str | None = None

    # Broker: a serverless filesystem transport under data_dir unless a URL is given
    # (e.g. redis://127.0.0.1:6379/0).
    broker_url: str | None = None
    broker_poll_interval: float = 0.1

    # Object store.
    store: Literal["local", "s3"] = "local"
    store_path: Path | None = None
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "sohoa"
    s3_secure: bool = False
    s3_region: str | None = None
    s3_object_lock: bool = False

    # Signing. The development PKI is created on first start under pki_dir.
    signer: Literal["pkcs12", "pkcs11"] = "pkcs12"
    pki_dir: Path | None = None
    pkcs12_password: SecretStr = SecretStr("sohoa-dev-only")
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "sohoa"  # noqa: S105 - a token label, not a secret
    pkcs11_pin: SecretStr = SecretStr("")
    prefer_pss: bool = False
    tsa_url: str | None = None
    # PEM file(s) of the roots a verifier trusts; the development PKI's root when unset.
    trust_roots: list[Path] = Field(default_factory=list)
    default_clerk: str = "clerk1"
    unit_name: str = "Bộ phận Một cửa (phát triển)"
    unit_code: str = "000.00.00.H00"
    signing_location: str = "Việt Nam"
    timezone: str = "Asia/Ho_Chi_Minh"

    # OCR.
    ocr_languages: str = "vie"
    ocr_jobs: int = 2
    ocr_rotate_pages: bool = True
    ocr_deskew: bool = True

    # Upload limits: what a counter can reasonably scan, and no more.
    max_upload_bytes: int = 200 * 1024 * 1024
    max_pages: int = 500
    max_page_pixels: int = 120_000_000
    max_total_pixels: int = 2_000_000_000

    # Scratch space for uploads being spooled and steps being run (data_dir/work by default);
    # a step does not start with less than ``work_min_free_mb`` free there.
    work_path: Path | None = None
    work_min_free_mb: int = 64

    # Task behaviour (seconds). The broker's visibility timeout must exceed the hard limit,
    # or Redis redelivers a task that is still running.
    ocr_soft_time_limit: int = 1800
    ocr_time_limit: int = 1860
    sign_soft_time_limit: int = 120
    sign_time_limit: int = 180
    max_attempts: int = 3
    # A running step renews its lease every heartbeat; the sweeper re-enqueues a step whose
    # lease ran out (worker killed, message lost) or that was accepted but never started.
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    sweep_interval: float = 15.0
    requeue_grace: float = 30.0

    # WORM: signed documents are kept under object-lock retention for this many days where the
    # store supports it (an S3 bucket with object lock); 0 switches it off. COMPLIANCE in
    # production (nobody can shorten it), GOVERNANCE in development.
    retention_days: int = 0
    retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"

    # The counter. Code format of new dossiers ("tt01-2018": <unit>-<YYMMDD>-<NNNN>).
    dossier_code_format: str = "tt01-2018"
    sign_forms: bool = True
    system_name: str = "sohoa"
    # Dossiers per staff member per year by area type; figures attributed to QĐ 468 but
    # unverified, hence settings.
    staff_norm_urban: int = 1600
    staff_norm_rural: int = 1200
    staff_norm_remote: int = 800
    queue_wait_target_minutes: int = 15
    due_soon_working_days: int = 1

    # Harvesting (OAI-PMH at /oai).
    oai_page_size: int = Field(100, ge=1, le=1000)
    oai_admin_email: str = "admin@localhost"
    oai_repository_name: str = "sohoa – kho dữ liệu số hóa"

    # API.
    api_token: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Bearer token Prometheus presents at /metrics (an admin's token works too).
    metrics_token: SecretStr | None = None
    url_secret: SecretStr = Field(default=SecretStr(""))

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.ocr_time_limit <= self.ocr_soft_time_limit:
            raise ValueError("SOHOA_OCR_TIME_LIMIT must be above SOHOA_OCR_SOFT_TIME_LIMIT")
        if self.lease_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("SOHOA_LEASE_SECONDS must be more than twice SOHOA_HEARTBEAT_SECONDS")
        return self

    # Derived locations, all under data_dir unless overridden.
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sohoa.db').resolve()}"

    @property
    def broker_dir(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def resolved_store_path(self) -> Path:
        return (self.store_path or self.data_dir / "objects").resolve()

    @property
    def resolved_pki_dir(self) -> Path:
        return (self.pki_dir or self.data_dir / "pki").resolve()

    @property
    def work_dir(self) -> Path:
        return (self.work_path or self.data_dir / "work").resolve()

    @property
    def cache_dir(self) -> Path:
        return (self.data_dir / "cache").resolve()

    @property
    def visibility_timeout(self) -> int:
        return max(self.ocr_time_limit, self.sign_time_limit) + 300
