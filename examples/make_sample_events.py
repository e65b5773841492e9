"""Regenerate examples/sample-events.jsonl (the demo's input):

    PYTHONPATH=src python examples/make_sample_events.py > examples/sample-events.jsonl

See flockwatch.simulate.sample for what the 200 lines contain.
"""

from __future__ import annotations

import sys

from flockwatch.simulate.sample import sample_lines

if __name__ == "__main__":
    sys.stdout.write("\n".join(sample_lines()) + "\n")
