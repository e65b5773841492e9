"""Built-in rule types, one per module. Importing this package registers them all."""

from flockwatch.detect.rule_types import classifier, cue_score, match, seed_phrase, threshold  # noqa: F401
