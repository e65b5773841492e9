"""The Moltbook bridge: poll the platform's REST API (it has no firehose) and produce
canonical events to Kafka, exactly once across restarts."""
