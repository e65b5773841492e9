"""A seeded agent society: realistic benign traffic plus injected, labelled incidents.
`flockwatch simulate` writes it as canonical JSONL (or produces it to Kafka) with a
sidecar labels file; tests, evaluation and the demo all use it."""
