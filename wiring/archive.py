"""Archive renewal and fixity, built from the services: what the CLI runs and beat schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyhanko.sign.timestamps import TimeStamper
    from sqlalchemy.orm import Session, sessionmaker

    from core.settings import Settings
    from dossiers.records.renewal import RenewalDeps, RenewalReport
    from dossiers.records.tasks import PeriodicJobs
    from storage.objects import ObjectStore


class _Signer(Protocol):
    timestamper: TimeStamper | None


class Services(Protocol):
    """What renewal needs of :class:`wiring.factory.Services` (which builds these jobs)."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore

    @property
    def document_signer(self) -> _Signer: ...

    @property
    def trust_roots(self) -> list[Any]: ...

    @property
    def other_certs(self) -> list[Any]: ...


def renewal_deps(services: Services) -> RenewalDeps:
    """Renewal over the installation's store, its TSA and its trust roots.

    The validation context may fetch CRLs and OCSP responses: what it gathers for the newest
    timestamp's chain is what goes into the DSS, so a verifier needs no network years later.
    """
    from pyhanko_certvalidator import ValidationContext

    from core.errors import ConfigurationError
    from dossiers.records.renewal import RenewalDeps

    s = services.settings
    # The TSA the signatures use (SOHOA_TSA_URL, or the development PKI's own).
    timestamper = services.document_signer.timestamper
    if timestamper is None:
        raise ConfigurationError("archive renewal needs a timestamp authority: set SOHOA_TSA_URL")

    def validation_context() -> ValidationContext:
        return ValidationContext(
            trust_roots=list(services.trust_roots),
            other_certs=list(services.other_certs),
            allow_fetching=True,
        )

    return RenewalDeps(
        sessions=services.sessions,
        store=services.store,
        timestamper=timestamper,
        validation_context=validation_context,
        work_dir=s.work_dir / "archive",
    )


def renew(
    services: Services, *, margin_days: int | None = None, dry_run: bool = False
) -> RenewalReport:
    """One renewal run with the configured margin, batch and lease."""
    from dossiers.records.renewal import renew_due

    s = services.settings
    return renew_due(
        renewal_deps(services),
        margin=timedelta(days=s.archive_margin_days if margin_days is None else margin_days),
        limit=s.archive_batch,
        lease=timedelta(seconds=s.archive_lease_seconds),
        dry_run=dry_run,
    )


def periodic_jobs(services: Services) -> PeriodicJobs:
    """The beat-scheduled jobs; built lazily, so a worker without a TSA still starts."""
    from dossiers.records.fixity import scheduled_check
    from dossiers.records.tasks import PeriodicJobs

    s = services.settings
    return PeriodicJobs(
        renew=lambda: renew(services),
        fixity=lambda: scheduled_check(services.sessions, services.store),
        renew_every=s.archive_renew_interval,
        fixity_every=s.fixity_interval,
    )
