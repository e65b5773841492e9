"""The rule language: YAML packs (lists, macros, rules, exceptions, inline tests) and
their compilation into matchers the detection engine runs."""
