"""Helpers for lowbit's tests and benchmarks: synthetic models (synthetic)
and NumPy reference definitions (reference)."""
