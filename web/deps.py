"""What every page depends on: the session's user, the CSRF check, and one way to fail.

Pages are routes of :class:`PageRoute`, which turns the package's errors into pages: not signed
in goes to the sign-in page (and back afterwards), a refusal renders the problem's Vietnamese
title and what to do, and a script's request (``Accept: application/json``) gets the API's
problem JSON so the page can say it in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.context import AppServices
from api.problem_types import problem_types
from api.problems import problem
from core.errors import SohoaError
from dossiers.access import Principal
from storage.db import session_scope
from web.render import language, page
from web.sessions import COOKIE, Lifetime, csrf_ok, csrf_token, resume

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages are never cached (they show a dossier's state, and a shared counter PC must not keep
# one clerk's pages for the next); scripts, styles and frames come only from us.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class CsrfRefused(SohoaError):
    code = "csrf_failed"
    http_status = 403


class InvalidForm(SohoaError):
    """A field missing or of the wrong shape (what the API answers ``invalid_request``)."""

    code = "invalid_request"
    http_status = 422


def services(request: Request) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]


def lifetime(svc: AppServices) -> Lifetime:
    s = svc.settings
    return Lifetime(
        idle=timedelta(minutes=s.web_idle_minutes), longest=timedelta(hours=s.web_session_hours)
    )


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def session_user(request: Request) -> Principal:
    """The session's principal, with no CSRF check: for a route that reads its own body
    and then calls :func:`require_csrf` (a file upload's multipart form)."""
    svc = services(request)
    cookie = request.cookies.get(COOKIE)

    def look_up() -> Principal:
        with session_scope(svc.sessions) as session:
            return resume(session, cookie, now=svc.clock(), lifetime=lifetime(svc))

    # The database is not awaited: in the thread pool, so the event loop keeps serving.
    who = await run_in_threadpool(look_up)
    assert cookie is not None  # resume refuses a missing cookie
    request.state.web_user = who
    request.state.web_csrf = csrf_token(svc.url_secret, cookie)
    return who


def require_csrf(request: Request, presented: str | None) -> None:
    """Refuse unless ``presented`` is the signed-in session's CSRF token."""
    if not csrf_ok(services(request).url_secret, request.cookies.get(COOKIE), presented):
        raise CsrfRefused("the form's CSRF token is missing or wrong; reload the page")


async def signed_in(request: Request) -> Principal:
    """The session's principal; for a form or a script's call, also a valid CSRF token (the
    ``csrf`` field of an urlencoded form, else the ``X-CSRF-Token`` header)."""
    who = await session_user(request)
    if request.method not in SAFE_METHODS:
        presented = request.headers.get("x-csrf-token")
        if presented is None and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            presented = str((await request.form()).get("csrf") or "")
        require_csrf(request, presented)
    return who


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure whenever the page is reached over TLS (directly or via the proxy)."""
    public = services(request).settings.public_url
    return request.url.scheme == "https" or public.startswith("https://")


User = Annotated[Principal, Depends(signed_in)]
Svc = Annotated[AppServices, Depends(services)]


def error_page(request: Request, exc: SohoaError) -> Response:
    status = int(getattr(exc, "http_status", 500))
    code = str(getattr(exc, "code", "internal_error"))
    if status == 401 and not wants_json(request):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        next_ = quote(target, safe="") if request.method == "GET" else ""
        return RedirectResponse(f"/web/login?next={next_}" if next_ else "/web/login", 303)
    if wants_json(request):
        return problem(status, code, str(exc), **(getattr(exc, "extra", None) or {}))
    entry = problem_types().get(code)
    lang = language(request)
    title = getattr(entry.title, lang) if entry else ""
    action = getattr(entry.action, lang) if entry else ""
    return page(
        request,
        "error.html",
        status_code=status,
        headers=PAGE_HEADERS,
        code=code,
        title=title,
        action=action,
        detail=str(exc) if status < 500 else "",
    )


class PageRoute(APIRoute):
    """A page: errors become pages (or problem JSON for scripts) and security headers are set."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except SohoaError as exc:
                response = error_page(request, exc)
            except RequestValidationError as exc:
                log.info("page input refused: %s", exc.errors())
                fields = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
                response = error_page(request, InvalidForm(f"check these fields: {fields}"))
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return run
