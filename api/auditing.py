"""Reads of personal data and downloads, written to the audit chain by the API."""

from __future__ import annotations

from typing import Any

from api.context import AppServices
from dossiers.access import Principal
from dossiers.audit import record
from storage.db import session_scope


def audit_access(
    services: AppServices,
    who: Principal,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    dossier_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """One short transaction: audited reads hold the chain's counter row while they write."""
    with session_scope(services.sessions) as session:
        record(
            session,
            actor_id=who.staff_id,
            actor_role=who.role,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            dossier_id=dossier_id,
            data=data or {},
            at=services.clock(),
        )
