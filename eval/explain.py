"""Show how every cue_score rule scores one text: which cues matched, the score and
the severity band. For tuning rules and for answering "why did this fire?".

    PYTHONPATH=src python eval/explain.py [--rules FILE] [--type dm] [--to-operator] "text"
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.detect.rule_types.cue_score import CueScoreDetector  # noqa: E402
from flockwatch.ingest.event import Event  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.text.normalize import normalize  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("text")
    ap.add_argument("--rules", type=Path, nargs="+", default=[ROOT / "rules" / "social_engineering.yaml"])
    ap.add_argument("--type", default="post")
    ap.add_argument("--to-operator", action="store_true")
    args = ap.parse_args()
    event = Event(event_id="explain", type=args.type, ts=datetime.now(timezone.utc), agent_id="explain",
                  text=args.text, to_operator=args.to_operator)
    print(f"normalised: {normalize(args.text)!r}")
    for pack in load_packs(args.rules):
        for rule in pack.rules:
            det = rule.detector
            if not isinstance(det, CueScoreDetector):
                continue
            result = det.score(event)
            if result is None:
                continue
            score, matched = result
            cues = ", ".join(f"{m.cue}({m.weight:+g}: {m.match!r})" for m in matched)
            print(f"{rule.id:36} score {score:>5} -> {det.severity_for(score) or 'none':8} {cues}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
