"""Prometheus metrics: every name starts with `flockwatch_` and is documented in the README."""
