"""One contract for the run trackers of the main run and of the ghost: events in, news and numbers out."""
import numpy as np
import pytest

pytest.importorskip("panel")

from dendcore import SCHEMA_VERSION, ModelSpec, Snapshot  # noqa: E402
from app.controller import Controller, TrainingSlots  # noqa: E402
from app.events import LiveApplied, Ready, SnapshotTaken, Stopped, TestMeasured  # noqa: E402
from app.tracker import RunNews, RunTracker  # noqa: E402
from tests.app.conftest import NoTsne, pump  # noqa: E402


def snap(k: int) -> Snapshot:
    return Snapshot(version=SCHEMA_VERSION, examples_seen=k, epoch=k / 60000, wall_s=0.0, examples=10,
                    loss_output=0.5, loss_hidden=[0.2], train_error_pct=40.0)


class Side:
    """The main run or the ghost of one paused controller: where its events go and where its news come out."""

    def __init__(self, which: str):
        self.which = which
        self.c = Controller(slots=TrainingSlots(8), tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20",
                            ghost="backprop" if which == "ghost" else "off")
        self.c.activate()
        pump(self.c, lambda c: c.run is not None and c.ghost_run.ready if which == "ghost" else c.run is not None)

    @property
    def tracker(self) -> RunTracker:
        return self.c.tracker if self.which == "main" else self.c.ghost_run.tracker

    def send(self, *events) -> RunNews:
        engine = self.c.engine if self.which == "main" else self.c.ghost_run.engine
        for ev in events:
            engine.out.put(ev)
        up = self.c.poll()
        return up if self.which == "main" else up.ghost


@pytest.fixture(params=["main", "ghost"])
def side(request):
    s = Side(request.param)
    yield s
    s.c.close()


def test_snapshots_and_tests_of_the_current_run_are_kept(side):
    rid = side.tracker.run_id
    news = side.send(SnapshotTaken(rid, snap(10), 123.0), SnapshotTaken(rid, snap(20), 130.0),
                     TestMeasured(rid, 20, 0.0, 0.1, 55.5, 100, 0.01))
    assert [s.examples_seen for s in news.snapshots] == [10, 20] and news.rates == [123.0, 130.0]
    assert news.tests == [(20, 55.5, 100)]
    t = side.tracker
    assert t.last.examples_seen == 20 and t.rate == 130.0 and t.last_test == (55.5, 100, 20)
    assert t.test_text() == "55.5 % (100 images, at 20 examples)"


def test_news_of_a_replaced_run_is_dropped(side):
    rid = side.tracker.run_id
    news = side.send(SnapshotTaken(rid - 1, snap(99), 1.0), TestMeasured(rid + 5, 5, 0.0, 0.0, 1.0, 100, 0.0))
    assert not news.snapshots and not news.tests and side.tracker.last is None


def test_ready_starts_afresh_and_carries_the_spec(side):
    rid = side.tracker.run_id
    side.send(SnapshotTaken(rid, snap(10), 1.0))
    spec = side.tracker.spec
    news = side.send(Ready(rid, spec, np.arange(3)))
    assert news.new_run and news.spec == spec and side.tracker.last is None and side.tracker.ready


def test_live_changes_update_the_spec_in_force(side):
    rid = side.tracker.run_id
    new = side.tracker.spec.replace(g_a=0.05)
    news = side.send(LiveApplied(rid, {"g_a": 0.05}, new, None, 0.0, 0))
    assert side.tracker.spec.g_a == 0.05 and news.live and news.live[0].spec == new


def test_a_stop_pauses_the_run_and_says_why(side):
    rid = side.tracker.run_id
    side.c.start()
    news = side.send(Stopped(rid, "diverged", "training diverged at example 9 (test)", 9))
    if side.which == "main":
        assert not side.c.running and side.c.message_kind == "danger"
        assert any("diverged at example 9" in text for _, text in news.messages)
    else:
        assert side.c.ghost_run.halted and not side.c.ghost_run.running
        assert any("ghost run (backprop) diverged" in text for _, text in news.messages)


def test_tracker_alone_without_a_controller():
    t = RunTracker(keep_history=False)
    t.expect(4)
    news = RunNews(run_id=4)
    spec = ModelSpec(hidden=(20,), mode="rate")
    assert t.take(Ready(4, spec, np.arange(2)), news) is None
    stop = Stopped(4, "limit", "", 100, epochs=1.0)
    assert t.take(stop, news) is stop
    t.take(SnapshotTaken(4, snap(10), 5.0), news)
    assert t.history.rows == [], "a ghost keeps no history"
