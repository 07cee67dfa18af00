"""The audit log for auditors: thin calls into :mod:`dossiers.audit`.

Reading it is limited to auditors (their province's dossiers) and administrators, inside
``dossiers.audit``; these endpoints only parse the query and shape the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Caller, Svc
from api.params import INT64_MAX, Moment
from dossiers import audit
from dossiers.audit import AuditEventView, ChainReport
from storage.db import session_scope

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[AuditEventView]
    next_after_seq: int | None = Field(
        description="Pass as ``after_seq`` for the next page; null on the last page."
    )


@router.get("/events")
def events(
    who: Caller,
    svc: Svc,
    dossier: str | None = Query(default=None, max_length=64, description="dossier id or code"),
    actor_id: str | None = Query(default=None, max_length=64),
    since: Annotated[Moment | None, Query(description="inclusive, with a time zone")] = None,
    until: Annotated[Moment | None, Query(description="exclusive, with a time zone")] = None,
    after_seq: int | None = Query(
        default=None, ge=0, le=INT64_MAX, description="seq cursor from the last page"
    ),
    limit: int = Query(default=100, ge=1, le=audit.MAX_LIMIT),
) -> AuditEventPage:
    """Audit events in seq order; pass ``next_after_seq`` back as ``after_seq`` for more."""
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        # A code is resolved within the caller's scope: outside it the dossier is a 404.
        dossier_id = svc.dossiers.find(session, who, dossier).id if dossier else None
        rows = audit.list_events(
            session,
            who,
            dossier_id=dossier_id,
            actor_id=actor_id,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
        items = [r.view() for r in rows]
    return AuditEventPage(
        items=items, next_after_seq=items[-1].seq if len(items) == limit else None
    )


@router.get("/verify")
def verify(who: Caller, svc: Svc) -> ChainReport:
    """Re-hash the whole chain and report the first broken link; keep ``head_hash`` elsewhere."""
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        return audit.verify_chain(session)
