"""The on-prem end of the site-to-site VPNs: strongSwan and FRR on labelled edge nodes.

Given each AWS stack's VPN outputs (tunnel outside and inside addresses, Amazon-side ASN, options, and
the PSKs as secrets) and the address plan, it renders (``components.vpn.gateway``, pure) the route-based
``swanctl.conf`` (one connection per tunnel bound to its XFRM interface, 0.0.0.0/0 selectors), a
``strongswan.conf`` carrying the IKEv2 DPD timeout as ``charon.retransmit_*`` and ``install_routes = no``,
``xfrm-interfaces.sh`` (the interfaces and the transit filter) and FRR's ``frr.conf``; stores them in a
Kubernetes Secret and runs a DaemonSet on the nodes labelled ``<label>=true``, host network, two
containers: charon (only NET_ADMIN for XFRM states, policies and interfaces, and NET_BIND_SERVICE for
IKE on UDP 500/4500) and FRR's zebra + bgpd (routes learned over the tunnels into the node's table). The
edge nodes also carry a taint the gateway alone tolerates, so nothing else is scheduled next to it.

A liveness probe restarts a hung charon: ``swanctl --stats`` is a request over charon's vici
socket, answered by charon's own worker threads, so a charon that is alive but stuck leaves it
waiting. ``timeout -s KILL`` bounds the wait inside the container (kubelet's exec-probe timeout
ends the probe, but not necessarily the process it started, so hung swanctl processes could pile
up). Outcome: exit 0 when charon answers; non-zero at once when nothing listens on the socket
(swanctl 5.9.8 here: 2 without a socket file, 111 when it is refused); killed by SIGKILL after
VICI_ANSWER_SECONDS when charon accepts the connection but never answers, as a stopped charon
does (all three shown for real in tests/test_vpn_end_to_end.py).

The rendered swanctl.conf is secret end to end: it is computed inside an ``apply`` over secret
inputs and wrapped in ``Output.secret`` again. It and the other files are exposed (``swanctl_conf``,
``strongswan_conf``, ``frr_conf``, ``interfaces_script``) for sites that terminate on an appliance instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.vpn.gateway import GatewayBgp, GatewayFiles, PeerExport, render_gateway_configs

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
FRR_RUN_DIR = "/run/frr"
# zebra (routes into the kernel) and bgpd with their sockets in the pod's own /run; both drop to the image's
# frr user, so the config is copied where that user can read it. The container ends when either daemon does.
_FRR_START_SCRIPT = f"""\
set -eu
install -d -o frr -g frr -m 0755 {FRR_RUN_DIR}
install -o frr -g frr -m 0600 {CONFIG_DIR}/frr.conf {FRR_RUN_DIR}/frr.conf
/usr/lib/frr/zebra -z {FRR_RUN_DIR}/zserv.api -i {FRR_RUN_DIR}/zebra.pid --vty_socket {FRR_RUN_DIR} -f /dev/null & z=$!
/usr/lib/frr/bgpd -z {FRR_RUN_DIR}/zserv.api -i {FRR_RUN_DIR}/bgpd.pid --vty_socket {FRR_RUN_DIR} \\
  -f {FRR_RUN_DIR}/frr.conf & b=$!
while kill -0 "$z" 2>/dev/null && kill -0 "$b" 2>/dev/null; do sleep 5; done
exit 1
"""
FRR_PROBE_COMMAND = ("sh", "-c", f"vtysh --vty_socket {FRR_RUN_DIR} -d bgpd -c 'show bgp summary' >/dev/null")
"""bgpd answers over its vty socket (vtysh is in the FRR image)."""

_START_SCRIPT = f"""\
set -eu
for c in /usr/libexec/ipsec/charon /usr/lib/ipsec/charon /usr/sbin/charon; do [ -x "$c" ] && break; done
sh {CONFIG_DIR}/xfrm-interfaces.sh  # one XFRM interface per tunnel, before charon installs SAs bound to them
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
    """The ``vpn`` export: ``tunnels`` (outside and inside addresses, Amazon-side ASN, options)."""
    preshared_keys: pulumi.Input[Sequence[str]]
    """The ``vpnPresharedKeys`` export (secret), one per tunnel in order."""
    accept: Sequence[str]
    """The site's VPC CIDR(s) from the address plan: all BGP accepts from this site's tunnels."""


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
    frr_image: str
    bgp: GatewayBgp
    """ASN, announced prefixes, timers, maximum-prefix (config: vpnGateway.bgp and the address plan)."""
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


class OnPremVpnGateway(pulumi.ComponentResource):
    """Rendered strongSwan and FRR configs in a Secret and a host-network DaemonSet on the edge nodes."""

    swanctl_conf: pulumi.Output[str]
    """Secret: holds the PSKs."""
    strongswan_conf: pulumi.Output[str]
    frr_conf: pulumi.Output[str]
    """FRR's bgpd configuration (no key in it: neighbors, ASNs, filters, timers)."""
    interfaces_script: pulumi.Output[str]
    """Creates the XFRM interfaces (an appliance site does the equivalent in its own CLI)."""
    tunnels: pulumi.Output[list[dict[str, str]]]
    """Per tunnel: name, peer outside address, inside address, XFRM interface (no secrets)."""
    secret: k8s.core.v1.Secret | None
    daemon_set: k8s.apps.v1.DaemonSet | None

    def __init__(self, name: str, args: OnPremVpnGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-llm-infra:onprem:OnPremVpnGateway", name, None, opts)
        peers = list(args.peers)
        inputs = pulumi.Output.all(*[pulumi.Output.all(p.vpn, p.preshared_keys) for p in peers])

        def render(resolved: list[Any]) -> GatewayFiles:
            exports = [
                PeerExport(site=p.site, vpn=vpn, keys=keys, accept=list(p.accept))
                for p, (vpn, keys) in zip(peers, resolved, strict=True)
            ]
            return render_gateway_configs(args.local_public_ip, exports, args.bgp)

        rendered = inputs.apply(render)
        self.swanctl_conf = pulumi.Output.secret(rendered.apply(lambda files: files.swanctl_conf))
        # The other files hold no key (timers, plugins, addresses, ASNs, filters), so they need not stay secret.
        self.strongswan_conf = pulumi.Output.unsecret(rendered.apply(lambda files: files.strongswan_conf))
        self.frr_conf = pulumi.Output.unsecret(rendered.apply(lambda files: files.frr_conf))
        self.interfaces_script = pulumi.Output.unsecret(rendered.apply(lambda files: files.interfaces_script))
        sites = [p.site for p in peers]
        vpns = pulumi.Output.all(*[p.vpn for p in peers])
        self.tunnels = vpns.apply(
            lambda resolved: [
                {
                    "name": f"{site}-t{i}",
                    "peer": t["outsideAddress"],
                    "insideAddress": t["customerInsideAddress"],
                    "bgpNeighbor": t["awsInsideAddress"].split("/")[0],
                    "interface": f"xfrm{n}",
                }
                for n, (site, i, t) in enumerate(
                    [
                        (site, i, t)
                        for site, vpn in zip(sites, resolved, strict=True)
                        if vpn
                        for i, t in enumerate(vpn["tunnels"], 1)
                    ],
                    1,
                )
            ]
        )
        self.secret = None
        self.daemon_set = None
        if args.namespace:
            self._deploy(name, args)
        self.register_outputs(
            {
                "swanctlConf": self.swanctl_conf,
                "strongswanConf": self.strongswan_conf,
                "frrConf": self.frr_conf,
                "xfrmInterfacesScript": self.interfaces_script,
                "tunnels": self.tunnels,
            }
        )

    def _deploy(self, name: str, args: OnPremVpnGatewayArgs) -> None:
        labels = {**args.labels, "app.kubernetes.io/name": APP, "app.kubernetes.io/part-of": "hybrid-llm-infra"}
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-config", namespace=args.namespace, labels=labels),
            type="Opaque",
            string_data={
                "swanctl.conf": self.swanctl_conf,
                "strongswan.conf": self.strongswan_conf,
                "frr.conf": self.frr_conf,
                "xfrm-interfaces.sh": self.interfaces_script,
            },
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
                        containers=[container, self._frr_container(args)],
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
                            k8s.core.v1.VolumeArgs(
                                name="frr-run", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory")
                            ),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.secret]),
        )

    def _frr_container(self, args: OnPremVpnGatewayArgs) -> k8s.core.v1.ContainerArgs:
        """zebra + bgpd next to charon, in the same host network namespace (the XFRM interfaces are there)."""
        probe = k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=list(FRR_PROBE_COMMAND)),
            period_seconds=LIVENESS_PERIOD_SECONDS,
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            failure_threshold=LIVENESS_FAILURES,
        )
        return k8s.core.v1.ContainerArgs(
            name="frr",
            image=args.frr_image,
            command=["/bin/sh", "-c", _FRR_START_SCRIPT],
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_user=0,  # starts as root to switch to the frr user, keeping only what the daemons need
                run_as_non_root=False,
                privileged=False,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(
                    drop=["ALL"],
                    # NET_ADMIN: zebra's routes; NET_BIND_SERVICE: BGP's TCP 179; NET_RAW: FRR's raw sockets;
                    # SETUID/SETGID: the switch to the frr user; CHOWN: its run directory and config copy.
                    add=["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW", "SETUID", "SETGID", "CHOWN"],
                ),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="frr-run", mount_path=FRR_RUN_DIR),
            ],
            liveness_probe=probe,
            readiness_probe=probe,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "1", "memory": "256Mi"}
            ),
        )
