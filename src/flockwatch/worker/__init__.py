"""The streaming worker: a Faust app that runs the engine over the Kafka firehose.

settings.py  what can be configured (CLI options and FLOCKWATCH_* variables)
app.py       the Faust app factory with the settings tuned for fast start and throughput
batch.py     one batch: records -> engine -> alerts stored -> published (no Kafka in it)
runtime.py   wiring: topics, agent loop (ack only after the batch is durable), table, timers
table_state.py  stateful rules' state over a changelogged Faust table
lag.py       consumer lag per partition
health.py, http.py  /metrics, /healthz, /readyz
"""
