"""Alert delivery: route → inhibit → silence → group → dedup → outbox → retry → record.

Modelled on Alertmanager's notification pipeline, but every message is a durable row
(`notify_outbox`) so nothing is lost on restart and every attempt is kept as history.
The worker only inserts rows (`Notifier.enqueue`); `flockwatch notify run` delivers.
"""
