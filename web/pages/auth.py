"""Sign-in, sign-out, the language switch and the home page that sends each role to its desk."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import client_ip, rate_limiter
from dossiers.access import token_digest
from dossiers.errors import Unauthenticated
from storage.db import session_scope
from web.deps import CsrfRefused, PageRoute, Svc, User, lifetime, secure_cookies
from web.i18n import LANGUAGES
from web.render import LANG_COOKIE, page
from web.sessions import COOKIE, sign_in, sign_out

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)
# Before there is a session, the sign-in form is tied to the browser by a cookie of its own
# (double submit): another site cannot sign a counter PC into someone else's account.
LOGIN_COOKIE = "sohoa_login"
HOMES = {
    "counter": "/web/counter",
    "agency": "/web/agency",
    "auditor": "/web/audit",
    "admin": "/web/admin",
}


def _safe_next(target: str | None) -> str:
    """Only a path of ours: an open redirect would make the sign-in page a phishing tool."""
    if target and target.startswith("/web/") and not target.startswith("//"):
        return target
    return "/web/"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(request, "login.html", nonce=nonce, next=_safe_next(next), error="")
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/web/login",
        max_age=3600,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    svc: Svc,
    token: Annotated[str, Form(max_length=512)],
    nonce: Annotated[str, Form(max_length=64)],
    next: Annotated[str, Form(max_length=2048)] = "/web/",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, nonce):
        raise CsrfRefused("the sign-in form has expired; open it again")
    settings = svc.settings
    limit, window = settings.auth_failure_limit, settings.auth_failure_window
    key = f"auth-failures:{client_ip(request)}"
    limiter = rate_limiter(request)
    verdict = limiter.peek(key, limit=limit, window=window) if limit else None
    if verdict is not None and verdict.count >= limit:
        return page(
            request,
            "login.html",
            status_code=429,
            nonce=nonce,
            next=_safe_next(next),
            error="too_many",
            retry_after=verdict.retry_after,
            headers={"Retry-After": str(verdict.retry_after)},
        )
    bootstrap = settings.api_token
    try:
        with session_scope(svc.sessions) as session:
            cookie, _who = sign_in(
                session,
                token.strip(),
                now=svc.clock(),
                lifetime=lifetime(svc),
                bootstrap_sha256=token_digest(bootstrap.get_secret_value()) if bootstrap else None,
            )
    except Unauthenticated:
        if limit:
            limiter.hit(key, limit=limit, window=window)
        return page(
            request,
            "login.html",
            status_code=401,
            nonce=nonce,
            next=_safe_next(next),
            error="bad_token",
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
        max_age=int(lifetime(svc).longest.total_seconds()),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/web/login")
    return response


@router.post("/logout")
def logout(request: Request, svc: Svc, _user: User) -> Response:
    with session_scope(svc.sessions) as session:
        sign_out(session, request.cookies.get(COOKIE), now=svc.clock())
    response = RedirectResponse("/web/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/lang")
def switch_language(
    request: Request,
    lang: Annotated[str, Form(max_length=8)],
    back: Annotated[str, Form(max_length=2048)] = "/web/",
) -> Response:
    """Anyone may switch, signed in or not; the choice is only a display preference."""
    response = RedirectResponse(_safe_next(back), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            samesite="strict",
            secure=secure_cookies(request),
            path="/",
            max_age=365 * 86400,
        )
    return response


@router.get("/")
def home(request: Request, user: User) -> Response:
    target = HOMES.get(user.role)
    if target:
        return RedirectResponse(target, status_code=303)
    return page(request, "home.html")
