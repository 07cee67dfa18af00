"""Request dependencies: the caller's identity, resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dossiers.access import Principal, authenticate, token_digest
from sohoa.factory import Services
from storage.db import session_scope

bearer = HTTPBearer(auto_error=False)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Staff tokens are looked up by digest; SOHOA_API_TOKEN, when set, is a bootstrap admin."""
    svc = services(request)
    token = svc.settings.api_token
    bootstrap = token_digest(token.get_secret_value()) if token else None
    with session_scope(svc.sessions) as session:
        who = authenticate(
            session,
            creds.credentials if creds else None,
            now=svc.clock(),
            bootstrap_sha256=bootstrap,
        )
    request.state.principal = who
    return who


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]
