"""A CloudWatch alarm on each tunnel of an AWS site-to-site VPN, publishing to the site's alarm topic.

AWS/VPN ``TunnelState`` per ``VpnId`` + ``TunnelIpAddress``: for a BGP VPN, 1 when BGP is established and 0 in every
other state (AWS Site-to-Site VPN User Guide, "Monitoring your Site-to-Site VPN connections using Amazon
CloudWatch"). The alarm fires after two minutes below 1 (the BGP failover bound is 36 s, README "Site-to-site VPN",
so a tunnel still down after two minutes is down, not failing over) and on missing data (AWS publishes the metric
every 5 minutes at most: no data means no tunnel to report on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

TYPE_TOKEN = "hybrid-llm-infra:vpn:VpnTunnelAlarms"
PERIOD_SECONDS = 60
EVALUATION_PERIODS = 2


@dataclass(frozen=True)
class VpnTunnelAlarmsArgs:
    vpn_connection_id: pulumi.Input[str]
    tunnel_addresses: Sequence[pulumi.Input[str]]
    """Each tunnel's AWS outside address (the TunnelIpAddress dimension)."""
    site: str


class VpnTunnelAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: VpnTunnelAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The on-call's pager subscribes here (an HTTPS endpoint of the paging service); the topic is regional.
        self.topic = aws.sns.Topic(f"{name}-topic", opts=child)
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-tunnel-{index}",
                alarm_description=f"{args.site}: VPN tunnel {index} to the on-prem gateway is down (TunnelState < 1)",
                namespace="AWS/VPN",
                metric_name="TunnelState",
                dimensions={"VpnId": args.vpn_connection_id, "TunnelIpAddress": address},
                statistic="Maximum",
                period=PERIOD_SECONDS,
                evaluation_periods=EVALUATION_PERIODS,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
            for index, address in enumerate(args.tunnel_addresses, start=1)
        ]
        self.register_outputs({"topicArn": self.topic.arn})
