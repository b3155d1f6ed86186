"""``infra audit`` end to end: the real command against a moto_server subprocess on 127.0.0.1, reached only
through AWS_ENDPOINT_URL; and the exit code without credentials."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import jsonschema
import pytest

from residency import residency_tags
from tests.conftest import ROOT, SHARED_SCHEMAS

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
EU_TAGS = residency_tags(
    jurisdiction="EU", classification="internal", owner="ml-platform", cost_center="cc-42", environment="production"
)
ALL_BLOCKS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No AWS_* from the caller, and empty credential/config files: nothing but what a test sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name in ("credentials", "config"):
        (tmp_path / name).write_text("", encoding="utf-8")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "config")
    return env


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _client(endpoint: str, service: str, region: str):
    return boto3.client(
        service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _bucket(endpoint: str, name: str, region: str) -> None:
    s3 = _client(endpoint, "s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in EU_TAGS.items()]})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/stack"}}
            ]
        },
    )
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_BLOCKS)


def _audit(endpoint: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env(tmp_path)
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return subprocess.run(
        [sys.executable, "-m", "infra", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_audit_against_moto_server_end_to_end(endpoint: str, tmp_path: Path) -> None:
    _bucket(endpoint, "server-outside-us", "us-east-1")
    _bucket(endpoint, "server-good-eu", "eu-central-1")
    eks = _client(endpoint, "eks", "eu-central-1")
    cluster = eks.create_cluster(
        name="server-public",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={
            "subnetIds": ["subnet-1"],
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        tags=EU_TAGS,
    )["cluster"]

    started = time.monotonic()
    run = _audit(endpoint, tmp_path, "--format", "json")  # default: every enabled region
    elapsed = time.monotonic() - started
    print(f"audit of every enabled region against moto_server: {elapsed:.1f}s; {run.stderr.strip()}")

    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    doc = json.loads(run.stdout)
    scopes = {s["name"]: s for s in doc["scopes"]}
    # every region moto calls enabled is a scope; the opt-in ones (and other partitions) are named as not scanned
    assert {"us-east-1", "eu-central-1", "eu-west-1", "ap-southeast-2", "sa-east-1"} <= set(scopes)
    assert len(scopes) == 21  # global + the 20 regions moto marks opt-in-not-required in the aws partition
    assert "me-central-1: region not enabled (opt-in status not-opted-in)" in scopes["global"]["notScanned"]
    findings = sorted((f["control"], f["location"], f["scope"]) for s in doc["scopes"] for f in s["findings"])
    assert findings == sorted(
        [
            ("region-in-jurisdiction", "arn:aws:s3:::server-outside-us", "us-east-1"),
            ("eks-hardening", cluster["arn"], "eu-central-1"),
        ]
    )
    assert scopes["eu-central-1"]["checked"] == 2 and scopes["us-east-1"]["checked"] == 1
    assert {c["id"] for c in doc["controls"]} >= {"region-in-jurisdiction", "eks-hardening"}

    # clean when limited to regions with nothing wrong; SARIF written to --output validates
    sarif_path = tmp_path / "audit.sarif"
    clean = _audit(
        endpoint, tmp_path, "--regions", "eu-west-2,eu-central-1", "--format", "sarif", "--output", str(sarif_path)
    )
    assert clean.returncode == 1 and clean.stdout == ""  # the EKS cluster is in eu-central-1
    sarif = json.loads(sarif_path.read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["eks-hardening"]
    schema = SHARED_SCHEMAS / "sarif-2.1.0.schema.json"
    if schema.is_file():
        jsonschema.validate(sarif, json.loads(schema.read_text()))
    quiet = _audit(endpoint, tmp_path, "--regions", "eu-west-2", "--format", "markdown")
    assert quiet.returncode == 0, quiet.stderr
    assert "**0 mandatory violation(s)**" in quiet.stdout

    bad = _audit(endpoint, tmp_path, "--regions", "mars-north-1")
    assert bad.returncode == 2 and bad.stderr.startswith("infra audit: unknown region(s): mars-north-1")


def test_no_credentials_exits_2_with_one_line(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    env["AWS_DEFAULT_REGION"] = "eu-central-1"
    run = subprocess.run(
        [sys.executable, "-m", "infra", "audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == ["infra audit: no AWS credentials: Unable to locate credentials"]


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "infra", "audit", "--format", "xml"],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "invalid choice: 'xml'" in run.stderr


def test_print_iam_policy_needs_no_credentials(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "infra", "audit", "--print-iam-policy"],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0
    policy = json.loads(run.stdout)
    assert policy["Version"] == "2012-10-17"
    assert "s3:GetEncryptionConfiguration" in policy["Statement"][0]["Action"]


def test_unreachable_endpoint_exits_2_quickly(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there once the probe socket is closed
    started = time.monotonic()
    run = _audit(closed, tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f'infra audit: cannot reach AWS: Could not connect to the endpoint URL: "{closed}/"'
    ]
    assert time.monotonic() - started < 60
