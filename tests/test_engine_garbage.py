"""The engine must not leave reference cycles behind: in the worker the cyclic
collector's young collections walk every container alive since the last one, and
what only it can free (a recursive closure per reply event, once) stays in memory
until then and makes each collection longer."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from flockwatch.detect.engine import Engine
from flockwatch.pipeline.processor import Processor
from flockwatch.rules.loader import load_packs
from flockwatch.simulate.stream import SimConfig, Simulation

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_pack_over_a_simulated_stream_leaves_no_cyclic_garbage() -> None:
    engine = Engine(load_packs([ROOT / "rules"]), repartition=True)
    processor = Processor(engine, None)
    lines = [json.dumps(ev).encode() for ev in
             Simulation(SimConfig(seed=3, agents=300, events=4000, incidents_per_50k=12)).stream()]
    kinds = {json.loads(line)["type"] for line in lines}
    assert {"post", "comment"} <= kinds
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        alerts = 0
        for line in lines:
            alerts += len(processor.handle(line, {}).alerts)
            alerts += len(engine.observe_forwards(engine.take_forwards()))
        gc.collect()
        garbage = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert alerts > 0  # the rules did run and fire
    assert garbage == []
