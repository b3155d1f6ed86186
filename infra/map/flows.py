"""How data moves: VPN tunnels, load-balancer endpoints, DNS, log delivery, replication, remote write, model loads.

Each flow names both ends as a site of the map (or ``external:...`` when the inventory does not place it) and says
whether it stays inside one jurisdiction. The far end of a tunnel is the site whose gateway lists the AWS tunnel's
outside address (the on-prem stack's ``vpnTunnels`` output); callers of an internal NLB are the sites its security
group admits, reached over that stack's tunnels.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from infra.map.inventory_view import StackView, as_list, region_of_arn, region_of_host
from infra.map.model import Boundary, DataFlowMap, Flow, Store
from infra.map.stores import RECORD_CONTROL, object_stores
from residency import jurisdiction_for_region
from residency.front_door import PUBLIC_ENTRY_LABEL, PUBLIC_ENTRY_VALUE

_TRANSFER = ("region-in-jurisdiction", RECORD_CONTROL)
CLIENTS = "external:clients:"
"""The clients of a jurisdiction's front door: its market (``external:clients:EU``)."""


class _Places:
    """Which site an address, host, ARN or store name belongs to."""

    def __init__(self, views: list[StackView], flow_map: DataFlowMap) -> None:
        self.map = flow_map
        self.views = views
        self.vpcs = {
            v.name: ipaddress.ip_network(v.outputs["vpcCidr"])
            for v in views
            if isinstance(v.outputs.get("vpcCidr"), str)
        }
        self.zones = {v.outputs["privateZone"]: v.name for v in views if isinstance(v.outputs.get("privateZone"), str)}
        self.stores_by_name = {s.name: s for s in flow_map.stores}

    def jurisdiction(self, end: str) -> str | None:
        site = self.map.site(end)
        if site:
            return site.jurisdiction
        if end.startswith(CLIENTS):
            return end[len(CLIENTS) :]  # the market a front door serves: its jurisdiction's clients
        if end.startswith("external:region:"):
            found = jurisdiction_for_region(end.split(":", 2)[2])
            return found.id if found else "outside-all"
        return None

    def site_of_cidr(self, cidr: str) -> str | None:
        net = ipaddress.ip_network(cidr, strict=False)
        return next((site for site, vpc in self.vpcs.items() if net.overlaps(vpc)), None)

    def site_of_host(self, host: str) -> str | None:
        host = host.rstrip(".").lower()
        zone_site = next((s for zone, s in self.zones.items() if host == zone or host.endswith("." + zone)), None)
        if zone_site:
            return zone_site
        region = region_of_host(host)
        return self.region_end(region) if region else None

    def region_end(self, region: str) -> str:
        site = next((s.id for s in self.map.sites if s.region == region), None)
        return site or f"external:region:{region}"


def derive_flows(views: list[StackView], flow_map: DataFlowMap) -> list[Flow]:
    places = _Places(views, flow_map)
    flows: list[Flow] = []
    tunnels = _tunnels(views, places)
    for view in views:
        flows += _endpoints(view, places, tunnels)
        flows += _dns(view, places, tunnels)
        flows += _logs(view, places)
        flows += _replication(view, places)
        flows += _remote_write(view, places)
        flows += _model_loads(view, places)
        flows += _front_door(view, places)
    carried: dict[str, list[str]] = {}
    for flow in flows:
        for tunnel_id in flow.via:
            carried.setdefault(tunnel_id, []).append(flow.label.split(":", 1)[0])
    return [_with_cargo(t, carried.get(t.id, []), places) for t in tunnels] + flows


def _boundary(places: _Places, source: str, target: str) -> tuple[Boundary, str | None, str | None]:
    a, b = places.jurisdiction(source), places.jurisdiction(target)
    if a is None or b is None:
        return "unplaced", a, b
    return ("inside" if a == b else "crosses"), a, b


def _flow(places: _Places, **fields: Any) -> Flow:
    boundary, a, b = _boundary(places, fields["source"], fields["target"])
    return Flow(boundary=boundary, source_jurisdiction=a, target_jurisdiction=b, **fields)


def _tunnels(views: list[StackView], places: _Places) -> list[Flow]:
    gateways = {
        str(t.get("peer")): v.name for v in views for t in as_list(v.outputs.get("vpnTunnels")) if isinstance(t, dict)
    }
    found = []
    for view in views:
        listed = (
            (view.outputs.get("vpn") or {}).get("tunnels") or [] if isinstance(view.outputs.get("vpn"), dict) else []
        )
        for connection in view.of_type("aws:ec2/vpnConnection:VpnConnection"):
            i = connection["inputs"]
            for n in (1, 2):
                outside = listed[n - 1].get("outsideAddress") if len(listed) >= n else None
                far = gateways.get(str(outside)) or "external:customer gateway"
                crypto = (
                    f"IKE {'/'.join(i.get(f'tunnel{n}IkeVersions') or ['default'])} "
                    f"{'/'.join(i.get(f'tunnel{n}Phase1EncryptionAlgorithms') or ['AWS defaults'])} "
                    f"{'/'.join(i.get(f'tunnel{n}Phase1IntegrityAlgorithms') or [])} "
                    f"DH {'/'.join(str(g) for g in i.get(f'tunnel{n}Phase1DhGroupNumbers') or ['default'])}"
                )
                found.append(
                    _flow(
                        places,
                        id=f"{view.name}:tunnel:{connection['name']}:{n}",
                        kind="vpn-tunnel",
                        source=far,
                        target=view.name,
                        source_node=far,
                        target_node=view.name,
                        label=f"IPsec tunnel {n} {i.get('tunnel' + str(n) + 'InsideCidr', '')}",
                        protection=crypto,
                        classification="routing",
                        controls=("vpn-crypto", RECORD_CONTROL),
                    )
                )
    return found


def _with_cargo(tunnel: Flow, cargo: list[str], places: _Places) -> Flow:
    riding = ", ".join(sorted(set(cargo))) or "BGP routes only; no data flow rides it"
    boundary: Boundary = tunnel.boundary
    if boundary == "crosses" and not cargo:
        # A link between jurisdictions that no registered data flow uses: shown (amber), not a transfer.
        boundary = "link"
    return Flow(**{**tunnel.__dict__, "label": f"{tunnel.label}: {riding}", "boundary": boundary})


def _tunnels_between(tunnels: list[Flow], a: str, b: str) -> tuple[str, ...]:
    return tuple(t.id for t in tunnels if {t.source, t.target} == {a, b})


def _model_of(view: StackView, service: dict[str, Any], places: _Places) -> Any:
    parent = view.by_urn(service.get("parent"))
    name = parent["name"] if parent else service["name"]
    return next((m for m in places.map.models if m.site == view.name and m.name == name), None)


def _endpoints(view: StackView, places: _Places, tunnels: list[Flow]) -> list[Flow]:
    flows = []
    groups = {r["id"]: r for r in view.of_type("aws:ec2/securityGroup:SecurityGroup")}
    for service in view.of_type("core/v1:Service"):
        spec = service["inputs"].get("spec") or {}
        labels = (service["inputs"].get("metadata") or {}).get("labels") or {}
        if spec.get("type") != "LoadBalancer" or labels.get(PUBLIC_ENTRY_LABEL) == PUBLIC_ENTRY_VALUE:
            continue  # a public front-door entry is one flow from its clients (_front_door), not one per range
        annotations = (service["inputs"].get("metadata") or {}).get("annotations") or {}
        model = _model_of(view, service, places)
        sources: list[str] = list(spec.get("loadBalancerSourceRanges") or [])
        for group_id in str(annotations.get("service.beta.kubernetes.io/aws-load-balancer-security-groups", "")).split(
            ","
        ):
            for rule in (groups.get(group_id.strip()) or {}).get("inputs", {}).get("ingress") or []:
                sources += rule.get("cidrBlocks") or []
        scheme = annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme", "site load balancer")
        for cidr in sorted(set(sources)):
            caller = places.site_of_cidr(cidr)
            if caller is None:
                # Not an AWS VPC of the map: the site networks behind this stack's tunnels, or its own (on-prem).
                far = sorted({t.source for t in tunnels if t.target == view.name})
                caller = far[0] if len(far) == 1 else view.name
            classification = model.classification if model else view.classification_for(service)
            flows.append(
                _flow(
                    places,
                    id=f"{view.name}:lb-endpoint:{service['name']}:{cidr}",
                    kind="lb-endpoint",
                    source=caller,
                    target=view.name,
                    source_node=caller,
                    target_node=model.id if model else view.name,
                    label=f"inference requests and answers ({classification}): {scheme} LB, TCP "
                    f"{','.join(str(p.get('port')) for p in spec.get('ports') or [])} from {cidr}",
                    protection="IPsec tunnel" if caller != view.name else "site network",
                    classification=classification,
                    controls=("no-open-inference-ingress", "restricted-model-isolated", RECORD_CONTROL),
                    via=_tunnels_between(tunnels, caller, view.name),
                )
            )
    return flows


def _dns(view: StackView, places: _Places, tunnels: list[Flow]) -> list[Flow]:
    flows = []
    forwarders = view.outputs.get("awsModelDnsForwarders")
    for site, config in sorted((forwarders or {}).items() if isinstance(forwarders, dict) else []):
        if not config:
            continue
        zone = next((z for z, s in places.zones.items() if s == site), f"{site} private zone")
        flows.append(
            _flow(
                places,
                id=f"{view.name}:dns-forward:{site}",
                kind="dns-forward",
                source=view.name,
                target=site if places.map.site(site) else f"external:site {site}",
                source_node=view.name,
                target_node=site,
                label=f"DNS queries for {zone}: model host names only",
                protection="IPsec tunnel",
                classification="internal",
                controls=_TRANSFER,
                via=_tunnels_between(tunnels, view.name, site),
            )
        )
    for record in view.of_type("aws:route53/record:Record"):
        name = record["inputs"].get("name", record["name"])
        for target_text in as_list(record["inputs"].get("records")) + [
            a.get("name") for a in as_list(record["inputs"].get("aliases")) if isinstance(a, dict)
        ]:
            target = places.site_of_host(str(target_text))
            if target is None or target == view.name:
                continue  # a target in this site (or that no inventory fact places) is not a movement between sites
            flows.append(
                _flow(
                    places,
                    id=f"{view.name}:dns-record:{name}->{target_text}",
                    kind="dns-record",
                    source=view.name,
                    target=target,
                    source_node=view.name,
                    target_node=target,
                    label=f"DNS record {name} sends callers to {target_text}",
                    protection="none (DNS)",
                    classification=view.classification_for(record),
                    controls=_TRANSFER,
                )
            )
    return flows


def _log_target(places: _Places, arn_or_name: str) -> tuple[str, str]:
    """(end, node) of a log destination: the store when the map holds it, else the ARN's region."""
    name = arn_or_name.split(":log-group:", 1)[-1].split(":", 1)[0] if ":log-group:" in arn_or_name else arn_or_name
    name = name.removeprefix("arn:aws:s3:::").split("/", 1)[0] if arn_or_name.startswith("arn:aws:s3") else name
    store: Store | None = places.stores_by_name.get(name)
    if store:
        return store.site, store.id
    region = region_of_arn(arn_or_name)
    end = places.region_end(region) if region else f"external:{arn_or_name}"
    return end, end


def _logs(view: StackView, places: _Places) -> list[Flow]:
    sources: list[tuple[str, str, str]] = []
    for connection in view.of_type("aws:ec2/vpnConnection:VpnConnection"):
        for n in (1, 2):
            options = ((connection["inputs"].get(f"tunnel{n}LogOptions") or {}).get("cloudwatchLogOptions")) or {}
            if options.get("logGroupArn"):
                sources.append((f"VPN tunnel {n} events", options["logGroupArn"], f"{connection['name']}:{n}"))
    for flow_log in view.of_type("aws:ec2/flowLog:FlowLog"):
        if flow_log["inputs"].get("logDestination"):
            sources.append(("VPC flow records", flow_log["inputs"]["logDestination"], flow_log["name"]))
    for cluster in view.of_type("aws:eks/cluster:Cluster"):
        if cluster["inputs"].get("enabledClusterLogTypes"):
            # EKS writes control-plane logs to /aws/eks/<cluster>/cluster in the cluster's region (EKS user guide).
            sources.append(
                ("EKS control-plane logs", f"/aws/eks/{cluster['inputs'].get('name')}/cluster", cluster["name"])
            )
    for trail in view.of_type("aws:cloudtrail/trail:Trail"):
        if trail["inputs"].get("s3BucketName"):
            sources.append(("CloudTrail S3 data events", str(trail["inputs"]["s3BucketName"]), trail["name"]))
    flows = []
    for what, destination, key in sources:
        target, node = _log_target(places, destination)
        flows.append(
            _flow(
                places,
                id=f"{view.name}:log-delivery:{key}",
                kind="log-delivery",
                source=view.name,
                target=target,
                source_node=view.name,
                target_node=node,
                label=f"{what}: delivered to {destination.rsplit(':', 1)[-1]}",
                protection="AWS service delivery (TLS)",
                classification=view.classification,
                controls=("log-encryption-retention", *_TRANSFER),
            )
        )
    return flows


def _replication(view: StackView, places: _Places) -> list[Flow]:
    flows = []
    configs = [(r, r["inputs"].get("rules")) for r in view.of_type(":BucketReplicationConfig")]
    configs += [
        (r, (r["inputs"].get("replicationConfiguration") or {}).get("rules"))
        for r in view.of_type("aws:s3/bucket:Bucket")
    ]
    for resource, rules in configs:
        for rule in as_list(rules):
            destination = str(((rule or {}).get("destination") or {}).get("bucket", ""))
            if not destination:
                continue
            target, node = _log_target(places, destination)
            flows.append(
                _flow(
                    places,
                    id=f"{view.name}:s3-replication:{resource['name']}:{destination}",
                    kind="s3-replication",
                    source=view.name,
                    target=target,
                    source_node=view.name,
                    target_node=node,
                    label=f"S3 replication: objects copied to {destination.removeprefix('arn:aws:s3:::')}",
                    protection="TLS (S3 replication)",
                    classification=view.classification_for(resource),
                    controls=("s3-encryption-and-access", *_TRANSFER),
                )
            )
    return flows


def _remote_write(view: StackView, places: _Places) -> list[Flow]:
    flows = []
    for release in view.of_type("kubernetes:helm.sh/v3:Release"):
        spec = ((release["inputs"].get("values") or {}).get("prometheus") or {}).get("prometheusSpec") or {}
        for write in as_list(spec.get("remoteWrite")):
            url = str((write or {}).get("url", ""))
            host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            target = places.site_of_host(host) or f"external:{host}"
            flows.append(
                _flow(
                    places,
                    id=f"{view.name}:remote-write:{release['name']}:{url}",
                    kind="remote-write",
                    source=view.name,
                    target=target,
                    source_node=view.name,
                    target_node=target,
                    label=f"metrics samples: remote write to {host}",
                    protection="TLS" if url.startswith("https") else "none",
                    classification=view.classification_for(release),
                    controls=("metrics-remote-write-in-jurisdiction", RECORD_CONTROL),
                )
            )
    return flows


def _model_loads(view: StackView, places: _Places) -> list[Flow]:
    flows = []
    for model in (m for m in places.map.models if m.site == view.name):
        deployment = next((d for d in view.of_type("apps/v1:Deployment") if d["name"] == model.name), None)
        if deployment is None:
            continue
        spec = ((deployment["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
        namespace = (deployment["inputs"].get("metadata") or {}).get("namespace", "default")
        stores = [sid for sid, _ in object_stores(view.name, spec)]
        stores += [
            f"{view.name}:pvc:{namespace}/{v['persistentVolumeClaim']['claimName']}"
            for v in spec.get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")
        ]
        args = (spec.get("containers") or [{}])[0].get("args") or []
        source = args[args.index("--model") + 1] if "--model" in args[:-1] else ""
        if not stores and source.startswith("s3://"):
            bucket = places.stores_by_name.get(source[5:].split("/", 1)[0])
            endpoint = next(
                (
                    e.get("value")
                    for c in spec.get("containers") or []
                    for e in c.get("env") or []
                    if e.get("name") == "AWS_ENDPOINT_URL"
                ),
                "",
            )
            region = region_of_host(str(endpoint).split("://", 1)[-1].split("/", 1)[0])
            stores.append(bucket.id if bucket else places.region_end(region) if region else f"external:{source}")
        for store_id in stores:
            store = next((s for s in places.map.stores if s.id == store_id), None)
            origin = store.site if store else store_id
            flows.append(
                _flow(
                    places,
                    id=f"{view.name}:model-load:{model.name}:{store_id}",
                    kind="model-load",
                    source=origin,
                    target=view.name,
                    source_node=store_id,
                    target_node=model.id,
                    label=f"model weights: {model.served_model_name} loaded at start-up",
                    protection="TLS" if "s3" in store_id or "object-store" in store_id else "local volume",
                    classification=model.classification,
                    controls=("restricted-data-onprem-only", RECORD_CONTROL),
                )
            )
    return flows


def _front_door(view: StackView, places: _Places) -> list[Flow]:
    """A jurisdiction's public name: the requests its region hands over to the other site behind the name (failover)
    and the site's own name for the models only it serves (the AWS stack's ``frontDoor`` output)."""
    door = view.outputs.get("frontDoor")
    if not isinstance(door, dict):
        return []
    names = (
        [door["hostname"]]
        if isinstance(door.get("hostname"), str)
        else [str(h) for h in as_list(door.get("hostnames"))]
    )
    site = places.map.site(view.name)
    if not names or site is None:
        return []
    flows = [
        _flow(
            places,
            id=f"{view.name}:public-entry",
            kind="public-entry",
            source=f"{CLIENTS}{site.jurisdiction}",
            target=view.name,
            source_node=f"{CLIENTS}{site.jurisdiction}",
            target_node=view.name,
            label=f"front door {', '.join(names)}: clients' requests and answers over TLS, JWT required"
            + ("; restricted models also need the entitling claim" if "hostnames" in door else ""),
            protection="TLS 1.2+ (ends at the NLB or the site's gateway)",
            classification=view.classification,
            controls=("front-door-stays-in-jurisdiction", "restricted-model-isolated", RECORD_CONTROL),
        )
    ]
    if not isinstance(door.get("hostname"), str):
        return flows
    hostname = door["hostname"]
    for other in [str(s) for s in as_list(door.get("sites")) if str(s) != view.name]:
        flows.append(
            _flow(
                places,
                id=f"{view.name}:front-door-failover:{hostname}->{other}",
                kind="front-door-failover",
                source=view.name,
                target=other if places.map.site(other) else f"external:site {other}",
                source_node=view.name,
                target_node=other,
                label=f"front door {hostname}: clients' requests go to {other} while {view.name} is unhealthy",
                protection="TLS (public certificate at each site)",
                classification=view.classification,
                controls=("front-door-stays-in-jurisdiction", *_TRANSFER),
            )
        )
    for other, url in sorted((door.get("siteUrls") or {}).items() if isinstance(door.get("siteUrls"), dict) else []):
        flows.append(
            _flow(
                places,
                id=f"{view.name}:front-door-site-name:{other}",
                kind="front-door-name",
                source=view.name,
                target=other if places.map.site(other) else f"external:site {other}",
                source_node=view.name,
                target_node=other,
                # Names only: the requests for the site's own (restricted) models go from the clients to the site.
                label=f"DNS answers for {url}: clients of {other}'s own models are sent straight to {other}",
                protection="none (DNS)",
                classification="internal",
                controls=("front-door-stays-in-jurisdiction", *_TRANSFER),
            )
        )
    return flows
