"""Change windows: when a stack may be deployed, in its site's local time (a deploy outside needs an override).

A window is weekdays plus a local start (inclusive) and end (exclusive) on the same day, in the IANA zone of the
site; ``is_open`` and ``next_opening`` work on wall-clock time, so a daylight-saving change moves the window with
the site's clocks, as the people on site see it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from stackconfig.errors import Problem
from stackconfig.oncall import _hhmm

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ChangeWindow(_Model):
    days: list[Weekday] = Field(min_length=1, description="Weekdays (mon..sun) the window opens on.")
    start: str = Field(description="Local opening time, HH:MM (inclusive).")
    end: str = Field(description="Local closing time, HH:MM (exclusive), later the same day.")

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)


class ChangeWindowsConfig(_Model):
    time_zone: str = Field(description="IANA time zone of the site (e.g. Europe/Berlin).")
    windows: list[ChangeWindow] = Field(min_length=1, description="When deploys are allowed.")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value


def change_window_problems(base: str, config: ChangeWindowsConfig | None) -> list[Problem]:
    if config is None:
        return []
    return [
        Problem(f"{base}.windows[{i}].end", f"{w.end} is not after start {w.start}: the window never opens")
        for i, w in enumerate(config.windows)
        if w.end <= w.start
    ]


def _bounds(config: ChangeWindowsConfig, day: datetime) -> list[tuple[datetime, datetime]]:
    """The windows of one local calendar day, as aware datetimes."""
    zone = ZoneInfo(config.time_zone)
    found = []
    for window in config.windows:
        if WEEKDAYS[day.weekday()] in window.days:
            start = datetime.combine(day.date(), time.fromisoformat(window.start), zone)
            end = datetime.combine(day.date(), time.fromisoformat(window.end), zone)
            found.append((start, end))
    return found


def open_window(config: ChangeWindowsConfig, instant: datetime) -> tuple[datetime, datetime] | None:
    """The window holding ``instant`` (aware), or None."""
    local = instant.astimezone(ZoneInfo(config.time_zone))
    for start, end in _bounds(config, local):
        if start <= local < end:
            return start, end
    return None


def next_opening(config: ChangeWindowsConfig, instant: datetime) -> datetime:
    """The next time a window opens after ``instant`` (within eight days: every window opens weekly)."""
    local = instant.astimezone(ZoneInfo(config.time_zone))
    for offset in range(9):
        day = local + timedelta(days=offset)
        starts = sorted(start for start, _ in _bounds(config, day) if start > local)
        if starts:
            return starts[0]
    raise AssertionError("a validated config opens at least once a week")
