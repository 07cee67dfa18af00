"""Fill a template from the rows as they are now: the dossier, its unit, procedure and fees.

What the event itself decided (the reason of a refusal, the papers asked for, the new date of
an apology, a tracking number) comes from its payload; everything else is read at delivery, so
a message sent late says what is true when it is sent. A message that has become pointless
(the fees were paid meanwhile, the deadline moved) is not sent: the caller gets why instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.base import Event
from connect.notify.templates import (
    CITIZEN,
    COLLECT,
    EMAIL_FOOTER,
    PICKUP,
    SHORT_FOOTER,
    STAFF,
    ZNS_PARAMS,
    ZNS_TEXT_MAX,
    Template,
)
from dossiers.models import Dossier, DossierFee, Procedure, Unit
from dossiers.workflow.lifecycle import LABELS_VI, OPEN, Status
from dossiers.workflow.lookup import StatusLookup, status_secret

SHORT_PART = 80  # characters of a free text (a reason, the papers) in an SMS
SHORT_MAX = 5 * 67  # five joined Unicode SMS segments: what the texts must fit in


@dataclass(frozen=True)
class Links(StatusLookup):
    """The addresses a message gives: the status page (the lookup's own, with its secret), the
    opt-out page, the staff's desk."""

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def status_url(self, code: str) -> str:
        return self.url(code)

    def opt_out_page(self, ref: str) -> str:
        """The citizen's page, which asks before it stops anything (mail scanners open links)."""
        return f"{self.base}/web/opt-out/{quote(ref, safe='')}?s={status_secret(self.key, ref)}"

    def opt_out_api(self, ref: str) -> str:
        """The API's one-click opt-out (RFC 8058 ``List-Unsubscribe-Post``)."""
        return (
            f"{self.base}/public/dossiers/{quote(ref, safe='')}/opt-out"
            f"?secret={status_secret(self.key, ref)}"
        )

    def staff_page(self, dossier_id: str) -> str:
        return f"{self.base}/web/dossiers/{dossier_id}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    email: str
    short: str
    opt_out: str = ""  # the one-click URL for e-mail's List-Unsubscribe, citizens only
    # A registered template's parameters (Zalo ZNS): name -> value, citizens only.
    params: Mapping[str, str] = field(default_factory=dict)


def when(value: datetime | str | None, tz: ZoneInfo) -> str:
    """dd/mm/yyyy HH:MM in the installation's zone (Asia/Ho_Chi_Minh)."""
    if value is None or value == "":
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def vnd(amount: int) -> str:
    """1.234.567 đ"""
    return f"{amount:,}".replace(",", ".") + " đ"


def cut(text: str, limit: int = SHORT_PART) -> str:
    """One line of at most ``limit`` characters, without the closing stop (the template's)."""
    text = " ".join(text.split()).rstrip(" .;:")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fill(template: str, values: Mapping[str, str]) -> str:
    text = template.format_map(values)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def citizen_notice(
    session: Session, event: Event, dossier: Dossier, links: Links, tz: ZoneInfo
) -> Rendered | str:
    """The citizen's message for ``event``, or why none is sent."""
    template = CITIZEN.get(event.kind)
    if template is None:
        return f"skipped: no message for {event.kind}"
    proc = session.get(Procedure, dossier.procedure_id)
    unit = session.get(Unit, dossier.unit_code)
    payload = event.payload
    data: Mapping[str, Any] = payload.get("data") or {}
    reason = str(payload.get("reason") or "")
    code = dossier.code or ""
    ref = code or dossier.id
    unit_name = unit.name if unit is not None else dossier.unit_code
    where = unit_name  # a one-stop unit ("UBND phường … - Bộ phận Một cửa")
    status_url = links.status_url(code) if code else ""
    values: dict[str, str] = {
        "unit": unit_name,
        "code": code,
        "ref_label": code or f"nộp ngày {when(dossier.created_at, tz)[:10]}",
        "procedure": proc.name if proc is not None else dossier.procedure_code,
        "procedure_code": dossier.procedure_code,
        "reason": reason or "—",
        "reason_short": cut(reason) or "—",
        "where": where,
        "collect": COLLECT.get(dossier.collect_at, dossier.collect_at),
        "optout_url": links.opt_out_page(ref),
        "lookup_email": (
            f"Tra cứu tình trạng hồ sơ: {status_url}\n"
            f"(mã hồ sơ {code}, mã tra cứu {links.secret(code)})"
            if code
            else ""
        ),
        "lookup_short": f"Tra cứu: {status_url}" if code else "",
        "status_url": status_url or links.base,
    }
    due = _due_fees(session, dossier.id)
    kind = event.kind
    if kind == "dossier.receive":
        values["appointment"] = when(data.get("due_at") or dossier.due_at, tz)
    elif kind == "dossier.request_supplement":
        items = [str(i) for i in data.get("items") or [] if str(i).strip()]
        values["missing_email"] = (
            "Giấy tờ cần bổ sung:\n" + "".join(f"- {i}\n" for i in items) if items else ""
        )
        values["missing_short"] = cut("; ".join(items)) if items else "giấy tờ"
    elif kind == "dossier.apology":
        values["new_date"] = when(data.get("new_due") or dossier.due_at, tz)
        values["old_date"] = when(data.get("original_due"), tz)
    elif kind == "dossier.await_payment":
        if not due:
            return "skipped: nothing is due any more"
        values["amount"] = vnd(sum(amount for _, amount in due))
        values["fee_lines"] = "".join(f"- {name}: {vnd(amount)}\n" for name, amount in due)
    elif kind == "dossier.finish":
        long, short = PICKUP.get(dossier.collect_at, PICKUP["counter"])
        values["pickup"] = long.format(where=where)
        values["pickup_short"] = short
        values["fees_due_line"] = (
            f"Phí, lệ phí còn phải nộp khi nhận kết quả: {vnd(sum(a for _, a in due))}\n"
            if due
            else ""
        )
    elif kind == "dossier.posted":
        tracking = str(data.get("tracking_number") or "").strip()
        values["tracking_email"] = f"Số hiệu bưu gửi: {tracking}\n" if tracking else ""
        values["tracking_short"] = f", số hiệu {tracking}" if tracking else ""
        values["tracking"] = tracking or "—"
    rendered = _render(template, values, links.opt_out_api(ref))
    return replace(rendered, params=zns_params(kind, values))


def zns_params(kind: str, values: Mapping[str, str]) -> dict[str, str]:
    """The registered template's parameters for ``kind``: texts cut to what ZNS takes, a
    missing one as "—" (a template parameter may not be empty), links whole."""
    params = {}
    for name, source in ZNS_PARAMS.get(kind, {}).items():
        value = " ".join(values.get(source, "").split()) or "—"
        params[name] = value if source.endswith("_url") else cut(value, ZNS_TEXT_MAX)
    return params


def _render(template: Template, values: Mapping[str, str], opt_out: str) -> Rendered:
    subject = " ".join(template.subject.format_map(values).split())
    email = _fill(template.email + EMAIL_FOOTER, values)
    return Rendered(subject=subject, email=email, short=_short(template, values), opt_out=opt_out)


def _short(template: Template, values: Mapping[str, str]) -> str:
    """The SMS/Zalo text, shortened until it fits: a long unit name first, then the free
    texts, then the status link (the opt-out link always stays)."""
    steps: list[dict[str, str]] = [
        {},
        {"unit": cut(values["unit"], 40)},
        {"reason_short": cut(values["reason_short"], 30)},
        {"missing_short": cut(values.get("missing_short", ""), 30)},
        {"lookup_short": ""},
    ]
    changed = dict(values)
    text = ""
    for step in steps:
        changed.update(step)
        text = " ".join((template.short + " " + SHORT_FOOTER).format_map(changed).split())
        if len(text) <= SHORT_MAX:
            break
    return text


def _due_fees(session: Session, dossier_id: str) -> list[tuple[str, int]]:
    return [
        (name, int(amount))
        for name, amount in session.execute(
            select(DossierFee.name, DossierFee.amount)
            .where(DossierFee.dossier_id == dossier_id, DossierFee.status == "due")
            .order_by(DossierFee.created_at, DossierFee.code)
        )
    ]


# -- the staff's deadline alert ---------------------------------------------------------------


def staff_notice(
    session: Session,
    event: Event,
    dossier: Dossier,
    links: Links,
    tz: ZoneInfo,
    *,
    now: datetime,
    system: str,
) -> Rendered | str:
    """The alert for the staff holding ``dossier``, or why none is sent (it was closed or
    its deadline moved since the alert was raised)."""
    template = STAFF.get(event.kind)
    if template is None:
        return f"skipped: no message for {event.kind}"
    if dossier.status not in OPEN or dossier.status == Status.SUPPLEMENT:
        return "skipped: the dossier is no longer running"
    data: Mapping[str, Any] = event.payload.get("data") or {}
    raised_for = data.get("due_at")
    if dossier.due_at is None or (
        raised_for and datetime.fromisoformat(str(raised_for)) != dossier.due_at
    ):
        return "skipped: the deadline moved since"
    proc = session.get(Procedure, dossier.procedure_id)
    holder_code = holder_of(dossier)
    holder = session.get(Unit, holder_code)
    holder_name = holder.name if holder is not None else holder_code
    hours = (dossier.due_at - now).total_seconds() / 3600
    late = hours <= 0
    values = {
        "code": dossier.code or dossier.id,
        "procedure": proc.name if proc is not None else dossier.procedure_code,
        "due": when(dossier.due_at, tz),
        "alert": "Quá hạn" if late else "Sắp đến hạn",
        "when": "đã quá hạn trả kết quả"
        if late
        else f"sắp đến hạn trả kết quả (còn khoảng {max(1, round(hours))} giờ)",
        "status_label": LABELS_VI[Status(dossier.status)],
        "holder": holder_name,
        "staff_url": links.staff_page(dossier.id),
        "system": system,
    }
    return Rendered(
        subject=" ".join(template.subject.format_map(values).split()),
        email=_fill(template.email, values),
        short="",
    )


def holder_of(dossier: Dossier) -> str:
    """The unit working on the dossier now: the agency holding it, else its one-stop unit."""
    return dossier.holder_code or dossier.unit_code
