"""Dashboard controller, engine thread, plots and exports -- no server, no browser.

Networks are small and in rate mode so each test trains in well under a second.
"""
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel")
pytest.importorskip("holoviews")

ROOT = Path(__file__).resolve().parents[2]

from dendcore import PRESETS, DivergenceError, Snapshot, SpecError, Trainer  # noqa: E402
from app import settings as ctl  # noqa: E402
from app import tracker  # noqa: E402
from app.controller import Controller, TrainingSlots, Update  # noqa: E402
from app.settings import parse_hidden  # noqa: E402
from app.engine import QUEUE_SIZE  # noqa: E402
from app.pacing import next_schedule  # noqa: E402
from app.events import TestMeasured  # noqa: E402
from tests.app.conftest import NoTsne, closed_after_test, pump  # noqa: E402


def make(**params):
    params.setdefault("preset", "glr17-1hl-rate")
    params.setdefault("hidden", "40")
    c = Controller(slots=TrainingSlots(8), tsne=NoTsne(), **params)
    return c


@pytest.fixture
def controllers():
    yield from closed_after_test(make)


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("text, sizes", [("500", (500,)), ("500-100", (500, 100)), ("500, 100", (500, 100)),
                                         (" 20 10 5 ", (20, 10, 5)), ("", ()), ("none", ())])
def test_parse_hidden(text, sizes):
    assert parse_hidden(text) == sizes


@pytest.mark.parametrize("text", ["abc", "500-100-50-10", "0-5", "100000"])
def test_parse_hidden_rejects(text):
    with pytest.raises(SpecError, match="hidden"):
        parse_hidden(text)


def test_test_schedule_doubles_then_steps():
    at, seen = 500, []
    for _ in range(7):
        seen.append(at)
        at = next_schedule(at, 2500)
    assert seen == [500, 1000, 2000, 4000, 6500, 9000, 11500]


# ----------------------------------------------------------- spec mirroring
def test_controls_mirror_the_preset():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    assert c.preset == ctl.DEFAULT_PRESET
    assert c.build_spec() == PRESETS[ctl.DEFAULT_PRESET].spec
    c.preset = "glr17-2hl-ga06-rate"
    assert (c.mode, c.hidden, c.g_a, c.lr_hidden, c.lr_output) == ("rate", "500-100", 0.6, 0.23, 0.12)
    assert c.build_spec() == PRESETS["glr17-2hl-ga06-rate"].spec
    c.close()


def test_params_are_bounded_and_documented():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    for name in ctl.STRUCTURAL + ctl.LIVE + ctl.PACING:
        assert c.param[name].doc, f"{name} needs a tooltip"
    for name in ("g_a", "lr_hidden", "lr_output", "feedback_scale", "seed", "test_every", "test_images"):
        lo, hi = c.param[name].bounds
        assert lo is not None and hi is not None
    with pytest.raises(ValueError):
        c.g_a = 1.5
    with pytest.raises(ValueError):
        c.mode = "quantum"
    c.close()


def test_depth_change_takes_the_papers_learning_rates():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    c.hidden = "500-100"
    assert (c.lr_hidden, c.lr_output) == (0.23, 0.12)
    assert c.build_spec().lr == (0.23, 0.23, 0.12)
    c.hidden = "none"
    assert c.lr_output == 0.19 and c.build_spec().lr == (0.19,)
    c.close()


def test_shared_link_settings_override_the_preset():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    # the link's g_a equals the current default, but must still win over the preset's 0.6
    bad = c.apply_settings({"preset": "glr17-2hl-ga06", "g_a": 0, "hidden": 300, "seed": "7", "mode": "rate"})
    assert bad == []
    assert (c.preset, c.g_a, c.hidden, c.seed, c.mode) == ("glr17-2hl-ga06", 0.0, "300", 7, "rate")
    assert c.build_spec().hidden == (300,)
    c.close()


def test_shared_link_with_bad_values_keeps_the_rest():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    bad = c.apply_settings({"g_a": 7.5, "mode": "rate", "hidden": "lots", "unknown": 1})
    assert c.mode == "rate" and c.g_a == 0.0 and c.hidden == "500"
    assert len(bad) == 2 and c.message_kind == "warning" and "g_a" in c.message and "hidden" in c.message
    c.close()


# ------------------------------------------------------------- the engine
def test_play_streams_snapshots_and_status(controllers):
    c = controllers()
    c.activate()
    assert "examples seen: 0" in c.status
    c.start()
    ups = pump(c, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen >= 2000)
    assert any(u.new_run for u in ups)
    n = c.last_snapshot.examples_seen
    assert f"examples seen: {n}" in c.status and "epoch" in c.status and "test error" in c.status
    assert c.running and "784-40-10 · rate" in c.in_force
    pump(c, lambda c: "test error: " in c.status and "%" in c.status)
    c.stop()
    assert not c.running


def test_spiking_test_error_is_measured_while_training_goes_on(controllers):
    c = controllers(preset="glr17-1hl", hidden="20", test_images=100)
    c.activate()
    c.start()
    pump(c, lambda c: c.tracker.last_test is not None, timeout=60)
    err, n_images, at = c.tracker.last_test
    assert n_images == 100 and at >= 500 and 0 <= err <= 100
    assert f"test error: {err:.1f} % (100 images, at {at} examples)" in c.status
    tests = [h for h in c.history if h["test_error_pct"] is not None]
    assert tests and tests[0]["examples"] == 0 and tests[0]["examples_seen"] == at
    seen = [h["examples_seen"] for h in c.history]
    assert seen == sorted(seen)


def test_live_change_reaches_the_running_engine(controllers):
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: c.last_snapshot is not None)
    c.g_a = 0.05
    c.feedback_scale = 2.0
    c.lr_hidden = 0.1
    pump(c, lambda c: c.last_snapshot is not None and c.last_snapshot.g_a == 0.05
         and c.last_snapshot.feedback_scale == 2.0)
    assert "g_a = 0.05" in c.in_force and "× 2" in c.in_force
    assert c.last_snapshot.lr == [0.1, 0.21]
    assert c.live_latencies and max(c.live_latencies) < 5.0     # a sanity bound; the benchmark times it
    # a live change keeps the run going: no reset
    assert c.last_snapshot.examples_seen > 0 and c.run.run_id == 1


def test_structural_change_restarts_and_says_so(controllers):
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen > 500)
    first_run = c.run.run_id
    c.hidden = "30-20"
    assert "new network" in c.message and "Hidden layers" in c.message
    ups = pump(c, lambda c: c.run is not None and c.run.run_id > first_run and c.last_snapshot is not None)
    assert any(u.new_run for u in ups)
    assert c.running, "a run that was playing keeps playing after a structural change"
    assert c.run.spec.hidden == (30, 20) and c.run.spec.lr == (0.23, 0.23, 0.12)
    # nothing from the old network reaches the new run's plots
    assert all(s.loss_hidden is None or len(s.loss_hidden) == 2 for u in ups for s in u.snapshots
               if u.run_id == c.run.run_id)


def test_reset_builds_a_fresh_paused_network(controllers):
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen > 300)
    c.restart()
    assert not c.running and "Reset" in c.message
    pump(c, lambda c: c.last_snapshot is None and c.run is not None and c.run.run_id == 2)
    assert "examples seen: 0" in c.status
    time.sleep(0.3)
    assert c.poll().snapshots == []      # paused: nothing trains


def test_step_trains_exactly_one_example(controllers):
    c = controllers(preset="glr17-1hl", hidden="20")      # spiking: traces come with each step
    c.activate()
    c.step_once()
    pump(c, lambda c: c.last_snapshot is not None)
    s = c.last_snapshot
    assert s.examples_seen == 1 and s.examples == 1
    assert s.traces is not None and len(s.traces.V) == s.traces.forward_steps + s.traces.target_steps
    c.step_once()
    pump(c, lambda c: c.last_snapshot.examples_seen == 2)
    time.sleep(0.3)
    c.poll()
    assert c.last_snapshot.examples_seen == 2 and not c.running


def test_steps_share_one_budget_for_the_whole_class(controllers):
    from app.seats import StepBudget
    t = [0.0]
    budget = StepBudget(rate=2.0, burst=3, clock=lambda: t[0])
    assert [budget.take() for _ in range(4)] == [True, True, True, False]     # the burst, then refused
    t[0] += 0.5
    assert budget.take() and not budget.take()                                # refilled at 2 a second
    t[0] += 100.0
    assert sum(budget.take() for _ in range(10)) == 3                         # never more than the burst

    shared = StepBudget(rate=0.001, burst=2, clock=lambda: t[0])
    a = controllers(preset="glr17-1hl", hidden="20", steps=shared)
    b = controllers(preset="glr17-1hl", hidden="20", steps=shared)
    a.activate()
    b.activate()
    a.step_once()
    b.step_once()
    pump(a, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen == 1)
    pump(b, lambda c: c.last_snapshot is not None and c.last_snapshot.examples_seen == 1)
    a.step_once()                                                             # the class's budget is spent
    assert "Step is busy" in a.message and a.message_kind == "warning"
    time.sleep(0.3)
    a.poll()
    assert a.last_snapshot.examples_seen == 1


def test_speed_control_paces_the_engine(controllers):
    c = controllers(speed=5)                                   # five examples a second
    c.activate()
    c.start()
    pump(c, lambda c: c.last_snapshot is not None)
    n0, t0 = c.last_snapshot.examples_seen, time.perf_counter()
    time.sleep(1.6)
    c.poll()
    rate = (c.last_snapshot.examples_seen - n0) / (time.perf_counter() - t0)
    assert 2 <= rate <= 8
    assert all(s.examples == 1 for s in [c.last_snapshot])     # one example per snapshot: traces of each


def test_divergence_pauses_with_a_clear_message(controllers, monkeypatch):
    original = Trainer.train_examples
    calls = {"n": 0}

    def flaky(self, n, record_last=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DivergenceError("training diverged at example 123 (test)", 123, "hidden layer 1")
        return original(self, n, record_last=record_last)

    monkeypatch.setattr(Trainer, "train_examples", flaky)
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: c.message_kind == "danger")
    assert "diverged at example 123" in c.message and "lower a learning rate" in c.message
    assert not c.running and c.engine.alive


def test_run_length_is_bounded(controllers, monkeypatch):
    from app import engine
    monkeypatch.setattr(engine, "MAX_EPOCHS", 3000 / 60000)     # 3,000 examples
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: "longest run" in c.message)
    assert not c.running and c.last_snapshot.examples_seen == 3000


def test_class_full_message():
    slots = TrainingSlots(1)
    a = Controller(slots=slots, tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20")
    b = Controller(slots=slots, tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20")
    try:
        a.start()
        b.start()
        assert a.running and not b.running
        assert "class is full" in b.message
        a.stop()                   # pausing frees the slot
        b.start()
        assert b.running
    finally:
        a.close()
        b.close()
    assert slots.in_use == 0


def test_one_browsers_tabs_hold_at_most_their_share_of_the_class():
    """A student opening tabs cannot fill the class: the third tab of one browser is told to pause one of
    the others (not that the class is full), while another browser still trains and the ghost is not counted."""
    slots = TrainingSlots(10, per_browser=2)
    mine = [Controller(slots=slots, tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20") for _ in range(3)]
    other = Controller(slots=slots, tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20")
    for c in mine:
        c.browser = "a" * 32
    other.browser = "b" * 32
    try:
        mine[0].ghost = "backprop"             # a ghost plays beside its run, on a place of its own
        for c in (*mine, other):
            c.start()
        assert mine[0].running and mine[1].running and other.running
        assert not mine[2].running and not mine[2].watching and "This browser already trains in 2 other tabs" in mine[2].message
        assert "class is full" not in mine[2].message and slots.in_use == 4
        mine[1].stop()                          # pausing one tab lets the third train
        mine[2].start()
        assert mine[2].running
        mine[1].start()
        assert not mine[1].running and "pause one of them" in mine[1].message
    finally:
        for c in (*mine, other):
            c.close()
    assert slots.in_use == 0


def test_queue_is_bounded_when_nobody_drains(controllers):
    c = controllers()
    c.activate()
    c.start()
    assert c.engine.out.maxsize == QUEUE_SIZE
    t0 = time.perf_counter()     # no polling: the queue fills up, then the engine must wait
    while not c.engine.out.full() and time.perf_counter() - t0 < 20:
        time.sleep(0.05)
    assert c.engine.out.qsize() == QUEUE_SIZE
    time.sleep(0.3)
    seen = c.engine.examples_seen
    time.sleep(0.5)
    assert c.engine.examples_seen == seen, "the engine keeps training into a full queue"
    pump(c, lambda c: c.last_snapshot is not None)


def test_close_stops_the_thread_promptly():
    c = make()
    c.activate()
    c.start()
    pump(c, lambda c: c.last_snapshot is not None)
    t0 = time.perf_counter()
    c.close()
    assert not c.engine.alive and time.perf_counter() - t0 < 2.0
    c.start()                    # harmless after close
    assert not c.engine.alive


def test_probe_activity_goes_to_tsne(controllers):
    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: c._tsne.submitted)
    shape, _, run_id = c._tsne.submitted[0]
    assert shape == (1000, 40) and run_id == c.run.run_id


def test_history_is_thinned_not_unbounded():
    hist = tracker.History(limit=100)
    for k in range(1, 1001):
        hist.add_snapshot(Snapshot(version=1, examples_seen=k * 10, epoch=0.0, wall_s=0.0, examples=10,
                                   loss_output=0.1, loss_hidden=[0.1], train_error_pct=50.0))
        if k % 250 == 0:
            hist.add_test(TestMeasured(1, k * 10, 0.0, 0.0, 20.0, 100, 0.1))
    h = hist.rows
    assert len(h) <= 100
    assert h[-1]["examples_seen"] >= 9900
    assert sum(1 for r in h if r["test_error_pct"] is not None) == 4     # tests are always kept


# ----------------------------------------------------------------- plots
def _snap(k, n_hidden=1, examples=50, test=None, traces=None):
    rng = np.random.default_rng(k)
    return Snapshot(version=1, examples_seen=k * examples, epoch=k * examples / 60000, wall_s=0.0,
                    examples=examples, loss_output=float(rng.random()), loss_hidden=[0.2] * n_hidden,
                    train_error_pct=float(rng.random() * 100), test_error_pct=test,
                    test_images=500 if test is not None else None,
                    alpha_f=[list(rng.random(20))] * n_hidden, alpha_t=[list(rng.random(20))] * n_hidden,
                    angle_to_backprop_deg=[80.0] * n_hidden, weight_angle_deg=[85.0] * n_hidden,
                    eig_jacobian=1.2, traces=traces, example_index=k, example_label=3, example_prediction=5,
                    example_output_rates=list(rng.random(10)))


def test_plot_buffers_stay_bounded_and_cover_the_run():
    from app.plots import MAX_ROWS, LivePlots

    lp = LivePlots(1, "rate", tuple("0123456789"), paper_error=4.1)
    figs = lp.figures()
    assert sorted(figs) == ["alignment", "example", "learning", "plateaus", "tsne"]
    k = 0
    for _ in range(60):
        up = Update(run_id=1, snapshots=[_snap(k + i, test=10.0 if (k + i) % 40 == 0 else None)
                                         for i in range(100)])
        k += 100
        assert lp.update(up, example_image=lambda i: np.zeros((28, 28), dtype=np.uint8))
    assert lp.errors == 0
    df = lp.scalars.data
    assert len(df) <= MAX_ROWS
    assert df["examples_seen"].iloc[0] <= 200                    # still starts at the beginning
    assert df["examples_seen"].iloc[-1] >= (k - 100) * 50
    src = lp._h["train_src"].data
    assert len(src["x"]) <= MAX_ROWS and src["x"][-1] == df["examples_seen"].iloc[-1]
    assert len(lp._h["align_src"].data["eig"]) == len(df)
    assert len(lp.tests.data) == 150 and len(lp._h["test_src"].data["x"]) == 150


def test_spiking_plots_and_tsne_images():
    from dendcore import load_dataset
    from dendcore.snapshot import Traces
    from app.plots import LivePlots, probe_image_uris
    from app.tsne import TsneResult

    data = load_dataset("mnist")
    idx = np.arange(1000)
    uris = probe_image_uris(data, idx)
    assert len(uris) == 1000 and uris[0].startswith("data:image/png;base64,")
    lp = LivePlots(2, "spiking", data.classes, probe_uris=uris, probe_labels=data.test_labels[idx])
    lp.figures()
    h = lp._h
    assert np.isnan(h["tsne_src"].data["x"]).all() and h["tsne_src"].data["img"][0] == ""
    steps = 103
    tr = Traces(neurons=["h1[3]", "h2[1]"], V=[[0.1, 0.2]] * steps, V_b=[[0.3, 0.1]] * steps,
                V_a=[[0.0, 0.0]] * steps, forward_steps=51, target_steps=52, forward_window=(31, 51),
                target_window=(83, 103))
    snap = _snap(1, n_hidden=2, traces=tr)
    xy = np.random.default_rng(0).normal(size=(1000, 2))
    up = Update(run_id=1, snapshots=[snap], tsne=TsneResult(xy, 50, 1, 0.1, False))
    assert lp.update(up, example_image=lambda i: data.train_images[i].reshape(28, 28))
    assert lp.errors == 0
    # t-SNE: rows sorted by class; x/y follow the map
    order = h["tsne_order"]
    assert np.allclose(h["tsne_src"].data["x"], xy[order, 0])
    assert list(h["tsne_src"].data["cls"][:1]) == ["0"] and h["tsne_src"].data["img"][0] == uris[order[0]]
    assert len(h["tsne_src"].data["img"]) == 1000           # the hover images came with the first map
    # traces, integration windows and the phase boundary
    assert "h1[3]" in h["trace_fig"].title.text and len(h["trace_src"].data["V"]) == steps
    assert np.array_equal(h["trace_src"].data["V"], np.full(steps, 0.1))
    assert np.array_equal(h["trace_src"].data["V_b"], np.full(steps, 0.3))
    assert (h["win_f"].left, h["win_f"].right, h["win_t"].left, h["phase"].location) == (31, 51, 83, 51)
    # plateaus of both hidden layers, square ranges around them
    assert [len(s.data["x"]) for s in h["plateau_src"]] == [20, 20]
    assert h["plateau_fig"].x_range.start == h["plateau_fig"].y_range.start
    # the current example: the image is flipped for Bokeh, target green, wrong guess red
    img = data.train_images[1].reshape(28, 28)
    assert np.array_equal(h["image_src"].data["image"][0], np.flipud(img).astype(float))
    colors = h["bars_src"].data["color"]
    assert colors[3] == "#2ca02c" and colors[5] == "#d62728"
    assert h["image_fig"].title.text.startswith("target 3 · guess 5")


# ----------------------------------------------------------------- export
def test_exports(controllers):
    from app import export
    from app.plots import LivePlots

    c = controllers()
    c.activate()
    c.start()
    pump(c, lambda c: len(c.history) >= 3)
    c.stop()
    rec = json.loads(export.run_json(c.run, c.history))
    assert rec["spec"]["hidden"] == [40] and rec["spec"]["mode"] == "rate" and rec["seed"] == 0
    assert len(rec["snapshots"]) >= 3 and "traces" not in rec["snapshots"][0]
    text = export.run_csv(c.history)
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["examples_seen", "epoch", "wall_s"] and len(text.splitlines()) == len(c.history) + 1
    lp = LivePlots(1, "rate", tuple("0123456789"), paper_error=4.1)
    lp.figures()
    lp.update(Update(run_id=1, snapshots=[_snap(k) for k in range(1, 30)]))
    html = export.plots_html(lp.static_layout())
    assert html.lstrip().lower().startswith("<!doctype html") and "Bokeh" in html and "cdn.bokeh.org" not in html


def test_tsne_warm_start_continues_the_previous_map():
    from app.tsne import TsneMap, embed
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 20)) * 5
    x = np.repeat(centres, 50, axis=0) + rng.normal(size=(200, 20))
    first = embed(x)
    again = embed(x + 0.05 * rng.normal(size=x.shape), previous=first)
    assert first.shape == again.shape == (200, 2)
    # a warm start moves points a little, it does not redraw the map
    assert np.median(np.linalg.norm(again - first, axis=1)) < 0.5 * np.median(np.linalg.norm(first, axis=1))

    with ThreadPoolExecutor(max_workers=1) as pool:
        m = TsneMap(executor=pool)
        m.reset(1)
        assert m.submit(x, 100, run_id=1)
        assert not m.submit(x, 200, run_id=1)        # one job at a time
        t0 = time.perf_counter()
        while m.busy and time.perf_counter() - t0 < 30:
            time.sleep(0.05)
        res = m.take()
        assert res is not None and res.xy.shape == (200, 2) and not res.warm
        assert m.submit(x, 300, run_id=1)
        while m.busy and time.perf_counter() - t0 < 30:
            time.sleep(0.05)
        assert m.take().warm
        assert not m.submit(x, 400, run_id=2)        # a stale run is refused


# -------------------------------------------------------------- the page
class FakeTimer:
    """Stands in for the page's periodic drain (which needs a server): only its period matters here."""

    def __init__(self, period):
        self.period = period

    def stop(self):
        pass


def test_an_unused_page_dozes_and_news_wakes_it(monkeypatch):
    """An open page nobody uses polls every 5 s, not five times a second; Play brings it back at once."""
    import threading

    from app import drain as drain_mod
    from app import page as page_mod

    done = threading.Event()
    done.set()
    monkeypatch.setattr(page_mod, "WARMUP", type("Warm", (), {"done": done, "text": ""})())  # no server: nothing to warm
    c = make()
    dash = page_mod.build_page(controller=c).dashboard
    drain = dash.drain
    try:
        drain.timer = FakeTimer(drain_mod.POLL_PERIOD_MS)
        c.activate()
        t0 = time.perf_counter()
        while (not drain.dozing or dash._to_attach) and time.perf_counter() - t0 < 30:
            dash._timed_tick()
            time.sleep(0.02)
        assert dash.plots is not None and not dash._to_attach and drain.dozing and not c.has_news
        assert drain.timer.period == drain_mod.DOZE_PERIOD_MS
        # a dozing page leaves the drain budget to the others: alone awake, a costly drain is slowed
        other = drain_mod.Drain()
        other.timer, other.cost_s = FakeTimer(drain_mod.POLL_PERIOD_MS), 0.09
        assert drain_mod.paced_period(drain_mod.POLL_PERIOD_MS) == 300          # 0.09 s / 0.3 of the loop
        # while trainings wait for CPU, the drains get a sixth of that: every cycle of the loop is theirs
        from app.compute import ComputeGate
        gate = ComputeGate(1)
        monkeypatch.setattr(drain_mod, "COMPUTE", gate)
        assert gate.acquire()
        waiter = threading.Thread(target=lambda: (gate.acquire(), gate.release()))
        waiter.start()
        try:
            deadline = time.perf_counter() + 10
            while not gate.oversubscribed and time.perf_counter() < deadline:
                time.sleep(0.001)
            assert gate.oversubscribed
            assert drain_mod.paced_period(drain_mod.POLL_PERIOD_MS) == 1800     # 0.09 s / 0.05 of the loop
        finally:
            gate.release()
            waiter.join(5)
        assert not gate.oversubscribed and drain_mod.paced_period(300) == 300
        other.stop()
        c.start()
        assert c.has_news                          # what the process's tab watch asks 4 times a second
        drain.wake(None)
        assert not drain.dozing and drain.timer.period < drain_mod.DOZE_PERIOD_MS
        t0 = time.perf_counter()
        while dash.plots.updates < 2 and time.perf_counter() - t0 < 20:
            dash._timed_tick()
            time.sleep(0.05)
        assert dash.plots.updates >= 2 and not drain.dozing and drain.timer.period < drain_mod.DOZE_PERIOD_MS
        c.stop()
        t0 = time.perf_counter()
        while not drain.dozing and time.perf_counter() - t0 < 20:    # the last snapshots drained, then quiet
            dash._timed_tick()
            time.sleep(0.02)
        assert drain.dozing and drain.timer.period == drain_mod.DOZE_PERIOD_MS
    finally:
        dash.close()


def test_page_without_a_server_drains_into_its_plots():
    from app.page import ATTACH_ORDER, build_page

    c = make()
    tpl = build_page(controller=c)
    dash = tpl.dashboard
    try:
        assert dash.plots is None                  # figures follow the network (onload, in a browser)
        c.activate()
        c.start()
        t0 = time.perf_counter()
        while (dash.plots is None or dash.plots.updates < 3 or dash._to_attach) and time.perf_counter() - t0 < 20:
            dash.tick()
            time.sleep(0.05)
        first = dash.plots
        assert first.updates >= 3 and first.errors == 0 and dash.first_point_t is not None
        assert all(dash.panes[name].objects for name in ATTACH_ORDER)   # every group attached by now
        assert len(first._h["train_src"].data["x"]) >= 1
        assert json.loads(dash.downloads._json_file().getvalue())["spec"]["hidden"] == [40]
        assert dash.downloads._csv_file().getvalue().startswith("examples_seen,")
        assert "<html" in dash.downloads._html_file().getvalue().lower()
        # 40 hidden units are not the preset's 500: the Preset box and the file names say so
        assert dash.downloads.json.filename == "dendrite-lab-custom-from-glr17-1hl-rate-run.json"
        assert dash.preset_box.widget.value == "custom"
        c.hidden = "30"                                                     # a new network: new plots
        t0 = time.perf_counter()
        while dash.plots is first and time.perf_counter() - t0 < 20:
            dash.tick()
            time.sleep(0.05)
        assert dash.plots is not first and dash.plots.n_hidden == 1
    finally:
        dash.close()
    assert not c.engine.alive


def test_a_runs_figures_reach_a_served_document_in_two_walks_of_its_models():
    """Each cell filled on its own made Bokeh walk the whole document again (about a dozen walks per
    page while a class opens); the learning curves go first, the rest at the next poll, each at once."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from app.page import ATTACH_ORDER, build_page

    doc = Document()
    with set_curdoc(doc):
        tpl = build_page(controller=make())
        with doc.models.freeze():
            tpl.server_doc(doc, title="walks")
        dash = tpl.dashboard
        dash._doc = doc
        walks = []
        recompute = doc.models.recompute
        doc.models.recompute = lambda: (walks.append(1), recompute())[1]
        try:
            run = PRESETS["glr17-1hl-rate"].spec
            dash._make_plots(run, "glr17-1hl-rate", "mnist", list(range(10)))
            # built, not attached: _show_held attaches the first group after streaming the held rows
            assert walks == [] and [g for g, _ in dash._to_attach] == list(ATTACH_ORDER)
            dash._attach(1)
            assert len(walks) == 1 and [g for g, _ in dash._to_attach] == list(ATTACH_ORDER[1:])
            dash._attach()
            assert len(walks) == 2 and not dash._to_attach
            figures = [f for figs in dash.plots.figures().values() for f in figs]
            assert all(doc.get_model_by_id(f.id) is f for f in figures)     # every figure reached the document
        finally:
            dash.close()


def test_a_new_runs_plots_wait_while_other_pages_open(monkeypatch):
    """While a class opens the link, a page shows its network (status line, Play) at once and builds its
    figures only when the other pages of the process are open; the updates of the meantime are kept."""
    from app import controller as controller_mod
    from app import page as page_mod
    from app.opening import GRACE_S, Opening

    clock = [1000.0]
    opening = Opening(lambda: clock[0])
    monkeypatch.setattr(page_mod, "OPENING", opening)
    monkeypatch.setattr(controller_mod, "OPENING", opening)
    c = make()
    dash = page_mod.build_page(controller=c).dashboard
    try:
        other = opening.requested()                 # another student's page, built, not shown yet
        c.activate()
        t0 = time.perf_counter()
        while not c.in_force and time.perf_counter() - t0 < 20:
            dash.tick()
            time.sleep(0.02)
        assert c.in_force and c.run is not None     # "Running now: ..." went out with the network
        assert dash.plots is None and dash._held is not None
        assert not c.engine._probe_ready()          # nor does its t-SNE map start yet
        c.start()                                   # Play works meanwhile
        t0 = time.perf_counter()
        while sum(len(u.snapshots) for u in dash._held) < 2 and time.perf_counter() - t0 < 20:
            dash.tick()
            time.sleep(0.02)
        assert dash.plots is None and sum(len(u.snapshots) for u in dash._held) >= 2
        held = [s.examples_seen for u in dash._held for s in u.snapshots if s.train_error_pct is not None]
        polls = len(dash._held)
        opening.shown(other)
        clock[0] += GRACE_S
        assert c.engine._probe_ready()
        dash.tick()
        assert dash.plots is not None and dash._held is None
        # every update of the wait reached the plots, in order, drawn as one
        assert list(dash.plots._h["train_src"].data["x"])[:len(held)] == held
        assert polls >= 2 and dash.plots.updates == 1
    finally:
        dash.close()


def test_a_page_still_opening_polls_at_the_fast_pace_in_a_crowded_server(monkeypatch):
    """Each stage of a page's opening waits for its turn; a page that missed one waited a whole paced
    period (2 s with a class on the server) for its next poll, and the event loops idled half of a class's
    opening. Until its figures are all shown a page polls 5 times a second; then it is paced again."""
    from app import controller as controller_mod
    from app import drain as drain_mod
    from app import page as page_mod
    from app.opening import GRACE_S, Opening

    clock = [1000.0]
    opening = Opening(lambda: clock[0])
    monkeypatch.setattr(page_mod, "OPENING", opening)
    monkeypatch.setattr(controller_mod, "OPENING", opening)
    crowd = []
    c = make()
    dash = page_mod.build_page(controller=c).dashboard
    try:
        for _ in range(30):
            d = drain_mod.Drain()
            d.timer, d.cost_s = FakeTimer(drain_mod.POLL_PERIOD_MS), 0.05
            crowd.append(d)
        dash.drain.timer = FakeTimer(drain_mod.MAX_POLL_PERIOD_MS)
        other = opening.requested()                 # another student's page, not shown yet
        c.activate()
        t0 = time.perf_counter()
        while dash._held is None and time.perf_counter() - t0 < 20:
            dash._timed_tick()
            time.sleep(0.02)
        dash._timed_tick()
        assert dash._held is not None and dash.drain.timer.period == drain_mod.POLL_PERIOD_MS
        opening.shown(other)
        clock[0] += GRACE_S
        t0 = time.perf_counter()
        while (dash.plots is None or dash._to_attach) and time.perf_counter() - t0 < 20:
            dash._timed_tick()
            assert dash.plots is None or dash._to_attach or not dash.drain.opening
        assert dash.plots is not None and not dash._to_attach
        for _ in range(drain_mod.REPACE_EVERY):
            dash._timed_tick()
        assert dash.drain.timer.period > 5 * drain_mod.POLL_PERIOD_MS      # one page among 31: paced again
    finally:
        for d in crowd:
            d.stop()
        dash.close()


def test_a_presenters_drain_keeps_its_pace_and_the_followers_slow_down_for_it():
    """30 followers' drains slow every page to one poll in 2 s; the presenter's engine then waited on
    its full queue a fifth of the time. The presenter's page keeps 5 polls a second; its cost still
    counts, so the other pages slow down further instead."""
    from app import drain as drain_mod

    crowd = []
    try:
        for _ in range(30):
            d = drain_mod.Drain()
            d.timer, d.cost_s = FakeTimer(drain_mod.POLL_PERIOD_MS), 0.02
            crowd.append(d)
        presenter = drain_mod.Drain()
        presenter.timer = FakeTimer(drain_mod.POLL_PERIOD_MS)
        for _ in range(drain_mod.REPACE_EVERY):
            presenter.pace(0.02)
        assert presenter.timer.period == drain_mod.MAX_POLL_PERIOD_MS        # an ordinary page: slowed down
        presenter.priority = True
        presenter.found(True)
        presenter.pace(0.02)
        assert presenter.timer.period == drain_mod.POLL_PERIOD_MS
        for d in crowd[5:]:
            d.stop()                                                         # a smaller class: 5 others
        without = drain_mod.paced_period(drain_mod.POLL_PERIOD_MS)
        presenter.stop()
        alone = drain_mod.paced_period(drain_mod.POLL_PERIOD_MS)
        presenter.timer = FakeTimer(drain_mod.POLL_PERIOD_MS)
        assert without > alone                                               # its cost still slows the others
        presenter.priority = False
        for _ in range(drain_mod.REPACE_EVERY):
            presenter.pace(0.02)
        assert presenter.timer.period > drain_mod.POLL_PERIOD_MS
    finally:
        for d in crowd:
            d.stop()
