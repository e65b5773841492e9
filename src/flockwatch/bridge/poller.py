"""One poll cycle of the Moltbook API, and the loop that repeats it.

A cycle:
1. walk `GET /posts?sort=new` page by page from the top until a post older than the
   cursor (minus a look-back margin for posts committed late) or the end; emit posts
   not seen before; start tracking each new post's comment tree. The cursor moves
   only when the walk completes, so a crash mid-walk re-walks (and the seen set
   makes that harmless) rather than skipping;
2. re-poll the comment trees that are due (`GET /posts/{id}`), emitting only
   comments not seen before. A tree that grew is polled again soon; a quiet one ever
   more rarely; tracking ends `track_for` seconds after the post was created. The
   post author's profile in the response is compared with its last snapshot;
3. fetch descriptions of new or stale communities (`GET /submolts/{name}`) and,
   if enabled, stale agent profiles (`GET /agents/profile?name=`), emitting
   `community` / `agent` events only when the text changed.
Every request goes through the client's rate limiter; every malformed object is
dead-lettered and the cycle goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from kafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

from flockwatch.bridge.client import (
    FetchError, MalformedResponse, MoltbookClient, NotFound, Redirected, Stopped, Unauthorized,
)
from flockwatch.bridge.emitter import Emitter
from flockwatch.bridge.mapping import Mapped, MapResult, Rejected, map_agent, map_community, reject
from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.bridge.sinks import SinkError
from flockwatch.bridge.responses import ListPage, parse_list_page, parse_post_detail, profile_of, submolt_of
from flockwatch.bridge.state import BridgeSnapshot, BridgeState, BridgeTrackedPost, StateChanges

log = logging.getLogger(__name__)

CURSOR = "moltbook.posts.newest_ts"
PRUNED = "moltbook.seen.pruned_before"  # event time below which seen post/comment ids were forgotten
# How far a post's created_at may run ahead of the bridge's clock and still count as
# "now" for the walk's cursor. NTP-synced hosts differ by milliseconds; 5 min (the
# usual Kerberos allowance) never flags a real post, even with a clock drifting for a
# while, and anything further ahead is a platform bug that would otherwise blind the
# walk (a cursor in the future makes every walk stop at page 1).
FUTURE_SKEW = 300.0


@dataclass
class PollerConfig:
    page_limit: int = 25
    lookback: float = 120.0  # re-read posts this much older than the cursor (late commits)
    backfill_pages: int = 1  # first run only: pages of history to read
    max_pages: int = 400  # per walk; hitting it is counted as a possible gap
    track_for: float = 48 * 3600.0  # re-poll a post's comments for this long after it was created
    detail_min_interval: float = 120.0
    detail_max_interval: float = 3600.0
    details_per_cycle: int = 40
    community_refresh: float = 6 * 3600.0
    communities_per_cycle: int = 5
    profile_refresh: float | None = None  # seconds; None = profiles only from post details
    profiles_per_cycle: int = 5


@dataclass
class CycleReport:
    pages: int = 0
    details: int = 0
    walk_complete: bool = False
    emitted: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    pruned: int = 0  # seen ids forgotten this cycle
    errors: list[str] = field(default_factory=list)


def _segment(value: str) -> str:
    """A platform id or name as one URL path segment. They come from the API and are
    not ours to trust: unquoted, a non-ASCII one crashes urllib (again after every
    restart) and '#', '?' or '/' would fetch some other resource."""
    return quote(value, safe="")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


class Poller:
    def __init__(self, client: MoltbookClient, emitter: Emitter, state: BridgeState,
                 config: PollerConfig | None = None, *, metrics: BridgeMetrics | None = None,
                 clock: Callable[[], float] = time.time, stop: threading.Event | None = None):
        self.client = client
        self.emitter = emitter
        self.state = state
        self.config = config or PollerConfig()
        self.metrics = metrics
        self.clock = clock
        self.stop = stop or threading.Event()
        self._report = CycleReport()

    # -- plumbing ---------------------------------------------------------------------------
    def _emit(self, results: list[MapResult], source: dict[str, Any], changes: StateChanges | None = None
              ) -> list[Mapped]:
        mapped = [r for r in results if isinstance(r, Mapped)]
        rejects = [(r, source) for r in results if isinstance(r, Rejected)]
        before = self.emitter.dead_lettered
        fresh = self.emitter.emit(mapped, rejects, changes)
        self._report.dead_letters += self.emitter.dead_lettered - before
        self._report.emitted.update(m.event.type for m in fresh)
        return fresh

    def _fetch(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET, turning an unreadable body into a dead letter. None = nothing usable."""
        try:
            return self.client.get(path, params)
        except MalformedResponse as exc:
            body = exc.body.decode("utf-8", "replace")
            self._emit([reject("response", body, "invalid_json", str(exc))], {"bridge": "moltbook", "path": path})
            return None
        except (Stopped, NotFound, Unauthorized, Redirected):  # Redirected: the base URL is wrong, stop
            raise
        except FetchError as exc:
            log.warning("%s", exc)
            self._report.errors.append(f"{exc.reason}: {path}")
            return None

    def _failed_response(self, rejected: Rejected, path: str) -> None:
        """A response that is not the expected shape (`{"success": false, ...}` with HTTP
        200) is an error of this cycle, whatever happens to its dead letter: that is
        deduplicated, so a platform repeating the same failure body would go unreported."""
        log.warning("GET %s: %s", path, rejected.failure.message)
        self._report.errors.append(f"{rejected.failure.reason}: {path}")

    # -- 1. new posts -------------------------------------------------------------------------
    def walk_new_posts(self) -> bool:
        cfg = self.config
        cursor_value = self.state.cursor(CURSOR)
        stored = float(cursor_value) if cursor_value else None
        now = self.clock()
        cursor = stored
        if stored is not None and stored > now + FUTURE_SKEW:  # stored by a version that let a future post move it
            log.warning("walk cursor %s is ahead of this clock; walking from the present", _iso(stored))
            cursor = now + FUTURE_SKEW
        # never stop above the present: a cursor ahead within the allowance costs pages, not posts
        stop_below = min(cursor, now) - cfg.lookback if cursor is not None else None
        pruned_before = self._pruned_before()
        floor = pruned_before if pruned_before is not None else float("-inf")
        newest = cursor
        offset, token, pages = 0, None, 0
        while not self.stop.is_set():
            params: dict[str, Any] = {"sort": "new", "limit": cfg.page_limit}
            if token:
                params["cursor"] = token
            else:
                params["offset"] = offset
            try:
                doc = self._fetch("/posts", params)
            except NotFound as exc:  # the list is never "gone": a wrong --base-url, or a hiccup
                log.warning("%s (check --base-url)", exc)
                self._report.errors.append(f"{exc.reason}: /posts")
                return False
            if doc is None:
                return False
            page = parse_list_page(doc)
            source = {"bridge": "moltbook", "path": "/posts", "offset": offset}
            if not isinstance(page, ListPage):
                self._emit([page], source)
                self._failed_response(page, "/posts")
                return False
            mapped = [r.event for r in page.posts if isinstance(r, Mapped)]
            # Below the prune floor a post's seen id may be gone: treat it as emitted
            # (the page that reaches the cursor can reach that far back on a quiet platform).
            results = [r for r in page.posts if not (isinstance(r, Mapped) and r.event.epoch < floor)]
            fresh = self._emit(results, source, self._track_new([ev for ev in mapped if ev.epoch >= floor]))
            pages += 1
            self._report.pages += 1
            ceiling = self.clock() + FUTURE_SKEW
            self._note_future([m.event for m in fresh], ceiling)
            for ev in mapped:
                if ev.epoch <= ceiling:  # a post from the future is data, not a position in the list
                    newest = ev.epoch if newest is None else max(newest, ev.epoch)
            if stop_below is not None and any(ev.epoch < stop_below for ev in mapped):
                break
            if not page.has_more or not page.posts:
                break
            if cursor is None and pages >= cfg.backfill_pages:
                break
            if pages >= cfg.max_pages:
                log.warning("post walk stopped after %d pages before reaching the cursor: posts may be missed",
                            pages)
                if self.metrics:
                    self.metrics.gaps.inc()
                break
            token = page.next_cursor
            # A next_offset that does not move forward would re-read this page until
            # max_pages and then skip the rest: count on from here, as when it is missing.
            nxt = page.next_offset
            offset = nxt if nxt is not None and nxt > offset else offset + len(page.posts)
        else:
            return False
        if newest is not None and newest != stored:
            self.state.apply(StateChanges(cursors={CURSOR: repr(newest)}))
            if self.metrics:
                self.metrics.newest.set(newest)
        return True

    def _note_future(self, posts: list[Any], ceiling: float) -> None:
        """Report posts dated past the clock-skew allowance, once (when emitted)."""
        for ev in posts:
            if ev.epoch > ceiling:
                log.warning("post %r: created_at %s is %.0f s ahead of this clock (allowance %.0f s); "
                            "emitted, but not used for the walk's cursor", ev.post_id, ev.ts.isoformat(),
                            ev.epoch - ceiling + FUTURE_SKEW, FUTURE_SKEW)
                if self.metrics:
                    self.metrics.future_posts.inc()

    # -- the seen set's horizon -----------------------------------------------------------------
    def _pruned_before(self) -> float | None:
        value = self.state.cursor(PRUNED)
        return float(value) if value else None

    def seen_cutoff(self, now: float) -> float | None:
        """Event time older than anything a walk or a re-poll can reach again, or None
        before the first complete walk. The walk re-reads down to cursor - lookback;
        a tracked post is re-polled until `track_for` after it was created, and its
        comments are younger than it. min(cursor, now): a clock running ahead on either
        side (ours, or a platform post dated in the future) must not move it forward."""
        value = self.state.cursor(CURSOR)
        if not value:
            return None
        cfg = self.config
        return min(float(value), now) - cfg.track_for - cfg.lookback

    def prune_seen(self) -> int:
        """Forget seen post/comment ids (and dead-letter keys) older than the cutoff, so
        `bridge_seen` holds about `track_for` worth of ids instead of growing forever."""
        cutoff = self.seen_cutoff(self.clock())
        floor = self._pruned_before()
        if cutoff is None or (floor is not None and cutoff <= floor):
            return 0  # never lower the floor (a clock stepped back): ids above it may be gone
        # floor first: should the prune below not happen, the floor alone only makes walks
        # skip posts older than anything they could still owe
        self.state.apply(StateChanges(cursors={PRUNED: repr(cutoff)}))
        pruned = self.state.prune_seen(before_ts=cutoff)
        log.debug("forgot %d seen ids older than %s", pruned, _iso(cutoff))
        return pruned

    def _track_new(self, posts: list[Any]) -> StateChanges:
        """Start tracking the comment trees of posts not seen before, and note
        communities not known yet (their descriptions are fetched in step 3)."""
        cfg, now = self.config, self.clock()
        changes = StateChanges()
        seen = self.state.seen(ev.event_id for ev in posts)
        fresh = [ev for ev in posts if ev.event_id not in seen]
        for ev in fresh:
            if now - ev.epoch > cfg.track_for:
                continue
            has_comments = bool(ev.attrs.get("comment_count"))
            changes.tracked.append(BridgeTrackedPost(  # min(): a post dated ahead is tracked from now
                post_id=ev.post_id, created_ts=min(ev.epoch, now), community=ev.community,
                next_poll_at=now if has_comments else now + cfg.detail_min_interval,
                interval=cfg.detail_min_interval,
            ))
        for name in {ev.community for ev in posts if ev.community}:
            if self.state.snapshot("community", name) is None:
                changes.snapshots.append(BridgeSnapshot(kind="community", key=name))
        return changes

    # -- 2. comment trees -----------------------------------------------------------------------
    def poll_due_posts(self) -> None:
        cfg = self.config
        for tracked in self.state.due_posts(self.clock(), cfg.details_per_cycle):
            if self.stop.is_set():
                return
            now = self.clock()
            if now - tracked.created_ts > cfg.track_for:
                self.state.apply(StateChanges(untracked=[tracked.post_id]))
                continue
            self._poll_post(tracked, now)

    def _reschedule(self, tracked: BridgeTrackedPost, now: float, grew: bool, new_comments: int = 0
                    ) -> BridgeTrackedPost:
        cfg = self.config
        interval = cfg.detail_min_interval if grew else min(cfg.detail_max_interval,
                                                            max(tracked.interval, cfg.detail_min_interval) * 2)
        return BridgeTrackedPost(
            post_id=tracked.post_id, created_ts=tracked.created_ts, community=tracked.community,
            comment_count=tracked.comment_count + new_comments, next_poll_at=now + interval,
            interval=interval, polls=tracked.polls + 1,
        )

    def _poll_post(self, tracked: BridgeTrackedPost, now: float) -> None:
        path = f"/posts/{_segment(tracked.post_id)}"
        self._report.details += 1
        try:
            doc = self._fetch(path)
        except NotFound:
            log.info("post %s is gone; no longer tracked", tracked.post_id)
            self.state.apply(StateChanges(untracked=[tracked.post_id]))
            return
        detail = parse_post_detail(doc) if doc is not None else None
        source = {"bridge": "moltbook", "path": path}
        if detail is None or isinstance(detail, Rejected):
            if isinstance(detail, Rejected):
                self._emit([detail], source)
                self._failed_response(detail, path)
            self.state.apply(StateChanges(tracked=[self._reschedule(tracked, now, grew=False)]))
            return
        comment_ids = [r.event.event_id for _, r in detail.comments if isinstance(r, Mapped)]
        new_comments = len(set(comment_ids) - self.state.seen(comment_ids))
        changes = StateChanges(tracked=[self._reschedule(tracked, now, new_comments > 0, new_comments)])
        results: list[MapResult] = [detail.post, *(r for _, r in detail.comments)]
        if detail.author is not None:
            results.extend(self._observe("agent", detail.author, changes))
        self._emit(results, source, changes)

    # -- 3. profiles and communities --------------------------------------------------------------
    def _observe(self, kind: str, obj: dict[str, Any], changes: StateChanges) -> list[MapResult]:
        """Compare a profile / description with its snapshot; an event only if it changed."""
        now = self.clock()
        mapper = map_agent if kind == "agent" else map_community
        result = mapper(obj, _iso(now))
        if isinstance(result, Rejected):
            return [result]
        ev = result.event
        key = ev.agent_id if kind == "agent" else ev.community
        digest = ev.attrs["profile_hash" if kind == "agent" else "description_hash"]
        snap = self.state.snapshot(kind, key)
        revision = snap.revision if snap else 0
        name = ev.agent_name if kind == "agent" else None
        if snap is not None and snap.digest == digest:
            changes.snapshots.append(BridgeSnapshot(kind=kind, key=key, name=name or snap.name, digest=digest,
                                                    revision=revision, checked_at=now))
            return []
        if revision and ev.event_id in self.state.seen([ev.event_id]):
            result = mapper(obj, _iso(now), revision=revision)  # changed back to an earlier text
        changes.snapshots.append(BridgeSnapshot(kind=kind, key=key, name=name, digest=digest,
                                                revision=revision + 1, checked_at=now))
        changes.announced_by[(kind, key)] = result.event.event_id
        return [result]

    def refresh_communities(self) -> None:
        cfg = self.config
        for snap in self.state.stale_snapshots("community", self.clock() - cfg.community_refresh,
                                               cfg.communities_per_cycle):
            if self.stop.is_set():
                return
            self._refresh(snap, f"/submolts/{_segment(snap.key)}", None, lambda doc: submolt_of(doc))

    def refresh_profiles(self) -> None:
        cfg = self.config
        if cfg.profile_refresh is None:
            return
        for snap in self.state.stale_snapshots("agent", self.clock() - cfg.profile_refresh, cfg.profiles_per_cycle):
            if self.stop.is_set():
                return
            if snap.name:
                self._refresh(snap, "/agents/profile", {"name": snap.name}, lambda doc: profile_of(doc)[0])

    def _refresh(self, snap: BridgeSnapshot, path: str, params: dict[str, Any] | None,
                 extract: Callable[[Any], dict[str, Any] | None]) -> None:
        now = self.clock()
        touched = BridgeSnapshot(kind=snap.kind, key=snap.key, name=snap.name, digest=snap.digest,
                                 revision=snap.revision, checked_at=now)
        try:
            doc = self._fetch(path, params)
        except NotFound:
            doc = None
        obj = extract(doc) if doc is not None else None
        if obj is None:
            if doc is not None:
                self._emit([reject(snap.kind, doc, "not_an_object", f"{path}: no {snap.kind} in response")],
                           {"bridge": "moltbook", "path": path})
            self.state.apply(StateChanges(snapshots=[touched]))
            return
        changes = StateChanges()
        results = self._observe(snap.kind, obj, changes)
        if not changes.snapshots:
            changes.snapshots.append(touched)
        self._emit(results, {"bridge": "moltbook", "path": path}, changes)

    # -- the loop ------------------------------------------------------------------------------------
    def poll_once(self) -> CycleReport:
        self._report = CycleReport()
        self.emitter.recover()
        try:
            self._report.walk_complete = self.walk_new_posts()
            self.poll_due_posts()
            self.refresh_communities()
            self.refresh_profiles()
            self._report.pruned = self.prune_seen()
        except Stopped:
            pass
        if self.metrics:
            self.metrics.last_cycle.set(self.clock())
            self.metrics.tracked.set(self.state.count_tracked())
        return self._report

    def run(self, interval: float, max_cycles: int | None = None,
            on_cycle: Callable[[CycleReport], None] | None = None) -> int:
        """Poll every `interval` seconds until `stop` is set (or `max_cycles`). A cycle
        that fails on the sink or the database is logged and retried next interval; its
        half-done batch is reconciled by `recover()` first, so nothing repeats."""
        cycles = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                report = self.poll_once()
            except (SinkError, KafkaError, OperationalError) as exc:
                log.error("poll cycle failed: %s: %s; retrying next cycle", type(exc).__name__, exc)
                report = CycleReport(errors=[f"{type(exc).__name__}: {exc}"])
            cycles += 1
            if on_cycle:
                on_cycle(report)
            if max_cycles is not None and cycles >= max_cycles:
                break
            self.stop.wait(max(0.0, interval - (time.monotonic() - started)))
        return cycles
