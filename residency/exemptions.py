"""Policy exemptions: one control waived on one resource, with a reason and an expiry date (stdlib only).

Shared by the policy pack and the live audit, so an exemption means the same thing offline and live.

- AWS: a tag ``policy-exemption:<control-id>`` (resource tags or the provider's default tags).
- Kubernetes: an annotation ``policy-exemption.hybrid-llm-infra.io/<control-id>``.

The value is ``YYYY-MM-DD <reason>``: the last day the exemption holds, then why. The reason uses only
what an AWS tag value allows (letters, digits, spaces and ``_ . : / = + - @``), on Kubernetes too, so one
exemption can be copied between the two; anything else makes the exemption malformed, which waives nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

AWS_TAG_PREFIX = "policy-exemption:"
K8S_ANNOTATION_PREFIX = "policy-exemption.hybrid-llm-infra.io/"

_VALUE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+([\w .:/=+\-@]+)$")

State = Literal["valid", "expired", "malformed"]


@dataclass(frozen=True)
class Exemption:
    control: str
    expires: date | None
    """The last day the exemption holds (None when malformed)."""
    reason: str
    raw: str
    state: State
    problem: str = ""

    @property
    def active(self) -> bool:
        return self.state == "valid"

    def waiver_note(self) -> str:
        """The prefix of a violation this exemption does not waive (empty when it is valid)."""
        if self.state == "valid":
            return ""
        if self.state == "expired":
            return f"exemption expired on {self.expires} ({self.reason}), so it waives nothing: "
        return f"exemption ignored, {self.describe()}: "

    def describe(self) -> str:
        """One line for a report: why the exemption does (or does not) waive the control."""
        if self.state == "valid":
            return f"until {self.expires}: {self.reason}"
        if self.state == "expired":
            return f"expired on {self.expires}: {self.reason}"
        return f"malformed ({self.problem}): {self.raw!r}"


def parse_exemption(control: str, value: str, today: date) -> Exemption:
    """Parse one exemption value for ``control`` as of ``today``."""
    text = value.strip() if isinstance(value, str) else ""
    match = _VALUE.match(text)
    if not match:
        return Exemption(
            control,
            None,
            "",
            str(value),
            "malformed",
            "expected 'YYYY-MM-DD <reason>' with a reason of letters, digits, spaces and _ . : / = + - @",
        )
    try:
        expires = date.fromisoformat(match.group(1))
    except ValueError:
        return Exemption(control, None, "", text, "malformed", f"{match.group(1)} is not a date")
    reason = match.group(2).strip()
    state: State = "valid" if expires >= today else "expired"
    return Exemption(control, expires, reason, text, state)


def _from_mapping(entries: Mapping[str, Any], prefix: str, today: date) -> dict[str, Exemption]:
    found: dict[str, Exemption] = {}
    for key, value in entries.items():
        if isinstance(key, str) and key.startswith(prefix):
            control = key[len(prefix) :]
            found[control] = parse_exemption(control, value if isinstance(value, str) else "", today)
    return found


def aws_exemptions(tags: Mapping[str, Any], today: date) -> dict[str, Exemption]:
    """Exemptions among AWS tags (merge the provider's default tags in first), keyed by control id."""
    return _from_mapping(tags, AWS_TAG_PREFIX, today)


def kubernetes_exemptions(annotations: Mapping[str, Any], today: date) -> dict[str, Exemption]:
    """Exemptions among a Kubernetes object's annotations, keyed by control id."""
    return _from_mapping(annotations, K8S_ANNOTATION_PREFIX, today)


def has_exemption_key(entries: Mapping[str, Any]) -> bool:
    """Cheap test: does any key look like an exemption (AWS tag or Kubernetes annotation)?"""
    return any(
        isinstance(k, str) and (k.startswith(AWS_TAG_PREFIX) or k.startswith(K8S_ANNOTATION_PREFIX)) for k in entries
    )


def exempt_message(exemption: Exemption, violation: str) -> str:
    """The message of an exempted violation: ``EXEMPT until <date>: <reason>; <control>: <violation>``.

    ``;`` cannot occur in a valid reason, so a reader splits the reason from the rest unambiguously
    (:func:`parse_exempt_message`).
    """
    return f"EXEMPT until {exemption.expires}: {exemption.reason}; {exemption.control}: {violation}"


_EXEMPT_LINE = re.compile(r"^EXEMPT until (\d{4}-\d{2}-\d{2}): ([^;]*); ([a-z0-9-]+): (.*)$", re.DOTALL)


@dataclass(frozen=True)
class ExemptViolation:
    control: str
    expires: str
    reason: str
    violation: str


def parse_exempt_message(message: str) -> ExemptViolation | None:
    """Read back a message made by :func:`exempt_message` (the SDK may prefix the policy description line)."""
    for start in (0, message.find("\n") + 1):
        match = _EXEMPT_LINE.match(message[start:]) if start >= 0 else None
        if match:
            return ExemptViolation(match.group(3), match.group(1), match.group(2), match.group(4))
    return None
