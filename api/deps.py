"""Request dependencies: the caller's identity, resolved once per request, and the rate limits
that stand in front of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.context import AppServices
from api.middleware import CLIENT_IP_STATE
from api.problems import ApiProblem
from api.ratelimit import RateLimiter, Verdict
from dossiers.access import Principal, authenticate, token_digest
from dossiers.errors import Unauthenticated
from storage.db import session_scope

bearer = HTTPBearer(auto_error=False)


def services(request: Request) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    """The address the access log names (set by the request middleware, proxies considered)."""
    address = getattr(request.state, CLIENT_IP_STATE, None)
    if address is None and request.client is not None:
        address = request.client.host
    return address or "-"


def rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter  # type: ignore[no-any-return]


def too_many(verdict: Verdict) -> ApiProblem:
    seconds = verdict.retry_after
    return ApiProblem(
        429,
        "rate_limited",
        f"Quá nhiều yêu cầu; vui lòng thử lại sau {seconds} giây "
        f"(too many requests; retry in {seconds} s)",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Staff tokens are looked up by digest; SOHOA_API_TOKEN, when set, is a bootstrap admin.

    A client that has sent ``auth_failure_limit`` wrong tokens in the window is answered 429
    until the window ends, whatever token it sends now: were a good token let through, the
    limit would tell a guesser when it had guessed right. A missing token is not a guess and
    is not counted (a browser's first call has none).
    """
    svc = services(request)
    settings = svc.settings
    limit, window = settings.auth_failure_limit, settings.auth_failure_window
    key = f"auth-failures:{client_ip(request)}"
    if limit:
        seen = rate_limiter(request).peek(key, limit=limit, window=window)
        if seen.count >= limit:
            raise too_many(seen)
    token = settings.api_token
    bootstrap = token_digest(token.get_secret_value()) if token else None
    try:
        with session_scope(svc.sessions) as session:
            who = authenticate(
                session,
                creds.credentials if creds else None,
                now=svc.clock(),
                bootstrap_sha256=bootstrap,
            )
    except Unauthenticated:
        if limit and creds is not None:
            rate_limiter(request).hit(key, limit=limit, window=window)
        raise
    request.state.principal = who
    return who


def limit_public(request: Request) -> None:
    """Per-client limit on the endpoints without a login, where the URL is the credential."""
    settings = services(request).settings
    if not settings.public_rate_limit:
        return
    verdict = rate_limiter(request).hit(
        f"public:{client_ip(request)}",
        limit=settings.public_rate_limit,
        window=settings.public_rate_window,
    )
    if not verdict.allowed:
        raise too_many(verdict)


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[AppServices, Depends(services)]
# For ``dependencies=[PublicLimit]`` on a router or route that anyone may call.
PublicLimit = Depends(limit_public)
