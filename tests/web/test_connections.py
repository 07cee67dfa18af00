"""The administrator's connections page: the portal's sync rate and why dossiers are missing,
the outbox's queue with its refused deliveries sent again by a button, and webhooks made,
re-keyed and stopped from forms, the secret shown once."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connect.dispatcher import DEAD, DispatchPolicy
from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.models import OutboxDelivery, WebhookSubscription
from storage.db import session_scope
from tests.connect.dvcqg_server import PortalServer
from tests.connect.test_dvcqg import PASSWORD, USER
from tests.connect.webhook_receiver import Receiver
from tests.dossiers.world import FOREIGN, received_dossier
from tests.web.conftest import Site
from wiring.asgi import application
from wiring.factory import build

PAGE = "/web/admin/connections"
NOTICE = re.compile(r'<p class="notice" role="status">([^<]*)</p>')
SECRET = re.compile(r'id="new-secret" type="text" value="(whsec_[^"]+)"')


@pytest.fixture
def admin(site: Site) -> Site:
    site.sign_in("quantri")
    return site


@pytest.fixture
def receiver() -> Any:
    made = Receiver([])
    made.start()
    yield made
    made.stop()


def _post(site: Site, path: str, data: dict[str, str]) -> Any:
    csrf = site.csrf(PAGE)
    return site.client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)


def _notice(site: Site, response: Any) -> str:
    assert response.status_code == 303, response.text
    found = NOTICE.search(site.client.get(response.headers["location"]).text)
    assert found
    return found.group(1)


def _make_hook(site: Site, receiver: Receiver, events: str = "dossier.*") -> tuple[str, str]:
    made = _post(
        site,
        f"{PAGE}/webhooks",
        {"scope": "unit", "scope_code": "000.00.16.H99", "url": receiver.url, "events": events},
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    secret = SECRET.search(made.text)
    assert secret, made.text
    receiver.secrets.append(secret.group(1))
    with session_scope(site.world.services.sessions) as session:
        webhook_id = session.scalars(
            select(WebhookSubscription.id).where(WebhookSubscription.url == receiver.url)
        ).one()
    return webhook_id, secret.group(1)


def test_the_sync_rate_says_why_each_dossier_is_not_on_the_portal(admin: Site) -> None:
    """No portal configured: every received dossier is missing, first because the sender has
    not run, then because its events went out before there was a portal to send them to."""
    codes = []
    for n in range(2):
        ref = received_dossier(admin.world, id_number=f"00109009999{n}")
        codes.append(admin.world.services.dossiers.view(admin.world.principal("cong.ch"), ref).code)
    page = admin.client.get(PAGE)
    assert page.status_code == 200
    assert "Chưa cấu hình Cổng (SOHOA_DVCQG_URL)" in page.text
    assert (
        "0 trên 2 hồ sơ tiếp nhận từ 01/11/2026 đến 27/11/2026 đã có trên Cổng: 0.0 %" in page.text
    )
    table = page.text.split('id="not-synced"', 1)[1].split("</table>", 1)[0]
    assert all(code in table for code in codes)
    assert table.count("Bộ gửi chưa chạy từ đó") == 2

    admin.world.services.dispatcher.run()
    table = admin.client.get(PAGE).text.split('id="not-synced"', 1)[1]
    assert table.count("Tiếp nhận trước khi cấu hình Cổng") == 2

    # Another period: nothing received then, and the dates typed are kept.
    other = admin.client.get(PAGE, params={"since": "2026-10-01", "until": "2026-10-31"})
    assert "Không có hồ sơ nào được tiếp nhận từ 01/10/2026 đến 31/10/2026." in other.text
    assert 'value="2026-10-01"' in other.text
    for since, until in (("2026-13-45", "2026-11-27"), ("2026-11-01", "9999-12-31")):
        bad = admin.client.get(PAGE, params={"since": since, "until": until})
        assert 400 <= bad.status_code < 500 and "Traceback" not in bad.text, (since, until)


def test_a_webhook_is_made_rekeyed_and_stopped_from_the_page(
    admin: Site, receiver: Receiver
) -> None:
    refused = _post(
        admin,
        f"{PAGE}/webhooks",
        {"scope": "unit", "scope_code": "000.00.16.H99", "url": "ftp://x/", "events": "dossier.*"},
    )
    assert refused.status_code == 422
    assert "ftp://x/" in refused.text  # what was typed stays in the form
    assert "http:// hoặc https://" in refused.text
    unknown = _post(
        admin,
        f"{PAGE}/webhooks",
        {"scope": "unit", "scope_code": "000.00.16.H99", "url": receiver.url, "events": "dosier.*"},
    )
    assert unknown.status_code == 422 and "dosier.*" in unknown.text

    webhook_id, secret = _make_hook(admin, receiver, events="dossier.receive, document.digitized")
    with session_scope(admin.world.services.sessions) as session:
        row = session.get(WebhookSubscription, webhook_id)
        assert row is not None and row.events == ["dossier.receive", "document.digitized"]
        assert secret not in row.secret_sealed
    listed = admin.client.get(PAGE).text
    assert receiver.url in listed and secret not in listed  # never shown again

    # The next delivery is signed with the new secret only.
    rotated = _post(admin, f"{PAGE}/webhooks/{webhook_id}/rotate", {})
    new_secret = SECRET.search(rotated.text)
    assert rotated.status_code == 200 and new_secret and new_secret.group(1) != secret
    receiver.secrets[:] = [new_secret.group(1)]
    received_dossier(admin.world)
    admin.world.services.dispatcher.run()
    assert [r.kind for r in receiver.applied] == ["dossier.receive"] and not receiver.refused

    stopped = _post(admin, f"{PAGE}/webhooks/{webhook_id}/disable", {})
    assert _notice(admin, stopped) == f"Đã ngừng gửi webhook {receiver.url}."
    received_dossier(admin.world, id_number="001090088888")
    admin.world.services.dispatcher.run()
    assert len(receiver.applied) == 1

    no_csrf = admin.client.post(f"{PAGE}/webhooks/{webhook_id}/rotate", follow_redirects=False)
    assert no_csrf.status_code == 403 and "whsec_" not in no_csrf.text


def test_refused_deliveries_are_shown_and_sent_again_in_order(
    admin: Site, receiver: Receiver
) -> None:
    services = admin.world.services
    services.dispatcher.policy = DispatchPolicy(max_attempts=1)
    webhook_id, _ = _make_hook(admin, receiver)
    receiver.mode = "unavailable"
    refs = [received_dossier(admin.world, id_number=f"00109007777{n}") for n in range(2)]
    services.dispatcher.run()
    with session_scope(services.sessions) as session:
        dead = session.scalars(
            select(OutboxDelivery).where(OutboxDelivery.subscriber == f"webhook:{webhook_id}")
        ).all()
        assert dead and all(d.state == DEAD for d in dead)
        count = len(dead)

    page = admin.client.get(PAGE).text
    queue = page.split('id="queue"', 1)[1].split("</table>", 1)[0]
    assert (
        f"Webhook {receiver.url}" in queue and f'<span class="badge warn">{count}</span>' in queue
    )
    assert "HTTP 503: maintenance" in page
    code = services.dossiers.view(admin.world.principal("cong.ch"), refs[0]).code
    assert code in page

    # The webhook's own log: each delivery with the receiver's answer, newest first.
    log = admin.client.get(f"{PAGE}/webhooks/{webhook_id}")
    assert log.status_code == 200 and f"Các lượt gửi tới {receiver.url}" in log.text
    rows = log.text.split('id="deliveries"', 1)[1].split("</table>", 1)[0]
    assert rows.count("HTTP 503: maintenance") == rows.count("Đã dừng, chờ gửi lại") == count
    assert admin.client.get(f"{PAGE}/webhooks/nope").status_code == 404
    # The same from the queue's destination link, and a notification channel's own log.
    assert f'href="{PAGE}/destinations/webhook:{webhook_id}"' in page
    same = admin.client.get(f"{PAGE}/destinations/webhook:{webhook_id}").text
    assert same.count("HTTP 503: maintenance") == count
    mail = admin.client.get(f"{PAGE}/destinations/notify.email")
    assert mail.status_code == 200 and "Thư điện tử cho công dân và cán bộ" in mail.text
    assert admin.client.get(f"{PAGE}/destinations/{'x' * 65}").status_code == 422
    assert admin.client.get(f"{PAGE}/webhooks/{webhook_id}?before=-1").status_code < 500

    receiver.mode = "up"
    services.dispatcher.policy = DispatchPolicy()
    sent = _post(admin, f"{PAGE}/replay", {"subscriber": f"webhook:{webhook_id}"})
    assert _notice(admin, sent) == f"{count} lượt gửi sẽ được gửi lại."
    services.dispatcher.run()
    assert len(receiver.applied) == count and not receiver.duplicates
    by_dossier: dict[str, list[int]] = {}
    for got in receiver.applied:
        by_dossier.setdefault(got.body["dossier_id"], []).append(got.event_id)
    assert set(by_dossier) == set(refs)
    assert all(ids == sorted(ids) for ids in by_dossier.values())  # in order per dossier


def test_a_province_admin_sees_its_province_and_not_the_installations_queue(
    site: Site, receiver: Receiver
) -> None:
    site.sign_in("quantri")
    _make_hook(site, receiver)
    with session_scope(site.world.services.sessions) as session:
        staffing.create_staff(
            session,
            BOOTSTRAP,
            staff_id="quantri.h98",
            name="Quản Trị Tỉnh",
            role="admin",
            unit_code=FOREIGN,
            today=date(2026, 11, 27),
        )
        session.flush()
        site.world.tokens["quantri.h98"] = staffing.new_token(session, BOOTSTRAP, "quantri.h98")
    received_dossier(site.world)
    other = site.another()
    site.sign_in("quantri.h98", other)
    page = other.get(PAGE)
    assert page.status_code == 200
    assert 'id="queue"' not in page.text and receiver.url not in page.text
    with session_scope(site.world.services.sessions) as session:
        hook_id = session.scalars(select(WebhookSubscription.id)).one()
    assert other.get(f"{PAGE}/webhooks/{hook_id}").status_code == 404  # another province's
    csrf = site.csrf(PAGE, other)
    assert other.get(f"{PAGE}/destinations/dvcqg").status_code == 403
    for path in (f"{PAGE}/replay", f"{PAGE}/backfill"):
        answer = other.post(path, data={"csrf": csrf, "subscriber": "dvcqg"})
        assert answer.status_code == 403, path
    for staff_id in ("lan.nt", "kiemtra"):
        client = site.another()
        site.sign_in(staff_id, client)
        assert client.get(PAGE).status_code == 403


def test_dossiers_received_before_the_portal_was_configured_are_sent_from_the_page(
    admin: Site, make_settings: Any
) -> None:
    """Go-live before the portal's account came: the events went out to nobody. Once it is
    configured, one button sends the period, and the page then shows every dossier synced."""
    refs = [received_dossier(admin.world, id_number=f"00109006666{n}") for n in range(2)]
    admin.world.services.dispatcher.run()
    answer = _post(admin, f"{PAGE}/backfill", {"since": "2026-11-01", "until": "2026-11-27"})
    assert _notice(admin, answer) == "Chưa cấu hình Cổng: chưa gửi gì."

    with PortalServer(username=USER, password=PASSWORD) as portal:
        services = build(
            make_settings(dvcqg_url=portal.url, dvcqg_username=USER, dvcqg_password=PASSWORD)
        )
        services.clock = admin.world.clock
        client = TestClient(application(services))
        try:
            site = Site(admin.world, client)
            site.sign_in("quantri")
            page = client.get(PAGE).text
            assert page.count("Tiếp nhận trước khi cấu hình Cổng") == 2
            sent = _post(site, f"{PAGE}/backfill", {"since": "2026-11-01", "until": "2026-11-27"})
            assert sent.status_code == 303
            assert "lượt gửi sẽ được gửi lại" in _notice(site, sent)
            services.dispatcher.run()
            codes = {admin.world.services.dossiers.view(admin.world.principal("cong.ch"), r).code for r in refs}  # fmt: skip
            assert codes <= set(portal.state.dossiers) and not portal.state.violations
            after = client.get(PAGE).text
            assert "2 trên 2 hồ sơ tiếp nhận" in after and 'id="not-synced"' not in after
        finally:
            client.close()
            services.engine.dispose()


def test_a_backfill_of_no_real_period_is_refused_in_words(admin: Site, make_settings: Any) -> None:
    services = build(make_settings(dvcqg_url="http://127.0.0.1:9/portal"))
    services.clock = admin.world.clock
    client = TestClient(application(services))
    try:
        site = Site(admin.world, client)
        site.sign_in("quantri")
        for since, until in (("2026-11-01", "9999-12-31"), ("hôm qua", "2026-11-27"), ("", "")):
            answer = _post(site, f"{PAGE}/backfill", {"since": since, "until": until})
            assert answer.status_code == 422, (since, until)
            assert "Nhập một ngày hợp lệ." in answer.text
    finally:
        client.close()
        services.engine.dispose()
