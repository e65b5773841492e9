"""Runs events through the engine: the file scan here, the Kafka worker in `worker/`.
Both go through `processor.Processor`, so they cannot disagree about an event."""
