"""Parameter types the routers share, and a Content-Disposition that any name survives.

Bad input must be a 422 problem, never a 500: every integer a caller sends fits a 64-bit signed
column (PostgreSQL and SQLite overflow differently, and both only at execution), and every date
stays far enough from year 1 and 9999 that adding a day or applying a time zone cannot overflow.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from dossiers.calendar import VN_TZ

PAGE_MAX = 1000  # the largest page any list answers
OFFSET_MAX = 10**9
INT64_MAX = 2**63 - 1
YEARS_AROUND = 100  # dates are accepted within this many years of today
AMOUNT_MAX = 10**12  # VND: a thousand billion, far above any fee


def _bounds() -> tuple[date, date]:
    """Computed per call: a long-running process must not keep the year it started in."""
    year = date.today().year
    return date(year - YEARS_AROUND, 1, 1), date(year + YEARS_AROUND, 12, 31)


def _day(value: date) -> date:
    low, high = _bounds()
    if not low <= value <= high:
        raise ValueError(
            f"ngày phải nằm trong khoảng {low.isoformat()}..{high.isoformat()} "
            "(the date is out of range)"
        )
    return value


def _moment(value: datetime) -> datetime:
    _day(value.date())
    return value


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    """Only ISO 8601 text (or a date already parsed): pydantic's lax mode would read "0" or
    0.5 as seconds since 1970, which nobody at a counter means."""
    if isinstance(value, str | date) and (not isinstance(value, str) or _ISO_DAY.match(value)):
        return value
    raise ValueError("ngày theo dạng YYYY-MM-DD (a date is written YYYY-MM-DD)")


Day = Annotated[date, BeforeValidator(_iso_only), AfterValidator(_day)]
"""A calendar day within ±100 years of today."""

Moment = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_moment)]
"""An instant whose date is within ±100 years of today."""

Limit = Annotated[int, Field(ge=1, le=PAGE_MAX)]
Offset = Annotated[int, Field(ge=0, le=OFFSET_MAX)]
Cursor = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A keyset cursor over a 64-bit column (an audit seq)."""

Count = Annotated[int, Field(ge=0, le=1000)]
"""How many of a paper were brought."""

Amount = Annotated[int, Field(ge=0, le=AMOUNT_MAX)]
"""A sum of money in VND."""

Code = Annotated[str, Field(min_length=1, max_length=64)]
"""An identifier or code the caller names (unit, procedure, staff, field)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_QUOTED_UNSAFE = re.compile(r'["\\]')
_FOLD = str.maketrans({"Đ": "D", "đ": "d"})  # NFKD does not decompose the Vietnamese D


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` (RFC 6266, 5987).

    Header values must be latin-1, so a receipt series with "Đ" or a quote broke the download;
    the ASCII fallback is for old clients, the encoded name is what browsers save.
    """
    name = _CONTROL.sub("", filename).strip() or "download"
    folded = unicodedata.normalize("NFKD", _QUOTED_UNSAFE.sub("", name).translate(_FOLD))
    fallback = "".join(c for c in folded if " " <= c <= "~" and not unicodedata.combining(c))
    return (
        f'{disposition}; filename="{fallback.strip() or "download"}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )


REPLAY_IDS_MAX = 1000


class ReplayWindow(BaseModel):
    """Which outbox events to send again: named ones, or those of a time range. A time without
    an offset is the counter's, Vietnam's."""

    event_ids: list[Cursor] = Field(default_factory=list, max_length=REPLAY_IDS_MAX)
    since: Moment | None = None
    until: Moment | None = None
    include_delivered: bool = False

    @model_validator(mode="after")
    def _window(self) -> ReplayWindow:
        if not self.event_ids and self.since is None and self.until is None:
            raise ValueError("name event_ids or a time range (since/until)")
        if self.since is not None and self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=VN_TZ)
        if self.until is not None and self.until.tzinfo is None:
            self.until = self.until.replace(tzinfo=VN_TZ)
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self
