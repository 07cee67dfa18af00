"""The page routers, one module per desk; :data:`ROUTERS` is what ``web.site`` mounts.

``public`` (the citizen's status page) needs no sign-in; every other module's pages depend on
``web.deps.User`` and call the same domain services the API calls.
"""

from __future__ import annotations

from fastapi import APIRouter

from web.pages import (
    admin,
    agency,
    audit,
    auth,
    connections,
    counter,
    dossier,
    money,
    public,
    scans,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    counter.router,
    dossier.router,
    scans.router,
    money.router,
    agency.router,
    audit.router,
    public.router,
    admin.router,
    connections.router,
]
