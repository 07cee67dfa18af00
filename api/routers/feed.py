"""The JSON change feed of the data repository: ``GET /api/v1/feed?after=<cursor>``.

The cursor is the last ``seq`` delivered; ``next`` never goes back, so a consumer stores it and
polls with it. Visibility is OAI-PMH's (:func:`dossiers.records.harvest.visible`): a harvester reads
its province, or what the operator granted it.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.deps import Caller, Svc
from api.routers.oai import harvest_config
from dossiers.records import harvest
from dossiers.records.harvest import FeedPage
from storage.db import session_scope

router = APIRouter(tags=["harvest"])


@router.get("/feed")
def feed(
    request: Request,
    who: Caller,
    svc: Svc,
    after: int = Query(default=0, ge=0, lt=harvest.MAX_SEQ, description="the last `next` seen"),
    limit: int = Query(default=harvest.FEED_LIMIT, ge=1, le=harvest.FEED_MAX),
) -> FeedPage:
    """Records changed after ``after``, oldest change first; deleted ones say only so."""
    grants = harvest_config(request).grants
    with session_scope(svc.sessions) as session:
        return harvest.feed(session, who, after=after, limit=limit, grants=grants)
