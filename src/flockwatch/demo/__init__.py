"""`flockwatch demo`: the whole pipeline on the embedded defaults, started and stopped
for you. session.py owns what runs (broker, worker); report.py prints the result.
Later stages (a live generator, notifications) plug into `DemoSession`."""
