"""Receiver formats, registered by name (`type:` in the config).

A receiver module only turns a rendered message into its target's JSON payload: it
knows the target's markup (escaping, emphasis, links) and size limits. Sending is
the one shared path in `flockwatch.notify.delivery`.
"""

from __future__ import annotations

from flockwatch.notify.receivers.base import RECEIVER_TYPES, ReceiverType, Rendered, register

# Import the formats so they register themselves.
from flockwatch.notify.receivers import discord, generic, mattermost, slack, teams  # noqa: E402,F401,I001


def receiver_types() -> dict[str, type[ReceiverType]]:
    return dict(RECEIVER_TYPES)


__all__ = ["RECEIVER_TYPES", "ReceiverType", "Rendered", "receiver_types", "register"]
