"""Where data rests: buckets, log groups, metrics volumes, PVCs and object stores, with key, retention, readers."""

from __future__ import annotations

from typing import Any

from infra.map.inventory_view import Resource, StackView, as_list, statements
from infra.map.model import Store

RECORD_CONTROL = "residency-tags"  # GDPR Art. 30 / PDPL Art. 5: the labels this record is drawn from

_BUCKET_CATEGORY = {
    "ModelBucket": "model weights (no personal data expected)",
    "ModelAccessTrail": "audit records of model reads (principal ARNs, object keys, source IPs)",
}
_LOG_CATEGORY = (
    ("vpn-tunnel", "VPN tunnel events (peer addresses, IKE/BGP state)"),
    ("vpc-flow-logs", "network flow metadata (source/destination IPs, ports)"),
    ("/aws/eks/", "Kubernetes control-plane and API audit logs (user identities, request paths)"),
)


def derive_stores(view: StackView) -> list[Store]:
    return _buckets(view) + _log_groups(view) + _metrics(view) + _volumes(view)


def _bucket_parts(view: StackView, bucket: Resource, suffix: str) -> list[Resource]:
    return [
        r for r in view.of_type(suffix) if r["inputs"].get("bucket") in (bucket["id"], bucket["inputs"].get("bucket"))
    ]


def _buckets(view: StackView) -> list[Store]:
    found = []
    for bucket in view.of_type("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        name = bucket["inputs"].get("bucket") or bucket["name"]
        parent = view.by_urn(bucket.get("parent"))
        category = _BUCKET_CATEGORY.get(parent["type"].rsplit(":", 1)[-1], "objects") if parent else "objects"
        keys = [
            rule.get("applyServerSideEncryptionByDefault") or {}
            for sse in _bucket_parts(view, bucket, ":BucketServerSideEncryptionConfiguration")
            for rule in sse["inputs"].get("rules") or []
        ]
        encryption = (
            "; ".join(f"{k.get('sseAlgorithm')} {_short_key(k.get('kmsMasterKeyId'))}".strip() for k in keys)
            or "S3 default (SSE-S3)"
        )
        found.append(
            Store(
                f"{view.name}:s3-bucket:{name}",
                view.name,
                "s3-bucket",
                name,
                category,
                view.classification_for(bucket),
                encryption,
                _bucket_retention(view, bucket),
                _bucket_readers(view, name),
                ("s3-encryption-and-access", RECORD_CONTROL),
            )
        )
    return found


def _bucket_retention(view: StackView, bucket: Resource) -> str:
    parts = []
    for lifecycle in _bucket_parts(view, bucket, ":BucketLifecycleConfiguration"):
        for rule in lifecycle["inputs"].get("rules") or []:
            if rule.get("status") != "Enabled":
                continue
            if days := (rule.get("expiration") or {}).get("days"):
                parts.append(f"objects expire after {days} d")
            if days := (rule.get("noncurrentVersionExpiration") or {}).get("noncurrentDays"):
                parts.append(f"old versions after {days} d")
    return "; ".join(parts) or "kept until deleted (no expiration rule)"


def _bucket_readers(view: StackView, name: str) -> tuple[str, ...]:
    """Principals the inventory shows reading objects: bucket-policy grants and roles' inline policies (and who
    assumes those roles through EKS Pod Identity)."""
    object_arn = f"arn:aws:s3:::{name}/"
    readers: list[str] = []
    for policy in view.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        for st in statements(policy["inputs"].get("policy")):
            if st.get("Effect") == "Allow" and _grants_read(st, object_arn):
                principal = st.get("Principal") or {}
                readers += [
                    str(p)
                    for v in (principal.values() if isinstance(principal, dict) else [principal])
                    for p in as_list(v)
                ]
    roles = {r["id"]: r for r in view.of_type("aws:iam/role:Role")}
    for inline in view.of_type("aws:iam/rolePolicy:RolePolicy"):
        if any(
            st.get("Effect") == "Allow" and _grants_read(st, object_arn)
            for st in statements(inline["inputs"].get("policy"))
        ):
            role = roles.get(inline["inputs"].get("role"))
            role_name = role["name"] if role else str(inline["inputs"].get("role"))
            users = [
                f"pods {a['inputs'].get('namespace')}/{a['inputs'].get('serviceAccount')} on {a['inputs'].get('clusterName')}"
                for a in view.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                if str(a["inputs"].get("roleArn", "")).rsplit("/", 1)[-1].startswith(f"{role_name}-")
            ]
            readers.append(f"role {role_name}" + (f" ({'; '.join(users)})" if users else ""))
    return tuple(readers)


def _grants_read(statement: dict[str, Any], object_arn: str) -> bool:
    actions = [str(a) for a in as_list(statement.get("Action"))]
    reads = any(a in ("s3:*", "*", "s3:GetObject") or a.startswith("s3:Get") for a in actions)
    return reads and any(str(r).startswith(object_arn) or str(r) == "*" for r in as_list(statement.get("Resource")))


def _log_groups(view: StackView) -> list[Store]:
    found = []
    for group in view.of_type("aws:cloudwatch/logGroup:LogGroup"):
        name = group["inputs"].get("name") or group["name"]
        category = next((text for marker, text in _LOG_CATEGORY if marker in name), "logs")
        days = group["inputs"].get("retentionInDays")
        found.append(
            Store(
                f"{view.name}:log-group:{name}",
                view.name,
                "log-group",
                name,
                category,
                view.classification_for(group),
                _short_key(group["inputs"].get("kmsKeyId")) or "CloudWatch default (no customer key)",
                f"{days} d" if days else "never expires",
                (),
                ("log-encryption-retention", RECORD_CONTROL),
            )
        )
    return found


def _metrics(view: StackView) -> list[Store]:
    found = []
    for release in view.of_type("kubernetes:helm.sh/v3:Release"):
        if release["inputs"].get("chart") != "kube-prometheus-stack":
            continue
        spec = ((release["inputs"].get("values") or {}).get("prometheus") or {}).get("prometheusSpec") or {}
        claim = ((spec.get("storageSpec") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
        storage_class = claim.get("storageClassName")
        namespace = release["inputs"].get("namespace", "monitoring")
        retention = (
            f"{spec.get('retention', 'chart default')} or {spec.get('retentionSize', 'no size cap')}, whichever first"
        )
        remote = [w.get("url") for w in spec.get("remoteWrite") or [] if isinstance(w, dict)]
        readers = _namespace_readers(view, namespace) + tuple(f"remote write {u}" for u in remote)
        found.append(
            Store(
                f"{view.name}:metrics-volume:{namespace}/{release['inputs'].get('name')}",
                view.name,
                "metrics-volume",
                f"Prometheus {namespace} ({(claim.get('resources') or {}).get('requests', {}).get('storage', '?')})",
                "inference and GPU metrics (model names, latencies, queue lengths; no prompts)",
                view.classification_for(release),
                _storage_class_key(view, storage_class),
                retention,
                readers,
                ("metrics-remote-write-in-jurisdiction", RECORD_CONTROL),
            )
        )
    return found


def _storage_class_key(view: StackView, name: str | None) -> str:
    for sc in view.of_type("storage.k8s.io/v1:StorageClass"):
        if (sc["inputs"].get("metadata") or {}).get("name") == name:
            params = sc["inputs"].get("parameters") or {}
            if params.get("encrypted") == "true":
                return f"class {name}: {_short_key(params.get('kmsKeyId')) or 'provider key'}"
    # A class the stack does not register (on-prem): its encryption is the site's, declared in config.
    return f"class {name} (site storage; key not in the inventory)" if name else "no persistent volume"


def _namespace_readers(view: StackView, namespace: str) -> tuple[str, ...]:
    """Namespaces admitted by NetworkPolicies in the store's namespace (who can query it in-cluster)."""
    admitted: set[str] = set()
    for policy in view.of_type("networking.k8s.io/v1:NetworkPolicy"):
        if (policy["inputs"].get("metadata") or {}).get("namespace") != namespace:
            continue
        for rule in (policy["inputs"].get("spec") or {}).get("ingress") or []:
            for peer in rule.get("from") or []:
                labels = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
                if name := labels.get("kubernetes.io/metadata.name"):
                    admitted.add(f"namespace {name}")
    return tuple(sorted(admitted))


def _volumes(view: StackView) -> list[Store]:
    """Model weights outside AWS: PVCs and object stores the model Deployments read (not registered here)."""
    found: dict[str, Store] = {}
    for deployment in view.of_type("apps/v1:Deployment"):
        spec = ((deployment["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
        namespace = (deployment["inputs"].get("metadata") or {}).get("namespace", "default")
        classification = view.classification_for(deployment)
        controls = (
            ("restricted-data-onprem-only", RECORD_CONTROL) if classification == "restricted" else (RECORD_CONTROL,)
        )
        reader = f"model {namespace}/{deployment['name']}"
        for volume in spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                _add(
                    found,
                    Store(
                        f"{view.name}:pvc:{namespace}/{claim}",
                        view.name,
                        "pvc",
                        f"PVC {namespace}/{claim}",
                        "model weights",
                        classification,
                        "site storage (key not in the inventory)",
                        "site-managed (claim not registered by the stack)",
                        (reader,),
                        controls,
                    ),
                )
        for store_id, name in object_stores(view.name, spec):
            _add(
                found,
                Store(
                    store_id,
                    view.name,
                    "object-store",
                    name,
                    "model weights",
                    classification,
                    "TLS in transit; at rest: the store's (not in the inventory)",
                    "site-managed",
                    (reader,),
                    controls,
                ),
            )
    return list(found.values())


def object_stores(stack: str, pod_spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(store id, label) of an S3-compatible store a vLLM container reads through AWS_ENDPOINT_URL."""
    found = []
    for container in pod_spec.get("containers") or []:
        env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
        args = container.get("args") or []
        model = args[args.index("--model") + 1] if "--model" in args[:-1] else ""
        endpoint = str(env.get("AWS_ENDPOINT_URL") or "")
        # An AWS regional S3 endpoint reads a bucket the map holds as an s3-bucket store, not a store of its own.
        if endpoint and model.startswith("s3://") and "amazonaws.com" not in endpoint:
            bucket = model[5:].split("/", 1)[0]
            found.append(
                (f"{stack}:object-store:{env['AWS_ENDPOINT_URL']}/{bucket}", f"{env['AWS_ENDPOINT_URL']} {bucket}")
            )
    return found


def _add(found: dict[str, Store], store: Store) -> None:
    if store.id in found:
        old = found[store.id]
        found[store.id] = Store(**{**old.__dict__, "readers": tuple(sorted(set(old.readers) | set(store.readers)))})
    else:
        found[store.id] = store


def _short_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        return ""
    return f"KMS {key.split(':')[3] if key.startswith('arn:') else ''} key {key.rsplit('/', 1)[-1][:8]}".replace(
        "  ", " "
    )
