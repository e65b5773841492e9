"""Detection quality of the social-engineering, prompt-injection and credential-leak
packs on labelled third-party data.

    PYTHONPATH=src python eval/social_eval.py [--data ../shared/data] [--rules FILE ...]
                                              [--show-misses] [--show-flags N] [--check]

Prints, per data set and category, how many texts the packs flag:
- bastioncorpus: recall per malicious category, false flags per benign-trap
  category, and precision/recall of malicious versus benign traps;
- jailbreak-corpus-mini: recall;
- Keane Moltbook subset: recall per subset (8 rows are real Moltbook payloads) and
  false flags on its benign security questions;
- real Moltbook posts: flagged rate by rule and severity, and whether every known
  payload post (eval/moltbook_payloads.yaml) is caught;
- SMS ham: flagged rate (the false-flag baseline; target at most 0.5%).

Credential-leak rules are scored separately: a benign "trap" that contains a real
JWT is a leak, not an injection, so they do not count against injection precision.
Exits 2 with a message when the data is missing; with --check, exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.ingest.event import Event  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402

DEFAULT_RULES = [ROOT / "rules" / "social_engineering.yaml", ROOT / "rules" / "credential_leak.yaml"]
INJECTION_CATEGORIES = frozenset({"prompt_injection", "social_engineering"})
TS = datetime(2026, 2, 1, tzinfo=timezone.utc)

TARGET_RECALL = 0.90
TARGET_PRECISION = 0.90
TARGET_HAM_RATE = 0.005


@dataclass
class Verdict:
    rules: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    leak_rules: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.rules)


class Scorer:
    def __init__(self, rules: list[Path]):
        self.engine = Engine(load_packs(rules))
        self.n = 0

    def verdict(self, text: str, *, title: str | None = None, type_: str = "post",
                to_operator: bool = False) -> Verdict:
        self.n += 1
        event = Event(event_id=f"eval-{self.n}", type=type_, ts=TS, agent_id="eval-agent",
                      title=title, text=text, to_operator=to_operator)
        v = Verdict()
        for alert in self.engine.process(event):
            if alert.category in INJECTION_CATEGORIES:
                v.rules.append(alert.rule_id)
                v.severities.append(alert.severity)
            elif alert.category == "credential_leak":
                v.leak_rules.append(alert.rule_id)
        return v


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "  -  "


def _table(title: str, rows: Iterable[tuple[str, int, int, str]]) -> None:
    print(f"\n{title}")
    print(f"  {'category':34} {'n':>5} {'flagged':>8} {'rate':>6}  meaning")
    for name, n, flagged, meaning in rows:
        print(f"  {name:34} {n:>5} {flagged:>8} {_ratio(flagged, n):>6}  {meaning}")


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def target(self, label: str, ok: bool, figure: str) -> None:
        print(f"  target {label}: {figure} {'ok' if ok else 'MISSED'}")
        if not ok:
            self.failures.append(f"{label}: {figure}")


def eval_bastion(scorer: Scorer, path: Path, report: Report, show_misses: bool) -> None:
    by_cat: dict[tuple[str, str], list[bool]] = defaultdict(list)
    misses, false_flags, leaks = [], [], []
    for row in _jsonl(path):
        v = scorer.verdict(row["text"])
        by_cat[(row["label"], row["category"])].append(v.flagged)
        if row["label"] == "malicious" and not v.flagged:
            misses.append(row)
        if row["label"] == "benign" and v.flagged:
            false_flags.append((row, v))
        if v.leak_rules:
            leaks.append((row, v))
    rows = [(f"{cat} ({label})", len(f), sum(f), "recall" if label == "malicious" else "false flags")
            for (label, cat), f in sorted(by_cat.items())]
    _table(f"bastioncorpus ({path.name})", rows)
    tp = sum(sum(f) for (label, _), f in by_cat.items() if label == "malicious")
    pos = sum(len(f) for (label, _), f in by_cat.items() if label == "malicious")
    fp = sum(sum(f) for (label, _), f in by_cat.items() if label == "benign")
    neg = sum(len(f) for (label, _), f in by_cat.items() if label == "benign")
    recall, precision = tp / pos, (tp / (tp + fp) if tp + fp else 0.0)
    print(f"  malicious {pos}, benign traps {neg}: TP {tp}, FN {pos - tp}, FP {fp}, TN {neg - fp}")
    report.target("bastion recall >= 0.90", recall >= TARGET_RECALL, f"{recall:.3f}")
    report.target("bastion precision >= 0.90", precision >= TARGET_PRECISION, f"{precision:.3f}")
    for row, v in leaks:
        print(f"  credential-leak rule on {row['label']} row {row['id']}: {', '.join(v.leak_rules)}")
    if show_misses:
        for row in misses:
            print(f"  MISS {row['id']} [{row['category']}/{row.get('tactic', '')}]: {row['text'][:110]!r}")
        for row, v in false_flags:
            print(f"  FALSE FLAG {row['id']} [{row['category']}] {v.rules}: {row['text'][:110]!r}")


def eval_jailbreak_mini(scorer: Scorer, path: Path, report: Report, show_misses: bool) -> None:
    rows = json.loads(path.read_text(encoding="utf-8"))
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        v = scorer.verdict(row["prompt"])
        by_cat[row["category"]].append(v.flagged)
        if show_misses and not v.flagged:
            print(f"  MISS jailbreak-mini {row['id']}: {row['prompt'][:110]!r}")
    _table(f"jailbreak-corpus-mini ({path.name}), all rows are attacks",
           [(c, len(f), sum(f), "recall") for c, f in sorted(by_cat.items())])
    tp, n = sum(sum(f) for f in by_cat.values()), sum(len(f) for f in by_cat.values())
    print(f"  overall recall {_ratio(tp, n)} ({tp}/{n})")


def eval_keane(scorer: Scorer, path: Path, report: Report, show_misses: bool) -> None:
    by_subset: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for row in _jsonl(path):
        v = scorer.verdict(row["text"])
        by_subset[(row["expected"], row["subset"])].append(v.flagged)
        if show_misses and (row["expected"] == "BLOCKED") != v.flagged:
            kind = "MISS" if row["expected"] == "BLOCKED" else f"FALSE FLAG {v.rules}"
            print(f"  {kind} keane {row['id']}: {row['text'][:110]!r}")
    _table(f"Keane Moltbook subset ({path.name})",
           [(f"{s} ({e})", len(f), sum(f), "recall" if e == "BLOCKED" else "false flags")
            for (e, s), f in sorted(by_subset.items())])
    real = by_subset.get(("BLOCKED", "moltbook_real"), [])
    report.target("every real Moltbook payload (Keane) caught", all(real) and bool(real), f"{sum(real)}/{len(real)}")


def eval_moltbook_posts(scorer: Scorer, data: Path, report: Report, show_flags: int) -> None:
    path = data / "moltbook" / "rafalwronapl_observatory" / "posts.jsonl"
    payloads = yaml.safe_load((ROOT / "eval" / "moltbook_payloads.yaml").read_text(encoding="utf-8"))
    expected = {p["id"]: p for p in payloads["posts"]}
    by_rule: Counter[tuple[str, str]] = Counter()
    flagged_ids: dict[str, Verdict] = {}
    leak_rules: Counter[str] = Counter()
    n = 0
    samples = []
    for row in _jsonl(path):
        n += 1
        title = row.get("title") if row.get("title") not in (None, "None") else None
        v = scorer.verdict(row.get("content") or "", title=title)
        for r, s in zip(v.rules, v.severities):
            by_rule[(r, s)] += 1
        leak_rules.update(v.leak_rules)
        if v.flagged:
            flagged_ids[row["id"]] = v
            samples.append((row, v))
    print(f"\nreal Moltbook posts ({path.name}): {n} posts, {len(flagged_ids)} flagged "
          f"({len(flagged_ids) / n:.2%}); these are unlabelled and include real attacks and security "
          "reports quoting them")
    for (rule, sev), c in sorted(by_rule.items()):
        print(f"  {rule:44} {sev:9} {c:>4}")
    for rule, c in sorted(leak_rules.items()):
        print(f"  {rule:44} {'(leak)':9} {c:>4}")
    caught = 0
    for pid, p in expected.items():
        hit = next((v for fid, v in flagged_ids.items() if fid.startswith(pid)), None)
        caught += hit is not None
        sev = ",".join(sorted(set(hit.severities))) if hit else "-"
        print(f"  payload {pid} ({p['kind']}): {'caught ' + sev if hit else 'MISSED'}  {p['what']}")
    report.target("every known Moltbook payload post caught", caught == len(expected), f"{caught}/{len(expected)}")
    for row, v in samples[:show_flags]:
        text = ((row.get('title') or '') + ' | ' + (row.get('content') or '')).replace("\n", " ")
        print(f"  FLAG {row['id'][:8]} {v.rules} {v.severities}: {text[:160]!r}")


def eval_sms(scorer: Scorer, data: Path, report: Report, show_flags: int) -> None:
    path = data / "corpora" / "sms_spam_collection" / "SMSSpamCollection.tsv"
    counts: dict[str, list[bool]] = defaultdict(list)
    flagged = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) < 2:
                continue
            v = scorer.verdict(row[1], type_="dm")
            counts[row[0]].append(v.flagged)
            if v.flagged and row[0] == "ham":
                flagged.append((row[1], v))
    _table(f"SMS Spam Collection ({path.name}), read as DMs",
           [(label, len(f), sum(f), "false flags" if label == "ham" else "flagged (not a target)")
            for label, f in sorted(counts.items())])
    ham = counts["ham"]
    rate = sum(ham) / len(ham)
    report.target("SMS ham flagged <= 0.5%", rate <= TARGET_HAM_RATE, f"{rate:.3%}")
    for text, v in flagged[:show_flags]:
        print(f"  HAM FLAG {v.rules} {v.severities}: {text[:140]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--rules", type=Path, nargs="+", default=DEFAULT_RULES)
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--show-flags", type=int, default=0, help="print this many flagged real posts / ham")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    pi = args.data / "prompt_injection"
    needed = [pi / "bastioncorpus_0.6.0_injections.jsonl", pi / "jailbreak_corpus_mini_0.1.0_corpus.json",
              pi / "keane_ai_prompt_injection_subset.jsonl",
              args.data / "moltbook" / "rafalwronapl_observatory" / "posts.jsonl",
              args.data / "corpora" / "sms_spam_collection" / "SMSSpamCollection.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print("reference data missing (a fresh clone has no ../shared/data):\n  " + "\n  ".join(missing),
              file=sys.stderr)
        return 2
    scorer = Scorer(args.rules)
    report = Report()
    print(f"rules: {', '.join(str(r) for r in args.rules)}")
    eval_bastion(scorer, needed[0], report, args.show_misses)
    eval_jailbreak_mini(scorer, needed[1], report, args.show_misses)
    eval_keane(scorer, needed[2], report, args.show_misses)
    eval_moltbook_posts(scorer, args.data, report, args.show_flags)
    eval_sms(scorer, args.data, report, args.show_flags)
    print(f"\n{len(report.failures)} target(s) missed" + (": " + "; ".join(report.failures) if report.failures else ""))
    return 1 if args.check and report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
