"""Servers flockwatch can start for you (the demo, tests): the embedded Kafka broker."""
