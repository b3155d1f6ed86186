"""What the shipped AWS stacks register for the front door: the ACM certificate validated in the public zone, the
internet-facing NLB on 443 only with TLS 1.2+, and the hostname's records and health checks."""

from __future__ import annotations

from typing import Any

import pytest

from infra.mocks import CapturedResource
from residency.front_door import NLB_ALIAS_ZONES
from tests.stack_runs import shipped_runs

LBC = "service.beta.kubernetes.io/aws-load-balancer-"
ZONE_ID = "Z04517283EXAMPLEFD01"
HOSTS = {"frankfurt": "eu.models.example.com", "dubai": "ae.models.example.com"}
REGIONS = {"frankfurt": "eu-central-1", "dubai": "me-central-1"}


def registered(stack: str, type_: str) -> list[CapturedResource]:
    return [r for r in shipped_runs()[stack].resources if r.type == type_ and r.name.startswith(f"{stack}-front-door")]


def one(stack: str, type_: str) -> dict[str, Any]:
    [resource] = registered(stack, type_)
    return resource.inputs


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_the_certificate_is_dns_validated_in_the_public_zone(stack: str) -> None:
    certificate = one(stack, "aws:acm/certificate:Certificate")
    assert certificate["domainName"] == HOSTS[stack] and certificate["validationMethod"] == "DNS"
    [validation_record] = [
        r for r in registered(stack, "aws:route53/record:Record") if r.inputs["name"].startswith("_")
    ]
    assert validation_record.inputs["zoneId"] == ZONE_ID and validation_record.inputs["type"] == "CNAME"
    assert validation_record.inputs["name"].endswith(f".{HOSTS[stack]}.")
    validation = one(stack, "aws:acm/certificateValidation:CertificateValidation")
    assert validation["validationRecordFqdns"] == [validation_record.inputs["name"].rstrip(".")]
    assert f":acm:{REGIONS[stack]}:" in validation["certificateArn"]


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_the_nlb_listens_on_443_only_with_tls_12_or_later(stack: str) -> None:
    service = one(stack, "kubernetes:core/v1:Service")
    annotations = service["metadata"]["annotations"]
    assert annotations[f"{LBC}scheme"] == "internet-facing"
    assert annotations[f"{LBC}ssl-ports"] == "443"
    assert annotations[f"{LBC}ssl-negotiation-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert (
        annotations[f"{LBC}ssl-cert"]
        == one(stack, "aws:acm/certificateValidation:CertificateValidation")["certificateArn"]
    )
    assert annotations[f"{LBC}backend-protocol"] == "ssl"
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer" and spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert [(p["port"], p["protocol"]) for p in spec["ports"]] == [(443, "TCP")]  # no 80: plain HTTP refused
    namespace = one(stack, "kubernetes:core/v1:Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_each_aws_stack_has_one_load_balancer_controller() -> None:
    for stack in ("frankfurt", "dubai"):
        releases = [
            r
            for r in shipped_runs()[stack].resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "aws-load-balancer-controller"
        ]
        assert len(releases) == 1, stack


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_the_hostname_aliases_the_regions_nlb_and_is_health_checked(stack: str) -> None:
    records = {
        r.inputs.get("setIdentifier", "simple"): r.inputs
        for r in registered(stack, "aws:route53/record:Record")
        if not r.inputs["name"].startswith("_")
    }
    checks = {r.id: r.inputs for r in registered(stack, "aws:route53/healthCheck:HealthCheck")}
    primary = records.get(f"{stack}-primary") or records["simple"]
    [alias] = primary["aliases"]
    assert alias["zoneId"] == NLB_ALIAS_ZONES[REGIONS[stack]] and alias["evaluateTargetHealth"] is True
    assert primary["name"] == HOSTS[stack]
    service_host = [c for c in checks.values() if c["fqdn"] == alias["name"]]
    assert len(service_host) == 1 and service_host[0]["type"] == "HTTPS"
    if stack == "frankfurt":
        secondary = records["onprem-secondary"]
        assert secondary["records"] == ["198.51.100.20"]
        assert checks[secondary["healthCheckId"]]["ipAddress"] == "198.51.100.20"
        assert checks[primary["healthCheckId"]]["fqdn"] == alias["name"]
    else:
        assert list(records) == ["simple"] and "failoverRoutingPolicies" not in primary
