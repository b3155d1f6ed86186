"""The on-prem end of the site-to-site VPNs: strongSwan on labelled edge nodes.

Given each AWS stack's VPN outputs (tunnel outside and inside addresses, options, and the PSKs as
secrets), it builds one :class:`TunnelSpec` per tunnel with the exact options the AWS side was
configured with, renders ``swanctl.conf`` (``render_swanctl_conf``) and a ``strongswan.conf``
carrying the IKEv2 DPD timeout as ``charon.retransmit_*`` (swanctl.conf cannot hold it), stores
both in a Kubernetes Secret and runs a DaemonSet of strongSwan on the nodes labelled
``<label>=true``: host network, only NET_ADMIN (XFRM states and policies, routes) and
NET_BIND_SERVICE (IKE on UDP 500/4500) added to an otherwise empty capability set. The edge
nodes also carry a taint the gateway alone tolerates, so nothing else is scheduled next to it.

A liveness probe restarts a hung charon: ``swanctl --stats`` is a request over charon's vici
socket, answered by charon's own worker threads, so a charon that is alive but stuck leaves it
waiting. ``timeout -s KILL`` bounds the wait inside the container (kubelet's exec-probe timeout
ends the probe, but not necessarily the process it started, so hung swanctl processes could pile
up). Outcome: exit 0 when charon answers; non-zero at once when nothing listens on the socket
(swanctl 5.9.8 here: 2 without a socket file, 111 when it is refused); killed by SIGKILL after
VICI_ANSWER_SECONDS when charon accepts the connection but never answers, as a stopped charon
does (all three shown for real in tests/test_vpn_end_to_end.py).

The rendered swanctl.conf is secret end to end: it is computed inside an ``apply`` over secret
inputs and wrapped in ``Output.secret`` again, and is exposed as ``swanctl_conf`` for sites that
terminate on an appliance instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.vpn.swanctl import TunnelSpec, ike_retransmission_for, render_swanctl_conf

CONFIG_DIR = "/etc/hybrid-llm-infra"
APP = "strongswan-gateway"

VICI_ANSWER_SECONDS = 5
"""How long charon gets to answer over vici before the probe counts it as hung."""
PROBE_COMMAND = ("timeout", "-s", "KILL", str(VICI_ANSWER_SECONDS), "swanctl", "--stats")
"""coreutils' timeout and strongSwan's swanctl (--enable-swanctl --enable-vici), both in the image's PATH
(strongX509/docker strongswan/Dockerfile: Ubuntu 22.04, strongSwan built with --prefix=/usr)."""
PROBE_TIMEOUT_SECONDS = VICI_ANSWER_SECONDS + 2
LIVENESS_PERIOD_SECONDS = 10
LIVENESS_FAILURES = 3
"""A charon stuck for about 30 s (three probes 10 s apart) is restarted: as long as AWS's DPD timeout."""

# charon's path differs between distributions' builds; the first executable one is used.
_START_SCRIPT = f"""\
set -eu
for c in /usr/libexec/ipsec/charon /usr/lib/ipsec/charon /usr/sbin/charon; do [ -x "$c" ] && break; done
"$c" & charon=$!
until swanctl --stats >/dev/null 2>&1; do sleep 1; done
swanctl --load-all --noprompt --file {CONFIG_DIR}/swanctl.conf
wait "$charon"
"""


@dataclass(frozen=True)
class VpnPeerArgs:
    """One AWS site's VPN, as its stack exported it."""

    site: str
    vpn: pulumi.Input[Mapping[str, Any]]
    """The ``vpn`` export: ``localNetworkCidr``, ``remoteNetworkCidr`` and ``tunnels`` (addresses, options)."""
    preshared_keys: pulumi.Input[Sequence[str]]
    """The ``vpnPresharedKeys`` export (secret), one per tunnel in order."""


@dataclass(frozen=True)
class NodeTaint:
    """A taint of the edge nodes (``key=value:effect``) that the gateway's pods tolerate."""

    key: str
    value: str
    effect: str
    """NoSchedule, PreferNoSchedule or NoExecute."""


@dataclass(frozen=True)
class OnPremVpnGatewayArgs:
    """Inputs of OnPremVpnGateway (defaults live in the config: stackconfig.vpn.OnPremVpnGatewayConfig)."""

    local_public_ip: str
    """The gateway's public address (the customer gateway address AWS knows)."""
    peers: Sequence[VpnPeerArgs]
    namespace: str | None
    """Privileged namespace to run in (made by the cluster component); None: render only, no DaemonSet."""
    image: str
    node_selector_label: str
    """The gateway runs on nodes with this label set to ``true``."""
    node_taint: NodeTaint
    """The edge nodes' taint; the pods tolerate exactly this one."""
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


def _probe(*, period_seconds: int, failure_threshold: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=list(PROBE_COMMAND)),
        period_seconds=period_seconds,
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
        failure_threshold=failure_threshold,
    )


def peer_tunnel_specs(
    site: str, local_public_ip: str, vpn: Mapping[str, Any] | None, keys: Sequence[str] | None
) -> list[TunnelSpec]:
    """The on-prem side's TunnelSpecs of one AWS site, from its plain (resolved) exports."""
    if not vpn:
        return []
    tunnels = list(vpn["tunnels"])
    if keys is None or len(keys) != len(tunnels):
        raise ValueError(f"{site}: {len(tunnels)} tunnels but {0 if keys is None else len(keys)} pre-shared keys")
    specs = []
    for index, (tunnel, psk) in enumerate(zip(tunnels, keys, strict=True), 1):
        specs.append(
            TunnelSpec(
                name=f"{site}-t{index}",
                local_outside_ip=local_public_ip,
                remote_outside_ip=tunnel["outsideAddress"],
                local_inside_ip=tunnel["customerInsideAddress"],
                remote_inside_ip=tunnel["awsInsideAddress"],
                psk=psk,
                local_traffic_selectors=[vpn["localNetworkCidr"]],
                remote_traffic_selectors=[vpn["remoteNetworkCidr"]],
                ike_encryption=tunnel["phase1EncryptionAlgorithms"],
                ike_integrity=tunnel["phase1IntegrityAlgorithms"],
                ike_dh_groups=[int(g) for g in tunnel["phase1DhGroupNumbers"]],
                esp_encryption=tunnel["phase2EncryptionAlgorithms"],
                esp_integrity=tunnel["phase2IntegrityAlgorithms"],
                esp_dh_groups=[int(g) for g in tunnel["phase2DhGroupNumbers"]],
                ike_lifetime_seconds=int(tunnel["phase1LifetimeSeconds"]),
                esp_lifetime_seconds=int(tunnel["phase2LifetimeSeconds"]),
                rekey_margin_seconds=int(tunnel["rekeyMarginTimeSeconds"]),
                rekey_fuzz_percentage=int(tunnel["rekeyFuzzPercentage"]),
                dpd_timeout_seconds=int(tunnel["dpdTimeoutSeconds"]),
                dpd_action=tunnel["dpdTimeoutAction"],
                # The gateway always initiates; AWS's StartupAction 'add' waits for it.
                startup_action="start",
                ike_versions=tunnel["ikeVersions"],
            )
        )
    return specs


def render_strongswan_conf(specs: Sequence[TunnelSpec]) -> str:
    """The daemon settings of the gateway: the DPD timeout as IKEv2 retransmissions, routes on,
    bypass-lan off (it would route the peers' own outside network past the tunnels)."""
    lines = [
        "# strongswan.conf rendered by components/onprem_vpn_gateway.py; do not edit by hand.",
        "charon {",
        "  install_routes = yes",
    ]
    if specs:
        lines += [f"  {line}" for line in ike_retransmission_for(specs).strongswan_conf_lines()]
    lines += [
        "  plugins {",
        "    bypass-lan {",
        "      load = no",
        "    }",
        "  }",
        "  filelog {",
        "    stderr {",
        "      default = 1",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_gateway_configs(
    local_public_ip: str, peers: Sequence[tuple[str, Mapping[str, Any] | None, Sequence[str] | None]]
) -> tuple[str, str]:
    """(swanctl.conf, strongswan.conf) for every tunnel of every peer, in peer order."""
    specs = [spec for site, vpn, keys in peers for spec in peer_tunnel_specs(site, local_public_ip, vpn, keys)]
    swanctl = (
        render_swanctl_conf(specs, role_comment="on-prem gateway to the AWS sites' VPN connections")
        if specs
        else "# no VPN tunnels: no AWS stack exports a VPN\n"
    )
    return swanctl, render_strongswan_conf(specs)


class OnPremVpnGateway(pulumi.ComponentResource):
    """Rendered strongSwan config in a Secret and a host-network DaemonSet on the edge nodes."""

    swanctl_conf: pulumi.Output[str]
    """Secret: holds the PSKs."""
    strongswan_conf: pulumi.Output[str]
    tunnels: pulumi.Output[list[dict[str, str]]]
    """Per tunnel: name and peer outside address (no secrets)."""
    secret: k8s.core.v1.Secret | None
    daemon_set: k8s.apps.v1.DaemonSet | None

    def __init__(self, name: str, args: OnPremVpnGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:onprem:OnPremVpnGateway", name, None, opts)
        sites = [p.site for p in args.peers]
        inputs = pulumi.Output.all(*[pulumi.Output.all(p.vpn, p.preshared_keys) for p in args.peers])
        rendered = inputs.apply(
            lambda resolved: render_gateway_configs(
                args.local_public_ip, [(site, vpn, keys) for site, (vpn, keys) in zip(sites, resolved, strict=True)]
            )
        )
        self.swanctl_conf = pulumi.Output.secret(rendered.apply(lambda confs: confs[0]))
        # strongswan.conf holds no key (timers and plugins only), so it need not stay secret.
        self.strongswan_conf = pulumi.Output.unsecret(rendered.apply(lambda confs: confs[1]))
        vpns = pulumi.Output.all(*[p.vpn for p in args.peers])
        self.tunnels = vpns.apply(
            lambda resolved: [
                {"name": f"{site}-t{i}", "peer": t["outsideAddress"], "insideAddress": t["customerInsideAddress"]}
                for site, vpn in zip(sites, resolved, strict=True)
                if vpn
                for i, t in enumerate(vpn["tunnels"], 1)
            ]
        )
        self.secret = None
        self.daemon_set = None
        if args.namespace:
            self._deploy(name, args)
        self.register_outputs(
            {"swanctlConf": self.swanctl_conf, "strongswanConf": self.strongswan_conf, "tunnels": self.tunnels}
        )

    def _deploy(self, name: str, args: OnPremVpnGatewayArgs) -> None:
        labels = {**args.labels, "app.kubernetes.io/name": APP, "app.kubernetes.io/part-of": "hybrid-llm-infra"}
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-config", namespace=args.namespace, labels=labels),
            type="Opaque",
            string_data={"swanctl.conf": self.swanctl_conf, "strongswan.conf": self.strongswan_conf},
            opts=opts,
        )
        container = k8s.core.v1.ContainerArgs(
            name="charon",
            image=args.image,
            command=["/bin/sh", "-c", _START_SCRIPT],
            env=[k8s.core.v1.EnvVarArgs(name="STRONGSWAN_CONF", value=f"{CONFIG_DIR}/strongswan.conf")],
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_user=0,  # charon manages XFRM and routes; capabilities are the real limit
                run_as_non_root=False,
                privileged=False,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=["NET_ADMIN", "NET_BIND_SERVICE"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="run", mount_path="/run"),
            ],
            # Until charon first answers (the start script waits for it too), only the startup probe runs.
            startup_probe=_probe(period_seconds=2, failure_threshold=30),
            liveness_probe=_probe(period_seconds=LIVENESS_PERIOD_SECONDS, failure_threshold=LIVENESS_FAILURES),
            readiness_probe=_probe(period_seconds=LIVENESS_PERIOD_SECONDS, failure_threshold=LIVENESS_FAILURES),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "1", "memory": "256Mi"}
            ),
        )
        self.daemon_set = k8s.apps.v1.DaemonSet(
            f"{name}-daemonset",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=APP, namespace=args.namespace, labels=labels),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": APP}),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        host_network=True,
                        dns_policy="ClusterFirstWithHostNet",
                        node_selector={args.node_selector_label: "true"},
                        tolerations=[
                            k8s.core.v1.TolerationArgs(
                                key=args.node_taint.key,
                                operator="Equal",
                                value=args.node_taint.value,
                                effect=args.node_taint.effect,
                            )
                        ],
                        automount_service_account_token=False,
                        termination_grace_period_seconds=30,
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=f"{APP}-config", default_mode=0o400
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="run", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory")
                            ),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.secret]),
        )
