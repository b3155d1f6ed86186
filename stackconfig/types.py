"""Constrained value types shared by every config model (pydantic + stdlib + residency only)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

from residency import CLASSIFICATIONS

PROJECT = "hybrid-llm-infra"
"""The project's config namespace: every key path in an error starts with it."""


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a CIDR block with host bits zero (e.g. 10.20.0.0/16): {exc}") from None
    if network.version != 4:
        raise ValueError("only IPv4 CIDR blocks are supported")
    return str(network)


def _dns_label(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
        raise ValueError("must be a DNS label: lowercase letters, digits and '-', at most 63 characters")
    return value


def _classification(value: str) -> str:
    if value not in CLASSIFICATIONS:
        raise ValueError(f"allowed: {', '.join(CLASSIFICATIONS)}")
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Classification = Annotated[str, AfterValidator(_classification)]
