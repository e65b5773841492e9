"""Where events come in: the canonical schema and its readers (JSONL files, Kafka)."""
