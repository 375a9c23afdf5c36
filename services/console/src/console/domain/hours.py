"""The working-hours editor: one row per weekly rule as saved (a day with several periods gets a row for each, a day
with none one empty row), rebuilt from the form as sent when a save is refused, and read back into rules.

Saving replaces the whole week, so every saved period must be on the page: a rule left out would be deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any, Protocol

from console.domain.forms import WEEKDAYS, Reader

DEFAULT_START, DEFAULT_END = "09:00", "17:00"


class WeeklyRule(Protocol):
    """A rule as the API answers it."""

    @property
    def weekday(self) -> int: ...
    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...
    @property
    def service_id(self) -> str: ...


@dataclass(frozen=True)
class HoursRow:
    """One period of one weekday on the form; its fields are named `<field>_<key>`."""

    key: str  # "0" for Monday's first period, "0_1" for its second, ...
    weekday: int
    period: int
    works: bool
    start: str = DEFAULT_START
    end: str = DEFAULT_END
    service_id: str = ""

    @property
    def label(self) -> str:
        """The weekday's name, and which of its periods this is when it has more than one."""
        name = WEEKDAYS[self.weekday]
        return name if self.period == 0 else f"{name} (period {self.period + 1})"


def row_key(weekday: int, period: int) -> str:
    return str(weekday) if period == 0 else f"{weekday}_{period}"


def rows_from_rules(rules: Iterable[WeeklyRule]) -> list[HoursRow]:
    """The editor's rows for the week as saved, by weekday and start."""
    by_day: dict[int, list[WeeklyRule]] = {}
    for rule in rules:
        by_day.setdefault(rule.weekday, []).append(rule)
    rows = []
    for weekday in range(len(WEEKDAYS)):
        periods = sorted(by_day.get(weekday, []), key=lambda rule: rule.start)
        if not periods:
            rows.append(HoursRow(row_key(weekday, 0), weekday, 0, works=False))
        rows.extend(HoursRow(row_key(weekday, period), weekday, period, True, rule.start, rule.end, rule.service_id)
                    for period, rule in enumerate(periods))
    return rows


def _keys_sent(form: Mapping[str, Any]) -> Iterator[tuple[int, int]]:
    """(weekday, period) of every row the form had: each day's first, then further ones while their fields came."""
    for weekday in range(len(WEEKDAYS)):
        yield weekday, 0
        period = 1
        while f"start_{row_key(weekday, period)}" in form:
            yield weekday, period
            period += 1


def rows_from_form(form: Mapping[str, Any]) -> list[HoursRow]:
    """The rows as they were sent, to show them again beside their messages."""
    def sent(name: str, default: str = "") -> str:
        value = form.get(name)
        return value if isinstance(value, str) else default

    rows = []
    for weekday, period in _keys_sent(form):
        key = row_key(weekday, period)
        rows.append(HoursRow(key, weekday, period, bool(form.get(f"works_{key}")),
                             sent(f"start_{key}", DEFAULT_START), sent(f"end_{key}", DEFAULT_END),
                             sent(f"service_{key}")))
    return rows


def _clock(at: time) -> str:
    """HH:MM, with seconds only when the time has them (a rule set through the API may)."""
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def read_working_hours(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The week's rules: for each ticked row, its start, end and service (fields `start_<key>` ...)."""
    reader = Reader(form)
    rules = []
    for row in rows_from_form(form):
        if not row.works:
            continue
        start = reader.clock(f"start_{row.key}", label=f"{row.label}'s start")
        end = reader.clock(f"end_{row.key}", label=f"{row.label}'s end")
        service_id = reader.text(f"service_{row.key}", label=f"{row.label}'s service")
        if start is not None and end is not None and end <= start:
            reader.errors[f"end_{row.key}"] = f"{row.label}'s end must be after its start."
        if start is not None and end is not None and service_id:
            rules.append({"weekday": row.weekday, "start": _clock(start), "end": _clock(end),
                          "service_id": service_id})
    reader.done()
    return rules
