"""The outbox's side of the composition root: which subscribers this installation has, from its
settings (the portal, notification channels) and its database (integrators' webhooks), and
the dispatcher that serves them."""

from __future__ import annotations

import functools
import re
import ssl
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from connect.base import Subscriber
    from connect.dispatcher import Dispatcher
    from connect.dvcqg.client import TokenCache
    from core.settings import Settings
    from storage.objects import ObjectStore


class Services(Protocol):
    """What the outbox needs of :class:`wiring.factory.Services` (which builds it)."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    clock: Callable[[], datetime]

    @property
    def url_secret(self) -> bytes: ...


def subscribers(services: Services) -> list[Subscriber]:
    """Every destination configured now; read again on each dispatcher run, so a webhook made
    through the admin API is served without a restart."""
    subs: list[Subscriber] = []
    # -- the national portal / provincial one-stop system (DVCQG sync) --
    if services.settings.dvcqg_url:
        subs.append(dvcqg_subscriber(services))
    # -- citizen notifications and staff alerts --
    subs.extend(notifiers(services))
    # -- integrators' webhooks --
    from connect.webhooks import active_subscribers, https_required

    guard = https_required(services.settings.public_url)
    subs.extend(active_subscribers(services.sessions, services.url_secret, guard=guard))
    return subs


def notifiers(services: Services) -> list[Subscriber]:
    """``notify.email`` (citizens, and the staff's deadline alerts), ``notify.sms`` and
    ``notify.zalo``: each only when its channel is configured."""
    from connect.notify.channels import (
        Channel,
        HttpProvider,
        HttpSmsChannel,
        SmtpChannel,
        ZaloOaChannel,
    )
    from connect.notify.render import Links
    from connect.notify.subscribers import Notifier

    s = services.settings
    links = Links(services.url_secret, s.public_url)
    subs: list[Subscriber] = []

    def notifier(channel: Channel, staff: SmtpChannel | None = None) -> Notifier:
        return Notifier(
            channel,
            services.sessions,
            links,
            timezone=s.timezone,
            clock=lambda: services.clock(),
            staff=staff,
            system_name=s.system_name,
        )

    if s.smtp_host and s.smtp_from:
        smtp = SmtpChannel(
            host=s.smtp_host,
            sender=s.smtp_from,
            port=s.smtp_port,
            user=s.smtp_user,
            password=s.smtp_password.get_secret_value(),
            starttls=s.smtp_starttls,
            use_ssl=s.smtp_ssl,
            timeout=s.notify_timeout,
            context=_relay_context(s.smtp_ca_file),
        )
        subs.append(notifier(smtp, staff=smtp))
    if s.sms_url:
        sms = HttpProvider(s.sms_url, s.sms_token.get_secret_value(), timeout=s.notify_timeout)
        subs.append(notifier(HttpSmsChannel(sms)))
    if s.zalo_url:
        zalo = HttpProvider(s.zalo_url, s.zalo_token.get_secret_value(), timeout=s.notify_timeout)
        subs.append(notifier(ZaloOaChannel(zalo, dict(s.zalo_templates))))
    return subs


def dvcqg_subscriber(services: Services) -> Subscriber:
    """The portal's subscriber from the settings. Subscribers are rebuilt on every dispatcher
    run, so the bearer token lives in a cache of the process, not in the subscriber."""
    from connect.dvcqg.client import DvcqgClient, PortalConfig
    from connect.dvcqg.payload import BuilderChoice
    from connect.dvcqg.subscriber import DvcqgSubscriber

    s = services.settings
    assert s.dvcqg_url
    client = DvcqgClient(
        PortalConfig(
            url=s.dvcqg_url,
            username=s.dvcqg_username,
            password=s.dvcqg_password.get_secret_value(),
            grant=s.dvcqg_grant,
            timeout=s.dvcqg_timeout,
        ),
        tokens=_portal_tokens(),
    )
    return DvcqgSubscriber(
        services.sessions,
        services.store,
        client,
        BuilderChoice(s.dvcqg_builder),
        use_portal_codes=s.dvcqg_use_portal_codes,
        work_dir=s.work_dir,
        budget_seconds=upload_budget(s),
    )


def upload_budget(s: Settings) -> float:
    """Seconds a portal delivery may spend uploading: what the dispatcher's lease leaves after
    the calls that still follow, each at its timeout (the settings check it is positive)."""
    from core.settings import LEASE_CALLS

    return s.outbox_lease_seconds - LEASE_CALLS * s.dvcqg_timeout - 10


@functools.cache
def _portal_tokens() -> TokenCache:
    from connect.dvcqg.client import TokenCache

    return TokenCache()


def make_dispatcher(services: Services) -> Dispatcher:
    from connect.dispatcher import Dispatcher, DispatchPolicy

    s = services.settings
    return Dispatcher(
        services.sessions,
        lambda: subscribers(services),
        clock=lambda: services.clock(),
        policy=DispatchPolicy(
            max_attempts=s.outbox_max_attempts,
            base_delay=s.outbox_base_delay,
            concurrency=s.outbox_concurrency,
            lease_seconds=s.outbox_lease_seconds,
        ),
    )


def check_connect_setup(settings: Settings) -> None:
    """Refuse to start where a connector would send a credential or a citizen's data in the
    clear: the portal, the SMS and Zalo providers over http:// to another machine, or an SMTP
    login without TLS. A test server on this machine is allowed."""
    from urllib.parse import urlsplit

    from connect.webhooks import https_required
    from core.errors import ConfigurationError

    for name, url in (
        ("SOHOA_DVCQG_URL", settings.dvcqg_url),
        ("SOHOA_SMS_URL", settings.sms_url),
        ("SOHOA_ZALO_URL", settings.zalo_url),
    ):
        if url and urlsplit(url).scheme != "https" and https_required(url):
            raise ConfigurationError(
                f"{name} must be an https:// URL: the connection carries a token and the "
                "citizen's data (http:// is allowed to this machine only, for tests)"
            )
    _check_zalo_templates(settings)
    smtp = settings.smtp_host
    if (
        smtp
        and settings.smtp_password.get_secret_value()
        and not (settings.smtp_starttls or settings.smtp_ssl)
        and https_required(f"smtp://{smtp}")
    ):
        raise ConfigurationError(
            "SOHOA_SMTP_PASSWORD would cross the network in the clear: set SOHOA_SMTP_STARTTLS "
            "or SOHOA_SMTP_SSL (a relay on this machine may go without)"
        )


def _check_zalo_templates(settings: Settings) -> None:
    """Zalo sends registered templates only: without any, or with a kind we have no message
    for, nothing would ever arrive and nobody would notice; say so at the start."""
    from connect.notify.templates import ZNS_PARAMS
    from core.errors import ConfigurationError

    templates = settings.zalo_templates
    if settings.zalo_url and not templates:
        raise ConfigurationError(
            "SOHOA_ZALO_URL is set but SOHOA_ZALO_TEMPLATES is not: Zalo sends only templates "
            'the OA registered, e.g. {"dossier.receive": "231456"} (kinds and parameters: '
            "connect/notify/templates.py, ZNS_PARAMS)"
        )
    unknown = sorted(set(templates) - set(ZNS_PARAMS))
    if unknown:
        raise ConfigurationError(
            f"SOHOA_ZALO_TEMPLATES names kinds without a citizen message: {unknown[:5]} "
            f"(the kinds are {sorted(ZNS_PARAMS)})"
        )
    bad = sorted(k for k, v in templates.items() if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", v))
    if bad:
        raise ConfigurationError(
            f"SOHOA_ZALO_TEMPLATES: the template id of {bad[:5]} is not 1 to 64 letters, "
            "digits, - or _"
        )


def _relay_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """TLS to the mail relay trusting ``ca_file`` (a province's own CA); None: the system's."""
    if ca_file is None:
        return None
    from core.errors import ConfigurationError

    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"SOHOA_SMTP_CA_FILE cannot be read as PEM certificates ({type(exc).__name__})"
        ) from exc
