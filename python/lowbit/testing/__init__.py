"""Helpers for lowbit's tests and benchmarks (synthetic models)."""
