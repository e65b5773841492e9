"""Listing alerts (`GET /api/v1/alerts`, `AlertService.list_page`) on SQLite and on the
real PostgreSQL server: filters run in the database with the same results as the
Python filters they replaced."""

from __future__ import annotations

import random
from fnmatch import fnmatchcase

import pytest
from sqlalchemy import event

from flockwatch.api.service import AlertService
from flockwatch.store.alert_store import AlertStore
from flockwatch.store.tables import AlertRecord
from support.alerts import make_alert


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path}/fw.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return AlertStore(url)


# Characters that mean something to LIKE (% _ and the escape character), to GLOB and
# fnmatch (* ? [ ] !), to JSON (" \), letters in both cases (SQLite's LIKE ignores
# ASCII case; fnmatchcase does not), and text beyond ASCII.
RULE_CHARS = ["a", "a", "b", "A", "B", "%", "_", "\\", "*", "?", "[", "]", "!", "^", "-", ".", "é", "É", " ", "'", '"']
TRICKY_RULES = ["spam.copy", "spam_copy", "spamXcopy", "SPAM.copy", "spam.", "a%b", "a_b", "a\\b", "a*b", "a?b",
                "a[b]", "ab", "100%", "x\\%", "x\\_", "\\", "%", "_", "*", "?", "[", "]", "[]", "é", "e\u0301",
                "line\nbreak", "😀x"]
TAGS = ["dm", "DM", "Dm", "d_m", "d%m", "dxm", "d\\m", "d\\\\m", '"quoted"', "a,b", "[x]", '["dm"]', "", " ", "é",
        "e\u0301", "😀", "dm ", " dm", "null", "1", "true", "\\u0000", "a\u0000", "a\u0000b", "line\nbreak", "tab\t",
        '{"k": 1}', "'", "%", "_", "\\", "x" * 200]
TAG_QUERIES = TAGS + ["d", "m", "a", "b", "quoted", "x", "\\u", "[", "k"]
RULE_QUERIES = ["*", "?", "??", "a*", "A*", "*b", "a*b", "*%*", "*_*", "*\\*", "a_b", "a%b", "a?b", "a[b]", "a[[]b]",
                "[!a]*", "[a-c]*", "*[%_]*", "[]]*", "[!]]*", "[*", "*]", "**", "?*?", "*\\", "\\*", "é*", "*\n*",
                "[", "[!", "[^a]*", "spam.*", "spam_*", "SPAM*", "spam?copy", "*copy", "x\\%", "x\\_", "[x\\]*",
                "100%", "%", "_", "[]", "*[]-]*", "[z-a]*", "😀*", "e?", "e*"]


def tricky_alerts(n: int = 300) -> list:
    rnd = random.Random(7)
    alerts = []
    for i in range(n):
        if i < len(TRICKY_RULES):
            rule = TRICKY_RULES[i]
        else:
            rule = "".join(rnd.choice(RULE_CHARS) for _ in range(rnd.randint(1, 6)))
        tags = rnd.sample(TAGS, rnd.randint(0, 4))
        minute = rnd.randint(0, 40)  # many alerts share a last_ts: the tie-breaker is exercised
        alerts.append(make_alert(f"k{i}", rule=rule, tags=tags, last=f"2026-01-30T12:{minute:02d}:00.000Z"))
    return alerts


def _walk(service: AlertService, limit: int, **filters) -> list[str]:
    out: list[str] = []
    offset = 0
    while True:
        page = service.list_alerts(limit=limit, offset=offset, **filters)
        out += [a["fingerprint"] for a in page]
        if len(page) < limit:
            return out
        offset += limit


def test_sql_filters_give_the_python_filters_results(store):
    # `tag=` and a glob `rule=` used to load every row and filter in Python; the filters
    # now run in SQL and must select exactly what the Python code selected, in the same
    # order, on both databases.
    store.upsert(tricky_alerts())
    service = AlertService(engine=store.engine)
    everything = service.list_alerts(limit=1000)
    assert len(everything) == 300

    def expected(tag: str | None = None, rule: str | None = None) -> list[str]:
        return [a["fingerprint"] for a in everything
                if (not tag or tag in a["tags"])
                and (not rule or (fnmatchcase(a["rule_id"], rule) if any(c in rule for c in "*?[") else
                                  a["rule_id"] == rule))]

    checked = 0
    for tag in TAG_QUERIES:
        if "\x00" in tag:
            continue  # refused (a 400 in the API); see test_a_nul_in_the_tag_filter_is_refused
        want = expected(tag=tag)
        got = [a["fingerprint"] for a in service.list_alerts(tag=tag, limit=1000)]
        assert got == want, repr(tag)
        checked += bool(want)
    for rule in RULE_QUERIES:
        want = expected(rule=rule)
        got = [a["fingerprint"] for a in service.list_alerts(rule=rule, limit=1000)]
        assert got == want, repr(rule)
        checked += bool(want)
    assert checked > 60  # most queries select something: the comparison is not vacuous
    # Pages of 7 through the same filters, together and with a column filter.
    for tag, rule in [("dm", "*"), ("d_m", "?*"), ("é", "[!a]*"), ("1", "*[%_\\]*"), ("", "a*")]:
        want = expected(tag=tag, rule=rule)
        assert _walk(service, 7, tag=tag, rule=rule) == want, (tag, rule)
        assert _walk(service, 7, tag=tag, rule=rule, status="firing") == want, (tag, rule)
        assert _walk(service, 7, tag=tag, rule=rule, status="resolved") == []


def test_a_nul_in_the_tag_filter_is_refused(store):
    from flockwatch.api.service import BadRequest

    with pytest.raises(BadRequest, match="NUL"):
        AlertService(engine=store.engine).list_alerts(tag="a\x00b")


def test_tag_and_glob_filters_read_only_the_page_from_the_database(store):
    # A large store must stay fast: the database filters and limits, so a page of 5
    # builds 5 rows (+1 to tell whether more follow), not the whole table.
    alerts = [make_alert(f"k{i}", rule=f"spam_{i % 3}.x", tags=["dm", f"t{i % 2}"],
                         last=f"2026-01-30T12:00:{i % 60:02d}.000Z") for i in range(300)]
    alerts += [make_alert(f"o{i}", rule="other.x", tags=["x"]) for i in range(100)]
    store.upsert(alerts)
    service = AlertService(engine=store.engine)
    loaded: list[str] = []

    def count(target, _context) -> None:
        loaded.append(target.fingerprint)

    event.listen(AlertRecord, "load", count)
    try:
        for filters in ({"tag": "dm"}, {"tag": "t1"}, {"rule": "spam_*"}, {"rule": "spam?1.*"},
                        {"rule": "*.x", "tag": "t0"}):
            loaded.clear()
            page = service.list_alerts(limit=5, **filters)
            assert len(page) == 5, filters
            assert len(loaded) <= 6, (filters, len(loaded))
    finally:
        event.remove(AlertRecord, "load", count)


# -- over HTTP -------------------------------------------------------------------------

def _api(store: AlertStore):
    from test_alert_api import serve

    return serve(AlertService(engine=store.engine))


def _get(base: str, query: str = ""):
    from test_alert_api import call

    return call(base, "GET", "/api/v1/alerts" + query)


def test_the_listing_says_how_many_it_returned_and_whether_more_follow(store):
    # `count` is the number of alerts in this response, and integrators read it as the
    # number of matching alerts. `returned` says what it is; `has_more` answers the
    # question they were really asking; `count` stays, documented, for existing clients.
    store.upsert([make_alert(f"k{i}", last=f"2026-01-30T12:0{i}:00.000Z") for i in range(5)])
    with _api(store) as base:
        status, body = _get(base, "?limit=2")
        assert status == 200 and len(body["alerts"]) == 2
        assert (body["returned"], body["count"], body["has_more"]) == (2, 2, True)
        status, body = _get(base, "?limit=5")
        assert (body["returned"], body["count"], body["has_more"]) == (5, 5, False)
        status, body = _get(base, "?limit=2&offset=4")
        assert (body["returned"], body["count"], body["has_more"]) == (1, 1, False)
        status, body = _get(base, "?tag=x&limit=4&offset=1")  # a filter SQL narrows and Python re-checks
        assert (body["returned"], body["has_more"]) == (4, False)
        status, body = _get(base, "?tag=x&limit=3&offset=1")
        assert (body["returned"], body["has_more"]) == (3, True)
        status, body = _get(base, "?tag=nope")
        assert (body["alerts"], body["returned"], body["count"], body["has_more"]) == ([], 0, 0, False)


def _grow(store: AlertStore, key: str, rule: str, last: str) -> None:
    store.upsert([make_alert(key, rule=rule, events=[f"{key}-e1", f"{key}-{last}"], last=last)])


def _keys(page: dict) -> list[str]:
    return [a["summary"].split()[-1] for a in page["alerts"]]  # make_alert's summary is "s <key>"


def test_offset_pages_repeat_and_skip_an_alert_that_grows_meanwhile(store):
    # Why offsets are not the way to page a live store: the worker upserts an incident
    # by fingerprint and its last_ts moves forward as it grows, so it jumps to the front
    # of "newest activity first" and every row it jumped over shifts by one.
    for i in range(7):
        store.upsert([make_alert(f"k{i}", rule="walk.offset", last=f"2026-01-30T12:0{i}:00.000Z")])
    seen: list[str] = []
    with _api(store) as base:
        seen += _keys(_get(base, "?rule=walk.offset&limit=2")[1])
        assert seen == ["k6", "k5"]
        _grow(store, "k1", "walk.offset", "2026-01-30T12:10:00.000Z")
        for offset in (2, 4, 6):
            seen += _keys(_get(base, f"?rule=walk.offset&limit=2&offset={offset}")[1])
    assert seen == ["k6", "k5", "k5", "k4", "k3", "k2", "k0"]  # k5 twice, k1 never


def test_a_cursor_walk_returns_each_alert_at_most_once(store):
    # Keyset paging continues after the last row's sort key (last_ts, then fingerprint),
    # wherever rows move meanwhile. An alert can only move forward (last_ts never goes
    # back), so none is returned twice; one that keeps still is returned exactly once;
    # one that grows past the cursor is behind it: not in this walk, at the front of the
    # next (the documented limit, which `order=changes` does not have).
    for i in range(7):
        store.upsert([make_alert(f"k{i}", rule="walk.cursor", last=f"2026-01-30T12:0{i}:00.000Z")])
    with _api(store) as base:
        status, page = _get(base, "?rule=walk.cursor&limit=2")
        assert status == 200 and _keys(page) == ["k6", "k5"] and page["has_more"] and page["next"]
        seen = _keys(page)
        _grow(store, "k1", "walk.cursor", "2026-01-30T12:10:00.000Z")  # ahead of the cursor -> behind it
        _grow(store, "k5", "walk.cursor", "2026-01-30T12:11:00.000Z")  # already returned -> not again
        _grow(store, "k0", "walk.cursor", "2026-01-30T12:00:30.000Z")  # grows but stays ahead: returned once
        pages = 1
        while page["has_more"]:
            status, page = _get(base, f"?rule=walk.cursor&limit=2&cursor={page['next']}")
            assert status == 200, page
            seen += _keys(page)
            pages += 1
        assert page["next"] is None
        assert seen == ["k6", "k5", "k4", "k3", "k2", "k0"] and pages == 3
        # `cursor` alone continues too (with the same filters), and a new walk starts
        # with what moved.
        assert _keys(_get(base, "?rule=walk.cursor&limit=3")[1]) == ["k5", "k1", "k6"]
        # Ties on last_ts are broken by fingerprint, so a page boundary inside a tie
        # neither repeats nor drops a row.
        for i in range(9):
            store.upsert([make_alert(f"t{i}", rule="walk.tie", last="2026-01-30T13:00:00.000Z")])
        everything = _keys(_get(base, "?rule=walk.tie&limit=100")[1])
        walked, cursor = [], ""
        while True:
            page = _get(base, f"?rule=walk.tie&limit=4&cursor={cursor}")[1]
            walked += _keys(page)
            if not page["has_more"]:
                break
            cursor = page["next"]
        assert walked == everything and len(set(walked)) == 9


def test_cursor_pages_equal_offset_pages_on_a_store_that_keeps_still(store):
    store.upsert(tricky_alerts(120))
    service = AlertService(engine=store.engine)
    for filters in ({}, {"tag": "dm"}, {"rule": "*[%_]*"}, {"rule": "a*"}, {"since": "2026-01-30T12:20:00Z"}):
        want = _walk(service, 7, **filters)
        got, cursor = [], None
        while True:
            page = service.list_page(limit=7, cursor=cursor, **filters)
            got += [a["fingerprint"] for a in page["alerts"]]
            if not page["has_more"]:
                break
            cursor = page["next"]
        assert got == want, filters


def test_a_bad_cursor_is_a_400(store):
    import base64
    import json

    store.upsert([make_alert(f"k{i}", last=f"2026-01-30T12:0{i}:00.000Z") for i in range(3)])

    def b64(obj) -> str:
        raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    with _api(store) as base:
        good = _get(base, "?limit=1")[1]["next"]
        assert _get(base, f"?limit=1&cursor={good}")[0] == 200
        assert _get(base, "?limit=1&cursor=")[0] == 200  # empty: the first page
        decoded = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
        bad = ["x", "!!!!", "%25%25", b64(b"not json"), b64([1, 2]), b64({}), b64({**decoded, "v": 99}),
               b64({**decoded, "k": "2026"}), b64({**decoded, "k": [1, 2]}), b64({**decoded, "k": ["a"]}),
               b64({**decoded, "k": ["2026-01-30T12:00:00.000Z", "f\u0000"]}), b64({**decoded, "k": ["9" * 500, "f"]}),
               b64({**decoded, "o": "sideways"}), "A" * 5000, good[:-3]]
        for cursor in bad:
            status, body = _get(base, f"?limit=1&cursor={cursor}")
            assert status == 400 and "cursor" in body["error"], (cursor, status, body)
        # The same filters must come with the cursor: without them the walk would go on
        # over other alerts without a word.
        status, body = _get(base, f"?limit=1&severity=high&cursor={good}")
        assert status == 400 and "filters" in body["error"]
        filtered = _get(base, "?limit=1&severity=high")[1]["next"]
        assert _get(base, f"?limit=1&cursor={filtered}")[0] == 400
        assert _get(base, f"?limit=1&severity=high&cursor={filtered}")[0] == 200
        status, body = _get(base, f"?limit=1&offset=1&cursor={good}")
        assert status == 400 and "offset" in body["error"]


# -- the change feed -------------------------------------------------------------------

def _state(store: AlertStore) -> dict[str, tuple[int, str]]:
    service = AlertService(engine=store.engine)
    return {a["fingerprint"]: (a["version"], a["status"]) for a in service.list_alerts(limit=1000)}


def test_the_change_feed_misses_no_change(store):
    # order=changes lists alerts by the store-wide number of their last change, oldest
    # first. A change always gets a number above every one committed before, so it lands
    # after the cursor of any walk in progress: a walk to the end has every alert in its
    # newest state, and `next` (never null here) picks up exactly what changed since.
    from flockwatch.store.lifecycle import transition

    for i in range(7):
        store.upsert([make_alert(f"k{i}", rule="feed.x", last=f"2026-01-30T12:0{i}:00.000Z")])
    fp = {f"k{i}": make_alert(f"k{i}", rule="feed.x").fingerprint for i in range(7)}
    with _api(store) as base:
        status, page = _get(base, "?order=changes&limit=2")
        assert status == 200 and _keys(page) == ["k0", "k1"] and page["has_more"]
        seen = [(a["fingerprint"], a["version"], a["status"]) for a in page["alerts"]]
        _grow(store, "k5", "feed.x", "2026-01-30T12:10:00.000Z")  # unread: returned once, grown
        _grow(store, "k0", "feed.x", "2026-01-30T12:11:00.000Z")  # read: returned again, grown
        transition(store.engine, fp["k3"], "acknowledged", "ana")  # unread: returned acknowledged
        while page["has_more"]:
            status, page = _get(base, f"?cursor={page['next']}&limit=2")  # the cursor knows its order
            assert status == 200, page
            seen += [(a["fingerprint"], a["version"], a["status"]) for a in page["alerts"]]
        keys = {v: k for k, v in fp.items()}
        assert [keys[f] for f, _, _ in seen] == ["k0", "k1", "k2", "k4", "k6", "k5", "k0", "k3"]
        assert {f: (v, s) for f, v, s in seen} == _state(store)  # the last state seen is the state now
        resume = page["next"]
        assert resume  # also on the last page: where to ask again later
        # Later: exactly what changed since, and an empty page keeps the resume point.
        _grow(store, "k2", "feed.x", "2026-01-30T12:12:00.000Z")
        page = _get(base, f"?cursor={resume}")[1]
        assert _keys(page) == ["k2"] and page["alerts"][0]["version"] == 2 and not page["has_more"]
        again = _get(base, f"?cursor={page['next']}")[1]
        assert (again["alerts"], again["has_more"], again["next"]) == ([], False, page["next"])
        # An empty store, or filters nothing matches, still give a resume point.
        empty = _get(base, "?order=changes&rule=nothing.*")[1]
        assert empty["alerts"] == [] and empty["next"]
        store.upsert([make_alert("n1", rule="nothing.yet")])
        assert _keys(_get(base, f"?rule=nothing.*&cursor={empty['next']}")[1]) == ["n1"]


def test_order_is_recent_or_changes(store):
    store.upsert([make_alert(f"k{i}", last=f"2026-01-30T12:0{i}:00.000Z") for i in range(3)])
    with _api(store) as base:
        assert _keys(_get(base, "?order=recent")[1]) == ["k2", "k1", "k0"]
        assert _keys(_get(base, "?order=")[1]) == ["k2", "k1", "k0"]
        status, body = _get(base, "?order=sideways")
        assert status == 400 and "order" in body["error"]
        recent = _get(base, "?limit=1")[1]["next"]
        changes = _get(base, "?order=changes&limit=1")[1]["next"]
        assert _get(base, f"?order=recent&cursor={recent}")[0] == 200
        assert _get(base, f"?order=changes&cursor={changes}")[0] == 200
        for query in (f"?order=changes&cursor={recent}", f"?order=recent&cursor={changes}"):
            status, body = _get(base, query)
            assert status == 400 and "order" in body["error"], query
        assert _keys(_get(base, "?order=changes&limit=1&offset=1")[1]) == [_keys(_get(base, "?order=changes")[1])[1]]
        # A change number must be a whole number in range; not a string, bool or float.
        import base64
        import json

        decoded = json.loads(base64.urlsafe_b64decode(changes + "=" * (-len(changes) % 4)))
        fp = decoded["k"][1]
        for k in (["1", fp], [True, fp], [1.5, fp], [-1, fp], [2**63, fp], [1, 5], [1, fp, 2]):
            cursor = base64.urlsafe_b64encode(json.dumps({**decoded, "k": k}).encode()).decode().rstrip("=")
            status, body = _get(base, f"?cursor={cursor}")
            assert status == 400 and "cursor" in body["error"], k


def test_the_change_feed_misses_no_change_under_concurrent_writers(store):
    # Writers grow alerts (each of its own alerts once, so a missed change is a missed
    # final state) and a person acknowledges and resolves, while a reader follows the
    # feed; when the writers stop and the reader has caught up, it has seen every alert
    # in its final state. With numbers handed out in allocation order instead of commit
    # order (a database sequence), a reader paged past a number whose change had not
    # committed yet and never saw it: this failed.
    import threading

    from flockwatch.store.lifecycle import LifecycleConflict, transition

    service = AlertService(engine=store.engine)
    owned = {n: [f"c{n}-{i}" for i in range(40)] for n in range(3)}
    every = [k for keys in owned.values() for k in keys]
    store.upsert([make_alert(k, rule="conc.x") for k in every])
    fps = [make_alert(k, rule="conc.x").fingerprint for k in every]
    stop = threading.Event()
    errors: list[BaseException] = []

    def grow(n: int) -> None:
        try:
            keys = owned[n]
            for r in range(0, len(keys), 2):
                store.upsert([make_alert(k, rule="conc.x", events=[f"{k}-e1", f"{k}-e2"],
                                         last="2026-01-30T13:00:00.000Z") for k in keys[r:r + 2]])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def triage() -> None:
        rnd = random.Random(99)
        try:
            while not stop.is_set():
                try:
                    transition(store.engine, rnd.choice(fps), rnd.choice(["acknowledged", "resolved"]), "ana")
                except LifecycleConflict:  # acknowledging a resolved alert
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    seen: dict[str, tuple[int, str]] = {}
    cursor = None

    def read() -> bool:
        nonlocal cursor
        page = service.list_page(order="changes", cursor=cursor, limit=5)
        for a in page["alerts"]:
            seen[a["fingerprint"]] = (a["version"], a["status"])
        cursor = page["next"]
        return page["has_more"]

    writers = [threading.Thread(target=grow, args=(n,)) for n in owned] + [threading.Thread(target=triage)]
    for t in writers:
        t.start()
    reads = 0
    while any(t.is_alive() for t in writers[:-1]):
        read()
        reads += 1
    stop.set()
    for t in writers:
        t.join()
    assert not errors, errors
    while read():
        pass
    assert reads > 10
    final = _state(store)
    assert {v for v, _ in final.values()} == {2}
    assert seen == final
