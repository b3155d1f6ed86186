"""The ``policy-exemption`` policy: every violation a valid exemption waives, reported at advisory level.

A CrossGuard diagnostic takes its enforcement level from the policy that reports it, so a mandatory
policy cannot report a waived violation without blocking the update.  The control's own policy therefore
stays silent on an exempted resource, and this advisory stack policy re-runs that control's check on the
resources that carry valid exemptions (rare, so the per-resource ``Analyze`` path pays nothing for it) and
reports each waived problem as ``EXEMPT until <date>: <reason>; <control>: <problem>``.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from policies.rules.base import RESOURCE_CHECKS, STACK_CHECKS, config_of, policy_fields, view_of
from residency.exemptions import exempt_message


def validate_exemptions(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = config_of(args.get_config())
    views = [view_of(r) for r in args.resources]
    exempted = {
        view.urn: active
        for view in views
        if (active := {control: e for control, e in view.exemptions(config.today).items() if e.active})
    }
    if not exempted:
        return
    for view in views:
        for control, exemption in sorted(exempted.get(view.urn, {}).items()):
            check = RESOURCE_CHECKS.get(control)
            if check is not None:
                for problem in check(view, config):
                    report_violation(exempt_message(exemption, problem), view.urn)
    for control, stack_check in STACK_CHECKS.items():
        if not any(control in active for active in exempted.values()):
            continue
        for target, problem in stack_check(views, config):
            waiver = exempted.get(target.urn, {}).get(control) if target is not None else None
            if target is not None and waiver is not None:
                report_violation(exempt_message(waiver, problem), target.urn)


EXEMPTION_POLICY = StackValidationPolicy(validate=validate_exemptions, **policy_fields("policy-exemption"))
