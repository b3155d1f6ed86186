"""The stack key names the Auto Scaling service-linked role only once that role exists (issue: CreateKey fails
with MalformedPolicyDocumentException in an account that never had an Auto Scaling group)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.kms import StackKey, StackKeyArgs
from tests.stack_runs import shipped_runs

SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
KEY = "aws:kms/key:Key"
ROLE_ARN = "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def _autoscaling_principals(key: Any) -> set[str]:
    statements = json.loads(key.inputs["policy"])["Statement"]
    return {s["Principal"]["AWS"] for s in statements if s["Sid"].startswith("AutoScaling")}


def test_create_makes_the_role_first_and_the_key_names_it(mock_stack: Any) -> None:
    StackKey("k", StackKeyArgs(region="eu-central-1", ec2_autoscaling_role="create"))
    (role,) = mock_stack.of_type(SLR)
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    (key,) = mock_stack.of_type(KEY)
    assert role.urn in key.dependencies
    assert _autoscaling_principals(key) == {ROLE_ARN}


def test_existing_looks_the_role_up_and_creates_nothing(mock_stack: Any) -> None:
    StackKey("k", StackKeyArgs(region="eu-central-1", ec2_autoscaling_role="existing"))
    assert mock_stack.of_type(SLR) == []
    (key,) = mock_stack.of_type(KEY)
    assert _autoscaling_principals(key) == {ROLE_ARN}


def test_without_the_option_the_key_names_no_autoscaling_role(mock_stack: Any) -> None:
    StackKey("k", StackKeyArgs(region="eu-central-1"))
    (key,) = mock_stack.of_type(KEY)
    assert mock_stack.of_type(SLR) == [] and _autoscaling_principals(key) == set()


@pytest.mark.parametrize("stack", ["frankfurt", "dubai"])
def test_shipped_stack_keys_wait_for_the_role_they_name(stack: str) -> None:
    resources = shipped_runs()[stack].resources
    (role,) = [r for r in resources if r.type == SLR]
    (key,) = [r for r in resources if r.type == KEY]
    assert role.urn in key.dependencies and _autoscaling_principals(key) == {ROLE_ARN}
