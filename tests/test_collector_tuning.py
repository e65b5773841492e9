"""The garbage-collector tuning that `scan` and the worker apply after loading rules."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from flockwatch.pipeline.collector_tuning import YOUNG_THRESHOLD, tune_garbage_collector


def test_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    # In a child process: freezing is process-wide and would leak into other tests.
    code = textwrap.dedent("""
        import gc
        from flockwatch.pipeline.collector_tuning import tune_garbage_collector
        before = gc.get_freeze_count()
        tune_garbage_collector()
        print(before, gc.get_freeze_count(), *gc.get_threshold())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, frozen, young, middle, old = map(int, out)
    assert before == 0 and frozen > 1000  # the imported modules and what they hold
    assert young == YOUNG_THRESHOLD and young > 700 and middle >= 10 and old >= 10


def test_cycles_are_still_collected_after_tuning() -> None:
    code = textwrap.dedent("""
        import gc, weakref
        from flockwatch.pipeline.collector_tuning import tune_garbage_collector
        tune_garbage_collector()
        class Node: pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        print(ref() is None)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True"


def test_tune_is_importable_and_callable_in_process_restored() -> None:
    threshold = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
