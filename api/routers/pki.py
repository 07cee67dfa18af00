"""The development PKI's online services over HTTP: OCSP, CRL, timestamps and the CA certificates.

Served under ``/pki`` where the service signs with the development PKI (``sohoa run``; 404
elsewhere), and alone by ``sohoa pki serve`` (compose's ``pki`` service). The URLs are the ones the
development certificates name, so any verifier (pyHanko, Acrobat, EU DSS) can check
revocation online. Anyone may call them, as a real CA's responder; a per-client limit keeps
one caller from starving the signing workers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from api.deps import client_ip, rate_limiter, services, too_many
from api.problems import ApiProblem
from signing.authority import DevAuthority

router = APIRouter(prefix="/pki", tags=["development PKI"], include_in_schema=True)

_MAX_BODY = 16 * 1024


def authority(request: Request) -> DevAuthority:
    found = services(request).dev_authority
    if found is None:
        raise ApiProblem(404, "not_found", "No development PKI is served here.")
    return found


def limit_pki(request: Request) -> None:
    """Per-client limit, generous: a signing worker asks twice per document."""
    settings = services(request).settings
    if not settings.pki_rate_limit:
        return
    verdict = rate_limiter(request).hit(
        f"pki:{client_ip(request)}", limit=settings.pki_rate_limit, window=60
    )
    if not verdict.allowed:
        raise too_many(verdict)


Authority = Annotated[DevAuthority, Depends(authority)]


def _binary(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for a route answering DER or PEM bytes of one media type."""
    schema = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": what, "content": {media_type: schema}}}


def _body(media_type: str) -> dict[str, Any]:
    schema = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": {media_type: schema}}}


async def _read(request: Request, media_type: str) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip() != media_type:
        raise ApiProblem(415, "unsupported_media_type", f"Send {media_type}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise ApiProblem(413, "request_too_large", "Too large for a PKI request.")
    return bytes(body)


@router.post(
    "/tsa",
    dependencies=[Depends(limit_pki)],
    summary="RFC 3161 timestamp",
    response_class=Response,
    responses=_binary("application/timestamp-reply", "A TimeStampResp (granted or refused)."),
    openapi_extra=_body("application/timestamp-query"),
)
async def timestamp(request: Request, ca: Authority) -> Response:
    query = await _read(request, "application/timestamp-query")
    return Response(ca.timestamp(query), media_type="application/timestamp-reply")


@router.post(
    "/ocsp",
    dependencies=[Depends(limit_pki)],
    summary="OCSP responder (RFC 6960)",
    response_class=Response,
    responses=_binary("application/ocsp-response", "An OCSPResponse (or its refusal)."),
    openapi_extra=_body("application/ocsp-request"),
)
async def ocsp(request: Request, ca: Authority) -> Response:
    query = await _read(request, "application/ocsp-request")
    return Response(ca.ocsp(query), media_type="application/ocsp-response")


@router.get(
    "/crl",
    dependencies=[Depends(limit_pki)],
    summary="The issuing CA's CRL",
    response_class=Response,
    responses=_binary("application/pkix-crl", "The CRL, DER."),
)
def crl(ca: Authority) -> Response:
    return Response(
        ca.crl(), media_type="application/pkix-crl", headers={"Cache-Control": "max-age=60"}
    )


@router.get(
    "/root.crl",
    dependencies=[Depends(limit_pki)],
    summary="The root CA's CRL",
    response_class=Response,
    responses=_binary("application/pkix-crl", "The CRL, DER."),
)
def root_crl(ca: Authority) -> Response:
    der = ca.root_crl()
    if der is None:
        raise ApiProblem(404, "not_found", "This development PKI publishes no root CRL.")
    return Response(der, media_type="application/pkix-crl", headers={"Cache-Control": "max-age=60"})


@router.get(
    "/ca.pem",
    dependencies=[Depends(limit_pki)],
    summary="The development root CA",
    response_class=Response,
    responses=_binary("application/x-pem-file", "The root certificate, PEM."),
)
def root_certificate(ca: Authority) -> Response:
    return Response(ca.pki.root_cert.read_bytes(), media_type="application/x-pem-file")


@router.get(
    "/chain.pem",
    dependencies=[Depends(limit_pki)],
    summary="Issuing CA, then root",
    response_class=Response,
    responses=_binary("application/x-pem-file", "The issuing CA then the root, PEM."),
)
def chain(ca: Authority) -> Response:
    return Response(ca.pki.chain.read_bytes(), media_type="application/x-pem-file")


def standalone_app(services: object) -> FastAPI:
    """Just these routes, with the service's problem answers and a per-process rate limiter:
    what ``sohoa pki serve`` and a local ``sohoa digitize`` serve. ``services`` needs
    ``settings`` and ``dev_authority``."""
    from api.problems import install
    from api.ratelimit import MemoryRateLimiter

    app = FastAPI(title="sohoa development PKI", docs_url=None, redoc_url=None)
    install(app)
    app.state.services = services
    app.state.rate_limiter = MemoryRateLimiter()
    app.include_router(router)
    return app
