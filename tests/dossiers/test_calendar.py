"""Deadline engine on the real Vietnamese calendar (``holidays`` data for 2025–2027, checked by hand).

Reference days off from ``holidays.VN`` 0.109, besides weekends:
2025: 1/1, Tết Mon 27/1–Sat 1/2, 7/4, 30/4, 1/5, 2/5 (swap for Sat 26/4), 1/9, 2/9.
2026: 1/1, Tết Mon 16/2–Fri 20/2, 27/4 (observed), Thu 30/4, Fri 1/5, Mon 31/8 (swap for Sat 22/8),
1/9, 2/9, Tue 24/11.  2027: Tết Thu 4/2–Wed 10/2.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from dossiers.calendar import (
    DEFAULT_OVERRIDES,
    RULES,
    VN_TZ,
    CalendarOverride,
    WorkingCalendar,
    due_at,
    is_on_time,
    paused_seconds,
    rules_in_force,
    timeliness,
)

CAL = WorkingCalendar()
RULES_2026 = rules_in_force(date(2026, 1, 1))


def vn(y: int, m: int, d: int, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN_TZ)


def close(y: int, m: int, d: int) -> datetime:
    return vn(y, m, d, 17, 0)


def test_three_working_days_across_tet_2026() -> None:
    # Received Thu 12/2 10:00, before the cutoff, so counting starts after Thu 12/2:
    # Fri 13/2 = 1, weekend, Tết Mon 16–Fri 20/2, weekend, Mon 23/2 = 2, Tue 24/2 = 3.
    # Due Tuesday 24/2, not Wednesday 25/2.
    due = due_at(vn(2026, 2, 12, 10, 0), 3, CAL, RULES_2026)
    assert due == close(2026, 2, 24)
    assert due.utcoffset() == timedelta(hours=7)


def test_three_working_days_after_cutoff_before_tet_2026() -> None:
    # Received Thu 12/2 15:30: counts from Fri 13/2, so Mon 23 = 1, Tue 24 = 2, Wed 25 = 3.
    assert due_at(vn(2026, 2, 12, 15, 30), 3, CAL, RULES_2026) == close(2026, 2, 25)


@pytest.mark.parametrize(
    ("hh", "mm", "expected"),
    [
        (14, 59, close(2026, 3, 11)),
        (15, 0, close(2026, 3, 11)),  # "after 15:00" means strictly after
        (15, 1, close(2026, 3, 12)),
    ],
)
def test_same_day_cutoff(hh: int, mm: int, expected: datetime) -> None:
    assert due_at(vn(2026, 3, 11, hh, mm), 0, CAL, RULES_2026) == expected


def test_same_day_friday_afternoon_before_tet_2026() -> None:
    # Fri 13/2 15:30 is after the cutoff; the next working day after the weekend and Tết is Mon 23/2.
    assert due_at(vn(2026, 2, 13, 15, 30), 0, CAL, RULES_2026) == close(2026, 2, 23)


def test_received_on_days_off() -> None:
    # On Tết Tue 17/2 the receipt counts as Mon 23/2 morning.
    assert due_at(vn(2026, 2, 17, 9, 0), 0, CAL, RULES_2026) == close(2026, 2, 23)
    # On Sat 14/2 with one working day: effective start Mon 23/2, due Tue 24/2.
    assert due_at(vn(2026, 2, 14, 9, 0), 1, CAL, RULES_2026) == close(2026, 2, 24)


def test_receipt_time_is_read_in_vietnam_time() -> None:
    # 07:59 UTC is 14:59 in Hà Nội, 08:01 UTC is 15:01.
    before = due_at(datetime(2026, 3, 11, 7, 59, tzinfo=UTC), 0, CAL, RULES_2026)
    after = due_at(datetime(2026, 3, 11, 8, 1, tzinfo=UTC), 0, CAL, RULES_2026)
    assert before == close(2026, 3, 11)
    assert after == close(2026, 3, 12)
    assert before.tzinfo == VN_TZ
    # 18:00 UTC on Wed 11/3 is already Thu 12/3 01:00 local: the receipt day is Thursday.
    assert due_at(datetime(2026, 3, 11, 18, 0, tzinfo=UTC), 0, CAL, RULES_2026) == close(
        2026, 3, 12
    )


@pytest.mark.parametrize(
    ("received", "days", "expected"),
    [
        # Fri 24/4: Mon 27/4 is the observed Hùng Kings day, so Tue 28 = 1, Wed 29 = 2.
        (vn(2026, 4, 24), 2, close(2026, 4, 29)),
        # Wed 29/4: Thu 30/4, Fri 1/5 off, weekend; Mon 4/5 = 1.
        (vn(2026, 4, 29), 1, close(2026, 5, 4)),
        # Fri 28/8: Mon 31/8 (swap), Tue 1/9, Wed 2/9 off; Thu 3/9 = 1, Fri 4/9 = 2.
        (vn(2026, 8, 28), 1, close(2026, 9, 3)),
        (vn(2026, 8, 28), 2, close(2026, 9, 4)),
        # Mon 23/11: Tue 24/11 is Vietnam Cultural Day (first time in 2026); Wed 25/11 = 1.
        (vn(2026, 11, 23), 1, close(2026, 11, 25)),
        # Wed 3/2/2027: Tết Thu 4/2–Wed 10/2; Thu 11/2 = 1.
        (vn(2027, 2, 3), 1, close(2027, 2, 11)),
        # Fri 24/1/2025: Tết Mon 27/1–Sat 1/2, Sunday; Mon 3/2 = 1, Tue 4/2 = 2.
        (vn(2025, 1, 24), 2, close(2025, 2, 4)),
        # Fri 25/4/2025: Sat 26/4 is the compensating working day = 1, Mon 28 = 2, Tue 29 = 3,
        # then Wed 30/4, Thu 1/5, Fri 2/5 (swap) off and a normal weekend: Mon 5/5 = 4.
        (vn(2025, 4, 25), 1, close(2025, 4, 26)),
        (vn(2025, 4, 25), 4, close(2025, 5, 5)),
        # Wed 31/12/2025 after the cutoff: Thu 1/1/2026 is New Year, so Fri 2/1.
        (vn(2025, 12, 31, 15, 30), 0, close(2026, 1, 2)),
    ],
)
def test_holiday_crossings(received: datetime, days: int, expected: datetime) -> None:
    rules = rules_in_force(received)
    assert due_at(received, days, CAL, rules) == expected


def test_compensating_saturday_2026_needs_the_override() -> None:
    sat = date(2026, 8, 22)
    bare = WorkingCalendar(overrides=())
    assert CAL.is_working_day(sat)
    assert not bare.is_working_day(sat)
    # Fri 21/8 with two working days: Sat 22 = 1, Mon 24 = 2 (with the swap) vs Mon 24, Tue 25.
    assert due_at(vn(2026, 8, 21), 1, CAL, RULES_2026) == close(2026, 8, 22)
    assert due_at(vn(2026, 8, 21), 2, CAL, RULES_2026) == close(2026, 8, 24)
    assert due_at(vn(2026, 8, 21), 1, bare, RULES_2026) == close(2026, 8, 24)
    assert due_at(vn(2026, 8, 21), 2, bare, RULES_2026) == close(2026, 8, 25)
    # The day it was swapped for stays off either way (the package marks it).
    assert not CAL.is_working_day(date(2026, 8, 31))
    assert not bare.is_working_day(date(2026, 8, 31))


def test_admin_override_adds_a_day_off() -> None:
    storm = CalendarOverride(date(2026, 3, 10), working=False, note="storm closure")
    cal = WorkingCalendar((*DEFAULT_OVERRIDES, storm))
    assert not cal.is_working_day(date(2026, 3, 10))
    assert cal.holiday_name(date(2026, 3, 10)) == "storm closure"
    assert due_at(vn(2026, 3, 9), 1, cal, RULES_2026) == close(2026, 3, 11)
    assert due_at(vn(2026, 3, 9), 1, CAL, RULES_2026) == close(2026, 3, 10)
    unnamed = WorkingCalendar([CalendarOverride(date(2026, 3, 10), working=False)])
    assert unnamed.holiday_name(date(2026, 3, 10)) == "day off"


def test_admin_override_removes_a_holiday() -> None:
    cal = WorkingCalendar([CalendarOverride(date(2026, 11, 24), working=True, note="centre open")])
    assert CAL.holiday_name(date(2026, 11, 24)) == "Vietnam Cultural Day"
    assert cal.is_working_day(date(2026, 11, 24))
    assert cal.holiday_name(date(2026, 11, 24)) is None
    assert due_at(vn(2026, 11, 23), 1, cal, RULES_2026) == close(2026, 11, 24)


def test_conflicting_overrides_are_refused() -> None:
    day = date(2026, 3, 10)
    with pytest.raises(ValueError, match="conflicting"):
        WorkingCalendar([CalendarOverride(day, True), CalendarOverride(day, False)])


def test_saturday_working_centre() -> None:
    cal = WorkingCalendar(saturday_working=True)
    rules = replace(RULES_2026, saturday_working=True)
    # Fri 13/2/2026 after the cutoff: Sat 14/2 is a working day for this centre.
    assert due_at(vn(2026, 2, 13, 15, 30), 0, cal, rules) == close(2026, 2, 14)
    # A Saturday that is a public holiday (Tết, 1/2/2025) stays off; Sunday never works.
    assert not cal.is_working_day(date(2025, 2, 1))
    assert not cal.is_working_day(date(2026, 2, 15))
    with pytest.raises(ValueError, match="saturday_working"):
        due_at(vn(2026, 2, 13), 0, cal, RULES_2026)


def test_rules_in_force_by_date() -> None:
    assert rules_in_force(date(2025, 6, 30)).version == "tt01-2018"
    assert rules_in_force(date(2025, 7, 1)).version == "nd118-2025"
    assert rules_in_force(date(2018, 1, 1)).version == "tt01-2018"
    assert rules_in_force(date(2025, 7, 1), rules=tuple(reversed(RULES))).version == "nd118-2025"
    # 2025-06-30 17:30 UTC is already 1 July in Vietnam.
    assert rules_in_force(datetime(2025, 6, 30, 17, 30, tzinfo=UTC)).version == "nd118-2025"
    with pytest.raises(ValueError, match="no deadline rules"):
        rules_in_force(date(2017, 12, 31))
    with pytest.raises(ValueError, match="timezone-aware"):
        rules_in_force(datetime(2025, 7, 1, 9, 0))


def test_naive_or_negative_input_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 2, 12, 10, 0), 3, CAL, RULES_2026)
    with pytest.raises(ValueError, match="working_days"):
        due_at(vn(2026, 2, 12), -1, CAL, RULES_2026)
    with pytest.raises(ValueError, match="n must be"):
        CAL.add_working_days(date(2026, 2, 12), -1)


def test_calendar_primitives() -> None:
    thu, sat = date(2026, 2, 12), date(2026, 2, 14)
    assert CAL.add_working_days(thu, 0) == thu
    assert CAL.add_working_days(sat, 0) == date(2026, 2, 23)
    assert CAL.next_working_day(thu) == date(2026, 2, 13)
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert CAL.working_days_between(thu, date(2026, 2, 24)) == 3
    assert CAL.working_days_between(thu, thu) == 0
    assert CAL.working_days_between(date(2026, 2, 24), thu) == 0
    assert CAL.holiday_name(date(2026, 2, 17)) == "Lunar New Year"
    assert "observed" in (CAL.holiday_name(date(2026, 4, 27)) or "")
    assert CAL.holiday_name(thu) is None
    assert CAL.holiday_name(date(2026, 8, 22)) is None
    # add_working_days and working_days_between agree across a year of holidays.
    start = date(2025, 12, 30)
    for n in range(0, 260, 7):
        assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n


def test_paused_seconds() -> None:
    until = vn(2026, 3, 11, 12, 0)
    closed = (vn(2026, 3, 9, 8, 0), vn(2026, 3, 9, 10, 0))  # 2 h
    open_ = (vn(2026, 3, 11, 11, 30), None)  # runs to `until`: 30 min
    assert paused_seconds([closed, open_], until) == 2.5 * 3600
    assert paused_seconds([], until) == 0.0
    # Clipped at `until`, and a pause starting after it counts nothing.
    assert paused_seconds([(vn(2026, 3, 11, 11, 0), vn(2026, 3, 11, 15, 0))], until) == 3600
    assert paused_seconds([(vn(2026, 3, 12, 8, 0), None)], until) == 0.0
    # Overlapping pauses are not counted twice; UTC input is the same instant.
    overlap = (datetime(2026, 3, 9, 2, 0, tzinfo=UTC), vn(2026, 3, 9, 11, 0))  # 09:00–11:00 local
    assert paused_seconds([closed, overlap], until) == 3 * 3600
    with pytest.raises(ValueError, match="ends before"):
        paused_seconds([(vn(2026, 3, 9, 10, 0), vn(2026, 3, 9, 8, 0))], until)
    with pytest.raises(ValueError, match="timezone-aware"):
        paused_seconds([(datetime(2026, 3, 9, 8, 0), None)], until)


def test_on_time_and_timeliness() -> None:
    due = close(2026, 2, 24)
    assert is_on_time(due, due)
    assert not is_on_time(due + timedelta(seconds=1), due)
    assert timeliness(vn(2026, 2, 23, 16, 0), due) == "early"
    assert timeliness(vn(2026, 2, 24, 9, 0), due) == "on_time"
    assert timeliness(due, due) == "on_time"
    assert timeliness(due + timedelta(seconds=1), due) == "late"
    # Mon 23/2 18:00 UTC is Tue 24/2 01:00 in Vietnam: the due day, so not "early".
    assert timeliness(datetime(2026, 2, 23, 18, 0, tzinfo=UTC), due) == "on_time"


def test_holiday_names_do_not_follow_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unpinned, `holidays` would answer "Tết Nguyên Đán" under a Vietnamese locale.
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    monkeypatch.setenv("LC_ALL", "vi_VN.UTF-8")
    tet = date(2026, 2, 17)
    assert WorkingCalendar().holiday_name(tet) == "Lunar New Year"
    assert WorkingCalendar(language="vi").holiday_name(tet) == "Tết Nguyên Đán"
