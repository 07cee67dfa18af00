"""Signing in and out of the web page: the session is a hashed token of its own, the cookie is
HttpOnly and SameSite=Strict, forms need the session's CSRF token, an idle counter is signed
out, and wrong tokens are rate-limited like the API's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dossiers.access import token_digest
from dossiers.models import ApiToken
from storage.db import session_scope
from tests.web.conftest import NONCE, Site
from web.sessions import COOKIE


def test_sign_in_sets_a_strict_http_only_cookie_stored_only_as_a_hash(site: Site) -> None:
    form = site.client.get("/web/login")
    assert form.status_code == 200
    assert "Đăng nhập" in form.text  # Vietnamese by default
    nonce = NONCE.search(form.text).group(1)  # type: ignore[union-attr]
    resp = site.client.post(
        "/web/login",
        data={"token": site.world.tokens["lan.nt"], "nonce": nonce, "next": "/web/"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    value = site.client.cookies[COOKIE]
    assert value != site.world.tokens["lan.nt"]
    with session_scope(site.world.services.sessions) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(value)))
        assert row is not None and row.staff_id == "lan.nt"
        assert row.label.startswith("web-session")
    # The counter lands on the reception desk.
    home = site.client.get("/web/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/web/counter"


def test_a_wrong_token_is_refused_in_vietnamese_and_rate_limited(site: Site) -> None:
    for attempt in range(12):
        form = site.client.get("/web/login")
        nonce = NONCE.search(form.text).group(1)  # type: ignore[union-attr]
        resp = site.client.post(
            "/web/login", data={"token": f"sohoa_wrong{attempt}", "nonce": nonce}
        )
        if resp.status_code == 429:
            break
        assert resp.status_code == 401
        assert "không đúng" in resp.text or "không hợp lệ" in resp.text or "thu hồi" in resp.text
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    # Even the right token waits now: the limit must not reveal a good guess.
    form = site.client.get("/web/login")
    nonce = NONCE.search(form.text).group(1)  # type: ignore[union-attr]
    resp = site.client.post(
        "/web/login", data={"token": site.world.tokens["lan.nt"], "nonce": nonce}
    )
    assert resp.status_code == 429


def test_sign_in_without_the_forms_nonce_is_refused(site: Site) -> None:
    resp = site.client.post(
        "/web/login", data={"token": site.world.tokens["lan.nt"], "nonce": "forged"}
    )
    assert resp.status_code == 403
    assert COOKIE not in site.client.cookies


def test_forms_need_the_sessions_csrf_token(site: Site) -> None:
    site.sign_in("lan.nt")
    refused = site.client.post("/web/logout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    assert "csrf_failed" in refused.text
    # Still signed in: nothing happened.
    assert site.client.get("/web/", follow_redirects=False).headers["location"] == "/web/counter"
    # Another session's token does not fit this one.
    other = site.sign_in("cong.ch", site.another())
    foreign = site.csrf(client=other)
    assert site.client.post("/web/logout", data={"csrf": foreign}).status_code == 403
    ok = site.client.post("/web/logout", data={"csrf": site.csrf()}, follow_redirects=False)
    assert ok.status_code == 303
    after = site.client.get("/web/", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/web/login")


def test_an_idle_session_ends_and_an_active_one_slides(site: Site) -> None:
    site.sign_in("lan.nt")
    clock = site.world.clock
    for _ in range(4):  # two hours of work, a request every 20 minutes
        clock.advance(minutes=20)
        assert (
            site.client.get("/web/", follow_redirects=False).headers["location"] == "/web/counter"
        )
    clock.advance(minutes=31)
    resp = site.client.get("/web/counter", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/web/login?next=%2Fweb%2Fcounter"


def test_a_session_never_outlives_its_longest_day(site: Site) -> None:
    site.sign_in("lan.nt")
    clock = site.world.clock
    for _ in range(12 * 4):
        clock.advance(minutes=15)
        site.client.get("/web/", follow_redirects=False)
    clock.advance(minutes=15)
    assert (
        site.client.get("/web/", follow_redirects=False)
        .headers["location"]
        .startswith("/web/login")
    )


def test_revoking_the_staff_members_tokens_ends_their_sessions(site: Site) -> None:
    site.sign_in("lan.nt")
    with session_scope(site.world.services.sessions) as session:
        for row in session.scalars(select(ApiToken).where(ApiToken.staff_id == "lan.nt")):
            row.revoked_at = site.world.clock() - timedelta(seconds=1)
    assert (
        site.client.get("/web/", follow_redirects=False)
        .headers["location"]
        .startswith("/web/login")
    )


def test_an_api_token_in_the_cookie_is_not_a_session(site: Site) -> None:
    site.client.cookies.set(COOKIE, site.world.tokens["lan.nt"])
    assert (
        site.client.get("/web/", follow_redirects=False)
        .headers["location"]
        .startswith("/web/login")
    )


def test_sign_in_never_redirects_off_site(site: Site) -> None:
    form = site.client.get("/web/login?next=https://evil.example/")
    nonce = NONCE.search(form.text).group(1)  # type: ignore[union-attr]
    resp = site.client.post(
        "/web/login",
        data={"token": site.world.tokens["lan.nt"], "nonce": nonce, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/web/"


def test_english_is_one_switch_away(site: Site) -> None:
    resp = site.client.post("/web/lang", data={"lang": "en", "back": "/web/login"})
    assert resp.status_code == 200
    assert "Sign in" in resp.text and "Staff token" in resp.text
    assert 'lang="en"' in resp.text


def test_the_language_switch_comes_back_to_the_same_page_and_query(site: Site) -> None:
    page = site.client.get("/web/status?code=H99.1&s=ABCD")
    assert 'name="back" value="/web/status?code=H99.1&amp;s=ABCD"' in page.text
    resp = site.client.post(
        "/web/lang",
        data={"lang": "en", "back": "/web/status?code=H99.1&s=ABCD"},
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/web/status?code=H99.1&s=ABCD"
