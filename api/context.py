"""What the API needs from the composition root, named here so the API does not import it.

``wiring.factory.Services`` provides every member; tests may hand in anything else that does.
The pipeline's members (``ingest.ports.Pipeline``) build their heavy parts, signers and the OCR
engine, only when a worker asks: the API process never loads a private key or Tesseract.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ingest.ports import Pipeline

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from connect.dispatcher import Dispatcher
    from core.settings import Settings
    from dossiers.fees.cashier import Cashier
    from dossiers.results.returns import Returns
    from dossiers.workflow.service import DossierService
    from paper.fonts import Fonts
    from signing.authority import DevAuthority
    from storage.objects import ObjectStore


class AppServices(Pipeline, Protocol):
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    clock: Callable[[], datetime]

    @property
    def url_secret(self) -> bytes: ...

    @property
    def dossiers(self) -> DossierService: ...

    @property
    def cashier(self) -> Cashier: ...

    @property
    def returns(self) -> Returns: ...

    @property
    def fonts(self) -> Fonts:
        """What the auditor's PDF report is printed with."""
        ...

    @property
    def trust_roots(self) -> list[Any]: ...

    @property
    def other_certs(self) -> list[Any]: ...

    @property
    def celery(self) -> Celery:
        """Asked only for the broker's health and the queues' depths."""
        ...

    @property
    def dev_authority(self) -> DevAuthority | None:
        """The development PKI's online services, served under ``/pki``; ``None`` elsewhere."""
        ...

    @property
    def development_pki(self) -> bool:
        """Signing with, or trusting, the development PKI (what ``/readyz`` reports)."""
        ...

    def enroll_clerk(self, clerk_id: str, name: str) -> bool:
        """Give a new clerk a development certificate where that PKI is in use."""
        ...

    @property
    def dispatcher(self) -> Dispatcher:
        """The outbox's dispatcher: its metrics, delivery logs and replays (never a send)."""
        ...
