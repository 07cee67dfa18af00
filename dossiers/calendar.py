"""Working-day calendar and deadline rules for administrative dossiers.

Deadlines for one-stop-shop dossiers count working days in Vietnam: Monday to Friday (Saturday at
some centres), minus the public holidays of the Labor Code as encoded by the ``holidays`` package,
corrected by an administrator's override table. The package marks swapped days off but not the
compensating working Saturdays, and its Tết days can differ from the civil-service schedule, so
overrides always win. Rules are versioned by effective date: a dossier keeps the version in force
when it was received.

Everything here is pure: no database, and holiday tables are computed on first use per year.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from holidays import HolidayBase

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local_days(start: date, end: date) -> tuple[datetime, datetime]:
    """Local days ``start`` to ``end`` inclusive, as a half-open range of instants."""
    if end < start:
        from dossiers.errors import InvalidInput

        raise InvalidInput(
            f"the range ends ({end}) before it starts ({start})", code="range_invalid"
        )
    return (
        datetime.combine(start, time(), tzinfo=VN_TZ),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=VN_TZ),
    )


Timeliness = Literal["early", "on_time", "late"]


@dataclass(frozen=True)
class CalendarOverride:
    """An administrator's correction to the calendar for one day, from the yearly announcement."""

    day: date
    working: bool  # True: a compensating working day (e.g. a Saturday); False: an extra day off
    note: str = ""


@dataclass(frozen=True)
class DeadlineRules:
    """A versioned rule set; a dossier keeps the version in force when it was received."""

    version: str
    effective_from: date
    cutoff: time = time(15, 0)  # dossiers received after this count from the next working day
    office_close: time = time(17, 0)  # a deadline falls at this local time of its day
    saturday_working: bool = False  # some centres also work Saturdays


# NĐ 118/2025 replaced NĐ 61/2018 (and with it TT 01/2018) on 2025-07-01. The timing numbers
# did not change as far as we know, but dossiers must still record which version applied.
RULES: tuple[DeadlineRules, ...] = (
    DeadlineRules(version="tt01-2018", effective_from=date(2018, 1, 1)),
    DeadlineRules(version="nd118-2025", effective_from=date(2025, 7, 1)),
)

DEFAULT_OVERRIDES: tuple[CalendarOverride, ...] = (
    CalendarOverride(
        date(2025, 4, 26), working=True, note="swap announced for the 2025-05-02 day off"
    ),
    CalendarOverride(
        date(2026, 8, 22), working=True, note="swap announced for the 2026-08-31 day off"
    ),
)


def _local(dt: datetime, what: str) -> datetime:
    """``dt`` in Vietnam local time; naive datetimes are refused because their zone is a guess."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {dt.isoformat()}")
    return dt.astimezone(VN_TZ)


def rules_in_force(at: date, rules: Iterable[DeadlineRules] = RULES) -> DeadlineRules:
    """The rule set with the latest ``effective_from`` on or before ``at``.

    ``at`` is a local date; an aware datetime is accepted and read in Vietnam time.
    """
    if isinstance(at, datetime):
        at = _local(at, "at").date()
    candidates = [r for r in rules if r.effective_from <= at]
    if not candidates:
        raise ValueError(f"no deadline rules in force on {at.isoformat()}")
    return max(candidates, key=lambda r: r.effective_from)


class WorkingCalendar:
    """Working days in Vietnam: weekends and public holidays off, administrator overrides first.

    Passing ``overrides`` replaces :data:`DEFAULT_OVERRIDES`; to add to them pass
    ``(*DEFAULT_OVERRIDES, extra)``. ``language`` ("en_US", "vi", "th") names the holidays.
    """

    def __init__(
        self,
        overrides: Iterable[CalendarOverride] = DEFAULT_OVERRIDES,
        *,
        saturday_working: bool = False,
        language: str = "en_US",
    ) -> None:
        self.saturday_working = saturday_working
        # Pinned: left unset, `holidays` names days in the process locale's language.
        self.language = language
        self._overrides: dict[date, CalendarOverride] = {}
        for o in overrides:
            previous = self._overrides.get(o.day)
            if previous is not None and previous.working != o.working:
                raise ValueError(f"conflicting overrides for {o.day.isoformat()}")
            self._overrides[o.day] = o
        self._holidays: dict[int, HolidayBase] = {}

    def _year(self, year: int) -> HolidayBase:
        table = self._holidays.get(year)
        if table is None:
            # Imported here: `holidays` loads every country (~0.1 s), which the API should not pay
            # at startup when no deadline is computed.
            import holidays

            table = self._holidays[year] = holidays.country_holidays(
                "VN", years=year, language=self.language
            )
        return table

    def is_working_day(self, d: date) -> bool:
        override = self._overrides.get(d)
        if override is not None:
            return override.working
        if d in self._year(d.year):
            return False
        weekday = d.weekday()
        return weekday < 5 or (weekday == 5 and self.saturday_working)

    def holiday_name(self, d: date) -> str | None:
        """The public holiday (or override note) that makes ``d`` a day off, else None."""
        override = self._overrides.get(d)
        if override is not None:
            return None if override.working else (override.note or "day off")
        return self._year(d.year).get(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day strictly after ``d``; for ``n == 0``, ``d`` itself if working."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return d if self.is_working_day(d) else self.next_working_day(d)
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; 0 when ``end <= start``."""
        days = (end - start).days
        return sum(self.is_working_day(start + timedelta(days=i)) for i in range(1, days + 1))


def due_at(
    received_at: datetime, working_days: int, calendar: WorkingCalendar, rules: DeadlineRules
) -> datetime:
    """When a dossier received at ``received_at`` is due, as an aware datetime in Vietnam time.

    A receipt on a non-working day or after ``rules.cutoff`` counts from the next working day.
    A same-day procedure (``working_days == 0``) is due at office close of that effective day;
    otherwise at office close of the ``working_days``-th working day after it.
    """
    if working_days < 0:
        raise ValueError(f"working_days must be >= 0, got {working_days}")
    if calendar.saturday_working != rules.saturday_working:
        # A mismatch would silently count (or skip) Saturdays against the rule version.
        raise ValueError(
            f"calendar.saturday_working={calendar.saturday_working} does not match "
            f"rules {rules.version!r} saturday_working={rules.saturday_working}"
        )
    local = _local(received_at, "received_at")
    start = local.date()
    if not calendar.is_working_day(start) or local.time() > rules.cutoff:
        start = calendar.next_working_day(start)
    due_day = calendar.add_working_days(start, working_days)
    return datetime.combine(due_day, rules.office_close, tzinfo=VN_TZ)


def paused_seconds(intervals: Iterable[tuple[datetime, datetime | None]], until: datetime) -> float:
    """Seconds the clock was paused for citizen supplements, clipped to ``until``.

    An open interval (end None) runs to ``until``. Overlapping intervals are merged so that time
    is never subtracted twice.
    """
    _local(until, "until")
    spans: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        _local(start, "pause start")
        if end is None:
            end = until
        else:
            _local(end, "pause end")
            if end < start:
                raise ValueError(f"pause ends before it starts: {start} > {end}")
        end = min(end, until)
        if end > start:
            spans.append((start, end))
    total = 0.0
    covered: datetime | None = None  # end of the merged spans counted so far
    for start, end in sorted(spans):
        if covered is not None:
            start = max(start, covered)
        if end > start:
            total += (end - start).total_seconds()
            covered = end
    return total


def is_on_time(finished_at: datetime, due: datetime) -> bool:
    """The DVCQG KPI rule: on time iff processing ended no later than the promised time."""
    return _local(finished_at, "finished_at") <= _local(due, "due")


def timeliness(at: datetime, due: datetime) -> Timeliness:
    """``early`` before the due day (local date), ``on_time`` up to the due time, else ``late``."""
    at_local, due_local = _local(at, "at"), _local(due, "due")
    if at_local.date() < due_local.date():
        return "early"
    return "on_time" if at_local <= due_local else "late"
