"""Follow-the-sun routing: the Alertmanager configuration that pages the team on duty.

Rendered into kube-prometheus-stack's ``alertmanager.config`` (the Alertmanager's own configuration file), not an
AlertmanagerConfig resource: the Prometheus Operator's AlertmanagerConfig (monitoring.coreos.com/v1alpha1 and
v1beta1, CRD of v0.93) has time intervals without ``location``, so a shift could only be written in UTC and would
move by an hour at every daylight-saving change. Alertmanager's ``time_intervals`` take ``location`` (0.25+).

Every alert goes to each team whose shift holds the instant (``active_time_intervals``, ``continue`` so an overlap
pages both). A route outside its ``active_time_intervals`` still matches and is only muted, so the last route
pages every team whenever no shift holds (``mute_time_intervals``: all shifts): a gap the config check missed never
drops an alert. Pager tokens are read from files (Secrets mounted by the Alertmanager pod), never written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SECRETS_DIR = "/etc/alertmanager/secrets"
"""Where the Prometheus Operator mounts ``alertmanagerSpec.secrets`` (one directory per Secret)."""
ALL_TEAMS = "all-teams"
GROUP_BY = ["alertname", "site", "model_name"]


@dataclass(frozen=True)
class TeamShift:
    name: str
    time_zone: str
    ranges: tuple[tuple[str, str], ...]
    """Local (start, end) ranges, end exclusive, none crossing midnight."""
    pager_url: str
    token_secret: str


def _webhook(team: TeamShift) -> dict[str, Any]:
    return {
        "url": team.pager_url,
        "send_resolved": True,
        "http_config": {"authorization": {"credentials_file": f"{SECRETS_DIR}/{team.token_secret}/token"}},
    }


def alertmanager_config(teams: Sequence[TeamShift]) -> dict[str, Any]:
    if not teams:
        raise ValueError("teams: at least one on-call team is needed")
    return {
        "route": {
            "receiver": ALL_TEAMS,
            "group_by": GROUP_BY,
            "routes": [
                {"receiver": team.name, "active_time_intervals": [f"{team.name}-shift"], "continue": True}
                for team in teams
            ]
            # A route with time intervals still matches outside them (it is only muted), so the root receiver
            # would never see an alert; this last route pages everyone exactly when no shift holds.
            + [{"receiver": ALL_TEAMS, "mute_time_intervals": _any_shift(teams)}],
        },
        "receivers": [
            {"name": ALL_TEAMS, "webhook_configs": [_webhook(team) for team in teams]},
            *({"name": team.name, "webhook_configs": [_webhook(team)]} for team in teams),
        ],
        "time_intervals": [
            {
                "name": f"{team.name}-shift",
                "time_intervals": [
                    {"times": [{"start_time": a, "end_time": b} for a, b in team.ranges], "location": team.time_zone}
                ],
            }
            for team in teams
        ],
    }


def _any_shift(teams: Sequence[TeamShift]) -> list[str]:
    return [f"{team.name}-shift" for team in teams]


def alertmanager_secrets(teams: Sequence[TeamShift]) -> list[str]:
    return sorted({team.token_secret for team in teams})
