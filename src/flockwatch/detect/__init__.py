"""Where events are judged: the engine, its prefilter and the rule types (detectors)."""
