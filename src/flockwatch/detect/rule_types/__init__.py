"""Built-in rule types, one per module. Importing this package registers them all."""

from flockwatch.detect.rule_types import cipher, match, threshold  # noqa: F401
