"""Citizen notifications and staff deadline alerts, delivered by the real outbox dispatcher.

E-mail goes to a real SMTP server (aiosmtpd, with AUTH, and STARTTLS in one test) and is read
back as a mail client would: subject and body decoded from their transfer encodings. SMS and
Zalo go to a real HTTP provider stand-in (tests/connect/sms_server.py) that checks the token,
the JSON, the phone number and the length, and fails on demand. Consent and opt-out are read
when a message is delivered; the opt-out endpoint is the lookup's twin (same secret, same 404).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from connect.base import Subscriber
from connect.dispatcher import DEAD, DELIVERED, PENDING, Dispatcher, DispatchPolicy
from connect.notify.channels import Message, SmtpChannel
from connect.notify.deadlines import alert_deadlines
from connect.notify.render import Links
from connect.notify.subscribers import Notifier
from connect.notify.templates import CITIZEN, ZNS_PARAMS
from core.errors import ConfigurationError
from dossiers.audit import AuditEvent
from dossiers.errors import InvalidInput
from dossiers.models import Dossier, OutboxDelivery, OutboxEvent, Staff, Unit
from dossiers.outbox import DEADLINE_NEAR
from dossiers.workflow.lookup import status_secret
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.connect.sms_server import SMS_MAX, ProviderServer
from tests.dossiers.world import ECONOMY, OWN, VN, World, make_world, pay_fees
from tests.fixtures.seaweedfs import free_ports
from wiring.asgi import application
from wiring.connect import notifiers
from wiring.factory import build

BUSINESS = ("2.000720", {"giay_de_nghi": 1, "ban_sao_cccd": 1})  # 3 working days, 100.000 đ
PROCEDURE_NAME = "Đăng ký thành lập hộ kinh doanh"
START = datetime(2026, 3, 2, 8, 0, tzinfo=VN)  # a Monday
EMAIL = "dang.hai@example.vn"
PHONE = "0912 345 678"
ID_NUMBER = "001090099999"
NAME = "Đặng Văn Hải"
PUBLIC = "https://motcua.example.vn"
SENDER = "Bộ phận Một cửa <motcua@hoabinh.example.vn>"
UNIT = "UBND phường Hòa Bình - Bộ phận Một cửa"  # the receiving one-stop unit, as named
SMTP_USER, SMTP_PASSWORD = "sohoa", "smtp-password-for-tests"


# -- the SMTP server ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the relay accepted: envelope and the message parsed as a mail client parses it."""

    mails: list[tuple[str, list[str], EmailMessage, bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), mail, raw))
        self.tls.append(session.ssl is not None)
        return "250 OK queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    def by_subject(self, start: str) -> list[EmailMessage]:
        return [m for _, _, m, _ in self.mails if str(m["Subject"]).startswith(start)]


def _start(mailbox: Mailbox, **kwargs: Any) -> tuple[Controller, int]:
    port = free_ports(1)[0]
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox.authenticate, **kwargs
    )
    controller.start()
    return controller, port


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A relay that offers a login on a plain connection (as one on the same host may); the
    tests check it was used. The STARTTLS test's relay requires both."""
    box = Mailbox()
    controller, port = _start(box, auth_require_tls=False)
    yield box, port
    controller.stop()


# The OA registered a template for every kind but the posted result.
ZALO_TEMPLATES = {kind: str(231000 + n) for n, kind in enumerate(sorted(ZNS_PARAMS)) if kind != "dossier.posted"}  # fmt: skip


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    server = ProviderServer(zns={t: set(ZNS_PARAMS[k]) for k, t in ZALO_TEMPLATES.items()})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(make_settings: Any, mailbox: tuple[Mailbox, int], provider: ProviderServer) -> World:
    services = build(
        make_settings(
            sign_forms=False,
            public_url=PUBLIC,
            smtp_host="127.0.0.1",
            smtp_port=mailbox[1],
            smtp_user=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
            smtp_starttls=False,
            smtp_from=SENDER,
            sms_url=provider.url("sms"),
            sms_token=provider.token,
            zalo_url=provider.url("zalo"),
            zalo_token=provider.token,
            zalo_templates=ZALO_TEMPLATES,
            public_rate_limit=0,
        )
    )
    return make_world(services, START)


def dispatcher(world: World, subs: list[Subscriber] | None = None) -> Dispatcher:
    chosen = subs if subs is not None else notifiers(world.services)
    return Dispatcher(
        world.services.sessions,
        lambda: chosen,
        clock=world.clock,
        policy=DispatchPolicy(base_delay=60, max_attempts=5),
    )


def opened(
    world: World,
    *,
    consent: bool = True,
    channels: tuple[str, ...] = ("email", "sms", "zalo"),
    collect_at: str = "counter",
    email: str = EMAIL,
) -> str:
    clerk = world.principal("cong.ch")
    return str(
        world.services.dossiers.create(
            clerk,
            procedure_code=BUSINESS[0],
            applicant=ApplicantIn(NAME, "CCCD", ID_NUMBER, PHONE, "Số 5 phố Huế", email),
            collect_at=collect_at,
            notify_consent=consent,
            notify_channels=list(channels),
        )
    )


def received(world: World, **kwargs: Any) -> tuple[str, str]:
    """A received dossier: (id, code)."""
    clerk = world.principal("cong.ch")
    ref = opened(world, **kwargs)
    world.services.dossiers.check_components(clerk, ref, BUSINESS[1])
    world.services.dossiers.receive(clerk, ref)
    return ref, str(world.services.dossiers.view(clerk, ref).code)


def deliveries(world: World, subscriber: str, kind: str) -> list[OutboxDelivery]:
    with session_scope(world.services.sessions) as session:
        rows = session.scalars(
            select(OutboxDelivery)
            .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
            .where(OutboxDelivery.subscriber == subscriber, OutboxEvent.kind == kind)
            .order_by(OutboxDelivery.id)
        ).all()
        session.expunge_all()
        return list(rows)


def vn(value: datetime | None) -> str:
    assert value is not None
    return value.astimezone(VN).strftime("%d/%m/%Y %H:%M")


def due_of(world: World, ref: str) -> datetime:
    with session_scope(world.services.sessions) as session:
        row = session.get(Dossier, ref)
        assert row is not None and row.due_at is not None
        return row.due_at


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None and part.get_content_charset() == "utf-8"
    text = part.get_content()
    assert isinstance(text, str)
    return text


def assert_impersonal(text: str) -> None:
    """Nothing more personal than the receipt: no name, ID number, phone or address."""
    for secret in (NAME, "Hải", ID_NUMBER, "0912", "345 678", "phố Huế"):
        assert secret not in text, secret


# -- e-mail ------------------------------------------------------------------------------------


def test_citizen_e_mails_for_reception_supplement_fees_result_and_refusal(
    world: World, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    svc, clerk = world.services.dossiers, world.principal("cong.ch")
    ref, code = received(world)
    appointment = vn(due_of(world, ref))
    assert appointment == "05/03/2026 17:00"  # Monday + 3 working days, end of day
    dispatcher(world).run()

    (mail,) = box.by_subject(f"Hồ sơ {code} đã được tiếp nhận")
    assert str(mail["Subject"]) == (
        f"Hồ sơ {code} đã được tiếp nhận – hẹn trả kết quả {appointment}"
    )
    sender, recipients, _, raw = box.mails[0]
    assert sender == "motcua@hoabinh.example.vn" and recipients == [EMAIL]
    assert box.logins  # the relay's login was used
    raw.decode("ascii")  # 7-bit clean on the wire: encoded words and a transfer encoding
    assert "UBND" not in raw.decode("ascii") and "=?utf-8?" in raw.decode("ascii").lower()
    assert str(mail["From"]) == SENDER and str(mail["To"]) == EMAIL
    assert str(mail["Auto-Submitted"]) == "auto-generated"
    body = body_of(mail)
    secret = status_secret(world.services.url_secret, code)
    status_url = f"{PUBLIC}/web/status/{code}?s={secret}"
    assert f"Mã hồ sơ: {code}" in body
    assert f"Thủ tục: {PROCEDURE_NAME}" in body
    assert f"Ngày hẹn trả kết quả: {appointment}" in body
    assert f"{UNIT} đã tiếp nhận hồ sơ của Ông/Bà." in body
    assert status_url in body
    opt_out = f"{PUBLIC}/web/opt-out/{code}?s={secret}"
    assert f"Để ngừng nhận thông báo về hồ sơ này: {opt_out}" in body
    assert str(mail["List-Unsubscribe"]) == (
        f"<{PUBLIC}/public/dossiers/{code}/opt-out?secret={secret}>"
    )
    assert_impersonal(body + str(mail["Subject"]))

    # The links in the message work: the status page shows the dossier, the opt-out page asks.
    client = TestClient(application(world.services))
    page = client.get(urlsplit(status_url).path + "?" + urlsplit(status_url).query)
    assert page.status_code == 200 and code in page.text
    page = client.get(urlsplit(opt_out).path + "?" + urlsplit(opt_out).query)
    assert page.status_code == 200 and f'value="{secret}"' in page.text

    # A supplement asked for after reception: what is missing and where to bring it.
    svc.request_supplement(
        clerk, ref, items=["Bản sao giấy tờ pháp lý của cá nhân (bản rõ nét)"], reason="Bản mờ"
    )
    svc.supplement(clerk, ref)
    # Routing finds the fee unpaid: the citizen is asked for it.
    svc.route(clerk, ref)
    dispatcher(world).run()
    (mail,) = box.by_subject(f"Hồ sơ {code}: đề nghị bổ sung giấy tờ")
    body = body_of(mail)
    assert "- Bản sao giấy tờ pháp lý của cá nhân (bản rõ nét)" in body
    assert "Lý do: Bản mờ" in body
    assert f"Nơi nộp bổ sung: {UNIT}" in body
    assert status_url in body
    (mail,) = box.by_subject(f"Hồ sơ {code}: đề nghị nộp phí, lệ phí")
    assert str(mail["Subject"]).endswith("100.000 đ")
    assert "- Lệ phí đăng ký hộ kinh doanh: 100.000 đ" in body_of(mail)

    pay_fees(world, "cong.ch", ref)
    svc.route(clerk, ref)
    economy = world.principal("kinhte")
    svc.take(economy, ref)
    svc.finish(economy, ref)
    dispatcher(world).run()
    (mail,) = box.by_subject(f"Hồ sơ {code}: đã có kết quả")
    body = body_of(mail)
    assert f"Mời Ông/Bà đến nhận kết quả tại {UNIT}," in body
    assert status_url in body and opt_out in body
    assert_impersonal(body)

    # Refused at the counter: never received, so no code and no status link, but the reason
    # and a working opt-out (by the dossier's id).
    other = opened(world, channels=("email",))
    svc.refuse(clerk, other, "Hồ sơ không thuộc thẩm quyền giải quyết của phường")
    dispatcher(world).run()
    (mail,) = box.by_subject("Hồ sơ thủ tục 2.000720 không được tiếp nhận")
    body = body_of(mail)
    assert "Lý do: Hồ sơ không thuộc thẩm quyền giải quyết của phường" in body
    assert "/web/status" not in body
    assert (
        f"{PUBLIC}/web/opt-out/{other}?s={status_secret(world.services.url_secret, other)}" in body
    )
    assert_impersonal(body)
    # Nothing was sent twice, and every delivery is logged as accepted by the relay.
    assert len(box.mails) == 5
    logged = deliveries(world, "notify.email", "dossier.receive")
    assert logged[0].state == DELIVERED and logged[0].last_response.startswith("250")


def _late_and_posted(world: World, **options: Any) -> str:
    """A dossier to be returned by post, late (an apology with a new date), finished and posted;
    its messages dispatched. Returns its code."""
    svc, clerk, economy = (
        world.services.dossiers,
        world.principal("cong.ch"),
        world.principal("kinhte"),
    )
    ref, code = received(world, collect_at="post", **options)
    pay_fees(world, "cong.ch", ref)
    svc.route(clerk, ref)
    svc.take(economy, ref)
    new_due = datetime(2026, 3, 10, 16, 30, tzinfo=VN)
    svc.apology(economy, ref, new_due=new_due, reason="Cần xác minh thêm tại địa phương")
    svc.finish(economy, ref)
    world.services.returns.by_post(clerk, ref, tracking_number="EB123456789VN", postal_fee=25000)
    dispatcher(world).run()
    return code


def test_apology_and_postal_return_e_mails(world: World, mailbox: tuple[Mailbox, int]) -> None:
    box, _ = mailbox
    code = _late_and_posted(world)
    (mail,) = box.by_subject(f"Hồ sơ {code}: thư xin lỗi")
    assert str(mail["Subject"]).endswith("10/03/2026 16:30")
    body = body_of(mail)
    assert "không giải quyết kịp ngày hẹn 05/03/2026 17:00" in body
    assert "Ngày hẹn trả kết quả mới: 10/03/2026 16:30" in body
    (mail,) = box.by_subject(f"Hồ sơ {code}: đã có kết quả")
    assert "qua dịch vụ bưu chính công ích" in body_of(mail)
    (mail,) = box.by_subject(f"Hồ sơ {code}: kết quả đã được gửi qua bưu chính")
    assert "Số hiệu bưu gửi: EB123456789VN" in body_of(mail)


def test_e_mail_over_starttls_with_login(world: World) -> None:
    """Against a relay that refuses anything before STARTTLS: the channel upgrades, checks the
    relay's certificate and logs in; a wrong certificate is a retryable failure."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    folder = world.services.settings.data_dir
    (folder / "relay.pem").write_bytes(pem)
    (folder / "relay.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "relay.pem", folder / "relay.key")
    box = Mailbox()
    controller, port = _start(
        box, tls_context=server_ctx, require_starttls=True, auth_required=True
    )
    try:
        trusted = ssl.create_default_context(cadata=pem.decode())
        channel = SmtpChannel(
            host="127.0.0.1",
            port=port,
            sender=SENDER,
            user=SMTP_USER,
            password=SMTP_PASSWORD,
            starttls=True,
            context=trusted,
        )
        links = Links(world.services.url_secret, PUBLIC)
        sub = Notifier(channel, world.services.sessions, links, clock=world.clock)
        _, code = received(world, channels=("email",))
        dispatcher(world, [sub]).run()
        (mail,) = box.by_subject(f"Hồ sơ {code} đã được tiếp nhận")
        assert box.tls == [True] and box.logins
        assert code in body_of(mail)

        # The system's trust store does not know this relay: refused, kept for a retry.
        untrusting = SmtpChannel(host="127.0.0.1", port=port, sender=SENDER, starttls=True)
        with pytest.raises(Exception) as failure:
            untrusting.send(EMAIL, Message(subject="x", text="y", ref="sohoa-test"))
        assert getattr(failure.value, "retryable", False) is True
        assert "cannot reach the mail relay" in str(failure.value)

        # Configured as an installation is: the relay's CA named in SOHOA_SMTP_CA_FILE.
        settings = world.services.settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_user": SMTP_USER,
                "smtp_password": SecretStr(SMTP_PASSWORD),
                "smtp_starttls": True,
                "smtp_from": SENDER,
                "smtp_ca_file": folder / "relay.pem",
            }
        )
        (wired,) = [s for s in notifiers(build(settings)) if s.name == "notify.email"]
        wired.channel.send(EMAIL, Message(subject="qua relay", text="y", ref="sohoa-test"))  # type: ignore[attr-defined]
        assert box.by_subject("qua relay") and box.tls[-1] is True
        with pytest.raises(ConfigurationError, match="SOHOA_SMTP_CA_FILE"):
            notifiers(build(settings.model_copy(update={"smtp_ca_file": folder / "relay.key"})))
    finally:
        controller.stop()


# -- SMS and Zalo ------------------------------------------------------------------------------


def test_sms_and_zalo_through_the_provider(world: World, provider: ProviderServer) -> None:
    _, code = received(world, channels=("sms", "zalo"))
    dispatcher(world).run()
    assert provider.violations == []
    (sms,) = [r for r in provider.received if r.path == "/sms"]
    (zalo,) = [r for r in provider.received if r.path == "/zalo"]
    assert sms.body["to"] == "84912345678" and zalo.body["phone"] == "84912345678"
    text = sms.body["text"]
    secret = status_secret(world.services.url_secret, code)
    assert text.startswith(f"{UNIT}: đã tiếp nhận hồ sơ {code}, hẹn trả kết quả")
    assert "05/03/2026 17:00" in text and f"/web/status/{code}?s={secret}" in text
    assert f"Ngừng nhận tin: {PUBLIC}/web/opt-out/{code}?s={secret}" in text
    assert len(text) <= SMS_MAX
    assert_impersonal(text)
    # Zalo: the template the OA registered for the kind, its parameters filled, no free text.
    assert zalo.body["template_id"] == ZALO_TEMPLATES["dossier.receive"]
    params = zalo.body["template_data"]
    assert params["ma_ho_so"] == code and params["ngay_hen"] == "05/03/2026 17:00"
    assert params["don_vi"] == UNIT and params["thu_tuc"] == PROCEDURE_NAME
    assert params["tra_cuu"].endswith(f"/web/status/{code}?s={secret}")
    assert params["ngung_nhan"] == f"{PUBLIC}/web/opt-out/{code}?s={secret}"
    assert_impersonal(" ".join(params.values()))
    # Both carry the event's stable reference, so the provider can tell a repeat.
    assert sms.body["ref"].endswith("-sms") and zalo.body["tracking_id"].endswith("-zalo")
    # No e-mail was chosen: the e-mail subscriber said so.
    (mail,) = deliveries(world, "notify.email", "dossier.receive")
    assert mail.state == DELIVERED and mail.last_response == "skipped: email not chosen"
    (logged,) = deliveries(world, "notify.sms", "dossier.receive")
    # The gateway's answer is in the log: its message id (numbered across both channels).
    position = [r.path for r in provider.received].index("/sms") + 1
    assert logged.last_response == f"200 id=sms-{position}"

    # A unit with a very long name still fits five SMS segments: the name is cut, not the links.
    with session_scope(world.services.sessions) as session:
        unit = session.get(Unit, OWN)
        assert unit is not None
        unit.name = "Trung tâm Phục vụ hành chính công " + "phường Hòa Bình mở rộng " * 8
    _, code = received(world, channels=("sms",))
    dispatcher(world).run()
    assert provider.violations == []
    text = provider.texts("sms")[-1]
    assert len(text) <= SMS_MAX and "…: đã tiếp nhận hồ sơ" in text
    assert f"/web/status/{code}?s=" in text and "Ngừng nhận tin:" in text


def test_a_provider_down_is_retried_and_a_refusal_is_a_dead_letter(
    world: World, provider: ProviderServer
) -> None:
    run = dispatcher(world)
    provider.fail(500, times=2)  # both channels' first tries
    received(world, channels=("sms", "zalo"))
    run.run()
    assert provider.received == [] and provider.attempts == 2
    for name in ("notify.sms", "notify.zalo"):
        (row,) = deliveries(world, name, "dossier.receive")
        assert row.state == PENDING and row.attempts == 1 and row.last_response.startswith("500")
    world.clock.advance(minutes=5)
    run.run()
    assert len(provider.received) == 2 and provider.violations == []
    for name in ("notify.sms", "notify.zalo"):
        (row,) = deliveries(world, name, "dossier.receive")
        assert row.state == DELIVERED and row.attempts == 2

    # The provider refuses the message itself: a 400, and a 200 that says error (Zalo's way).
    provider.fail(400, body={"error": "invalid sender"})
    provider.fail(200, body={"error": -108, "message": "Phone number invalid"})
    ref, _ = received(world, channels=("sms", "zalo"))
    run.run()
    rows = [r for r in deliveries(world, "notify.sms", "dossier.receive") if r.dossier_id == ref]
    rows += [r for r in deliveries(world, "notify.zalo", "dossier.receive") if r.dossier_id == ref]
    assert [r.state for r in rows] == [DEAD, DEAD] and all(r.attempts == 1 for r in rows)
    assert {r.last_response.split()[0] for r in rows} == {"400", "200"}
    assert any("error -108" in r.last_response for r in rows)
    assert provider.violations == []


def test_zalo_sends_each_kind_with_its_registered_template(
    world: World, provider: ProviderServer
) -> None:
    """Apology, result and postal return on Zalo: each message is the template the OA registered
    for its kind, with that template's parameters; a kind without one is logged, not sent."""
    code = _late_and_posted(world, channels=("zalo",))
    assert provider.violations == []
    sent = {r.body["template_id"]: r.body["template_data"] for r in provider.received}
    apology = sent[ZALO_TEMPLATES["dossier.apology"]]
    assert apology["ngay_hen"] == "10/03/2026 16:30" and apology["ma_ho_so"] == code
    assert apology["ly_do"] == "Cần xác minh thêm tại địa phương"
    assert sent[ZALO_TEMPLATES["dossier.finish"]]["nhan_ket_qua"] == "Kết quả sẽ gửi qua bưu chính"
    (posted,) = deliveries(world, "notify.zalo", "dossier.posted")
    assert posted.state == DELIVERED
    assert posted.last_response == "skipped: no Zalo template registered for dossier.posted"
    assert len(provider.received) == len(sent)  # one message per kind, none twice


def test_zalo_needs_its_registered_templates_to_start(make_settings: Any) -> None:
    assert set(ZNS_PARAMS) == set(CITIZEN)  # a parameter list for every citizen message
    for templates, says in (
        ({}, "SOHOA_ZALO_TEMPLATES is not"),
        ({"dossier.receive": "1", "dossier.reecive": "2"}, "dossier.reecive"),
        ({"dossier.receive": "12 34"}, "dossier.receive"),
    ):
        with pytest.raises(ConfigurationError, match=says):
            build(make_settings(zalo_url="http://127.0.0.1:9/zalo", zalo_templates=templates))


def test_the_provider_checks_what_it_is_sent(world: World, provider: ProviderServer) -> None:
    """The stand-in is strict: a wrong token or a landline is refused and noticed."""
    from connect.notify.channels import HttpProvider, HttpSmsChannel

    bad = HttpSmsChannel(HttpProvider(provider.url("sms"), "wrong-token"))
    with pytest.raises(Exception) as failure:
        bad.send("0912345678", Message(subject="", text="Xin chào", ref="sohoa-1-sms"))
    assert getattr(failure.value, "retryable", None) is False  # 400 from the checks
    assert provider.violations == ["wrong or missing bearer token"]
    good = HttpSmsChannel(HttpProvider(provider.url("sms"), provider.token))
    with pytest.raises(Exception) as failure:
        good.send("024 3825 1234", Message(subject="", text="Xin chào", ref="sohoa-2-sms"))
    assert "not a Vietnamese mobile number" in str(failure.value)
    assert provider.attempts == 1  # refused before it left


# -- consent and opt-out -----------------------------------------------------------------------


def test_without_consent_or_after_an_opt_out_nothing_is_sent(
    world: World, mailbox: tuple[Mailbox, int], provider: ProviderServer
) -> None:
    box, _ = mailbox
    silent, _ = received(world, consent=False, channels=())
    dispatcher(world).run()
    assert box.mails == [] and provider.received == []
    for name in ("notify.email", "notify.sms", "notify.zalo"):
        (row,) = deliveries(world, name, "dossier.receive")
        assert row.dossier_id == silent and row.last_response == "skipped: no consent"

    # Opted out after the event was written, before it was delivered: still nothing.
    ref, code = received(world)
    client = TestClient(application(world.services))
    secret = status_secret(world.services.url_secret, code)
    answer = client.post(f"/public/dossiers/{code}/opt-out", params={"secret": secret})
    assert answer.status_code == 200, answer.text
    dispatcher(world).run()
    assert box.mails == [] and provider.received == []
    for name in ("notify.email", "notify.sms", "notify.zalo"):
        rows = [r for r in deliveries(world, name, "dossier.receive") if r.dossier_id == ref]
        assert [r.last_response for r in rows] == ["skipped: opted out"]


def test_the_opt_out_endpoint_is_no_oracle(make_settings: Any) -> None:
    services = build(make_settings(sign_forms=False, public_rate_limit=6, public_rate_window=60))
    world = make_world(services, START)
    ref, code = received(world)
    client = TestClient(application(services))
    secret = status_secret(services.url_secret, code)
    wrong = client.post(f"/public/dossiers/{code}/opt-out", params={"secret": "ABCD-EFGH"})
    unknown = client.post(
        "/public/dossiers/000.00.16.H99-260302-9999/opt-out", params={"secret": secret}
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == unknown.json()["code"] == "dossier_not_found"
    with session_scope(services.sessions) as session:
        row = session.get(Dossier, ref)
        assert row is not None and row.notify_opted_out_at is None
    # As a mail client's one-click unsubscribe sends it (RFC 8058), the secret as printed.
    one_click = client.post(
        f"/public/dossiers/{code}/opt-out",
        params={"secret": f"{secret[:4]}-{secret[4:]}".lower()},
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200, one_click.text
    assert one_click.headers["Cache-Control"] == "no-store"
    first = one_click.json()["opted_out_at"]
    world.clock.advance(hours=1)
    again = client.post(f"/public/dossiers/{code}/opt-out", params={"secret": secret})
    assert again.status_code == 200 and again.json()["opted_out_at"] == first
    with session_scope(services.sessions) as session:
        row = session.get(Dossier, ref)
        assert row is not None and vn(row.notify_opted_out_at) == "02/03/2026 08:00"
        audited = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "dossier.notify_opt_out")
            .order_by(AuditEvent.seq)
        ).all()
        assert [a.data["found"] for a in audited] == [False, False, True, True]
    # The public budget holds here as on the lookup: six calls a window, the 7th is refused.
    answers = [
        client.post(f"/public/dossiers/{code}/opt-out", params={"secret": secret}) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" in answers[-1].headers
    services.engine.dispose()


def test_the_opt_out_page_asks_then_stops(world: World) -> None:
    ref = opened(world, channels=("email",))  # not received: named by its id
    client = TestClient(application(world.services))
    secret = status_secret(world.services.url_secret, ref)
    asked = client.get(f"/web/opt-out/{ref}", params={"s": secret})
    assert asked.status_code == 200 and "Ngừng nhận thông báo" in asked.text
    with session_scope(world.services.sessions) as session:
        row = session.get(Dossier, ref)
        assert row is not None and row.notify_opted_out_at is None  # a GET stops nothing
    refused = client.post(f"/web/opt-out/{ref}", data={"s": "ABCDEFGH"})
    assert refused.status_code == 404
    done = client.post(f"/web/opt-out/{ref}", data={"s": secret})
    assert done.status_code == 200 and ref in done.text
    with session_scope(world.services.sessions) as session:
        row = session.get(Dossier, ref)
        assert row is not None and row.notify_opted_out_at is not None


def test_consent_is_recorded_and_checked_at_creation(world: World) -> None:
    client = TestClient(application(world.services))
    headers = world.headers("cong.ch")
    body: dict[str, Any] = {
        "procedure_code": BUSINESS[0],
        "applicant": {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE, "email": EMAIL},
        "notify_consent": True,
        "notify_channels": ["email", "sms", "sms"],
    }
    made = client.post("/api/v1/dossiers", json=body, headers=headers)
    assert made.status_code == 201, made.text
    # Older clients send none of it: no consent.
    plain = client.post(
        "/api/v1/dossiers",
        json={"procedure_code": BUSINESS[0], "applicant": {"name": NAME, "id_number": ID_NUMBER}},
        headers=headers,
    )
    assert plain.status_code == 201, plain.text
    with session_scope(world.services.sessions) as session:
        one = session.get(Dossier, made.json()["id"])
        two = session.get(Dossier, plain.json()["id"])
        assert one is not None and two is not None
        assert (one.notify_consent, one.notify_channels, one.applicant_email) == (
            True,
            ["email", "sms"],
            EMAIL,
        )
        assert (two.notify_consent, two.notify_channels, two.applicant_email) == (False, [], "")

    refusals: list[tuple[dict[str, Any], str]] = [
        ({"notify_channels": ["email"]}, "notify_consent"),  # channels without consent
        ({"notify_consent": True}, "notify_channels"),  # consent without a channel
        ({"notify_consent": True, "notify_channels": ["sms"], "phone": "024 3825 1234"}, "phone"),
        ({"notify_consent": True, "notify_channels": ["email"], "email": ""}, "email"),
        ({"email": "không phải địa chỉ"}, "email"),
    ]
    for change, named in refusals:
        applicant = {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE, "email": EMAIL}
        for key in ("phone", "email"):
            if key in change:
                applicant[key] = change.pop(key)
        answer = client.post(
            "/api/v1/dossiers",
            json={"procedure_code": BUSINESS[0], "applicant": applicant, **change},
            headers=headers,
        )
        assert answer.status_code == 422, (change, answer.text)
        assert answer.json()["code"] == "notify_invalid" and answer.json()["field"] == named
    unknown = client.post(
        "/api/v1/dossiers",
        json={**body, "notify_channels": ["fax"]},
        headers=headers,
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_request"
    with pytest.raises(InvalidInput):  # the domain refuses it too, whoever calls
        opened(world, channels=("fax",))


# -- the staff's deadline alerts ---------------------------------------------------------------


def test_a_deadline_alert_is_raised_once_and_mailed_to_whoever_holds_the_dossier(
    world: World, mailbox: tuple[Mailbox, int], provider: ProviderServer
) -> None:
    box, _ = mailbox
    with session_scope(world.services.sessions) as session:
        for staff_id, email in (
            ("cong.ch", "cong@hoabinh.example.vn"),
            ("lan.nt", "lan@hoabinh.example.vn"),
            ("minh.tv", "minh@tanlap.example.vn"),  # counter of another unit
            ("kinhte", "kinhte@phong.example.vn"),
            ("tuphap", "tuphap@phong.example.vn"),  # another agency
        ):
            staff = session.get(Staff, staff_id)
            assert staff is not None
            staff.email = email
    svc, clerk = world.services.dossiers, world.principal("cong.ch")
    ref, code = received(world, consent=False, channels=())
    sessions, hours = world.services.sessions, world.services.settings.deadline_alert_hours
    assert hours == 24
    due = due_of(world, ref)
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 0  # three days away
    world.clock.set(due - timedelta(hours=20))
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 1
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 0  # once
    world.clock.advance(hours=1)
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 0
    with session_scope(sessions) as session:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.kind == DEADLINE_NEAR)).all()
        assert len(events) == 1 and events[0].dossier_id == ref
    dispatcher(world).run()
    (mail,) = box.by_subject("[Sắp đến hạn]")
    _, recipients, _, _ = box.mails[-1]
    assert sorted(recipients) == ["cong@hoabinh.example.vn", "lan@hoabinh.example.vn"]
    assert str(mail["Subject"]) == f"[Sắp đến hạn] Hồ sơ {code} – hạn trả kết quả {vn(due)}"
    body = body_of(mail)
    assert "còn khoảng 19 giờ" in body and f"Đang giải quyết tại: {UNIT}" in body
    assert f"{PUBLIC}/web/dossiers/{ref}" in body
    # The citizen's channels do not carry staff alerts.
    assert deliveries(world, "notify.sms", DEADLINE_NEAR) == []
    assert provider.received == []

    # At the agency, an apology sets a new date: the next alert goes to the agency's officers.
    pay_fees(world, "cong.ch", ref)
    svc.route(clerk, ref)
    economy = world.principal("kinhte")
    svc.take(economy, ref)
    new_due = datetime(2026, 3, 12, 16, 0, tzinfo=VN)
    svc.apology(economy, ref, new_due=new_due, reason="Cần xác minh")
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 0
    world.clock.set(new_due + timedelta(minutes=30))  # nobody ran it in time: already late
    assert alert_deadlines(sessions, now=world.clock(), hours=hours) == 1
    dispatcher(world).run()
    (mail,) = box.by_subject("[Quá hạn]")
    _, recipients, _, _ = box.mails[-1]
    assert recipients == ["kinhte@phong.example.vn"]
    assert "đã quá hạn trả kết quả" in body_of(mail) and ECONOMY != OWN


def test_an_alert_for_a_deadline_that_moved_is_not_sent(
    world: World, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    with session_scope(world.services.sessions) as session:
        staff = session.get(Staff, "cong.ch")
        assert staff is not None
        staff.email = "cong@hoabinh.example.vn"
    ref, _ = received(world, consent=False, channels=())
    world.clock.set(due_of(world, ref) - timedelta(hours=2))
    assert alert_deadlines(world.services.sessions, now=world.clock(), hours=24) == 1
    world.services.dossiers.apology(
        world.principal("cong.ch"),
        ref,
        new_due=datetime(2026, 3, 20, 16, 0, tzinfo=VN),
        reason="Chờ ý kiến cơ quan khác",
    )
    dispatcher(world).run()
    assert box.by_subject("[") == []
    (row,) = deliveries(world, "notify.email", DEADLINE_NEAR)
    assert row.last_response == "skipped: the deadline moved since"


def test_channels_are_off_until_configured(make_settings: Any) -> None:
    services = build(make_settings(sign_forms=False))
    assert notifiers(services) == []
    services = build(make_settings(sign_forms=False, sms_url="http://127.0.0.1:9/sms"))
    assert [s.name for s in notifiers(services)] == ["notify.sms"]


def test_the_alerts_run_on_beat_beside_the_outbox(world: World) -> None:
    from connect.notify.tasks import DEADLINE_TASK

    ref, _ = received(world, consent=False, channels=())
    app = world.services.celery
    entry = app.conf.beat_schedule["deadline-alerts"]
    assert entry["task"] == DEADLINE_TASK and "outbox-dispatch" in app.conf.beat_schedule
    assert entry["schedule"] == timedelta(seconds=900)
    world.clock.set(due_of(world, ref) - timedelta(hours=1))
    assert app.tasks[DEADLINE_TASK]() == {"alerted": 1}  # the task as a worker runs it
    assert app.tasks[DEADLINE_TASK]() == {"alerted": 0}


@pytest.mark.postgres
def test_two_alert_runs_at_once_alert_once_on_postgresql(
    make_settings: Any, pg_database: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    services = build(make_settings(sign_forms=False, database_url=pg_database))
    world = make_world(services, START)
    refs = [received(world, consent=False, channels=())[0] for _ in range(5)]
    world.clock.set(due_of(world, refs[0]) - timedelta(hours=3))
    with ThreadPoolExecutor(4) as pool:
        counts = list(
            pool.map(
                lambda _: alert_deadlines(services.sessions, now=world.clock(), hours=24),
                range(4),
            )
        )
    assert sum(counts) == 5
    with session_scope(services.sessions) as session:
        kinds = session.scalars(
            select(OutboxEvent.dossier_id).where(OutboxEvent.kind == DEADLINE_NEAR)
        )
        assert sorted(kinds) == sorted(refs)
    services.engine.dispose()
