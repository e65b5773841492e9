"""Plain Kafka clients (kafka-python) for everything outside the Faust worker: loading
events, creating topics, reading offsets and topics back (tests, demo, benchmarks)."""
