"""The citizen's pages, without sign-in: a dossier's status by its code and lookup secret (what
form 01's QR opens), and the page of a result sent as a download link.

Both are rate-limited per client with the API's public endpoints (one budget, the same key), and
need no script: a plain GET form, so an old phone's browser works. A wrong secret and an
unknown code get one and the same answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import limit_public
from api.problems import ApiProblem
from dossiers.errors import NotFound
from dossiers.results.returns import LinkGone
from dossiers.workflow.consent import opt_out
from dossiers.workflow.lookup import public_status
from storage.db import session_scope
from web.deps import PageRoute, Svc
from web.render import page

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

CodeParam = Annotated[str, Query(max_length=64)]
SecretParam = Annotated[str, Query(max_length=32)]


def _limited(request: Request) -> HTMLResponse | None:
    """The 429 page when this client spent its public budget, else None."""
    try:
        limit_public(request)
    except ApiProblem as exc:
        if exc.http_status != 429:
            raise
        seconds = int(getattr(exc, "extra", {}).get("retry_after", 60))
        return page(
            request,
            "public/limited.html",
            status_code=429,
            headers={"Retry-After": str(seconds)},
            seconds=seconds,
        )
    return None


def _lookup(request: Request, svc: Svc, code: str, secret: str) -> Response:
    limited = _limited(request)
    if limited is not None:
        return limited
    with session_scope(svc.sessions) as session:
        found = public_status(session, code, secret, svc.url_secret, svc.clock())
    if found is None:
        return page(
            request,
            "public/status.html",
            status_code=404,
            found=None,
            code=code.strip(),
            asked=True,
        )
    return page(request, "public/status.html", found=found, code=found.code, asked=True)


@router.get("/status")
def status_form(request: Request, svc: Svc, code: CodeParam = "", s: SecretParam = "") -> Response:
    """The lookup form; submitted (a GET with both fields), it answers like the QR's link."""
    if code.strip() and s.strip():
        return _lookup(request, svc, code, s)
    return page(request, "public/status.html", found=None, code=code.strip(), asked=False)


@router.get("/status/{code}")
def status(
    request: Request, svc: Svc, code: Annotated[str, Path(max_length=64)], s: SecretParam = ""
) -> Response:
    """What form 01's lookup QR opens: the dossier's code in the path, its secret in ``s``."""
    return _lookup(request, svc, code, s)


@router.get("/opt-out/{ref}")
def opt_out_form(
    request: Request, ref: Annotated[str, Path(max_length=64)], s: SecretParam = ""
) -> Response:
    """The link at the foot of each notification. It asks before it stops anything: mail
    scanners and link previews open links. Nothing is looked up until the citizen confirms."""
    limited = _limited(request)
    if limited is not None:
        return limited
    return page(request, "public/opt_out.html", ref=ref, secret=s, done=None, failed=False)


@router.post("/opt-out/{ref}")
def opt_out_confirmed(
    request: Request,
    svc: Svc,
    ref: Annotated[str, Path(max_length=64)],
    s: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Stop the dossier's notifications; a wrong secret and an unknown dossier read the same."""
    limited = _limited(request)
    if limited is not None:
        return limited
    with session_scope(svc.sessions) as session:
        done = opt_out(session, ref, s, svc.url_secret, svc.clock())
    if done is None:
        return page(
            request,
            "public/opt_out.html",
            status_code=404,
            ref=ref,
            secret="",
            done=None,
            failed=True,
        )
    return page(request, "public/opt_out.html", ref=ref, secret="", done=done, failed=False)


@router.get("/results/{token}")
def result_link(
    request: Request, svc: Svc, token: Annotated[str, Path(max_length=128)]
) -> Response:
    """A result sent online: the signed papers to download (the first download completes the
    return); an unknown or expired link says what to do instead."""
    limited = _limited(request)
    if limited is not None:
        return limited
    try:
        found = svc.returns.link(token)
    except LinkGone:
        return page(request, "public/result.html", status_code=410, found=None, gone=True)
    except NotFound:
        return page(request, "public/result.html", status_code=404, found=None, gone=False)
    expires = datetime.fromisoformat(found.expires_at) if found.expires_at else None
    return page(
        request, "public/result.html", found=found, token=token, gone=False, expires_at=expires
    )
