"""A dossier's life, connected: the portal, the citizen's e-mail and an integrator's webhook all
hear of it through the outbox, wired from settings as an installation is, and the Celery task
that beat fires delivers it.

The integrator's receiver is down for part of the life; afterwards it has every event, in order,
each applied once, each signature checked by the receiver's own code. The portal test server
checks every payload against the documented shape; the SMTP server is a real one (aiosmtpd).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from connect.tasks import DISPATCH_TASK
from dossiers.models import OutboxDelivery, OutboxEvent
from storage.db import session_scope
from tests.connect.dvcqg_server import PortalServer
from tests.connect.test_dvcqg import PASSWORD, USER, _scan_component, _scan_result
from tests.connect.test_notify import Mailbox
from tests.connect.webhook_receiver import Receiver
from tests.dossiers.world import VN, World, make_world, pay_fees
from tests.fixtures.seaweedfs import free_ports
from wiring.asgi import application
from wiring.factory import build

pytestmark = pytest.mark.slow

EMAIL = "dang.hai@example.vn"
NAME, ID_NUMBER = "Đặng Văn Hải", "001090066666"


@pytest.fixture
def stack(make_settings: Any) -> Iterator[tuple[World, PortalServer, Mailbox, Receiver]]:
    mailbox = Mailbox()
    port = free_ports(1)[0]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    receiver = Receiver(secrets=[])
    receiver.start()
    with PortalServer(username=USER, password=PASSWORD) as portal:
        services = build(
            make_settings(
                sign_forms=False,
                dvcqg_url=portal.url,
                dvcqg_username=USER,
                dvcqg_password=PASSWORD,
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_starttls=False,
                smtp_from="Bộ phận Một cửa <motcua@example.vn>",
                outbox_base_delay=30,
            )
        )
        world = make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN))
        yield world, portal, mailbox, receiver
        services.engine.dispose()
    receiver.stop()
    smtp.stop()


def test_a_dossiers_life_reaches_the_portal_the_citizen_and_an_integrator(
    stack: tuple[World, PortalServer, Mailbox, Receiver],
) -> None:
    world, portal, mailbox, receiver = stack
    services = world.services
    client = TestClient(application(services))
    # Beat's task, as the worker registers it (``install_outbox``): run in this process.
    dispatch = services.celery.tasks[DISPATCH_TASK]

    made = client.post(
        "/api/v1/admin/webhooks",
        headers=world.headers("quantri"),
        json={"scope": "province", "scope_code": "H99", "url": receiver.url, "events": ["*"]},
    )
    assert made.status_code == 201, made.text
    receiver.secrets.append(made.json()["secret"])
    hook = f"webhook:{made.json()['id']}"

    counter = world.headers("cong.ch")
    opened = client.post(
        "/api/v1/dossiers",
        headers=counter,
        json={
            "procedure_code": "2.000720",
            "applicant": {"name": NAME, "id_number": ID_NUMBER, "email": EMAIL},
            "notify_consent": True,
            "notify_channels": ["email"],
        },
    )
    assert opened.status_code == 201, opened.text
    ref = opened.json()["id"]
    svc = services.dossiers
    svc.check_components(world.principal("cong.ch"), ref, {"giay_de_nghi": 1, "ban_sao_cccd": 1})
    _scan_component(world, ref, "ban_sao_cccd")
    svc.receive(world.principal("cong.ch"), ref)
    dispatch.apply()
    assert [s["TrangThai"] for s in portal.state.statuses] == ["2"]
    assert len(receiver.applied) >= 4  # create, check, digitized, receive

    # The integrator goes down for the morning; the portal and the citizen go on hearing.
    receiver.stop()
    pay_fees(world, "cong.ch", ref)
    svc.route(world.principal("cong.ch"), ref)
    svc.take(world.principal("kinhte"), ref)
    _scan_result(world, ref)
    svc.finish(world.principal("kinhte"), ref, note="Đủ điều kiện")
    for _ in range(3):
        world.clock.advance(minutes=5)
        dispatch.apply()
    assert [s["TrangThai"] for s in portal.state.statuses] == ["2", "4", "9"]
    with session_scope(services.sessions) as session:
        waiting = session.scalars(
            select(OutboxDelivery).where(
                OutboxDelivery.subscriber == hook, OutboxDelivery.state == "pending"
            )
        ).all()
        assert waiting and max(d.attempts for d in waiting) >= 2  # retried, backing off
        assert sum(1 for d in waiting if d.attempts) == 1  # only the first in line is tried

    # Back after lunch: everything arrives, in order, once.
    receiver.start()
    world.clock.advance(hours=4)
    dispatch.apply()
    returned = client.post(
        f"/api/v1/dossiers/{ref}/return/counter",
        headers=counter,
        json={"recipient_name": NAME, "recipient_id": ID_NUMBER, "relation": "Chủ hồ sơ"},
    )
    assert returned.status_code in (200, 201), returned.text
    dispatch.apply()

    with session_scope(services.sessions) as session:
        written = [
            (e.id, e.kind)
            for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.dossier_id == ref).order_by(OutboxEvent.id)
            )
        ]
        states = {
            (d.subscriber, d.state)
            for d in session.scalars(select(OutboxDelivery).where(OutboxDelivery.dossier_id == ref))
        }
    assert [(r.event_id, r.kind) for r in receiver.applied] == written
    assert len(set(receiver.ids)) == len(receiver.ids) and receiver.refused == []
    assert all(state == "delivered" for _, state in states), states
    assert {"dvcqg", "notify.email", hook} == {name for name, _ in states}

    # The portal: one dossier, every status in order, every payload as documented.
    assert portal.state.violations == []
    assert portal.state.created == 1
    assert [s["TrangThai"] for s in portal.state.statuses] == ["2", "4", "9", "10"]
    assert len(portal.state.files) == 2  # the citizen's paper and the result, once each

    # The citizen: told of the reception with the appointment, and that the result is ready.
    subjects = [str(m["Subject"]) for _, _, m, _ in mailbox.mails]
    code = portal.state.statuses[0]["MaHoSo"]
    assert any(s.startswith(f"Hồ sơ {code} đã được tiếp nhận") for s in subjects), subjects
    assert f"Hồ sơ {code}: đã có kết quả" in subjects
    assert {rcpt for _, rcpts, _, _ in mailbox.mails for rcpt in rcpts} == {EMAIL}
    assert len(subjects) == len(set(subjects))  # none twice
