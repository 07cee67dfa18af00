"""The FastAPI application: assembly only. The operations live in :mod:`api.routers`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api.context import AppServices
from api.middleware import RequestIdMiddleware
from api.openapi import install as install_openapi
from api.problems import RequestGuard, install
from api.ratelimit import limiter_for
from api.routers import (
    admin,
    audit,
    catalog,
    documents,
    dossiers,
    feed,
    lookup,
    money,
    oai,
    ops,
    outbox,
    pki,
    problems,
    reports,
    scans,
    signing,
    webhooks,
)


def create_app(services: AppServices) -> FastAPI:
    app = FastAPI(
        title="sohoa",
        version="0.1.0",
        description="Scan in, signed searchable PDF/A out: uploads, status, documents, verification.",
    )
    app.state.services = services
    install(app)
    install_openapi(app)
    app.state.rate_limiter = limiter_for(services.settings)
    # Outermost of ours, so every response and log line of a request carries its id (and the
    # client's address, X-Forwarded-For believed only from a trusted proxy).
    app.add_middleware(RequestGuard)
    app.add_middleware(RequestIdMiddleware, trusted_proxies=services.settings.trusted_proxies)

    app.include_router(ops.router)
    v1 = APIRouter(prefix="/api/v1")
    for module in (
        scans,
        signing,
        documents,
        dossiers,
        catalog,
        admin,
        reports,
        money,
        audit,
        feed,
        outbox,
        webhooks,
    ):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(money.public)
    app.include_router(lookup.router)
    app.include_router(oai.router)
    app.include_router(problems.router)
    # The development PKI's OCSP, CRL and TSA, at the URLs its certificates name (404 elsewhere).
    app.include_router(pki.router)
    return app
