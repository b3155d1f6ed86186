"""Benchmarks (`make bench`): figures for the issue notes, never assertions in tests."""
