"""Overrides: a pack that tunes rules, lists and macros of other packs, after Falco.

A safety team tunes a shipped rule (raise a threshold, except its own agents, page at
a lower severity, switch it off) in a pack of its own, so the shipped file stays as
shipped and an upgrade of it is not a merge:

    pack: {name: local-tuning, version: 1.0.0, requires_engine: ">=1.0,<2"}
    overrides:
      - rule: social.instruction_override
        enabled: false                       # `enabled` needs no `override:` entry
      - rule: cascades.near_duplicate_spam
        threshold: 8
        exceptions: [{name: our_relays, fields: [agent_id], values: [relay_1, relay_2]}]
        override: {threshold: replace, exceptions: append}
      - list: secret_nouns
        pack: baseline
        items: [recovery phrase]
        override: {items: append}

As in Falco, every key but `enabled` says in `override:` whether it replaces the
target's value or appends to it, so a reader never has to guess. Appending to a
condition ANDs it (the rule fires only when both hold: the way to narrow a rule);
appending to a list-valued key (`exceptions`, `tags`, `events`, `items`) extends it;
appending `tests` adds cases, which then run against the tuned rule. A rule's `id` and
`type` cannot be overridden: a rule of another type is a new rule.

Overrides change the targets' raw YAML before anything is compiled, so everything the
loader checks (schema, regexes, backtracking, inline tests) runs on the tuned rule,
with lists and macros resolved in the target's own pack. Packs are applied in load
order (files sorted by path), so when two overrides replace one key the later file
wins; that is reported as a warning. Each tuned rule records where it was tuned
(`CompiledRule.overridden_by`), and errors in it say so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flockwatch.rules.errors import RuleIssue
from flockwatch.rules.yaml_lines import LINE_KEY, line_of

OVERRIDDEN_BY = "__overridden_by__"  # set on a tuned raw rule: ["file:line (keys)", ...]

TARGET_KINDS = ("rule", "list", "macro")
_ITEM_KEYS = {"rule", "list", "macro", "pack", "override", "enabled", "comment"}
# What each target kind may change, and how.
_RULE_FIXED = {"id", "type"}
_RULE_APPEND = {"exceptions", "tags", "events", "condition", "tests"}  # everything else: replace only
_LIST_KEYS = {"items": {"append", "replace"}}
_MACRO_KEYS = {"condition": {"append", "replace"}}


@dataclass
class ParsedPack:
    """One pack file, parsed but not compiled: what overrides read and change."""

    file: str
    text: str
    raw: dict[str, Any]

    @property
    def name(self) -> str | None:
        meta = self.raw.get("pack")
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None


@dataclass
class _Targets:
    rules: dict[str, tuple[ParsedPack, dict[str, Any]]] = field(default_factory=dict)
    packs: dict[str, ParsedPack] = field(default_factory=dict)


def _targets(packs: list[ParsedPack]) -> _Targets:
    t = _Targets()
    for p in packs:
        if p.name is not None:
            t.packs.setdefault(p.name, p)
        for raw_rule in p.raw.get("rules") or []:
            if isinstance(raw_rule, dict) and isinstance(raw_rule.get("id"), str):
                t.rules.setdefault(raw_rule["id"], (p, raw_rule))  # duplicates: reported by the loader
    return t


def apply_overrides(packs: list[ParsedPack]) -> tuple[list[RuleIssue], list[str]]:
    """Apply every pack's `overrides:` to the other packs' raw YAML, in load order.
    Returns (errors, warnings); a pack with a bad override is left as it was."""
    targets = _targets(packs)
    issues: list[RuleIssue] = []
    notes: list[str] = []
    replaced: dict[tuple[str, str, str], str] = {}  # (kind, target, key) -> where it was replaced
    for p in packs:
        items = p.raw.get("overrides")
        if items is None:
            continue
        if not isinstance(items, list):
            issues.append(RuleIssue(p.file, line_of(p.raw), None, "overrides: must be a list of overrides"))
            continue
        for item in items:
            where = f"{p.file}:{line_of(item, line_of(p.raw))}"
            problem = _apply_one(item, targets, where, replaced, notes)
            if problem:
                issues.append(RuleIssue(p.file, line_of(item, line_of(p.raw)), _target_name(item), problem))
    return issues, notes


def _target_name(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    for kind in TARGET_KINDS:
        if isinstance(item.get(kind), str):
            return f"{item.get('pack')}/{item[kind]}" if kind != "rule" else item[kind]
    return None


def _apply_one(item: Any, targets: _Targets, where: str, replaced: dict[tuple[str, str, str], str],
               notes: list[str]) -> str | None:
    """Apply one override; returns what is wrong with it instead, changing nothing."""
    if not isinstance(item, dict):
        return "each override must be a mapping naming a rule, list or macro"
    kinds = [k for k in TARGET_KINDS if k in item]
    if len(kinds) != 1:
        return "an override names exactly one of rule, list or macro"
    kind = kinds[0]
    name = item[kind]
    if not isinstance(name, str):
        return f"{kind}: expected a name, got {name!r}"
    ops = item.get("override", {})
    if not isinstance(ops, dict):
        return "override: must map each changed key to append or replace"
    ops = {k: v for k, v in ops.items() if k != LINE_KEY}
    values = {k: v for k, v in item.items() if k not in _ITEM_KEYS and k != LINE_KEY}
    for k, op in ops.items():
        if op not in ("append", "replace"):
            return f"override: {k}: {op!r} is neither append nor replace"
        if k not in values:
            return f"override: {k}: {op} what? the override gives no {k}"
    for k in values:
        if k not in ops:
            return f"{k}: say how it changes the {kind}: override: {{{k}: replace}} or append"
    if "enabled" in item and not isinstance(item["enabled"], bool):
        return f"enabled: expected true or false, got {item['enabled']!r}"
    if kind == "rule":
        if "pack" in item:
            return "pack: a rule is named by its id alone (ids are unique across packs)"
        return _override_rule(name, item, ops, values, targets, where, replaced, notes)
    if "enabled" in item:
        return f"enabled: only rules can be enabled or disabled, not a {kind}"
    pack_name = item.get("pack")
    if not isinstance(pack_name, str):
        return f"pack: name the pack whose {kind} {name!r} this changes (lists and macros are per pack)"
    pack = targets.packs.get(pack_name)
    if pack is None:
        return f"pack: no loaded pack is named {pack_name!r} (loaded: {', '.join(sorted(targets.packs)) or 'none'})"
    allowed = _LIST_KEYS if kind == "list" else _MACRO_KEYS
    for k, op in ops.items():
        if k not in allowed:
            return f"{k}: a {kind} override changes only {', '.join(sorted(allowed))}"
        if op not in allowed[k]:
            return f"{k}: cannot be {op}ed"
    section = pack.raw.get("lists" if kind == "list" else "macros")
    if not isinstance(section, dict) or name not in section:
        return f"{kind}: pack {pack_name!r} has no {kind} {name!r}"
    if kind == "list":
        items = values.get("items")
        if not isinstance(items, list):
            return f"items: expected a list, got {type(items).__name__}"
        section[name] = [*section[name], *items] if ops["items"] == "append" else list(items)
    else:
        new = values.get("condition")
        section[name] = {"all": [section[name], new]} if ops["condition"] == "append" else new
    _note_replace(("list" if kind == "list" else "macro", f"{pack_name}/{name}", next(iter(ops))),
                  ops, where, replaced, notes)
    return None


def _override_rule(rule_id: str, item: dict[str, Any], ops: dict[str, str], values: dict[str, Any],
                   targets: _Targets, where: str, replaced: dict[tuple[str, str, str], str],
                   notes: list[str]) -> str | None:
    found = targets.rules.get(rule_id)
    if found is None:
        return f"rule: no loaded pack has a rule {rule_id!r}"
    _pack, raw_rule = found
    for k, op in ops.items():
        if k in _RULE_FIXED:
            return f"{k}: a rule's {k} cannot be overridden (write a new rule and disable this one)"
        if op == "append" and k not in _RULE_APPEND:
            return f"{k}: cannot be appended to; append works on {', '.join(sorted(_RULE_APPEND))}"
    changed: dict[str, Any] = {}
    for k, op in ops.items():
        new = copy.deepcopy(values[k])
        if op == "replace":
            changed[k] = new
            continue
        old = raw_rule.get(k)
        if k == "condition":
            changed[k] = new if old is None else {"all": [old, new]}
        elif k == "tests":
            if not isinstance(new, dict) or set(new) - {"fire", "quiet", LINE_KEY}:
                return "tests: append takes {fire: [...], quiet: [...]}"
            merged = dict(old) if isinstance(old, dict) else {}
            for case_kind in ("fire", "quiet"):
                extra = new.get(case_kind, [])
                if not isinstance(extra, list):
                    return f"tests.{case_kind}: expected a list of cases"
                merged[case_kind] = [*(merged.get(case_kind) or []), *extra]
            changed[k] = merged
        else:
            if not isinstance(new, list):
                return f"{k}: append takes a list, got {type(new).__name__}"
            if k == "events" and old is None:
                return "events: the rule sees every event type already; nothing to append"
            changed[k] = [*(old or []), *new]
    if "enabled" in item:
        changed["enabled"] = item["enabled"]
    raw_rule.update(changed)
    keys = ", ".join(changed) or "nothing"
    raw_rule.setdefault(OVERRIDDEN_BY, []).append(f"{where} ({keys})")
    for k in changed:
        _note_replace(("rule", rule_id, k), {k: ops.get(k, "replace")}, where, replaced, notes)
    return None


def _note_replace(target: tuple[str, str, str], ops: dict[str, str], where: str,
                  replaced: dict[tuple[str, str, str], str], notes: list[str]) -> None:
    """Warn when a later override replaces what an earlier one set: the later file wins,
    which is rarely what both authors meant."""
    kind, name, key = target
    if ops.get(key) != "replace":
        return
    earlier = replaced.get(target)
    if earlier is not None:
        notes.append(f"{where}: [{name}] {key} of {kind} {name!r} replaced again; "
                     f"the override at {earlier} no longer applies")
    replaced[target] = where
