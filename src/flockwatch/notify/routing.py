"""The route tree: which receivers an alert goes to and in which aggregation group.

Semantics follow Alertmanager: the root matches every alert; a matching route hands
the alert to its first matching child (and to later siblings while the matching
child says `continue: true`); a route with no matching child handles the alert
itself. Children inherit receiver and grouping settings they do not set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flockwatch.notify.config import Backoff, RouteConfig
from flockwatch.notify.matchers import Matcher

DEFAULT_GROUP_BY = ("rule",)
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True)
class Route:
    id: str
    receiver: str
    matcher: Matcher
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    backoff: Backoff | None
    children: tuple[Route, ...]

    def interval(self, base: float, streak: int) -> float:
        """`base` stretched by the re-alert back-off after `streak` messages in a row."""
        if self.backoff is None or streak <= 1:
            return base
        # `max` caps the stretching; it never makes an interval shorter than configured
        # (a repeat_interval above backoff.max stays as it is).
        return max(base, min(self.backoff.max, base * self.backoff.factor ** (streak - 1)))


@dataclass(frozen=True)
class GroupTarget:
    route: Route
    key: str
    labels: dict[str, Any]


def build_route(cfg: RouteConfig, parent: Route | None = None, position: str = "root") -> Route:
    def pick(value: Any, inherited: Any) -> Any:
        return inherited if value is None else value

    route_id = cfg.name or position
    receiver = pick(cfg.receiver, parent.receiver if parent else None)
    base = Route(
        id=route_id,
        receiver=receiver,
        matcher=cfg.match,
        continue_=cfg.continue_,
        group_by=tuple(pick(cfg.group_by, list(parent.group_by) if parent else list(DEFAULT_GROUP_BY))),
        group_wait=pick(cfg.group_wait, parent.group_wait if parent else DEFAULT_GROUP_WAIT),
        group_interval=pick(cfg.group_interval, parent.group_interval if parent else DEFAULT_GROUP_INTERVAL),
        repeat_interval=pick(cfg.repeat_interval, parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL),
        backoff=pick(cfg.backoff, parent.backoff if parent else None),
        children=(),
    )
    children = tuple(build_route(c, base, f"{route_id}.{i}") for i, c in enumerate(cfg.routes))
    return Route(**{**base.__dict__, "children": children})


class Router:
    def __init__(self, root_cfg: RouteConfig):
        self.root = build_route(root_cfg)
        self.by_id: dict[str, Route] = {}
        self._index(self.root)

    def _index(self, route: Route) -> None:
        if route.id in self.by_id:
            raise ValueError(f"two routes share the name {route.id!r}")
        self.by_id[route.id] = route
        for child in route.children:
            self._index(child)

    def routes_for(self, labels: Mapping[str, Any]) -> list[Route]:
        return _match(self.root, labels) or [self.root]

    def targets(self, labels: Mapping[str, Any]) -> list[GroupTarget]:
        out: dict[str, GroupTarget] = {}
        for route in self.routes_for(labels):
            group_labels = group_labels_of(route.group_by, labels)
            key = group_key(route.id, route.receiver, group_labels)
            out.setdefault(key, GroupTarget(route, key, group_labels))
        return list(out.values())

    def route(self, route_id: str) -> Route:
        # A group made under an older config whose route is gone keeps the root's timing.
        return self.by_id.get(route_id, self.root)


def _match(route: Route, labels: Mapping[str, Any]) -> list[Route]:
    if not route.matcher.matches(labels):
        return []
    out: list[Route] = []
    for child in route.children:
        matched = _match(child, labels)
        if matched:
            out.extend(matched)
            if not child.continue_:
                break
    return out or [route]


def group_labels_of(group_by: tuple[str, ...], labels: Mapping[str, Any]) -> dict[str, Any]:
    if "..." in group_by:
        return {"fingerprint": labels["fingerprint"]}
    return {name: labels.get(name) for name in group_by}


def group_key(route_id: str, receiver: str, group_labels: Mapping[str, Any]) -> str:
    raw = json.dumps([route_id, receiver, sorted(group_labels.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
