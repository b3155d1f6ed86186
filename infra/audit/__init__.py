"""``infra audit``: find residency and hardening violations in a live AWS account (or any AWS endpoint).

The findings use the controls catalogue (``residency.controls``) and the shared Report model, so the
terminal, JSON, Markdown and SARIF renderers are the same as ``infra check``'s.
"""
