"""Synthetic Moltbook traffic for the demo, the benchmarks and tests (seeded, no real data)."""
