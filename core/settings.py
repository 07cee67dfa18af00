"""One settings object for the whole service.

Every default works on a single machine with nothing else installed (the embedded default):
SQLite, a local directory as object store, a filesystem Celery broker and a development PKI,
all under ``SOHOA_DATA_DIR``. Production points the same code at PostgreSQL, Redis and S3
through environment variables with the ``SOHOA_`` prefix.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Calls one outbox delivery may still make after its uploads stop (an upload in flight, the
# token, NoiHoSo, a progress step, a status): the lease must outlast them at their timeout.
LEASE_CALLS = 5


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
    signer: Literal["pkcs12", "pkcs11", "csc"] = "pkcs12"
    pki_dir: Path | None = None
    pkcs12_password: SecretStr = SecretStr("sohoa-dev-only")
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "sohoa"  # noqa: S105 - a token label, not a secret
    pkcs11_pin: SecretStr = SecretStr("")
    prefer_pss: bool = False
    # signer="csc": the clerks' keys stay at a remote-signing provider (Cloud Signature
    # Consortium API v1); ``csc_url`` is the part before /csc/v1. A clerk id maps to a
    # credential id through ``csc_credentials`` ({"unit": "org-seal"}), else the template.
    # The provider's CA root belongs in ``trust_roots``.
    csc_url: str | None = None
    csc_access_token: SecretStr = SecretStr("")
    csc_credential_template: str = "{clerk_id}"
    csc_credentials: dict[str, str] = Field(default_factory=dict)
    csc_timeout: float = Field(30.0, gt=0)
    # PAdES level of every signature. B-T and above need a TSA: ``tsa_url``, or on the
    # development PKI its own (``pki_url``/tsa). B-LT and above fetch OCSP/CRL while signing.
    pades_level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = "B-LTA"
    tsa_url: str | None = None
    # Where the development PKI's OCSP responder, CRL and TSA answer, written into its
    # certificates: ``public_url``/pki (``sohoa run`` serves it) unless set (compose: the
    # ``pki`` service). Changing it re-issues the development end-entity certificates.
    pki_url: str | None = None
    pki_rate_limit: int = Field(6000, ge=0)
    # Verification: revocation is read from the file's DSS first, fetched online when allowed;
    # "hard-fail" rejects a signature whose revocation status cannot be established.
    verify_online: bool = True
    verify_revocation: Literal["soft-fail", "hard-fail"] = "soft-fail"
    # PEM file(s) of the roots a verifier trusts; the development PKI's root when unset.
    trust_roots: list[Path] = Field(default_factory=list)
    default_clerk: str = "clerk1"
    unit_name: str = "Bộ phận Một cửa (phát triển)"
    unit_code: str = "000.00.00.H00"
    signing_location: str = "Việt Nam"
    timezone: str = "Asia/Ho_Chi_Minh"
    # Archive renewal (B-LTA): a document whose newest timestamp's TSA certificate expires within
    # ``archive_margin_days`` gets a new document timestamp from ``tsa_url``; Celery beat runs
    # it every ``archive_renew_interval`` seconds, at most ``archive_batch`` documents a run,
    # each held by its worker for ``archive_lease_seconds``.
    archive_margin_days: int = Field(180, ge=1)
    archive_renew_interval: float = Field(86_400.0, gt=0)
    archive_batch: int = Field(500, ge=1)
    archive_lease_seconds: float = Field(900.0, gt=0)
    # Fixity: every stored object re-hashed against its recorded SHA-256 this often (beat).
    fixity_interval: float = Field(86_400.0, gt=0)
    # The outbox (DVCQG sync, notifications, webhooks): beat starts a dispatcher run every
    # ``outbox_interval`` seconds, which delivers for up to ``outbox_run_seconds``; a failed
    # delivery is tried again after ``outbox_base_delay`` seconds, doubling, and becomes a dead
    # letter after ``outbox_max_attempts`` tries. A run sends up to ``outbox_concurrency`` at
    # once (never two of one dossier for one subscriber).
    outbox_interval: float = Field(2.0, gt=0, le=3600)
    outbox_run_seconds: float = Field(30.0, gt=0, le=3600)
    outbox_base_delay: float = Field(10.0, gt=0, le=86_400)
    outbox_max_attempts: int = Field(12, ge=1, le=100)
    outbox_concurrency: int = Field(8, ge=1, le=64)  # deliveries in flight per dispatcher run
    # How long a dispatcher holds a delivery it is sending; another takes it over after that.
    # The portal's uploads stop in time for the rest of its calls (see wiring.connect).
    outbox_lease_seconds: float = Field(300.0, ge=30, le=3600)
    # The national portal / provincial one-stop sync (connect/dvcqg), off while ``dvcqg_url``
    # is unset. ``dvcqg_grant``: "password" sends username and password for the token,
    # "client_credentials" sends them as client id and secret. ``dvcqg_timeout``: seconds per
    # HTTP call (a delivery makes a few; the dispatcher's lease is 120 s). With
    # ``dvcqg_use_portal_codes`` the portal issues each MaHoSo (GetNextValue) instead of our
    # TT 01/2018 code. ``dvcqg_builder``: province code -> payload builder name
    # (connect.dvcqg.payload.BUILDERS, JSON: {"H98": "dvc-bo"}); other provinces get "default".
    dvcqg_url: str | None = None
    dvcqg_username: str = ""
    dvcqg_password: SecretStr = SecretStr("")
    dvcqg_grant: Literal["password", "client_credentials"] = "password"
    dvcqg_timeout: float = Field(20.0, gt=0, le=110)
    dvcqg_use_portal_codes: bool = False
    dvcqg_builder: dict[str, str] = Field(default_factory=dict)
    # Citizen notifications and staff deadline alerts (connect/notify), each channel off until
    # its address is set: e-mail needs ``smtp_host`` and ``smtp_from`` (``smtp_ssl``: TLS from
    # the start, port 465; else ``smtp_starttls`` upgrades), SMS ``sms_url``, Zalo ``zalo_url``
    # (JSON POSTs to the provider with the token as a bearer). Beat looks every
    # ``deadline_alert_interval`` seconds for open dossiers due within ``deadline_alert_hours``.
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from: str = ""
    # PEM file of the CA that signed the relay's certificate, when it is not a public one (a
    # province's own relay); unset: the system's trust store.
    smtp_ca_file: Path | None = None
    sms_url: str = ""
    sms_token: SecretStr = SecretStr("")
    zalo_url: str = ""
    zalo_token: SecretStr = SecretStr("")
    # The OA's registered ZNS templates: event kind -> template id, e.g.
    # {"dossier.receive": "231456"}; their parameters are in connect/notify/templates.py.
    zalo_templates: dict[str, str] = Field(default_factory=dict)
    notify_timeout: float = Field(20.0, gt=0, le=100)  # below the dispatcher's lease
    deadline_alert_hours: int = Field(24, ge=1, le=24 * 30)
    deadline_alert_interval: float = Field(900.0, gt=0, le=86_400)

    # OCR.
    ocr_languages: str = "vie"
    ocr_jobs: int = 2
    ocr_rotate_pages: bool = True
    ocr_deskew: bool = True
    # Plain scan pages go to Tesseract directly (ocr/reader.py); False sends every file through
    # OCRmyPDF, as before (the benchmark's "before", and a way back if a site needs it).
    ocr_direct: bool = True
    # Tesseracts at once on this machine, across every worker process (0: one per core). The
    # slots are lock files in ocr_slots_dir (default: <data dir>/ocr-slots, which every worker
    # container of one host shares in compose); it must be on a local disk, not shared between
    # machines.
    ocr_slots: int = Field(0, ge=0)
    ocr_slots_dir: Path | None = None

    # Upload limits: what a counter can reasonably scan, and no more.
    max_upload_bytes: int = 200 * 1024 * 1024
    max_pages: int = 500
    max_page_pixels: int = 120_000_000
    max_total_pixels: int = 2_000_000_000

    # PDF budgets, checked at upload and again in the worker before any render
    # (ingest/budget.py); memory of each OCR child process (Tesseract), so a file that slips
    # through fails its scan, not the worker. A0 is 1,550 in²; 500 A4 pages at 300 dpi 4.4 G px.
    max_page_area_in2: float = Field(1_300.0, gt=0)
    max_document_pixels: int = Field(5_000_000_000, gt=0)
    max_stream_bytes: int = Field(256 * 2**20, gt=0)
    max_inflated_bytes: int = Field(4 * 2**30, gt=0)
    max_inflation_ratio: float = Field(100.0, gt=1)
    ocr_child_memory_mb: int = Field(2048, ge=0)  # 0: no limit

    # The upload door and refusals. Non-file form fields share one budget
    # (bytes and count); each part's headers are bounded; the whole body may be at most the
    # file cap + the fields budget + framing slack, chunked or not. A refused upload's bytes
    # are kept only when ``quarantine_refused`` says so: once per content (sha256), up to
    # ``quarantine_max_bytes`` each, for ``quarantine_days``; its scan id then answers 410.
    upload_fields_max_bytes: int = Field(64 * 1024, ge=0)
    upload_fields_max_count: int = Field(32, ge=0)
    upload_part_header_max_bytes: int = Field(8 * 1024, ge=256)
    quarantine_refused: bool = False
    quarantine_max_bytes: int = Field(25 * 1024 * 1024, ge=0)
    quarantine_days: int = Field(30, ge=1)

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
    # Noto Sans regular and bold (fonts-noto-core) for forms, receipts, reports and stamps.
    font_dir: Path = Path("/usr/share/fonts/truetype/noto")
    # Dossiers per staff member per year by area type; figures attributed to QĐ 468 but
    # unverified, hence settings.
    staff_norm_urban: int = 1600
    staff_norm_rural: int = 1200
    staff_norm_remote: int = 800
    queue_wait_target_minutes: int = 15
    due_soon_working_days: int = 1

    # Catalog imports. The body is refused past ``catalog_max_bytes`` while
    # it is read; nesting and node count are checked before the catalog is validated.
    catalog_max_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    catalog_max_depth: int = Field(32, ge=4, le=1000)
    catalog_max_nodes: int = Field(500_000, ge=100)

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

    # Rate limits and the client's address. A client that presents
    # ``auth_failure_limit`` bad tokens within ``auth_failure_window`` seconds gets 429 for every
    # authenticated call, a good token included, until the window ends; the public endpoints
    # (result links, presigned objects) allow ``public_rate_limit`` calls per window. 0 turns a
    # limit off. "auto" shares the counts through Redis when the broker (or
    # ``rate_limit_redis_url``) is Redis, else keeps them in the process. The client is the TCP
    # peer unless that peer is one of ``trusted_proxies`` (addresses or CIDR networks), whose
    # X-Forwarded-For is then read from the right.
    rate_limit_backend: Literal["auto", "memory", "redis"] = "auto"
    rate_limit_redis_url: str | None = None
    auth_failure_limit: int = Field(10, ge=0)
    auth_failure_window: int = Field(300, ge=1)
    public_rate_limit: int = Field(60, ge=0)
    public_rate_window: int = Field(60, ge=1)
    trusted_proxies: list[str] = Field(default_factory=list)
    # The web page's sessions: signed out after ``web_idle_minutes`` without a request (a
    # counter PC left unattended), and after ``web_session_hours`` whatever happens.
    web_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    web_session_hours: int = Field(12, ge=1, le=7 * 24)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the bad one
        return value

    # Harvest scope and the development PKI. A harvester sees its unit's
    # province; ``harvest_grants`` widens that per staff id to more province codes, or "*" for
    # all (JSON: {"dvcqg": ["*"]}). Outside the embedded default (PostgreSQL, S3 or a broker
    # server) the service will not start on the development PKI unless SOHOA_PKI=development.
    harvest_grants: dict[str, list[str]] = Field(default_factory=dict)
    pki: Literal["auto", "development"] = "auto"

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.ocr_time_limit <= self.ocr_soft_time_limit:
            raise ValueError("SOHOA_OCR_TIME_LIMIT must be above SOHOA_OCR_SOFT_TIME_LIMIT")
        if (
            self.outbox_lease_seconds
            < LEASE_CALLS * max(self.dvcqg_timeout, self.notify_timeout) + 20
        ):
            raise ValueError(
                f"SOHOA_OUTBOX_LEASE_SECONDS must be at least {LEASE_CALLS} times "
                "SOHOA_DVCQG_TIMEOUT (and SOHOA_NOTIFY_TIMEOUT) plus 20 s: a delivery's calls "
                "must end before another dispatcher may take it over"
            )
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
    def resolved_pki_url(self) -> str:
        return (self.pki_url or f"{self.public_url.rstrip('/')}/pki").rstrip("/")

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
