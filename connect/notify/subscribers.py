"""The outbox subscribers of the notification channels: ``notify.email``, ``notify.sms`` and
``notify.zalo``, one per configured channel.

A subscriber wants the kinds that have a message; whether this citizen gets it is decided when
it delivers, from the dossier as it is then: consent given, this channel chosen, not opted out,
an address to send to. Otherwise it returns a short note ("skipped: opted out"), which the
delivery log keeps. The rows are read in a short transaction and the message sent after it,
so no database transaction waits on a mail relay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connect.base import Event
from connect.notify.channels import Channel, Mailer, Message
from connect.notify.render import (
    Links,
    Rendered,
    citizen_notice,
    holder_of,
    staff_notice,
)
from connect.notify.templates import CITIZEN, STAFF
from dossiers.models import Dossier, Staff
from dossiers.outbox import DEADLINE_NEAR
from dossiers.workflow.consent import mobile_number
from storage.db import session_scope


class Notifier:
    """One channel's subscriber. With ``staff`` (the e-mail channel), it also sends the deadline
    alerts to the staff of the unit holding the dossier."""

    def __init__(
        self,
        channel: Channel,
        sessions: sessionmaker[Session],
        links: Links,
        *,
        timezone: str = "Asia/Ho_Chi_Minh",
        clock: Callable[[], datetime],
        staff: Mailer | None = None,
        system_name: str = "sohoa",
    ) -> None:
        self.channel = channel
        self.name = f"notify.{channel.name}"
        self.sessions = sessions
        self.links = links
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.staff = staff
        self.system_name = system_name

    def wants(self, event: Event) -> bool:
        if event.dossier_id is None:
            return False
        return event.kind in CITIZEN or (self.staff is not None and event.kind in STAFF)

    def deliver(self, event: Event) -> str:
        if event.kind == DEADLINE_NEAR and self.staff is not None:
            return self._alert_staff(event, self.staff)
        with session_scope(self.sessions) as session:
            dossier = session.get(Dossier, event.dossier_id)
            if dossier is None:
                return "skipped: no such dossier"
            address, why_not = self._address(dossier)
            if not address:
                return why_not
            notice = citizen_notice(session, event, dossier, self.links, self.tz)
        if isinstance(notice, str):
            return notice
        return self.channel.send(address, self._message(event, notice))

    def _address(self, dossier: Dossier) -> tuple[str, str]:
        """(where to send, "") or ("", the note saying why this citizen gets nothing here)."""
        name = self.channel.name
        if not dossier.notify_consent:
            return "", "skipped: no consent"
        if name not in (dossier.notify_channels or []):
            return "", f"skipped: {name} not chosen"
        if dossier.notify_opted_out_at is not None:
            return "", "skipped: opted out"
        if name == "email":
            email = dossier.applicant_email
            return (email, "") if email else ("", "skipped: no e-mail address")
        number = mobile_number(dossier.applicant_phone)
        return (number, "") if number else ("", "skipped: no mobile number")

    def _message(self, event: Event, notice: Rendered) -> Message:
        ref = f"sohoa-{event.id}-{self.channel.name}"
        if self.channel.name != "email":
            return Message(
                subject="", text=notice.short, ref=ref, kind=event.kind, params=notice.params
            )
        headers = {}
        if notice.opt_out:
            headers = {
                "List-Unsubscribe": f"<{notice.opt_out}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Message(
            subject=notice.subject, text=notice.email, ref=ref, kind=event.kind, headers=headers
        )

    def _alert_staff(self, event: Event, mailer: Mailer) -> str:
        with session_scope(self.sessions) as session:
            dossier = session.get(Dossier, event.dossier_id)
            if dossier is None:
                return "skipped: no such dossier"
            notice = staff_notice(
                session,
                event,
                dossier,
                self.links,
                self.tz,
                now=self.clock(),
                system=self.system_name,
            )
            if isinstance(notice, str):
                return notice
            recipients = staff_addresses(session, dossier)
        if not recipients:
            return f"skipped: no staff e-mail at {holder_of(dossier)}"
        message = Message(
            subject=notice.subject,
            text=notice.email,
            ref=f"sohoa-{event.id}-staff",
            kind=event.kind,
        )
        return mailer.send_many(recipients, message)


def staff_addresses(session: Session, dossier: Dossier) -> list[str]:
    """The e-mails of the people working on the dossier now: the agency's officers while an
    agency holds it, else the counter staff of its one-stop unit."""
    holder = holder_of(dossier)
    role = "counter" if holder == dossier.unit_code else "agency"
    return sorted(
        set(
            session.scalars(
                select(Staff.email).where(
                    Staff.unit_code == holder,
                    Staff.role == role,
                    Staff.active.is_(True),
                    Staff.email != "",
                )
            )
        )
    )
