"""Synthetic Moltbook traffic, seeded (no real data): the simple firehose (worker demo,
benchmarks) and the agent society with labelled incidents (`flockwatch simulate`)."""
