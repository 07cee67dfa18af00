"""Integrators' webhooks: subscriptions, their secrets, their delivery log and replays.

For administrators: one without a unit manages every subscription, one with a unit those of
its province. The signing scheme a receiver checks is in :mod:`connect.webhooks`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from api.deps import Caller, Svc
from api.params import ReplayWindow
from api.problems import ApiProblem
from connect.webhooks import (
    EVENTS_MAX,
    URL_MAX,
    WebhookDeliveryLog,
    WebhookList,
    WebhookService,
    WebhookView,
    WebhookWithSecret,
    https_required,
)

router = APIRouter(prefix="/admin/webhooks", tags=["admin"])


class WebhookBody(BaseModel):
    scope: Literal["unit", "province"]
    scope_code: str = Field(min_length=1, max_length=32)
    url: str = Field(min_length=1, max_length=URL_MAX)
    events: list[str] = Field(
        min_length=1,
        max_length=EVENTS_MAX,
        description='Event kinds, e.g. "dossier.receive", "document.digitized", "dossier.*".',
    )


class WebhookChange(BaseModel):
    url: str | None = Field(default=None, min_length=1, max_length=URL_MAX)
    events: list[str] | None = Field(default=None, min_length=1, max_length=EVENTS_MAX)

    @model_validator(mode="after")
    def _something(self) -> WebhookChange:
        if self.url is None and self.events is None:
            raise ValueError("change url, events or both")
        return self


class WebhookReplay(ReplayWindow):
    """Events to send to this webhook again (its missing ones are added: a back-fill)."""


class WebhookReplayed(BaseModel):
    webhook_id: str
    replayed: int = Field(description="Deliveries put back in line for the next run.")


def webhook_service(svc: Svc) -> WebhookService:
    """The service as this installation runs it (https only where it runs for real)."""
    return WebhookService(
        svc.sessions,
        svc.url_secret,
        clock=svc.clock,
        https_only=https_required(svc.settings.public_url),
    )


@router.post("", status_code=201)
def create_webhook(body: WebhookBody, who: Caller, svc: Svc) -> WebhookWithSecret:
    """Subscribe a URL to a unit's or a province's events. The secret is shown this once."""
    return webhook_service(svc).create(
        who, scope=body.scope, scope_code=body.scope_code, url=body.url, events=body.events
    )


@router.get("")
def list_webhooks(who: Caller, svc: Svc) -> WebhookList:
    """Every subscription the caller administers, newest first, disabled ones included."""
    return webhook_service(svc).list(who)


@router.get("/{webhook_id}")
def get_webhook(webhook_id: str, who: Caller, svc: Svc) -> WebhookView:
    return webhook_service(svc).get(who, webhook_id)


@router.patch("/{webhook_id}")
def change_webhook(webhook_id: str, body: WebhookChange, who: Caller, svc: Svc) -> WebhookView:
    """A new URL or new kinds, from the next dispatcher run on."""
    return webhook_service(svc).update(who, webhook_id, url=body.url, events=body.events)


@router.delete("/{webhook_id}")
def disable_webhook(webhook_id: str, who: Caller, svc: Svc) -> WebhookView:
    """Stop delivering; what still waits becomes a dead letter. The row and its log stay."""
    return webhook_service(svc).disable(who, webhook_id)


@router.post("/{webhook_id}/secret")
def rotate_secret(webhook_id: str, who: Caller, svc: Svc) -> WebhookWithSecret:
    """A new signing secret, shown this once; the old one stops at the next dispatcher run."""
    return webhook_service(svc).rotate(who, webhook_id)


@router.get("/{webhook_id}/deliveries")
def webhook_deliveries(
    webhook_id: str,
    who: Caller,
    svc: Svc,
    state: Literal["pending", "delivered", "dead"] | None = None,
    before: int | None = Query(default=None, ge=1, le=2**62),
    limit: int = Query(default=50, ge=1, le=500),
) -> WebhookDeliveryLog:
    """The subscription's delivery log, newest first."""
    return webhook_service(svc).deliveries(
        who, webhook_id, svc.dispatcher, state=state, before=before, limit=limit
    )


@router.post("/{webhook_id}/replay")
def replay_webhook(webhook_id: str, body: WebhookReplay, who: Caller, svc: Svc) -> WebhookReplayed:
    """Send events again (dead letters; delivered ones when named or asked) and back-fill
    those from before the subscription, within its scope and kinds."""
    try:
        count = webhook_service(svc).replay(
            who,
            webhook_id,
            svc.dispatcher,
            event_ids=body.event_ids,
            since=body.since,
            until=body.until,
            include_delivered=body.include_delivered,
        )
    except ValueError as exc:  # the dispatcher does not serve it (yet): nothing to replay
        raise ApiProblem(422, "replay_invalid", str(exc)) from exc
    return WebhookReplayed(webhook_id=webhook_id, replayed=count)
