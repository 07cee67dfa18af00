"""OAI-PMH 2.0 at ``/oai`` (GET and POST) and the schema of the ``sohoa`` format.

The protocol lives in :mod:`dossiers.records.harvest`; this router only reads the arguments. Protocol
errors are OAI-PMH XML with HTTP 200, as the spec wants. Who may call at all is decided before
the protocol starts, like everywhere else in the API: no token is a 401, a counter's a 403.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Caller, Svc, services
from api.problems import ApiProblem
from core.settings import Settings
from dossiers.records import harvest
from dossiers.records.harvest import HarvestConfig
from storage.db import session_scope

router = APIRouter(tags=["oai-pmh"])


class XmlResponse(Response):
    """An OAI-PMH document; the media type the protocol names."""

    media_type = "text/xml"


OAI_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An OAI-PMH 2.0 response document. Protocol errors (badVerb, "
        "badArgument, noRecordsMatch …) are answered here too, as its <error> element."
    }
}

SCHEMA = Path(__file__).resolve().parents[1] / "static" / "sohoa.xsd"
FORM = "application/x-www-form-urlencoded"
MAX_BODY = 64 * 1024  # an OAI request is a handful of short arguments


def config_from_settings(settings: Settings, url_secret: bytes) -> HarvestConfig:
    """The protocol's configuration; tokens are keyed by the installation's URL secret
    (``Services.url_secret``: SOHOA_URL_SECRET or the data dir's random one), so every replica
    on one data dir accepts the others' tokens and nobody else can make one."""
    if not url_secret:
        raise ValueError("url_secret must not be empty")
    return HarvestConfig(
        base_url=f"{settings.public_url.rstrip('/')}/oai",
        token_key=hmac.new(url_secret, b"oai-pmh resumption token", hashlib.sha256).digest(),
        repository_name=settings.oai_repository_name,
        admin_email=settings.oai_admin_email,
        page_size=settings.oai_page_size,
        grants={k: frozenset(v) for k, v in settings.harvest_grants.items()},
    )


def harvest_config(request: Request) -> HarvestConfig:
    """``app.state.harvest`` when the app was given one, else built once from the services."""
    configured: HarvestConfig | None = getattr(request.app.state, "harvest", None)
    if configured is None:
        svc = services(request)
        configured = config_from_settings(svc.settings, svc.url_secret)
        request.app.state.harvest = configured
    return configured


async def _arguments(request: Request) -> list[tuple[str, str]]:
    if request.method == "GET":
        return request.query_params.multi_items()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise ApiProblem(415, "unsupported_media_type", f"OAI-PMH requests by POST are {FORM}")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiProblem(413, "request_too_large", "an OAI-PMH request is a few short arguments")
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


@router.get("/oai", response_class=XmlResponse, operation_id="oai_get", responses=OAI_ANSWER)
@router.post(
    "/oai",
    response_class=XmlResponse,
    operation_id="oai_post",
    responses=OAI_ANSWER,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        # No argument is required by the schema: OAI-PMH answers a missing or
                        # bad one with its own error (badVerb, badArgument) and HTTP 200.
                        "type": "object",
                        "properties": {
                            name: {"type": "string"}
                            for name in (
                                "verb",
                                "metadataPrefix",
                                "identifier",
                                "set",
                                "from",
                                "until",
                                "resumptionToken",
                            )
                        },
                    }
                }
            },
        }
    },
)
async def oai_pmh(request: Request, who: Caller, svc: Svc) -> Response:
    """OAI-PMH 2.0: Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords and
    GetRecord, in ``oai_dc`` and ``sohoa``; for harvesters, auditors and admins."""
    who.require(*harvest.HARVESTERS)  # before reading a body for someone who may not harvest
    args = await _arguments(request)
    config = harvest_config(request)

    def run() -> bytes:
        with session_scope(svc.sessions) as session:
            return harvest.respond(session, who, args, config=config, now=svc.clock())

    return Response(await run_in_threadpool(run), media_type="text/xml; charset=utf-8")


@router.get("/oai/schema/sohoa.xsd", include_in_schema=False)
def schema() -> FileResponse:
    """Public, like any schema a record's xsi:schemaLocation points to."""
    return FileResponse(SCHEMA, media_type="application/xml")
