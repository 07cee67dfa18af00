"""Signed-in sessions: a staff token exchanged for a session cookie.

A session is an ordinary API token of its own (label ``web-session``), so it is stored only as
its hash, authenticated by the very code that authenticates the API, scoped to the same roles
and units, and ended by revoking it. Its expiry slides: every request pushes it ``idle`` ahead,
never past ``longest`` after sign-in. The CSRF token is an HMAC of the session's digest under the
installation's URL secret: bound to the session, nothing to store, useless to another session.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.access import BOOTSTRAP, Principal, authenticate, issue_token, token_digest
from dossiers.errors import Unauthenticated
from dossiers.models import ApiToken, Staff

SESSION_LABEL = "web-session"
COOKIE = "sohoa_session"
# How long before the end of an idle window the expiry is written again: one write a minute
# per busy clerk instead of one per request.
SLIDE_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    longest: timedelta


def sign_in(
    session: Session,
    staff_token: str,
    *,
    now: datetime,
    lifetime: Lifetime,
    bootstrap_sha256: str | None = None,
) -> tuple[str, Principal]:
    """Check a staff token as the API would and open a session for its holder.

    Returns the session's token, for the cookie only. The bootstrap admin of
    ``SOHOA_API_TOKEN`` has no staff row; one is made for it so its sessions are tokens too.
    """
    who = authenticate(session, staff_token, now=now, bootstrap_sha256=bootstrap_sha256)
    if who is BOOTSTRAP and session.get(Staff, BOOTSTRAP.staff_id) is None:
        session.add(Staff(id=BOOTSTRAP.staff_id, name=BOOTSTRAP.name, role=BOOTSTRAP.role))
        session.flush()
    token = issue_token(
        session,
        who.staff_id,
        label=f"{SESSION_LABEL} {now.isoformat(timespec='seconds')}",
        expires_at=now + lifetime.idle,
        # The longest day counts from the service clock's now, as every other time here does.
        created_at=now,
    )
    return token, who


def resume(session: Session, cookie: str | None, *, now: datetime, lifetime: Lifetime) -> Principal:
    """The principal behind a session cookie, sliding the session's expiry forward."""
    if not cookie:
        raise Unauthenticated("not signed in", code="session_missing")
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(cookie)))
    if row is None or not row.label.startswith(SESSION_LABEL):
        # An API token pasted into a cookie is not a session: it has no idle limit.
        raise Unauthenticated("the session has ended", code="session_expired")
    try:
        who = authenticate(session, cookie, now=now)
    except Unauthenticated as exc:
        raise Unauthenticated("the session has ended", code="session_expired") from exc
    horizon = min(now + lifetime.idle, row.created_at + lifetime.longest)
    if row.expires_at is not None and horizon - row.expires_at >= SLIDE_STEP:
        row.expires_at = horizon
    return who


def sign_out(session: Session, cookie: str | None, *, now: datetime) -> None:
    if not cookie:
        return
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(cookie)))
    if row is not None and row.label.startswith(SESSION_LABEL) and row.revoked_at is None:
        row.revoked_at = now


def csrf_token(secret: bytes, cookie: str) -> str:
    return hmac.new(secret, b"csrf:" + token_digest(cookie).encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, cookie: str | None, presented: str | None) -> bool:
    if not cookie or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, cookie), presented)
