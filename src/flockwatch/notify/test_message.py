"""Test notifications: one synthetic alert, sent now through the shared delivery path
and recorded in the outbox like any other message (kind `test`), so the operator
sees the receiver's real answer and the history keeps it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine

from flockwatch.alerts.alert import Alert
from flockwatch.notify.config import NotifyConfig, NotifyConfigError
from flockwatch.notify.delivery import Outcome, post_once
from flockwatch.notify.outbox import OUTBOX, insert_message, new_notification_id
from flockwatch.notify.receivers import RECEIVER_TYPES
from flockwatch.notify.receivers.base import Rendered
from flockwatch.notify.templates import alert_context, message_context
from flockwatch.store.notify_tables import NotifyAttempt

TEST_FINGERPRINT = "0" * 32


def sample_alert(receiver: str, actor: str) -> Alert:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Alert(
        alert_id="test", fingerprint=TEST_FINGERPRINT, rule_id="flockwatch.test", pack="flockwatch",
        pack_version="0.0.0", category="other", severity="info", title="flockwatch test notification",
        summary=f"If you can read this, receiver {receiver} works. Requested by {actor}.",
        event_ids=["test"], agent_ids=[], count=1, first_ts=now, last_ts=now,
    )


def render_alerts(config: NotifyConfig, receiver_name: str, alerts: list[Alert], *, kind: str = "firing",
                  notification_id: str | None = None, status: str = "firing") -> Rendered:
    """The payload a receiver would get for these alerts in one group (`template render`)."""
    cfg = config.receiver(receiver_name)
    receiver = RECEIVER_TYPES[cfg.type](cfg)
    context = message_context(
        notification_id=notification_id or new_notification_id(), receiver=cfg.name, kind=kind,
        group_key="preview", group_labels={"rule": alerts[0].rule_id} if len({a.rule_id for a in alerts}) == 1 else {},
        sequence=1, alerts=[alert_context(a, status, "new", config.external_url) for a in alerts],
        max_alerts=cfg.max_alerts, external_url=config.external_url,
    )
    return receiver.render(context)


async def send_test(config: NotifyConfig, engine: Engine, receiver_name: str, actor: str) -> dict[str, Any]:
    cfg = config.receiver(receiver_name)  # KeyError: unknown receiver
    nid = new_notification_id()
    rendered = render_alerts(config, receiver_name, [sample_alert(receiver_name, actor)], kind="test", notification_id=nid)
    started = time.time()
    try:
        url = cfg.resolve_url()
        headers = {**cfg.resolve_headers(), "Idempotency-Key": nid}
    except NotifyConfigError as exc:  # an unset variable: never sent as written
        outcome = Outcome("permanent", None, str(exc))
    else:
        outcome = await post_once(url, rendered.body(), timeout=config.timeout_for(cfg), headers=headers)
    status = "delivered" if outcome.kind == "ok" else "failed"
    with engine.begin() as conn:
        oid = insert_message(conn, notification_id=nid, receiver=cfg.name, group_key="test", sequence=0, kind="test",
                             payload=rendered.body().decode(), template_error=rendered.template_error,
                             fingerprints=[], now=started, deadline=0.0, status=status)
        conn.execute(NotifyAttempt.__table__.insert().values(
            outbox_id=oid, attempt=1, started_at=started, duration=outcome.duration, outcome=outcome.kind,
            status_code=outcome.status_code, error=outcome.error, retry_after=outcome.retry_after, instance="test"))
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == oid).values(
            attempts=1, finished_at=time.time(), last_status_code=outcome.status_code, last_error=outcome.error))
    return {"receiver": cfg.name, "notification_id": nid, "outcome": outcome.kind, "status": status,
            "status_code": outcome.status_code, "error": outcome.error, "template_error": rendered.template_error}
