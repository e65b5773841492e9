"""`classifier`: an operator-supplied local text classifier as a rule.

Off by default: no shipped pack contains a classifier rule. An operator who has a
model adds one:

    - id: local.injection_model
      type: classifier
      title: Injection classifier (local model)
      category: prompt_injection
      severity: medium
      model:
        loader: mycompany.models:load_injection_model   # module:function
        path: /srv/models/injection-v3                  # local file or directory
      bands: {medium: 0.80, high: 0.95}                 # probability -> severity

`loader(path)` must return a callable `text -> float` (probability that the text is
malicious) or an object with such a `score` method. flockwatch never downloads a
model: `path` must be an existing local path (URLs and hub ids are refused), and the
usual hub libraries are put in offline mode before the loader runs. A classifier
that raises is logged and skipped for that event; the pipeline goes on.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from flockwatch.detect.detector import Detector, DetectorConfigError, Finding, check_settings
from flockwatch.detect.registry import register
from flockwatch.ingest.event import TEXT_FIELDS, Event
from flockwatch.rules.spec import SEVERITIES

log = logging.getLogger(__name__)

# Libraries that would otherwise fetch weights from a hub on first use.
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _load_callable(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DetectorConfigError(f"model.loader {spec!r}: write it as package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DetectorConfigError(f"model.loader {spec!r}: cannot import {module_name}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise DetectorConfigError(f"model.loader {spec!r}: {attr} is not a function of {module_name}")
    return fn


@register
class ClassifierDetector(Detector):
    name = "classifier"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        check_settings("classifier", params, {"model", "bands", "fields", "min_chars"})
        model = params.get("model")
        if not isinstance(model, dict) or set(model) != {"loader", "path"}:
            raise DetectorConfigError("model: give loader (module:function) and path (a local file or directory)")
        path = str(model["path"])
        if "://" in path or path.startswith(("hf:", "hub:")):
            raise DetectorConfigError(f"model.path {path!r}: flockwatch never downloads models; give a local path")
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise DetectorConfigError(f"model.path {path!r} does not exist (flockwatch never downloads models)")
        self.loader_name = str(model["loader"])
        bands = params.get("bands")
        if not isinstance(bands, dict) or not bands or any(b not in SEVERITIES for b in bands):
            raise DetectorConfigError(f"bands: a mapping severity -> minimum probability ({', '.join(SEVERITIES)})")
        self.bands = sorted(((sev, float(p)) for sev, p in bands.items()), key=lambda b: SEVERITIES.index(b[0]))
        if any(not 0 < p <= 1 for _, p in self.bands) or any(a[1] >= b[1] for a, b in zip(self.bands, self.bands[1:])):
            raise DetectorConfigError("bands: probabilities in (0, 1], higher severities need higher probabilities")
        fields = params.get("fields", list(TEXT_FIELDS))
        if not isinstance(fields, list) or not all(f in ("title", "text") for f in fields):
            raise DetectorConfigError("fields: a list of title and/or text")
        self.fields = tuple(fields)
        self.min_chars = int(params.get("min_chars", 1))
        self._score: Callable[[str], float] | None = None
        if getattr(rule, "enabled", True):
            self._score = self._load()

    def _load(self) -> Callable[[str], float]:
        for key, value in _OFFLINE_ENV.items():
            os.environ.setdefault(key, value)
        loader = _load_callable(self.loader_name)
        try:
            model = loader(str(self.path))
        except Exception as exc:  # noqa: BLE001 - any loader failure is a config error with its cause
            raise DetectorConfigError(f"model.loader {self.loader_name!r} failed on {self.path}: {exc}") from None
        score = model if callable(model) else getattr(model, "score", None)
        if not callable(score):
            raise DetectorConfigError(f"model.loader {self.loader_name!r} returned neither a callable nor an object with score()")
        return score

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        if self._score is None:
            self._score = self._load()  # a disabled rule turned on by `include_disabled`
        text = "\n".join(v for v in (getattr(event, f) for f in self.fields) if v)
        if len(text) < self.min_chars:
            return []
        try:
            probability = float(self._score(text))
        except Exception as exc:  # noqa: BLE001 - an operator's model must not stop the pipeline
            log.warning("rule %s: classifier %s failed on event %s: %s", self.rule.id, self.loader_name, event.event_id, exc)
            return []
        severity = None
        for sev, minimum in self.bands:
            if probability >= minimum:
                severity = sev
        if severity is None:
            return []
        found = {"model": self.loader_name, "probability": round(probability, 4), "matches": evidence}
        return [Finding.of_event(self.rule.evidence_key(event), event, found, severity)]
