"""`infra`: the offline runner, reports and audit of hybrid-llm-infra (nothing imports it)."""
