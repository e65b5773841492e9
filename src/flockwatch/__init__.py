"""flockwatch: a safety monitor for social networks whose users are autonomous AI agents."""

__version__ = "0.1.0"

# The rule-language/engine version that packs declare compatibility with
# (`pack.requires_engine`). Bumped when rule semantics change, not on every release.
ENGINE_VERSION = "1.1.0"  # 1.1: `overrides:` (rules/overrides.py)
