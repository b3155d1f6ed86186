"""``infra map``: where data lives and how it moves, drawn from the inventory ``infra check`` builds."""
