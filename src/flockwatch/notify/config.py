"""The notification config (YAML): receivers, the route tree, inhibit rules, retry
and dispatcher settings. See docs/notifications.md and deploy/notify.example.yaml.

Webhook URLs are secrets: write `url_env: NAME` to read them from the environment
instead of committing them to the YAML; they are never written to the outbox, logs
or the API. `${NAME}` (or `$NAME`) in a `url` or a header value is replaced by that
environment variable; one that is unset or empty is an error naming the receiver and
the variable (`notify run` refuses to start), never sent as written. `$$` is a `$`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from flockwatch.detect.durations import parse_duration
from flockwatch.notify.matchers import LABELS, Matcher

Seconds = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_zero=True))]
PositiveSeconds = Annotated[float, BeforeValidator(lambda v: parse_duration(v))]


class NotifyConfigError(ValueError):
    """The config file is unusable; the message names the file and the problem."""


# `$$`, `${NAME}` or `$NAME`; any other `$` is kept as written.
_ENV_REFERENCE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(text: str, where: str) -> str:
    """`text` with its environment references replaced; NotifyConfigError naming `where`
    and the variable if one is unset or empty (os.path.expandvars left it as written,
    so `Bearer ${TOKEN}` reached the receiver literally)."""

    def value(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(3)
        found = os.environ.get(name)
        if not found:
            raise NotifyConfigError(f"{where}: environment variable {name} is not set")
        return found

    return _ENV_REFERENCE.sub(value, text) if "$" in text else text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryConfig(_Strict):
    """Delivery retries: exponential back-off with jitter until `deadline`."""

    initial: PositiveSeconds = 1.0
    max: PositiveSeconds = 300.0
    factor: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)  # +-fraction of each delay
    deadline: PositiveSeconds = 86400.0  # give up (outcome expired) this long after the message was made
    max_retry_after: PositiveSeconds = 3600.0  # cap on a receiver's Retry-After


class DispatcherConfig(_Strict):
    poll_interval: PositiveSeconds = 1.0
    batch: int = Field(default=500, ge=1)  # inbox rows / groups / outbox rows per tick
    concurrency: int = Field(default=64, ge=1)  # HTTP requests in flight, all receivers
    lease: PositiveSeconds = 60.0  # a claimed message is retried by another process after this
    leader_lease: PositiveSeconds = 15.0  # routing/flushing is done by one dispatcher at a time
    resolve_timeout: Seconds = 0.0  # resolve alerts unchanged this long (0 = a person resolves them)
    retention: Seconds = 30 * 86400.0  # keep finished outbox messages this long (0 = forever)


class TemplateConfig(_Strict):
    title: str | None = None
    text: str | None = None


class ReceiverConfig(_Strict):
    name: str = Field(min_length=1, max_length=128)
    type: str
    url: str | None = None
    url_env: str | None = None
    timeout: PositiveSeconds | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # generic webhook only; values may be ${ENV}
    send_resolved: bool = True
    max_alerts: int = Field(default=10, ge=1, le=100)  # alerts listed per message; the rest are counted
    max_in_flight: int = Field(default=8, ge=1)  # so one slow receiver cannot take every slot
    template: TemplateConfig = Field(default_factory=TemplateConfig)
    username: str | None = None  # slack/discord/mattermost display name
    icon_url: str | None = None
    channel: str | None = None  # mattermost only

    @model_validator(mode="after")
    def _one_url(self) -> ReceiverConfig:
        if bool(self.url) == bool(self.url_env):
            raise ValueError(f"receiver {self.name!r}: give exactly one of url or url_env")
        return self

    def resolve_url(self) -> str:
        if self.url:
            return expand_env(self.url, f"receiver {self.name!r}: url")
        value = os.environ.get(self.url_env or "")
        if not value:
            raise NotifyConfigError(f"receiver {self.name!r}: environment variable {self.url_env} is not set")
        return value

    def resolve_headers(self) -> dict[str, str]:
        return {k: expand_env(v, f"receiver {self.name!r}: header {k}") for k, v in self.headers.items()}

    def secret_problems(self) -> list[str]:
        """What the URL and each header need from the environment and do not get."""
        problems = []
        checks = [self.resolve_url] + [lambda k=k, v=v: expand_env(v, f"receiver {self.name!r}: header {k}")
                                       for k, v in self.headers.items()]
        for check in checks:
            try:
                check()
            except NotifyConfigError as exc:
                problems.append(str(exc))
        return problems


class Backoff(_Strict):
    """Re-alert back-off: the n-th message in a row for a group that keeps firing waits
    group_interval (or repeat_interval) * factor**(n-1), at most `max`."""

    factor: float = Field(default=2.0, ge=1.0)
    max: PositiveSeconds = 6 * 3600.0


class RouteConfig(_Strict):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")  # stable id; default: position
    receiver: str | None = None
    match: Matcher = Field(default_factory=Matcher)
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Seconds | None = None
    group_interval: PositiveSeconds | None = None
    repeat_interval: PositiveSeconds | None = None
    backoff: Backoff | None = None
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _known_labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or ():
            if label != "..." and label not in LABELS:
                raise ValueError(f"cannot group by {label!r}: use {', '.join(LABELS)} or '...' (one group per alert)")
        return value


class InhibitRule(_Strict):
    """While an alert matching `source` is firing, alerts matching `target` with the same
    `equal` labels are not sent (e.g. a critical cascade mutes its medium echoes)."""

    source: Matcher
    target: Matcher
    equal: list[str] = Field(default_factory=list)

    @field_validator("equal")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for label in value:
            if label not in LABELS:
                raise ValueError(f"inhibit equal: unknown label {label!r} (use {', '.join(LABELS)})")
        return value


class NotifyConfig(_Strict):
    external_url: str | None = None  # base URL of the alert API/UI, for links in messages
    timeout: PositiveSeconds = 10.0  # per HTTP attempt unless the receiver sets its own
    retry: RetryConfig = Field(default_factory=RetryConfig)
    dispatcher: DispatcherConfig = Field(default_factory=DispatcherConfig)
    receivers: list[ReceiverConfig]
    route: RouteConfig
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_receivers(self) -> NotifyConfig:
        from flockwatch.notify.receivers import receiver_types

        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate receiver names: {', '.join(dupes)}")
        known = receiver_types()
        for r in self.receivers:
            if r.type not in known:
                raise ValueError(f"receiver {r.name!r}: unknown type {r.type!r} (one of {', '.join(sorted(known))})")
        if not self.route.receiver:
            raise ValueError("the root route needs a receiver (the default for everything unmatched)")
        for used in _route_receivers(self.route):
            if used not in names:
                raise ValueError(f"route names receiver {used!r}, which is not defined")
        from flockwatch.notify.routing import Router

        Router(self.route)  # route ids must be unique: a ValueError here is a config error, not a traceback later
        return self

    def receiver(self, name: str) -> ReceiverConfig:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)

    def timeout_for(self, receiver: ReceiverConfig) -> float:
        return receiver.timeout or self.timeout

    def check_secrets(self) -> list[str]:
        """Problems a dispatcher must not start with: unset url_env variables, and unset
        variables named in a url or a header."""
        return [problem for r in self.receivers for problem in r.secret_problems()]


def _route_receivers(route: RouteConfig) -> list[str]:
    out = [route.receiver] if route.receiver else []
    for child in route.routes:
        out.extend(_route_receivers(child))
    return out


def parse_config(data: Any, source: str = "<config>") -> NotifyConfig:
    if not isinstance(data, dict):
        raise NotifyConfigError(f"{source}: the notification config must be a mapping")
    try:
        return NotifyConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            lines.append(f"  {where}: {err['msg']}")
        raise NotifyConfigError(f"{source}: invalid notification config\n" + "\n".join(lines)) from None


def load_config(path: str | Path) -> NotifyConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NotifyConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise NotifyConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))
