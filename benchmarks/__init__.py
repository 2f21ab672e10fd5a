"""Benchmarks of the feature store (run as scripts; not part of the test suite)."""
