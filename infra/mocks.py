"""Pulumi's mock engine, answered from moto's recorded AWS data.

The monitor records every registration the way the engine sees it (type, name, parent,
provider, inputs with secrets still marked); the mocks give each resource a deterministic id
and the computed outputs a program needs (ARNs in the right region, endpoints), and answer
AWS invokes from moto's data for the provider's real region.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor

from infra import aws_data, mock_tls

ACCOUNT_ID = "123456789012"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


class OfflineError(Exception):
    """The program asked for something the offline engine has no honest answer to."""


@dataclass
class CapturedResource:
    urn: str
    type: str
    name: str
    id: str
    parent: str | None
    provider: str | None
    """URN of the provider resource (itself captured), or None for components and default providers."""
    custom: bool
    inputs: dict[str, Any]
    """Inputs in wire form: plain JSON values, secrets still wrapped in Pulumi's secret marker."""
    dependencies: list[str] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The aliases the program declared (wire form: ``{"urn": ...}`` or ``{"spec": {...}}``)."""
    protect: bool = False
    retain_on_delete: bool = False
    """The resource options a deletion depends on (``pulumi destroy`` refuses a protected resource; a retained one
    is dropped from the state and left where it is)."""


@dataclass
class StackOutputs:
    """What a finished stack exported, for the StackReferences of the stacks that follow it."""

    values: dict[str, Any]
    secret_names: frozenset[str]


@dataclass
class Capture:
    resources: dict[str, CapturedResource] = field(default_factory=dict)
    provider_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Provider reference (``urn::id``) to the provider's inputs."""


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps what it was asked to register."""

    def __init__(self, mocks: Mocks, capture: Capture) -> None:
        super().__init__(mocks)
        self.capture = capture

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, response.id, _plain(request.object), request.custom)
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().ReadResource(request)
        self._record(request, response.urn, request.id, _plain(request.properties), True)
        return response

    def _record(self, request: Any, urn: str, id_: str, inputs: dict[str, Any], custom: bool) -> None:
        provider_ref = request.provider or None
        self.capture.resources[urn] = CapturedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            id=id_ or "",
            parent=request.parent or None,
            provider=provider_ref.rsplit("::", 1)[0] if provider_ref else None,
            custom=bool(custom),
            inputs=inputs,
            dependencies=sorted(getattr(request, "dependencies", []) or []),
            aliases=[json_format.MessageToDict(alias) for alias in getattr(request, "aliases", [])],
            protect=bool(getattr(request, "protect", False)),
            retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
        )
        if request.type.startswith("pulumi:providers:"):
            self.capture.provider_inputs[f"{urn}::{id_}"] = inputs


def _plain(struct: Any) -> dict[str, Any]:
    """The wire form, as the engine (and so an analyzer) sees it: secrets and resource references keep their
    signature markers; nulls are dropped as the SDK drops them."""
    return _drop_nulls(json_format.MessageToDict(struct))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def stable_hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


ComputeFn = Callable[["ResourceContext"], dict[str, Any]]


@dataclass(frozen=True)
class ResourceContext:
    type: str
    name: str
    inputs: Mapping[str, Any]
    id: str
    region: str
    account: str = ACCOUNT_ID
    registered: Mapping[str, CapturedResource] = field(default_factory=dict)
    """Resources registered so far (by URN), for outputs that AWS derives from another resource."""

    def inputs_of(self, resource_id: str) -> Mapping[str, Any]:
        """Inputs of an already registered resource, by the id the mocks gave it ({} if unknown)."""
        for resource in self.registered.values():
            if resource.id == resource_id:
                return resource.inputs
        return {}

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{self.account}:{resource}"


# Type token -> (id prefix, computed outputs). Types not listed get a generic id and ARN.
COMPUTED: dict[str, tuple[str, ComputeFn]] = {}


def computes(type_token: str, id_prefix: str) -> Callable[[ComputeFn], ComputeFn]:
    def register(fn: ComputeFn) -> ComputeFn:
        COMPUTED[type_token] = (id_prefix, fn)
        return fn

    return register


@computes("aws:ec2/vpc:Vpc", "vpc")
def _vpc(c: ResourceContext) -> dict[str, Any]:
    return {
        "arn": c.arn("ec2", f"vpc/{c.id}"),
        "defaultRouteTableId": f"rtb-{stable_hex(c.id, 'main')}",
        "mainRouteTableId": f"rtb-{stable_hex(c.id, 'main')}",
        "defaultSecurityGroupId": f"sg-{stable_hex(c.id, 'default')}",
        "ownerId": c.account,
    }


@computes("aws:kms/key:Key", "key")
def _kms_key(c: ResourceContext) -> dict[str, Any]:
    key_id = "-".join((c.id[4:12], c.id[12:16], "4" + c.id[17:20], "8" + c.id[4:7], c.id[7:19]))
    return {"keyId": key_id, "arn": c.arn("kms", f"key/{key_id}")}


@computes("aws:cloudwatch/logGroup:LogGroup", "lg")
def _log_group(c: ResourceContext) -> dict[str, Any]:
    name = c.inputs.get("name") or f"{c.name}-{c.id[3:10]}"
    return {"name": name, "arn": c.arn("logs", f"log-group:{name}")}


@computes("aws:iam/role:Role", "role")
def _iam_role(c: ResourceContext) -> dict[str, Any]:
    name = c.inputs.get("name") or f"{c.name}-{c.id[5:12]}"
    return {"name": name, "arn": c.arn("iam", f"role/{name}", regional=False), "uniqueId": f"AROA{c.id[5:21].upper()}"}


@computes("aws:ec2/eip:Eip", "eipalloc")
def _eip(c: ResourceContext) -> dict[str, Any]:
    # TEST-NET-3 addresses: plausible, and never anyone's real address.
    octet = int(c.id[-4:], 16) % 254 + 1
    return {"allocationId": c.id, "publicIp": f"203.0.113.{octet}", "domain": "vpc"}


@computes("aws:ec2/subnet:Subnet", "subnet")
def _subnet(c: ResourceContext) -> dict[str, Any]:
    return {"arn": c.arn("ec2", f"subnet/{c.id}")}


@computes("aws:ec2/routeTable:RouteTable", "rtb")
def _route_table(c: ResourceContext) -> dict[str, Any]:
    return {"arn": c.arn("ec2", f"route-table/{c.id}")}


@computes("aws:eks/cluster:Cluster", "eks")
def _eks_cluster(c: ResourceContext) -> dict[str, Any]:
    name = c.inputs.get("name") or f"{c.name}-{c.id[4:11]}"
    oidc = stable_hex(c.id, "oidc", length=32).upper()
    return {
        "name": name,
        "arn": c.arn("eks", f"cluster/{name}"),
        "endpoint": f"https://{oidc}.gr7.{c.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": fake_certificate(c.id)},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.amazonaws.com/id/{oidc}"}]}],
        "clusterId": stable_hex(c.id, "cluster-id", length=32),
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "vpcConfig": {**(c.inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{stable_hex(c.id, 'csg')}"},
    }


@computes("aws:eks/nodeGroup:NodeGroup", "ng")
def _eks_node_group(c: ResourceContext) -> dict[str, Any]:
    name = c.inputs.get("nodeGroupName") or f"{c.name}-{c.id[3:11]}"
    cluster = c.inputs.get("clusterName", "cluster")
    return {
        "nodeGroupName": name,
        "arn": c.arn("eks", f"nodegroup/{cluster}/{name}/{stable_hex(c.id, length=8)}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{stable_hex(c.id, length=8)}"}]}],
    }


@computes("aws:eks/addon:Addon", "addon")
def _eks_addon(c: ResourceContext) -> dict[str, Any]:
    cluster, addon = c.inputs.get("clusterName", "cluster"), c.inputs.get("addonName", c.name)
    return {"arn": c.arn("eks", f"addon/{cluster}/{addon}/{stable_hex(c.id, length=8)}"), "addonVersion": "v1.3.0"}


@computes("aws:eks/podIdentityAssociation:PodIdentityAssociation", "a")
def _eks_pod_identity(c: ResourceContext) -> dict[str, Any]:
    cluster = c.inputs.get("clusterName", "cluster")
    return {"associationId": c.id, "associationArn": c.arn("eks", f"podidentityassociation/{cluster}/{c.id}")}


@computes("aws:eks/accessEntry:AccessEntry", "ae")
def _eks_access_entry(c: ResourceContext) -> dict[str, Any]:
    cluster = c.inputs.get("clusterName", "cluster")
    return {"accessEntryArn": c.arn("eks", f"access-entry/{cluster}/{c.id}"), "type": c.inputs.get("type", "STANDARD")}


@computes("aws:s3/bucket:Bucket", "bucket")
def _s3_bucket(c: ResourceContext) -> dict[str, Any]:
    bucket = c.inputs.get("bucket") or f"{c.inputs.get('bucketPrefix') or c.name + '-'}{stable_hex(c.id, length=12)}"
    return {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{c.region}.amazonaws.com",
        "region": c.region,
    }


@computes("aws:ec2/launchTemplate:LaunchTemplate", "lt")
def _launch_template(c: ResourceContext) -> dict[str, Any]:
    return {"arn": c.arn("ec2", f"launch-template/{c.id}"), "latestVersion": 1, "defaultVersion": 1}


@computes("aws:ec2/vpcEndpoint:VpcEndpoint", "vpce")
def _vpc_endpoint(c: ResourceContext) -> dict[str, Any]:
    service = str(c.inputs.get("serviceName", ""))
    return {
        "arn": c.arn("ec2", f"vpc-endpoint/{c.id}"),
        "state": "available",
        "dnsEntries": [{"dnsName": f"{c.id}.{service.rsplit('.', 1)[-1]}.{c.region}.vpce.amazonaws.com"}]
        if c.inputs.get("vpcEndpointType") == "Interface"
        else [],
    }


def _unsecret(value: Any) -> Any:
    """The plain value of a wire-form input (secret markers removed); only for deriving mock outputs."""
    if isinstance(value, dict) and value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
        return value.get("value")
    return value


_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _secret(value: Any) -> dict[str, Any]:
    """A mock output the engine will hand the program as a secret."""
    return {_SECRET_SIG_KEY: _SECRET_SIG, "value": value}


_PSK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@computes("random:index/randomPassword:RandomPassword", "pw")
def _random_password(c: ResourceContext) -> dict[str, Any]:
    """Deterministic, and within what the inputs allow (length; letters and digits only unless
    ``special``). The SDK marks ``result`` and ``bcryptHash`` secret (additional_secret_outputs)."""
    length = int(_unsecret(c.inputs.get("length")) or 16)
    alphabet = _PSK_ALPHABET
    if c.inputs.get("special"):
        alphabet += str(c.inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?")
    digest = hashlib.shake_256(f"{c.type}\x00{c.name}".encode()).digest(length)
    result = "".join(alphabet[b % len(alphabet)] for b in digest)
    # The mock monitor ignores additional_secret_outputs, so mark them here as the engine would.
    return {"result": _secret(result), "bcryptHash": _secret(f"$2a$10${stable_hex(result, length=53)}")}


def _tls(compute: Callable[[str, Mapping[str, Any]], dict[str, Any]], c: ResourceContext) -> dict[str, Any]:
    try:
        return compute(f"{c.type}\x00{c.name}", {k: _unsecret(v) for k, v in c.inputs.items()})
    except mock_tls.UnsupportedInputError as exc:
        raise OfflineError(f"{c.type} ({c.name}): {exc}") from exc


@computes("tls:index/privateKey:PrivateKey", "tlskey")
def _tls_private_key(c: ResourceContext) -> dict[str, Any]:
    """A real key derived from the resource's type and name (infra/mock_tls.py); the PEMs the SDK marks secret
    (additional_secret_outputs, which the mock monitor ignores) are marked here."""
    outputs = _tls(mock_tls.private_key, c)
    return {k: _secret(v) if k in mock_tls.SECRET_KEY_OUTPUTS else v for k, v in outputs.items()}


@computes("tls:index/selfSignedCert:SelfSignedCert", "tlscert")
def _tls_self_signed_cert(c: ResourceContext) -> dict[str, Any]:
    """A real certificate signed by the key that comes in as ``privateKeyPem`` (which stays secret: the outputs
    repeat the inputs as given)."""
    return _tls(mock_tls.self_signed_cert, c)


@computes("aws:ec2/customerGateway:CustomerGateway", "cgw")
def _customer_gateway(c: ResourceContext) -> dict[str, Any]:
    return {"arn": c.arn("ec2", f"customer-gateway/{c.id}")}


@computes("aws:ec2/vpnGateway:VpnGateway", "vgw")
def _vpn_gateway(c: ResourceContext) -> dict[str, Any]:
    return {"arn": c.arn("ec2", f"vpn-gateway/{c.id}"), "amazonSideAsn": str(c.inputs.get("amazonSideAsn") or 64512)}


@computes("aws:ec2/vpnConnection:VpnConnection", "vpn")
def _vpn_connection(c: ResourceContext) -> dict[str, Any]:
    """Tunnel outside addresses from documentation ranges (TEST-NET-3 for tunnel 1, TEST-NET-1 for
    tunnel 2), each the first host of a /30 so a test lab can give every endpoint its own link; the
    inside addresses from the inside CIDRs (AWS takes the first host, the customer gateway the
    second); the BGP ASN of the AWS side from the virtual private gateway; PSKs as configured."""
    import ipaddress

    quad = int(stable_hex(c.id, "outside", length=4), 16) % 62
    asn = c.inputs_of(str(c.inputs.get("vpnGatewayId", ""))).get("amazonSideAsn") or 64512
    computed: dict[str, Any] = {"arn": c.arn("ec2", f"vpn-connection/{c.id}")}
    for tunnel, net in ((1, "203.0.113"), (2, "192.0.2")):
        computed[f"tunnel{tunnel}Address"] = f"{net}.{4 * quad + 1}"
        computed[f"tunnel{tunnel}BgpAsn"] = str(int(float(asn)))
        computed[f"tunnel{tunnel}BgpHoldtime"] = 30
        inside = c.inputs.get(f"tunnel{tunnel}InsideCidr")
        if inside:
            hosts = list(ipaddress.IPv4Network(str(inside)).hosts())
            computed[f"tunnel{tunnel}VgwInsideAddress"] = str(hosts[0])
            computed[f"tunnel{tunnel}CgwInsideAddress"] = str(hosts[1])
        if f"tunnel{tunnel}PresharedKey" in c.inputs:
            computed[f"tunnel{tunnel}PresharedKey"] = _secret(_unsecret(c.inputs[f"tunnel{tunnel}PresharedKey"]))
    computed["customerGatewayConfiguration"] = _secret("<vpn_connection/>")
    return computed


@computes("aws:route53/zone:Zone", "Z")
def _route53_zone(c: ResourceContext) -> dict[str, Any]:
    # Route 53 zone ids are not ARN-shaped: the id is the zone id, and the ARN is global (no region, no account).
    zone_id = f"Z{stable_hex(c.id, length=20).upper()}"
    return {"zoneId": zone_id, "arn": f"arn:aws:route53:::hostedzone/{zone_id}", "nameServers": []}


@computes("aws:acm/certificate:Certificate", "cert")
def _acm_certificate(c: ResourceContext) -> dict[str, Any]:
    # What ACM answers for a DNS-validated certificate: one CNAME per name, under the name, pointing into
    # acm-validations.aws (ACM user guide, "DNS validation").
    names = [str(c.inputs.get("domainName") or ""), *(c.inputs.get("subjectAlternativeNames") or [])]
    options = [
        {
            "domainName": name,
            "resourceRecordName": f"_{stable_hex(c.id, name, length=32)}.{name}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{stable_hex(name, c.id, length=32)}.mock.acm-validations.aws.",
        }
        for name in names
    ]
    return {"domainValidationOptions": options, "status": "PENDING_VALIDATION"}


@computes("aws:route53/record:Record", "rrset")
def _route53_record(c: ResourceContext) -> dict[str, Any]:
    # The provider reports the record's name, fully qualified without the trailing dot, as fqdn.
    return {"fqdn": str(c.inputs.get("name") or "").rstrip(".")}


for _token, _prefix in (
    ("aws:ec2/internetGateway:InternetGateway", "igw"),
    ("aws:ec2/natGateway:NatGateway", "nat"),
    ("aws:ec2/securityGroup:SecurityGroup", "sg"),
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "sg"),
    ("aws:ec2/flowLog:FlowLog", "fl"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt"),
    ("aws:ec2/vpcEndpoint:VpcEndpoint", "vpce"),
    ("aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment", "vpn-attach"),
    ("aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation", "rtbprop"),
    ("aws:ec2/subnetCidrReservation:SubnetCidrReservation", "scr"),
    ("aws:route53/resolverEndpoint:ResolverEndpoint", "rslvr-in"),
):
    COMPUTED.setdefault(_token, (_prefix, lambda c: {}))


class OfflineMocks(Mocks):
    """Answers the engine's questions with deterministic, plausible values and moto's data."""

    def __init__(self, capture: Capture, default_region: str | None, references: Mapping[str, StackOutputs]) -> None:
        self.capture = capture
        self.default_region = default_region
        self.references = references

    # --- resources -------------------------------------------------------------------------
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:") or args.custom is False:
            return f"{args.name}-{stable_hex(args.typ, args.name, length=8)}", inputs
        if args.typ.startswith("kubernetes:"):
            return self._kubernetes(args, inputs)
        if args.typ.startswith(("random:", "tls:")) and args.typ in COMPUTED:
            # Provider-less values (pulumi-random, pulumi-tls): no region, no ARN, no tags.
            local_prefix, local_compute = COMPUTED[args.typ]
            id_ = args.resource_id or f"{local_prefix}-{stable_hex(args.typ, args.name)}"
            context = ResourceContext(type=args.typ, name=args.name, inputs=inputs, id=id_, region="")
            return id_, {**inputs, **local_compute(context)}
        if not args.typ.startswith("aws:"):
            raise OfflineError(f"{args.typ} ({args.name}): no offline model for this provider's resources")
        region = self._region(args.provider)
        prefix, compute = COMPUTED.get(args.typ, (args.typ.split(":")[-1].lower(), None))
        id_ = args.resource_id or f"{prefix}-{stable_hex(args.typ, args.name)}"
        context = ResourceContext(
            type=args.typ, name=args.name, inputs=inputs, id=id_, region=region, registered=self.capture.resources
        )
        computed = compute(context) if compute else {}
        computed.setdefault("arn", context.arn(_service(args.typ), f"{_resource_kind(args.typ)}/{id_}"))
        computed.setdefault("id", id_)
        if "name" not in inputs:
            computed.setdefault("name", f"{args.name}-{id_[-7:]}")
        computed.setdefault("tagsAll", {**_default_tags(self.capture, args.provider), **(inputs.get("tags") or {})})
        return id_, {**inputs, **computed}

    def _kubernetes(self, args: MockResourceArgs, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if args.typ == HELM_RELEASE:
            return _helm_release(args, inputs)
        metadata = dict(inputs.get("metadata") or {})
        # The Kubernetes provider auto-names objects that have no explicit name.
        metadata.setdefault("name", f"{args.name}-{stable_hex(args.typ, args.name, length=8)}")
        namespace = metadata.get("namespace")
        id_ = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
        metadata.setdefault("uid", stable_hex(args.typ, args.name, length=32))
        outputs = {**inputs, "metadata": metadata}
        if args.typ == "kubernetes:core/v1:Service":
            outputs["status"] = _service_status(args, inputs)
        return id_, outputs

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        full_name = str(args.inputs.get("name") or args.name)
        stack = full_name.rsplit("/", 1)[-1]
        if stack not in self.references:
            raise OfflineError(f"StackReference {full_name!r}: stack {stack!r} has not been run before this one")
        ref = self.references[stack]
        return full_name, {
            "name": full_name,
            "outputs": ref.values,
            "secretOutputNames": sorted(ref.secret_names),
        }

    # --- invokes ---------------------------------------------------------------------------
    def call(self, args: MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
        # A bare dict means "no check failures" to the mock monitor.
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise OfflineError(f"invoke {args.token} has no recorded answer offline; add one to infra/mocks.py")
        # pulumi-aws 7 invokes take an explicit ``region`` that overrides the provider's.
        return handler(self, args.args, str(args.args.get("region") or self._region(args.provider)))

    def _region(self, provider_ref: str | None) -> str:
        inputs = self.capture.provider_inputs.get(provider_ref or "", {})
        region = inputs.get("region") or self.default_region
        if not region:
            raise OfflineError("an AWS resource or invoke has no region (no explicit provider and no aws:region)")
        return str(region)


def _helm_release(args: MockResourceArgs, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A Helm release as installed: its status names the chart and version it was asked for."""
    name = inputs.get("name") or f"{args.name}-{stable_hex(args.typ, args.name, length=8)}"
    namespace = inputs.get("namespace") or "default"
    status = {
        "name": name,
        "namespace": namespace,
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "appVersion": inputs.get("version"),
        "status": "deployed",
        "revision": 1,
    }
    return f"{namespace}/{name}", {**inputs, "name": name, "status": status}


def _service_status(args: MockResourceArgs, inputs: dict[str, Any]) -> dict[str, Any]:
    """What pulumi-kubernetes waits for on a LoadBalancer Service: an ingress (the AWS Load Balancer Controller's NLB
    reports a hostname, really ``<name>-<hex>.elb.<region>.amazonaws.com``; other implementations an address)."""
    spec = inputs.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return {"loadBalancer": {}}
    if spec.get("loadBalancerClass") == "service.k8s.aws/nlb":
        hostname = f"k8s-{args.name[:20]}-{stable_hex(args.typ, args.name, length=10)}.elb.amazonaws.com"
        return {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
    return {"loadBalancer": {"ingress": [{"ip": "10.10.255.1"}]}}


def _default_tags(capture: Capture, provider_ref: str | None) -> dict[str, str]:
    inputs = capture.provider_inputs.get(provider_ref or "", {})
    default_tags = inputs.get("defaultTags") or {}
    if isinstance(default_tags, str):  # providers receive object config as JSON text
        import json

        default_tags = json.loads(default_tags)
    return dict(default_tags.get("tags") or {})


def _service(type_token: str) -> str:
    module = type_token.split(":")[1].split("/")[0]
    return {"index": "aws", "cloudwatch": "logs", "s3": "s3"}.get(module, module)


def _resource_kind(type_token: str) -> str:
    return type_token.split(":")[-1].lower()


def _availability_zones(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    excluded_names = set(args.get("excludeNames") or [])
    excluded_ids = set(args.get("excludeZoneIds") or [])
    zones = [
        z for z in aws_data.availability_zones(region) if z.name not in excluded_names and z.zone_id not in excluded_ids
    ]
    return {
        "id": region,
        "region": region,
        "names": [z.name for z in zones],
        "zoneIds": [z.zone_id for z in zones],
        "groupNames": [region for _ in zones],
        "state": args.get("state"),
    }


def _instance_type_offerings(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    location_type = args.get("locationType") or "region"
    offerings = aws_data.instance_type_offerings(region, location_type)
    filters = {f["name"]: list(f["values"]) for f in args.get("filters") or []}
    unsupported = set(filters) - {"instance-type", "location"}
    if unsupported:
        raise OfflineError(f"getInstanceTypeOfferings filters {sorted(unsupported)} are not answered offline")

    def keep(value: str, patterns: list[str] | None) -> bool:
        return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)

    kept = [
        (t, loc) for t, loc in offerings if keep(t, filters.get("instance-type")) and keep(loc, filters.get("location"))
    ]
    return {
        "id": region,
        "region": region,
        "instanceTypes": [t for t, _ in kept],
        "locations": [loc for _, loc in kept],
        "locationTypes": [location_type for _ in kept],
    }


def _caller_identity(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID,
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/infra-check",
        "userId": "AROAINFRACHECK:offline",
    }


def _get_role(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    """An account where the named role exists; service-linked roles sit under the path IAM gives them."""
    name = str(args["name"])
    service_linked = {"AWSServiceRoleForAutoScaling": "autoscaling.amazonaws.com"}
    path = f"/aws-service-role/{service_linked[name]}/" if name in service_linked else "/"
    return {
        "id": name,
        "name": name,
        "path": path,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role{path}{name}",
        "uniqueId": f"AROA{stable_hex(name, length=17).upper()}",
    }


def _region_invoke(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    return {
        "id": region,
        "name": region,
        "region": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
        "description": region,
    }


def _partition(mocks: OfflineMocks, args: Mapping[str, Any], region: str) -> dict[str, Any]:
    return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}


InvokeFn = Callable[[OfflineMocks, Mapping[str, Any], str], dict[str, Any]]
_INVOKES: dict[str, InvokeFn] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": _instance_type_offerings,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getRegion:getRegion": _region_invoke,
    "aws:iam/getRole:getRole": _get_role,
    "aws:index/getPartition:getPartition": _partition,
}


def fake_certificate(seed: str) -> str:
    """A base64 blob shaped like a CA bundle, for kubeconfigs built from mocked clusters."""
    return base64.b64encode(
        f"-----BEGIN CERTIFICATE-----\n{stable_hex(seed, length=64)}\n-----END CERTIFICATE-----\n".encode()
    ).decode()
