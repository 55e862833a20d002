"""Presenter mode: one engine, many viewers; followers are read-only; "Take it from here" goes on
from the presenter's network exactly."""
import os
import threading
import time

import pytest

pytest.importorskip("panel")

from app import engine as engine_mod  # noqa: E402
from app import measuring  # noqa: E402
from app.compute import ENGINE_NICE  # noqa: E402
from app.controller import Controller, TrainingSlots  # noqa: E402
from app.presenting import CODE_ALPHABET, STAGE, PresentError, new_code, normalise_code  # noqa: E402
from tests.app.conftest import NoTsne, pump  # noqa: E402

QUANTITIES = ("train_error_pct", "loss_output", "loss_hidden", "angle_to_backprop_deg", "eig_jacobian",
              "loss_correlation")


@pytest.fixture
def sessions():
    made = []
    slots = TrainingSlots(8)

    def make(**params):
        params.setdefault("preset", "glr17-1hl-rate")
        params.setdefault("hidden", "30")
        c = Controller(slots=slots, tsne=NoTsne(), **params)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def grid_rows(c, after):
    return {r["examples_seen"]: r for r in c.history if r["examples"] and r["examples_seen"] > after}


def test_followers_see_the_presenters_run_and_take_it_over_exactly(sessions):
    t = sessions()
    t.activate()
    code = t.present()
    assert code and STAGE.get(code) is not None
    t.start()
    pump(t, lambda c: c.tracker.examples_seen >= 3000, timeout=60)
    t.stop()
    k = int(t.engine.request_state()[3]["examples_seen"][0])      # where the paused presenter stands

    followers = [sessions(), sessions()]
    for f in followers:
        assert f.follow(code)
        up = f.poll()
        assert up.new_run and up.spec == t.run.spec
        assert [s.examples_seen for s in up.snapshots] == [r["examples_seen"] for r in t.history if r["examples"]]
        assert f.engine is None and not f.threads_alive, "a follower has no engine of its own"
        assert f.status.startswith(f"following {code}")
    # read-only: a change sent anyway is put back, Play is refused
    f = followers[0]
    f.g_a = 0.5
    assert f.g_a == t.g_a and "following" in f.message
    f.start()
    assert f.engine is None and not f.running

    # the presenter goes on: followers get the same new snapshots
    t.start()
    pump(t, lambda c: c.tracker.examples_seen >= k + 2000, timeout=60)
    t.stop()
    for f in followers:
        pump(f, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen >= t.tracker.last.examples_seen)

    # take over at the presenter's current point; then both go on the same 3000 examples
    t.engine.request_state()
    k = int(t.engine.request_state()[3]["examples_seen"][0])
    f = followers[1]
    assert f.take_over() and not f.is_following and f.engine is not None
    pump(f, lambda c: c.tracker.last is not None and c.tracker.last.examples_seen >= k + 3000, timeout=60)
    f.stop()
    goes_on_as_the_presenter(f, t, k)


def goes_on_as_the_presenter(f, t, k):
    """The presenter, trained on as far as the follower that took it over at example ``k``, has the same
    rows from k + 2000 on."""
    t.start()
    # (a Pause takes effect between chunks, so the follower may have started a little past k: the presenter
    # goes on at least as far as the follower went)
    pump(t, lambda c: c.tracker.last.examples_seen >= max(k + 3000, f.tracker.last.examples_seen), timeout=60)
    t.stop()
    mine, theirs = grid_rows(f, k + 2000), grid_rows(t, k + 2000)
    assert mine and set(mine) <= set(theirs)
    for at, row in mine.items():
        for q in QUANTITIES:
            assert row[q] == theirs[at][q], (at, q)


def test_a_follower_of_an_ended_run_gets_its_own(sessions):
    t = sessions()
    t.activate()
    code = t.present("CLASS7")
    f = sessions()
    assert f.follow("class7")
    f.poll()
    t.close()
    f.poll()
    assert not f.is_following and "has ended" in f.message
    f.start()
    pump(f, lambda c: c.tracker.examples_seen > 0, timeout=60)
    assert code == "CLASS7"


def test_codes_are_checked_and_not_stolen(sessions):
    with pytest.raises(PresentError):
        normalise_code("<script>")
    a, b = sessions(), sessions()
    assert a.present("ROOM12") == "ROOM12"
    assert b.present("ROOM12") is None and "already being presented" in b.message
    assert not sessions().follow("NOPE99")


def test_each_server_makes_codes_from_its_own_first_characters(monkeypatch):
    """Behind nginx a code's first character names the server that presents it
    (deploy/nginx/dendrite-lab.conf), so a server's own codes start with its characters."""
    monkeypatch.setenv("DENDRITE_CODE_LETTERS", "jklmnopqr")          # O is not in the code alphabet
    codes = {new_code() for _ in range(300)}
    assert {c[0] for c in codes} == set("JKLMNPQR")
    assert all(normalise_code(c) == c and set(c) <= set(CODE_ALPHABET) for c in codes)
    monkeypatch.setenv("DENDRITE_CODE_LETTERS", "!!")                  # nothing usable: any character
    assert len({new_code()[0] for _ in range(300)}) > 20


def test_a_broadcast_keeps_voltage_traces_of_its_newest_update_only():
    """Traces are hundreds of Python lists per snapshot: a long presented run must not keep one set per
    curve point (memory, and full garbage collections over them), yet followers see the latest traces."""
    import gc

    from app.controller import Update
    from app.presenting import Broadcast
    from dendcore.snapshot import Snapshot, Traces

    def snap(k):
        def rows():
            return [[float(k), 1.0, 2.0] for _ in range(120)]
        tr = Traces(neurons=["h1[0]", "h1[1]", "out[0]"], V=rows(), V_b=rows(), V_a=rows(), forward_steps=60,
                    target_steps=60, forward_window=(40, 60), target_window=(100, 120))
        return Snapshot(version=1, examples_seen=100 * k, epoch=0.0, wall_s=0.0, examples=100, loss_output=0.5,
                        loss_hidden=[0.1], train_error_pct=50.0, traces=tr, probe_activity=[[0.0]])

    class Presenter:
        pass

    owner = Presenter()
    b = Broadcast("TRACE", owner)
    for k in range(1, 301):
        b.publish(Update(run_id=1, new_run=k == 1, snapshots=[snap(k)], progress=[snap(k)]), run=None,
                  status="", ghost_status="", in_force="", settings={})
    seq, ups = b.since(0)
    assert seq == 300 and len(ups) == 300
    kept = [s for u in ups for s in u.snapshots + u.progress if s.traces is not None]
    assert kept == ups[-1].snapshots + ups[-1].progress         # the newest update only, unchanged
    assert all(s.probe_activity is None for u in ups[:-1] for s in u.snapshots + u.progress)
    assert [s.examples_seen for u in ups for s in u.snapshots] == [100 * k for k in range(1, 301)]

    _, catch = b.catch_up(Update, Update)
    assert len(catch.snapshots) == 300 and all(s.traces is None for s in catch.snapshots)
    assert catch.snapshots[-1].loss_output == 0.5
    [latest] = catch.progress
    assert latest.examples_seen == 30000 and latest.traces.V[0][0] == 300.0     # a late follower's traces

    # what the broadcast holds is a few objects per point, not a few hundred
    held = set()
    pending = [b._recent, b._main.snapshots]
    while pending:
        obj = pending.pop()
        if id(obj) in held or not gc.is_tracked(obj) or isinstance(obj, type):
            continue
        held.add(id(obj))
        pending.extend(gc.get_referents(obj))
    assert len(held) < 40 * 300, len(held)


def _niceness(thread: threading.Thread) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread priorities are Linux's")
def test_a_presented_run_trains_at_the_pages_priority_without_losing_a_step(sessions, monkeypatch):
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if own >= ENGINE_NICE:
        pytest.skip("these tests already run at the engines' niceness")
    # as in the Docker image (an unprivileged user): a thread's priority, once lowered, is never raised
    refused = []
    allowed = engine_mod.set_thread_niceness

    def unprivileged(tid, niceness):
        if niceness < os.getpriority(os.PRIO_PROCESS, tid):
            refused.append(niceness)
            return False
        return allowed(tid, niceness)
    monkeypatch.setattr(engine_mod, "set_thread_niceness", unprivileged)

    t, same = sessions(), sessions()
    for c in (t, same):
        c.activate()
        c.start()
    pump(t, lambda c: c.tracker.examples_seen >= 2000, timeout=60)
    first = t.engine._thread
    assert _niceness(first) == ENGINE_NICE, "a run nobody follows trains below the page"
    assert t.present()
    assert refused == [own]
    second = t.engine._thread
    assert second is not first and _niceness(second) == own
    pump(t, lambda c: c.tracker.examples_seen >= 6000, timeout=60)
    assert not first.is_alive() and second.is_alive() and not t.engine.stopped.is_set()
    t.stop()
    k = t.tracker.last.examples_seen
    pump(same, lambda c: c.tracker.last is not None and c.tracker.last.examples_seen >= k, timeout=60)
    same.stop()
    # the run went on across the two threads as if nothing happened: the same rows as a session
    # that trained the same settings on one thread
    mine, theirs = grid_rows(t, 0), grid_rows(same, 0)
    assert [n for n in mine if n > 2000] and set(mine) <= set(theirs)
    for at, row in mine.items():
        for q in QUANTITIES:
            assert row[q] == theirs[at][q], (at, q)

    t.stop_presenting()
    assert _niceness(second) == ENGINE_NICE, "an ended presentation trains below the page again"
    # a session that presents before it trains starts its thread at the page's priority, and its
    # spiking tests (a helper thread each) stay there too
    test_threads = []
    monkeypatch.setattr(measuring, "lower_priority", lambda kind=None: test_threads.append("lowered"))
    monkeypatch.setattr(measuring, "name_os_thread", lambda kind: test_threads.append("named"))
    p = sessions(preset="glr17-1hl", hidden="20", test_images=100, test_every=500)
    assert p.present()
    p.activate()
    p.start()
    pump(p, lambda c: c.tracker.last_test is not None, timeout=60)
    assert _niceness(p.engine._thread) == own
    assert test_threads and set(test_threads) == {"named"}


def _until(condition, timeout=60.0):
    t0 = time.perf_counter()
    while not condition():
        assert time.perf_counter() - t0 < timeout, "condition not met in time"
        time.sleep(0.02)


def _settled(read, quiet=1.0, timeout=60.0):
    """``read()`` once it has not changed for ``quiet`` seconds."""
    t0 = time.perf_counter()
    value, since = read(), time.perf_counter()
    while time.perf_counter() - since < quiet:
        assert time.perf_counter() - t0 < timeout, "the value kept changing"
        time.sleep(0.02)
        now = read()
        if now != value:
            value, since = now, time.perf_counter()
    return value


def test_a_presented_run_goes_on_while_its_page_is_late(sessions, monkeypatch):
    # the event loop completing thirty followers' pages may not poll the presenter's page for seconds
    monkeypatch.setattr(engine_mod, "FOREGROUND_QUEUE_SIZE", 3 * engine_mod.QUEUE_SIZE)
    c = sessions()
    c.activate()
    c.start()
    assert c.present()
    q = c.engine.out
    assert q.maxsize == 3 * engine_mod.QUEUE_SIZE
    _until(q.full)          # nobody polls: it trains on past the usual limit, then waits
    seen = _settled(lambda: c.engine.examples_seen)     # (the chunk that filled it may still count)
    time.sleep(0.5)
    assert c.engine.examples_seen == seen and q.qsize() == 3 * engine_mod.QUEUE_SIZE
    # no longer presented: the usual limit again, so it waits until the page has caught up
    c.stop_presenting()
    assert q.maxsize == engine_mod.QUEUE_SIZE
    time.sleep(0.5)
    assert c.engine.examples_seen == seen
    pump(c, lambda c: c.engine.examples_seen > seen)
    assert q.qsize() <= engine_mod.QUEUE_SIZE


def test_followers_see_the_presenters_ghost_run_too(sessions):
    # a ghost's news are a plain RunNews, without a t-SNE map: merging them once failed every poll of
    # every follower of a run with a ghost
    t = sessions(ghost="backprop")
    t.activate()
    code = t.present()
    t.start()
    pump(t, lambda c: c.ghost_run.last is not None and c.ghost_run.last.examples_seen >= 1000, timeout=60)
    f = sessions()
    assert f.follow(code)
    first = f.poll()            # the catch-up: the run so far, the ghost's too
    g = first.ghost
    assert g is not None and g.new_run and g.label == t.ghost_run.label and g.snapshots
    k = g.snapshots[-1].examples_seen
    later = []

    def ghost_went_on(c):
        t.poll()                # the presenter's page publishes what the followers read
        up = c.poll()
        if up.ghost is not None:
            assert up.ghost.label == g.label
            later.extend(s.examples_seen for s in up.ghost.snapshots)
        return later and later[-1] >= k + 1000
    pump(f, ghost_went_on, timeout=60)
    assert later == sorted(later) and later[0] > k


# ---------------------------------------------------------------- another server process (app/relay.py)
@pytest.fixture
def relay(tmp_path, monkeypatch):
    from app.relay import RELAY_ENV
    monkeypatch.setenv(RELAY_ENV, str(tmp_path))
    return tmp_path


def test_a_follower_on_another_server_sees_the_run_and_takes_it_over_exactly(sessions, relay):
    """Behind nginx a follow link may reach a server that does not train the run: it reads the run from the
    relay directory, with the same rows as a follower on the presenter's own server."""
    from app.presenting import MirroredBroadcast, Stage

    t = sessions()
    t.activate()
    code = t.present()
    assert (relay / code / "owner").exists()
    t.start()
    pump(t, lambda c: c.tracker.examples_seen >= 3000, timeout=60)
    t.stop()
    pump(t, lambda c: not c.running)
    here, there = sessions(), sessions()
    there.stage = Stage()                              # another server process
    assert here.follow(code) and there.follow(code)
    assert isinstance(there._follow, MirroredBroadcast) and not isinstance(here._follow, MirroredBroadcast)
    assert there.engine is None

    def caught_up(c):
        t.poll()                     # the presenter's page publishes (and writes) what the followers read
        return (c.last_snapshot is not None and c.last_snapshot.examples_seen == t.tracker.latest.examples_seen
                and c.status == f"following {code} · {t.status}")
    for f in (here, there):
        pump(f, caught_up)
    assert [r["examples_seen"] for r in there.history] == [r["examples_seen"] for r in here.history]
    assert there.history == here.history and there.settings() == here.settings() == t.settings()

    # read-only there too
    there.g_a = 0.5
    assert there.g_a == t.g_a and "following" in there.message

    # take over on the other server: asked by a file, answered by the presenter's page between two polls
    assert not there.take_over() and there.is_following and "Copying" in there.message
    k = int(t.engine.request_state()[3]["examples_seen"][0])

    def took_over(c):
        t.poll()
        return not c.is_following
    pump(there, took_over)
    assert there.engine is not None and "Taken over at example" in there.message
    assert not list((relay / code / "want").iterdir()) and not list((relay / code / "answers").iterdir())
    pump(there, lambda c: c.tracker.last is not None and c.tracker.last.examples_seen >= k + 3000, timeout=60)
    there.stop()
    goes_on_as_the_presenter(there, t, k)

    # the presenter leaves: the other server's followers are told, and the directory goes
    late = sessions()
    late.stage = there.stage
    assert late.follow(code)
    t.close()
    assert not (relay / code).exists()
    pump(late, lambda c: not c.is_following)
    assert "has ended" in late.message


def test_a_relayed_broadcast_reads_the_same_from_any_segment(relay, monkeypatch):
    """A mirror that reads all along and one that opens late (after two segments were written and the first
    removed) give their followers the run the presenter's own broadcast gives."""
    from app import relay as relay_mod
    from app.controller import Update
    from app.presenting import Stage
    from dendcore.snapshot import Snapshot

    monkeypatch.setattr(relay_mod, "SEGMENT_RECORDS", 7)
    monkeypatch.setattr(relay_mod, "PULL_EVERY_S", 0.0)

    class Presenter:
        engine = None

    def snap(k):
        return Snapshot(version=1, examples_seen=100 * k, epoch=0.0, wall_s=0.0, examples=100, loss_output=1 / k,
                        loss_hidden=[0.1], train_error_pct=50.0)

    owner, here, early = Presenter(), Stage(), Stage()
    b = here.open(owner, "SEGS7")
    m = early.get("SEGS7")            # followed before the presenter's page published anything
    assert m is not None and not m.catch_up(Update, Update)[1].snapshots

    def publish(k, status=""):
        b.publish(Update(run_id=1, new_run=k == 1, snapshots=[snap(k)], tests=[(100 * k, 50.0, 10)] * (k % 5 == 0)),
                  run=None, status=status or f"at {k}", ghost_status="", in_force="spec", settings={"g_a": 0.05})

    publish(1)
    seen = []
    seq = -1
    for k in range(2, 40):
        publish(k)
        got = m.since(seq) if seq >= 0 else None
        if got is None:
            seq, up = m.catch_up(Update, Update)
            seen = [s.examples_seen for s in up.snapshots]
        else:
            seq, ups = got
            seen += [s.examples_seen for u in ups for s in u.snapshots]
    assert seen == [100 * k for k in range(1, 40)]
    segments = sorted(p.name for p in (relay / "SEGS7").glob("log-*"))
    assert len(segments) == 2 and segments[0] != "log-000000", segments

    late = Stage().get("SEGS7")
    for mirror in (m, late):
        mirror.pull(force=True)
        _, mine = mirror.catch_up(Update, Update)
        _, theirs = b.catch_up(Update, Update)
        assert [s.examples_seen for s in mine.snapshots] == [s.examples_seen for s in theirs.snapshots]
        assert mine.snapshots == theirs.snapshots and mine.tests == theirs.tests and mine.progress == theirs.progress
        assert (mirror.status, mirror.in_force, mirror.settings) == ("at 39", "spec", {"g_a": 0.05})
    # a status change alone reaches the mirrors too
    b.publish(Update(run_id=1), run=None, status="paused", ghost_status="", in_force="spec", settings={"g_a": 0.05})
    late.pull(force=True)
    assert late.status == "paused"

    # another process cannot present a code that is presented here
    with pytest.raises(PresentError):
        Stage().open(Presenter(), "SEGS7")
    # presented anew by the same page (its segments start over at 0): the mirrors start over with the new run
    first = here.open(owner, "ANEW5")
    first.publish(Update(run_id=1, new_run=True, snapshots=[snap(1), snap(2)]), run=None, status="first",
                  ghost_status="", in_force="spec", settings={})
    anew = early.get("ANEW5")
    assert anew.status == "first"
    again = here.open(owner, "ANEW5")
    again.publish(Update(run_id=2, new_run=True, snapshots=[snap(3)]), run=None, status="again", ghost_status="",
                  in_force="spec", settings={})
    anew.pull(force=True)
    _, mine = anew.catch_up(Update, Update)
    assert anew.status == "again" and [s.examples_seen for s in mine.snapshots] == [300]
    here.close(again)
    here.close(b)
    late.pull(force=True)
    assert late.closed and late.presenter is None


def test_a_mirror_ends_when_the_presenting_server_stops_answering(relay, monkeypatch):
    """A server that died leaves its directory behind: its followers elsewhere are told the run ended once
    it has not been touched for DEAD_AFTER_S, and the code can be presented again."""
    from app import relay as relay_mod
    from app.controller import Update
    from app.presenting import Stage

    class Presenter:
        engine = None

    monkeypatch.setattr(relay_mod, "ASK_EVERY_S", 0.0)
    gone, elsewhere = Stage(), Stage()
    b = gone.open(Presenter(), "DEAD5")
    b.publish(Update(run_id=1, new_run=True), run=None, status="training", ghost_status="", in_force="", settings={})
    m = elsewhere.get("DEAD5")
    assert m is not None and m.status == "training" and m.presenter is not None
    ticket = m.ask_state()
    assert m.answer(ticket) is relay_mod.PENDING
    b.publish(Update(run_id=1), run=None, status="training", ghost_status="", in_force="", settings={})
    assert m.answer(ticket) is None, "a presenter with no network answers None, and the follower is told"

    old = time.time() - relay_mod.DEAD_AFTER_S - 1
    os.utime(relay / "DEAD5" / "alive", (old, old))
    m.pull(force=True)
    assert m.closed and m.presenter is None and elsewhere.get("DEAD5") is None
    again = Stage().open(Presenter(), "DEAD5")       # the dead server's claim does not hold the code
    assert again.relay is not None
