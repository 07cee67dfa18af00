"""The administrator's connections page: what reached the national portal, what waits to leave
the system, and the integrators' webhooks.

Every administrator reads the sync rate, as the report API gives it; one with a unit manages
its province's webhooks only. The outbox serves every unit, so its queue and its dead letters
(and the buttons that send them again) are for an administrator without a unit, as in the admin
API. Every change goes through the services the
API calls (:class:`connect.webhooks.WebhookService`, :meth:`connect.dispatcher.Dispatcher.replay`)
with the API's body model as the form's validation. A new or rotated secret is shown in the
answer to its POST only, as a new token is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from api.context import AppServices
from api.params import Day
from api.routers.webhooks import WebhookBody, webhook_service
from connect.dispatcher import DEAD, DeliveryView, SubscriberMetrics
from connect.dvcqg.report import SUBSCRIBER as PORTAL
from connect.dvcqg.report import DvcqgSyncReport, sync_rate
from connect.webhooks import SUBSCRIBER_PREFIX, WebhookView, WebhookWithSecret
from core.errors import SohoaError
from dossiers.access import Principal, require_installation_admin
from dossiers.calendar import local_days
from dossiers.models import Dossier
from storage.db import session_scope
from web import render
from web.deps import PageRoute, Svc
from web.i18n import Gettext
from web.pages.admin import (
    AdminUser,
    Refusal,
    Values,
    _done,
    _from_problem,
    _from_validation,
    _gettext,
    _refusable,
    _show,
    _today,
)

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

PAGE = "/web/admin/connections"
NOT_SYNCED_SHOWN = 50
DEAD_SHOWN = 5  # the latest dead letters shown per subscriber, to read why before replaying
REPLAY_MAX = 500  # dead letters one press of the button sends again
_DAY: TypeAdapter[date] = TypeAdapter(Day)  # the API's days: ISO, within a century of today


@dataclass(frozen=True)
class Destination:
    """One subscriber's row in the queue table."""

    name: str
    label: str
    numbers: SubscriberMetrics
    dead: list[DeliveryView]


def _installation_admin(user: Principal) -> bool:
    return user.unit_code is None


def _label(name: str, hooks: dict[str, WebhookView], _: Gettext) -> str:
    fixed = {
        PORTAL: _("National portal (DVCQG)"),
        "notify.email": _("E-mail to citizens and staff"),
        "notify.sms": _("SMS to citizens"),
        "notify.zalo": _("Zalo messages to citizens"),
    }
    if name in fixed:
        return fixed[name]
    if name.startswith(SUBSCRIBER_PREFIX):
        hook = hooks.get(name)
        return _("Webhook {url}", url=hook.url if hook else name[len(SUBSCRIBER_PREFIX) :])
    return name


def _period(svc: AppServices, since: date | None, until: date | None) -> tuple[date, date]:
    """The month so far unless asked; a period that ends before it starts is turned round."""
    today = _today(svc)
    start, end = since or today.replace(day=1), until or today
    return (end, start) if end < start else (start, end)


def _sync(svc: AppServices, user: Principal, start: date, end: date) -> DvcqgSyncReport:
    """Dossiers received on local days ``start`` to ``end`` (inclusive), within the user's units."""
    begin, stop = local_days(start, end)
    with session_scope(svc.sessions) as session:
        return sync_rate(session, user, begin, stop, limit=NOT_SYNCED_SHOWN)


def _queue(
    svc: AppServices, hooks: dict[str, WebhookView], _: Gettext
) -> tuple[int, list[Destination]]:
    """Events not fanned out yet, and each destination's numbers with its latest dead letters."""
    metrics = svc.dispatcher.metrics()
    rows = []
    for name, numbers in metrics.subscribers.items():
        dead = svc.dispatcher.deliveries(name, limit=DEAD_SHOWN, state=DEAD) if numbers.dead else []
        rows.append(Destination(name, _label(name, hooks, _), numbers, dead))
    return metrics.undispatched, rows


def _codes(svc: AppServices, destinations: list[Destination]) -> dict[str, str]:
    """Dossier codes of the dead letters shown: one statement, whatever their number."""
    ids = {d.dossier_id for dest in destinations for d in dest.dead if d.dossier_id}
    if not ids:
        return {}
    with session_scope(svc.sessions) as session:
        return {
            row.id: row.code or ""
            for row in session.execute(
                select(Dossier.id, Dossier.code).where(Dossier.id.in_(sorted(ids)))
            )
        }


def _page(
    request: Request,
    svc: AppServices,
    user: Principal,
    *,
    since: date | None = None,
    until: date | None = None,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    _ = _gettext(request)
    start, end = _period(svc, since, until)
    report = _sync(svc, user, start, end)
    hooks = webhook_service(svc).list(user).items
    undispatched, queue = 0, None
    if _installation_admin(user):
        undispatched, queue = _queue(svc, {h.subscriber: h for h in hooks}, _)
    return _show(
        request,
        "admin/connections.html",
        status_code=refusal.status if refusal else 200,
        portal_configured=bool(svc.settings.dvcqg_url),
        since=start,
        until=end,
        report=report,
        not_synced=[(n, datetime.fromisoformat(n.received_at)) for n in report.not_synced],
        hooks=hooks,
        queue=queue,
        undispatched=undispatched,
        codes=_codes(svc, queue or []),
        values=values or {"scope": "unit", "events": "dossier.*"},
        refusal=refusal,
    )


@router.get("/admin/connections")
def connections(
    request: Request,
    svc: Svc,
    user: AdminUser,
    since: Annotated[Day | None, Query()] = None,
    until: Annotated[Day | None, Query()] = None,
) -> Response:
    return _page(request, svc, user, since=since, until=until)


LOG_PAGE = 50  # deliveries a log page shows at a time
Before = Annotated[int | None, Query(ge=1, le=2**62)]


@router.get("/admin/connections/webhooks/{webhook_id}")
def webhook_log(
    request: Request,
    webhook_id: str,
    svc: Svc,
    user: AdminUser,
    before: Before = None,
) -> Response:
    """One webhook's deliveries, newest first, with the receiver's answers: what an
    administrator reads with the integrator on the phone."""
    service = webhook_service(svc)
    hook = service.get(user, webhook_id)
    log = service.deliveries(user, webhook_id, svc.dispatcher, before=before, limit=LOG_PAGE)
    return _show(
        request,
        "admin/delivery_log.html",
        label=hook.url,
        hook=hook,
        items=log.items,
        next_before=log.next_before,
    )


@router.get("/admin/connections/destinations/{subscriber}")
def destination_log(
    request: Request,
    subscriber: Annotated[str, Path(max_length=64)],
    svc: Svc,
    user: AdminUser,
    before: Before = None,
) -> Response:
    """Any destination's deliveries (the portal, a notification channel), for an
    administrator without a unit, as the outbox serves every unit."""
    require_installation_admin(user, "the outbox")
    items = svc.dispatcher.deliveries(subscriber, limit=LOG_PAGE, before_id=before)
    hooks = {h.subscriber: h for h in webhook_service(svc).list(user).items}
    return _show(
        request,
        "admin/delivery_log.html",
        label=_label(subscriber, hooks, _gettext(request)),
        hook=hooks.get(subscriber),
        items=items,
        next_before=items[-1].id if len(items) == LOG_PAGE else None,
    )


def _secret_page(request: Request, made: WebhookWithSecret, rotated: bool) -> Response:
    """The secret appears in this answer only: not in a redirect, a cookie or the database."""
    response = render.page(request, "admin/webhook_secret.html", hook=made, rotated=rotated)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/connections/webhooks")
def webhook_create(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """``POST /api/v1/admin/webhooks``: the events are typed comma- or space-separated."""
    _ = _gettext(request)
    events = [e for e in values.get("events", "").replace(",", " ").split() if e]
    try:
        body = WebhookBody.model_validate(
            {
                "scope": values.get("scope", ""),
                "scope_code": values.get("scope_code", ""),
                "url": values.get("url", ""),
                "events": events,
            }
        )
        made = webhook_service(svc).create(
            user, scope=body.scope, scope_code=body.scope_code, url=body.url, events=body.events
        )
    except ValidationError as exc:
        refusal = _from_validation(exc, _)
    except SohoaError as exc:
        if not _refusable(exc, request):
            raise
        refusal = _from_problem(exc, _, render.language(request))
    else:
        return _secret_page(request, made, rotated=False)
    return _page(request, svc, user, values=values, refusal=refusal)


@router.post("/admin/connections/webhooks/{webhook_id}/rotate")
def webhook_rotate(
    request: Request, webhook_id: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    return _secret_page(request, webhook_service(svc).rotate(user, webhook_id), rotated=True)


@router.post("/admin/connections/webhooks/{webhook_id}/disable")
def webhook_disable(
    request: Request, webhook_id: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    _ = _gettext(request)
    hook = webhook_service(svc).disable(user, webhook_id)
    return _done(request, svc, PAGE, _("Webhook {url} disabled.", url=hook.url))


@router.post("/admin/connections/replay")
def replay_dead(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """Send a destination's dead letters again (the latest :data:`REPLAY_MAX`), from the
    next dispatcher run on: what the admin API's replay does, for the people who read why."""
    _ = _gettext(request)
    require_installation_admin(user, "the outbox")
    name = values.get("subscriber", "")[:64]
    dead = svc.dispatcher.deliveries(name, limit=REPLAY_MAX, state=DEAD) if name else []
    count = 0
    if dead:
        count = svc.dispatcher.replay(event_ids=[d.event_id for d in dead], subscriber=name)
    return _done(request, svc, PAGE, _("{n} deliveries will be sent again.", n=count))


@router.post("/admin/connections/backfill")
def backfill(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """Send the portal every event of the period it does not hold: those refused, and those
    written before it was configured (what ``replay`` with ``subscriber=dvcqg`` does)."""
    _ = _gettext(request)
    require_installation_admin(user, "the outbox")
    if not svc.settings.dvcqg_url:  # rows for a subscriber nobody serves would wait forever
        return _done(request, svc, PAGE, _("The portal is not configured: nothing was sent."))
    try:
        since, until = (_DAY.validate_python(values.get(name, "")) for name in ("since", "until"))
        start, end = _period(svc, since, until)
    except ValidationError:
        return _page(request, svc, user, refusal=Refusal(_("Give a valid date."), status=422))
    begin, stop = local_days(start, end)
    count = svc.dispatcher.replay(since=begin, until=stop, subscriber=PORTAL)
    target = f"{PAGE}?since={start.isoformat()}&until={end.isoformat()}"
    return _done(request, svc, target, _("{n} deliveries will be sent again.", n=count))
