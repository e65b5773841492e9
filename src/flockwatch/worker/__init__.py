"""The streaming worker: a Faust app that runs the engine over the Kafka firehose.

settings.py  what can be configured (CLI options and FLOCKWATCH_* variables)
app.py       the Faust app factory with the settings tuned for fast start and throughput
batch.py     one batch: records -> engine -> alerts stored -> published (no Kafka in it)
runtime.py   wiring: topics, agent loop (ack only after the batch is durable), table, timers
repartition.py  stage 2: forwarded matches re-keyed onto <topic>.by-key and released in event-time order
outbox.py    many records to explicit partitions as whole Kafka record batches
faust_patches.py  targeted patches to Faust (fast drain, recovery high watermarks)
process.py   run a worker as a child process (demo, end-to-end tests, benchmarks)
table_state.py  stateful rules' state over a changelogged Faust table
state_encoding.py  the JSON of that table's changelog values
lag.py       consumer lag per partition
health.py, http.py  /metrics, /healthz, /readyz
"""
