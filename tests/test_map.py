"""``infra map`` (issue 17) on the shipped stacks: the data-flow map, its pictures and the record of processing.

The map is built from the same inventory ``infra check`` builds (``infra.inventory.inventory`` of the shared mock
runs); the cross-border proofs plant a resource in a copy of that inventory, as a stack registering it would.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from infra.cli import main
from infra.inventory import inventory
from infra.map.build import build_map
from infra.map.document import map_document
from infra.map.dot import render_dot_detail, render_dot_overview, render_image
from infra.map.mermaid import render_mermaid_overview
from infra.map.picture import BOUNDARY_COLOURS
from infra.map.record import render_record
from tests.oracles import require_tool
from tests.stack_runs import shipped_runs

RED = BOUNDARY_COLOURS["crosses"]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    runs = shipped_runs()
    return inventory([runs[name] for name in ("frankfurt", "dubai", "onprem")])


@pytest.fixture(scope="module")
def doc(shipped: dict[str, Any]) -> dict[str, Any]:
    # Through JSON, as a tool reading `infra map --format json` sees it.
    return json.loads(json.dumps(map_document(build_map(shipped))))


def _resources(inv: dict[str, Any], suffix: str) -> list[tuple[str, dict[str, Any]]]:
    return [(s["stack"], r) for s in inv["stacks"] for r in s["resources"] if r["type"].endswith(suffix)]


def _require_dot() -> None:
    require_tool("dot", "graphviz")


# -- every model, store and tunnel exactly once --------------------------------------------------------------------


def test_every_model_appears_exactly_once(shipped: dict[str, Any], doc: dict[str, Any]) -> None:
    services = _resources(shipped, ":InferenceService")
    assert len(services) == 4  # 1 Frankfurt, 1 Dubai, 2 on-prem
    for stack, component in services:
        hits = [m for m in doc["models"] if m["site"] == stack and m["name"] == component["name"]]
        assert len(hits) == 1, (stack, component["name"], hits)
    assert len(doc["models"]) == len(services)


@pytest.mark.parametrize(
    ("suffix", "kind", "name_of"),
    [
        ("aws:s3/bucket:Bucket", "s3-bucket", lambda r: r["inputs"]["bucket"]),
        ("aws:cloudwatch/logGroup:LogGroup", "log-group", lambda r: r["inputs"]["name"]),
    ],
)
def test_every_aws_store_appears_exactly_once(
    shipped: dict[str, Any], doc: dict[str, Any], suffix: str, kind: str, name_of: Any
) -> None:
    registered = _resources(shipped, suffix)
    assert registered
    for stack, resource in registered:
        hits = [s for s in doc["stores"] if s["kind"] == kind and s["site"] == stack and s["name"] == name_of(resource)]
        assert len(hits) == 1, (stack, name_of(resource))
    assert len([s for s in doc["stores"] if s["kind"] == kind]) == len(registered)


def test_metrics_storage_and_onprem_weight_stores_appear_exactly_once(
    shipped: dict[str, Any], doc: dict[str, Any]
) -> None:
    prometheus = [
        (st, r)
        for st, r in _resources(shipped, "helm.sh/v3:Release")
        if r["inputs"]["chart"] == "kube-prometheus-stack"
    ]
    assert sorted(st for st, _ in prometheus) == sorted(
        s["site"] for s in doc["stores"] if s["kind"] == "metrics-volume"
    )
    onprem = {s["kind"]: s for s in doc["stores"] if s["site"] == "onprem" and s["kind"] in ("pvc", "object-store")}
    assert onprem["pvc"]["name"] == "PVC inference/model-weights"  # Pulumi.onprem.yaml: claimName model-weights
    assert onprem["object-store"]["name"] == "https://objects.onprem.internal models"
    ids = [s["id"] for s in doc["stores"]]
    assert len(ids) == len(set(ids))


def test_every_tunnel_appears_exactly_once_with_its_crypto(shipped: dict[str, Any], doc: dict[str, Any]) -> None:
    tunnels = [f for f in doc["flows"] if f["kind"] == "vpn-tunnel"]
    connections = _resources(shipped, "aws:ec2/vpnConnection:VpnConnection")
    assert len(tunnels) == 2 * len(connections) == 4
    assert len({t["id"] for t in tunnels}) == 4
    # Each on-prem tunnel (the gateway's own list) is the far end of exactly one AWS tunnel.
    onprem = next(s for s in shipped["stacks"] if s["stack"] == "onprem")
    assert len(onprem["outputs"]["vpnTunnels"]) == 4
    assert all(t["source"] == "onprem" for t in tunnels)
    for stack, connection in connections:
        ours = [t for t in tunnels if t["target"] == stack]
        assert len(ours) == 2
        for t in ours:
            assert connection["inputs"]["tunnel1Phase1EncryptionAlgorithms"][0] in t["protection"]
            assert "ikev2" in t["protection"]


# -- residency ------------------------------------------------------------------------------------------------------


def test_restricted_models_sit_only_inside_the_onprem_site(doc: dict[str, Any]) -> None:
    sites = {s["id"]: s for s in doc["sites"]}
    restricted = [m for m in doc["models"] if m["classification"] == "restricted"]
    assert len(restricted) == 2
    assert all(sites[m["site"]]["kind"] == "onprem" for m in restricted)
    assert all(m["classification"] != "restricted" for m in doc["models"] if sites[m["site"]]["kind"] == "aws")
    # Their weights come from the site too, and no flow of restricted data has an AWS end.
    for flow in doc["flows"]:
        if flow["classification"] == "restricted":
            # Both ends on-prem, or the public front door's clients (of the site's own jurisdiction) into it.
            ends = [flow["source"], flow["target"]]
            assert all(
                sites[end]["kind"] == "onprem" if end in sites else end == "external:clients:EU" for end in ends
            ), flow["id"]


def test_no_shipped_flow_crosses_a_jurisdiction(doc: dict[str, Any], shipped: dict[str, Any], tmp_path: Path) -> None:
    assert doc["crossing"] == []
    assert {f["boundary"] for f in doc["flows"]} <= {"inside", "link"}
    # The on-prem (EU) site's tunnels to Dubai (UAE) are a link between jurisdictions that no data flow rides:
    # shown, amber, not a transfer. Frankfurt's carry the inference and DNS flows and stay in the EU.
    links = [f for f in doc["flows"] if f["boundary"] == "link"]
    assert {f["target"] for f in links} == {"dubai"} and all("no data flow" in f["label"] for f in links)
    frankfurt = [f for f in doc["flows"] if f["kind"] == "vpn-tunnel" and f["target"] == "frankfurt"]
    assert all("inference requests" in f["label"] and "DNS queries" in f["label"] for f in frankfurt)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(shipped))
    assert main(["map", "--inventory", str(path), "--format", "json", "--output", str(tmp_path / "map.json")]) == 0


def test_exposed_frankfurt_model_is_a_flow_from_onprem_over_the_frankfurt_tunnels(doc: dict[str, Any]) -> None:
    endpoint = next(f for f in doc["flows"] if f["kind"] == "lb-endpoint" and f["target"] == "frankfurt")
    assert endpoint["source"] == "onprem" and endpoint["boundary"] == "inside"
    assert endpoint["target_node"] == "frankfurt:model:inference/llama-3-1-8b"
    assert sorted(endpoint["via"]) == [
        "frankfurt:tunnel:frankfurt-vpn-connection:1",
        "frankfurt:tunnel:frankfurt-vpn-connection:2",
    ]
    assert "10.10.0.0/16" in endpoint["label"]  # the NLB security group's on-prem source


# -- planted cross-border flows -------------------------------------------------------------------------------------


def _plant(shipped: dict[str, Any], stack: str, resource: dict[str, Any]) -> dict[str, Any]:
    planted = copy.deepcopy(shipped)
    target = next(s for s in planted["stacks"] if s["stack"] == stack)
    target["resources"].append({"parent": None, "provider": None, "id": "planted", **resource})
    return planted


def _replication(dest_bucket: str) -> dict[str, Any]:
    return {
        "urn": "urn:pulumi:frankfurt::hybrid-llm-infra::aws:s3/bucketReplicationConfig:BucketReplicationConfig::planted",
        "type": "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "name": "planted-replication",
        "inputs": {
            "bucket": "hybrid-llm-infra-frankfurt-models-123456789012",
            "role": "arn:aws:iam::123456789012:role/replication",
            "rules": [{"id": "copy", "status": "Enabled", "destination": {"bucket": f"arn:aws:s3:::{dest_bucket}"}}],
        },
    }


def _record(target: str) -> dict[str, Any]:
    return {
        "urn": "urn:pulumi:frankfurt::hybrid-llm-infra::aws:route53/record:Record::planted",
        "type": "aws:route53/record:Record",
        "name": "planted-record",
        "inputs": {
            "zoneId": "Z1",
            "name": "llama.frankfurt.models.internal",
            "type": "CNAME",
            "ttl": 60,
            "records": [target],
        },
    }


@pytest.mark.parametrize(
    ("resource", "kind", "target"),
    [
        (_replication("hybrid-llm-infra-dubai-models-123456789012"), "s3-replication", "dubai"),
        (_record("k8s-llama-0123456789.elb.me-central-1.amazonaws.com"), "dns-record", "dubai"),
        (_record("models.us-east-1.amazonaws.com"), "dns-record", "external:region:us-east-1"),
    ],
)
def test_a_planted_cross_border_flow_is_red_and_exits_1(
    shipped: dict[str, Any],
    resource: dict[str, Any],
    kind: str,
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flow_map = build_map(_plant(shipped, "frankfurt", resource))
    crossing = flow_map.crossing
    assert [(f.kind, f.source, f.target) for f in crossing] == [(kind, "frankfurt", target)]
    assert crossing[0].source_jurisdiction == "EU" and crossing[0].target_jurisdiction != "EU"
    red_edges = [line for line in render_dot_overview(flow_map).splitlines() if "->" in line and RED in line]
    assert len(red_edges) == 1 and "CROSSES EU" in red_edges[0]
    assert f"stroke:{RED}" in render_mermaid_overview(flow_map)
    assert "**NO: crosses EU -> " in render_record(flow_map)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(_plant(shipped, "frankfurt", resource)))
    assert main(["map", "--inventory", str(path), "--format", "markdown", "--output", str(tmp_path / "m.md")]) == 1
    assert "crosses EU ->" in capsys.readouterr().err


def test_the_same_plants_inside_the_jurisdiction_stay_blue(shipped: dict[str, Any]) -> None:
    """The check can pass: replication and a record toward the EU stay inside (so the red above is the border)."""
    for resource in (
        _replication("hybrid-llm-infra-frankfurt-model-access-logs-123456789012"),
        _record("x.elb.eu-west-1.amazonaws.com"),
    ):
        flow_map = build_map(_plant(shipped, "frankfurt", resource))
        assert flow_map.crossing == []
        planted = [f for f in flow_map.flows if f.kind in ("s3-replication", "dns-record")]
        assert len(planted) == 1 and planted[0].boundary == "inside"


def test_a_dubai_model_exposed_to_onprem_crosses(shipped: dict[str, Any]) -> None:
    """An internal NLB in Dubai that admits the on-prem networks carries inference data EU <-> UAE: red."""
    planted = copy.deepcopy(shipped)
    dubai = next(s for s in planted["stacks"] if s["stack"] == "dubai")
    service = next(r for r in dubai["resources"] if r["type"] == "kubernetes:core/v1:Service")
    service["inputs"]["spec"]["type"] = "LoadBalancer"
    service["inputs"]["spec"]["loadBalancerSourceRanges"] = ["10.10.0.0/16"]
    flow_map = build_map(planted)
    crossing = sorted((f.kind, f.source, f.target) for f in flow_map.crossing)
    assert crossing == [("lb-endpoint", "onprem", "dubai")] + [("vpn-tunnel", "onprem", "dubai")] * 2
    tunnels = [f for f in flow_map.flows if f.kind == "vpn-tunnel" and f.target == "dubai"]
    assert all(t.boundary == "crosses" and "inference requests" in t.label for t in tunnels)


# -- pictures and the record ----------------------------------------------------------------------------------------


def test_the_svg_renders_with_the_real_dot_and_parses_as_xml(shipped: dict[str, Any], tmp_path: Path) -> None:
    _require_dot()
    out = tmp_path / "map.svg"
    assert main(["map", "--format", "svg", "--output", str(out), "--inventory", _write(shipped, tmp_path)]) == 0
    root = ET.fromstring(out.read_bytes())
    assert root.tag.endswith("svg")
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for label in (
        "Frankfurt (eu-central-1)",
        "Dubai (me-central-1)",
        "On-prem site (onprem)",
        "EU: GDPR",
        "UAE: UAE-PDPL",
    ):
        assert label in text
    detail = render_image(render_dot_detail(build_map(shipped)), "svg")
    assert ET.fromstring(detail).tag.endswith("svg")
    png = tmp_path / "map.png"
    assert main(["map", "--format", "png", "--output", str(png), "--inventory", _write(shipped, tmp_path)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write(inv: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    return str(path)


def test_detail_view_groups_components_instead_of_listing_resources(shipped: dict[str, Any]) -> None:
    flow_map = build_map(shipped)
    for stack in shipped["stacks"]:
        components = [r for r in stack["resources"] if r["type"].startswith("hybrid-llm-infra:")]
        groups = flow_map.components[stack["stack"]]
        assert {g.urn for g in groups} == {c["urn"] for c in components}
        counted = sum(n for g in groups for _, n in g.children)
        children = [
            r for r in stack["resources"] if r["parent"] in {c["urn"] for c in components} and r not in components
        ]
        assert counted == len(children)
    dot = render_dot_detail(flow_map)
    boxes = [line for line in dot.splitlines() if "[label=<" in line]
    assert len(boxes) == sum(len(g) for g in flow_map.components.values())  # one box per component, not per resource
    assert sum(len(s["resources"]) for s in shipped["stacks"]) > 3 * len(boxes)


def test_the_markdown_record_lists_every_store_with_retention_and_key(shipped: dict[str, Any]) -> None:
    record = render_record(build_map(shipped))
    rows = {line.split("|")[1].strip().strip("`"): line for line in record.splitlines() if line.startswith("| `")}
    for _, group in _resources(shipped, "aws:cloudwatch/logGroup:LogGroup"):
        row = rows[group["inputs"]["name"]]
        assert f"| {group['inputs']['retentionInDays']} d |" in row
        assert group["inputs"]["kmsKeyId"].rsplit("/", 1)[-1][:8] in row
    for stack, bucket in _resources(shipped, "aws:s3/bucket:Bucket"):
        row = rows[bucket["inputs"]["bucket"]]
        sse = next(
            r
            for s, r in _resources(shipped, ":BucketServerSideEncryptionConfiguration")
            if s == stack and r["inputs"]["bucket"] == bucket["id"]
        )
        key = sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
        assert key.rsplit("/", 1)[-1][:8] in row and (" d" in row.split("|")[9])
        assert ("GDPR Art. 32" in row) == (stack != "dubai") and ("UAE PDPL Art. 20" in row) == (stack == "dubai")
    assert "```mermaid" in record and "flowchart LR" in record


def test_pr_workflow_adds_the_map_to_the_job_summary_when_a_stack_changes() -> None:
    import re

    import yaml

    root = Path(__file__).resolve().parent.parent
    workflow = yaml.load((root / ".github/workflows/pr.yml").read_text(), Loader=yaml.BaseLoader)
    step = next(s for s in workflow["jobs"]["offline"]["steps"] if "infra map" in s.get("run", ""))
    assert "--format markdown" in step["run"] and '>> "$GITHUB_STEP_SUMMARY"' in step["run"]
    assert 'exit "${code}"' in step["run"]  # a crossing flow (exit 1) fails the job after the summary is written
    pattern = re.search(r"grep -qE '([^']+)'", step["run"])
    assert pattern is not None
    changed = (
        "Pulumi.dubai.yaml",
        "__main__.py",
        "stacks/aws_region.py",
        "components/model_bucket.py",
        "stackconfig/vpn.py",
        "residency/catalogue.py",
    )
    assert all(re.search(pattern.group(1), path) for path in changed)
    assert not any(
        re.search(pattern.group(1), path)
        for path in ("README.md", "tests/test_map.py", "infra/cli.py", "Pulumi.yaml.bak")
    )


# -- the front door: public entries and failover ------------------------------------------------------------------


def test_each_front_door_is_one_flow_from_its_jurisdictions_clients_and_failover_stays_inside(
    doc: dict[str, Any],
) -> None:
    entries = {f["target"]: f for f in doc["flows"] if f["kind"] == "public-entry"}
    assert sorted(entries) == ["dubai", "frankfurt", "onprem"]
    assert {site: f["source"] for site, f in entries.items()} == {
        "frankfurt": "external:clients:EU",
        "dubai": "external:clients:UAE",
        "onprem": "external:clients:EU",
    }
    assert all(f["boundary"] == "inside" for f in entries.values())
    assert "entitling claim" in entries["onprem"]["label"] and entries["onprem"]["classification"] == "restricted"
    [failover] = [f for f in doc["flows"] if f["kind"] == "front-door-failover"]
    assert (failover["source"], failover["target"], failover["boundary"]) == ("frankfurt", "onprem", "inside")
    # The public entry's ~100 source ranges are one flow from its clients, not one site-to-site flow per range.
    assert not [f for f in doc["flows"] if f["kind"] == "lb-endpoint" and "front-door" in f["id"]]


def test_a_front_door_failing_over_to_another_jurisdictions_site_is_red_and_exits_1(
    shipped: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = copy.deepcopy(shipped)
    dubai = next(s for s in planted["stacks"] if s["stack"] == "dubai")
    dubai["outputs"]["frontDoor"]["sites"] = ["dubai", "onprem"]  # ae. failing over to the EU site
    flow_map = build_map(planted)
    assert [(f.kind, f.source, f.target) for f in flow_map.crossing] == [("front-door-failover", "dubai", "onprem")]
    assert flow_map.crossing[0].source_jurisdiction == "UAE" and flow_map.crossing[0].target_jurisdiction == "EU"
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(planted))
    assert main(["map", "--inventory", str(path), "--format", "markdown", "--output", str(tmp_path / "m.md")]) == 1
    assert "crosses UAE ->" in capsys.readouterr().err
