"""Builders that turn a validated StackConfig into this stack's components."""
