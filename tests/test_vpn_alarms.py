"""Each AWS stack alarms on each VPN tunnel's TunnelState (AWS/VPN, per VpnId and TunnelIpAddress)."""

from __future__ import annotations

import pytest

from tests.stack_runs import shipped_runs

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_one_tunnel_state_alarm_per_tunnel(stack: str) -> None:
    run = shipped_runs()[stack]
    (connection,) = [r for r in run.resources if r.type == "aws:ec2/vpnConnection:VpnConnection"]
    (topic,) = [r for r in run.resources if r.type == "aws:sns/topic:Topic" and "vpn-alarms" in r.name]
    alarms = sorted((r for r in run.resources if r.type == ALARM and "vpn-alarms" in r.name), key=lambda r: r.name)
    assert len(alarms) == 2
    addresses = set()
    for alarm in alarms:
        inputs = alarm.inputs
        assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == ("AWS/VPN", "TunnelState", "Maximum")
        assert inputs["dimensions"]["VpnId"] == connection.id
        addresses.add(inputs["dimensions"]["TunnelIpAddress"])
        # Below 1 (BGP not established) for two one-minute periods, or no data at all.
        assert (inputs["comparisonOperator"], inputs["threshold"]) == ("LessThanThreshold", 1)
        assert (inputs["period"], inputs["evaluationPeriods"], inputs["treatMissingData"]) == (60, 2, "breaching")
        (action,) = inputs["alarmActions"]
        assert inputs["okActions"] == [action] and action.endswith(f"/{topic.id}")  # the mock arn ends in its id
    assert len(addresses) == 2 and all(addresses), "each tunnel's own outside address"
