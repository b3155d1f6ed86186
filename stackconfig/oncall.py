"""Follow-the-sun on-call: teams with a time zone and daily working hours, and who is on duty when.

Hours are local wall-clock time in the team's IANA zone, start inclusive and end exclusive, as Alertmanager's
``time_intervals`` (``times`` with ``location``) evaluate them; a range may cross midnight (21:00-09:00). Coverage
is checked over a whole year of instants, so a gap that only opens when one team's zone changes to or from
daylight-saving time is found (and named) too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from stackconfig.errors import Problem
from stackconfig.types import DnsLabel

STEP_MINUTES = 15
"""Hours must be on quarter hours, so checking every quarter hour of a year is exhaustive."""
CHECK_YEAR = 2027
_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


def _hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise ValueError("must be HH:MM (24 h)")
    if int(value[3:]) % STEP_MINUTES:
        raise ValueError(f"must be on a quarter hour (minutes 00, 15, 30, 45), got {value}")
    return value


class OnCallTeam(_Model):
    name: DnsLabel = Field(description="Team (and Alertmanager receiver) name.")
    time_zone: str = Field(description="IANA time zone of the team (e.g. Europe/Berlin).")
    start: str = Field(description="Start of the daily shift, local HH:MM (inclusive).")
    end: str = Field(description="End of the daily shift, local HH:MM (exclusive; may be the next day).")
    pager_url: str = Field(pattern=r"^https://", description="Webhook of the team's paging service.")
    pager_token_secret: DnsLabel = Field(
        description="Kubernetes Secret in the metrics namespace holding the pager token under the key 'token'."
    )

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    def ranges(self) -> list[tuple[str, str]]:
        """The shift as Alertmanager ``times`` ranges (which cannot cross midnight)."""
        if self.start < self.end:
            return [(self.start, self.end)]
        return [(self.start, "24:00"), ("00:00", self.end)] if self.end != "00:00" else [(self.start, "24:00")]

    def on_duty(self, instant: datetime) -> bool:
        local = instant.astimezone(ZoneInfo(self.time_zone)).time()
        return any(
            time.fromisoformat(a) <= local and (b == "24:00" or local < time.fromisoformat(b)) for a, b in self.ranges()
        )


class OnCallConfig(_Model):
    teams: list[OnCallTeam] = Field(default_factory=list, description="Teams that share the pager, follow-the-sun.")


def on_duty(config: OnCallConfig, instant: datetime) -> list[str]:
    """The teams whose shift holds ``instant`` (timezone-aware)."""
    return [team.name for team in config.teams if team.on_duty(instant)]


def coverage_gaps(config: OnCallConfig, year: int = CHECK_YEAR) -> list[tuple[datetime, datetime]]:
    """Every UTC interval of the year with nobody on duty (merged, end exclusive)."""
    gaps: list[tuple[datetime, datetime]] = []
    instant, stop = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=STEP_MINUTES)
    while instant < stop:
        if not on_duty(config, instant):
            if gaps and gaps[-1][1] == instant:
                gaps[-1] = (gaps[-1][0], instant + step)
            else:
                gaps.append((instant, instant + step))
        instant += step
    return gaps


def oncall_problems(base: str, config: OnCallConfig) -> list[Problem]:
    problems = []
    names = [team.name for team in config.teams]
    for index, team in enumerate(config.teams):
        if team.start == team.end:
            problems.append(
                Problem(f"{base}.teams[{index}].end", f"equals start ({team.start}): the shift never opens")
            )
        if team.name in names[:index]:
            problems.append(
                Problem(f"{base}.teams[{index}].name", f"{team.name!r} is already the name of an earlier team")
            )
    if problems or not config.teams:
        return problems
    gaps = coverage_gaps(config)
    if gaps:
        shown = "; ".join(f"{a:%Y-%m-%d %H:%M}-{b:%H:%M} UTC" for a, b in gaps[:3])
        more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
        shifts = ", ".join(f"{t.name} {t.start}-{t.end} {t.time_zone}" for t in config.teams)
        problems.append(
            Problem(f"{base}.teams", f"nobody is on duty {shown}{more} (in {CHECK_YEAR}; shifts: {shifts})")
        )
    return problems
