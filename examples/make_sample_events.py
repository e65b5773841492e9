"""Regenerate examples/sample-events.jsonl (a small file for `flockwatch scan`, and the
start of the worker tests' streams):

    PYTHONPATH=src python examples/make_sample_events.py > examples/sample-events.jsonl

See flockwatch.simulate.sample for what the 200 lines contain.
"""

from __future__ import annotations

import sys

from flockwatch.simulate.sample import sample_lines

if __name__ == "__main__":
    sys.stdout.write("\n".join(sample_lines()) + "\n")
