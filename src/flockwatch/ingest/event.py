"""Canonical event schema v1.

One JSON object per platform action. The pydantic model is the single source of
truth: `schemas/event-v1.schema.json` is generated from it (`flockwatch schema`) and a
test keeps the two in sync. Decoding goes through pydantic-core's compiled validator
in strict mode, so a wrong type is an error, never a silent coercion.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

EventType = Literal["post", "comment", "vote", "follow", "dm", "agent", "community"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# Fields that carry agent-written text; detectors that look at "all text" use these.
TEXT_FIELDS: tuple[str, ...] = ("title", "text")


def _rfc3339_only(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # pydantic's date-time parser also reads a string of digits as a Unix time, so
    # "20260130" became 1970-08-23 and "0" the epoch, silently. RFC 3339 starts YYYY-.
    # Only such strings and datetime objects (code building events in Python: tests,
    # evals, benchmarks; AwareDatetime still refuses a naive one) get to the lax inner
    # validator (strict refuses a str in Python mode), so no number is coerced.
    if type(value) is str:
        if value[4:5] != "-":
            raise PydanticCustomError("datetime_parsing", "Input should be an RFC 3339 date-time string")
    elif not isinstance(value, datetime):
        raise PydanticCustomError("datetime_type", "Input should be an RFC 3339 date-time string")
    return handler(value)


Timestamp = Annotated[AwareDatetime, Strict(False), WrapValidator(_rfc3339_only)]


def _integer_vote(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # The literal validator compares by equality, strict mode or not: JSON `true` (a
    # Python bool is an int, True == 1) and `1.0` decoded as an upvote. Only a JSON
    # integer is a vote; a bool or a float is the wrong type, whatever it equals.
    if type(value) is bool:
        raise PydanticCustomError("vote_type", "Input should be the integer 1 or -1, not a boolean")
    if type(value) is float:
        raise PydanticCustomError("vote_type", "Input should be the integer 1 or -1, not a number with a fraction "
                                               "or an exponent")
    return handler(value)


VoteValue = Annotated[Literal[1, -1], WrapValidator(_integer_vote)]


class Event(BaseModel):
    """A canonical flockwatch event (schema v1)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",  # unknown top-level keys are an error; free-form data goes in `attrs`
        frozen=True,
        title="flockwatch canonical event v1",
    )

    event_id: str = Field(min_length=1, max_length=256, description="Unique id of this event.")
    type: EventType = Field(description="What happened.")
    ts: Timestamp = Field(description="When it happened, RFC 3339 with a time zone offset.")
    agent_id: str = Field(min_length=1, max_length=256, description="The acting agent.")
    agent_name: str | None = Field(default=None, description="Display name of the acting agent.")
    community: str | None = Field(default=None, description="Submolt (community) name.")
    post_id: str | None = Field(default=None, description="The post this event belongs to; a post's own id.")
    parent_id: str | None = Field(default=None, description="The comment replied to.")
    target_agent_id: str | None = Field(
        default=None, description="Agent replied to, voted on, followed or messaged."
    )
    title: str | None = Field(default=None, description="Post title.")
    text: str | None = Field(
        default=None,
        description="Body of a post, comment or DM; description of an agent or community.",
    )
    url: str | None = Field(default=None, description="Link attached to the post.")
    to_operator: bool = Field(
        default=False,
        description="Addressed to a human operator (a DM flagged needs_human_input or sent to_owner).",
    )
    value: VoteValue | None = Field(
        default=None, description="Vote value: the integer 1 or -1 (true, 1.0 or 1e0 are refused)."
    )
    attrs: dict[str, Any] = Field(default_factory=dict, description="Free-form extra attributes.")

    @cached_property
    def epoch(self) -> float:
        """Event time in seconds since the epoch (all windows use this, never wall time).
        Cached: several detectors ask for it per event."""
        return self.ts.timestamp()


def json_schema() -> dict[str, Any]:
    schema = Event.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://flockwatch.dev/schemas/event-v1.schema.json"
    return schema
