"""The comparison lab without a browser: ghost runs, the experiment cards and the sweep heat maps.

Networks are small and mostly in rate mode, so each test trains for a second or two;
the sweep tests make one tiny sweep with ``python -m dendcore sweep`` (a few seconds).
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel")
pytest.importorskip("holoviews")

ROOT = Path(__file__).resolve().parents[2]

from dendcore import PRESETS, Snapshot, SpecError, Trainer, load_dataset  # noqa: E402
from dendcore.network import build_network  # noqa: E402
from app.controller import Controller, TrainingSlots, Update  # noqa: E402
from app.events import Stopped  # noqa: E402
from app.experiments import EXPERIMENTS, Scoreboard, presets_matching  # noqa: E402
from app.ghost import GHOSTS, ghost_spec  # noqa: E402
from app.plots import LivePlots  # noqa: E402
from tests.app.conftest import NoTsne, closed_after_test, make_tiny_sweep, pump  # noqa: E402


def make(slots=None, **params):
    params.setdefault("preset", "glr17-1hl-rate")
    params.setdefault("hidden", "40")
    return Controller(slots=slots or TrainingSlots(8), tsne=NoTsne(), **params)


@pytest.fixture
def lab():
    """Controllers that are closed after the test; their main and ghost threads must stop."""
    yield from closed_after_test(make)


def seen(c):
    return c.last_snapshot.examples_seen if c.last_snapshot is not None else 0


def ghost_seen(c):
    return c.ghost_run.tracker.examples_seen


def collect(ups):
    """Main and ghost snapshots by examples seen."""
    main, ghost = {}, {}
    for u in ups:
        for s in u.snapshots:
            main[s.examples_seen] = s
        if u.ghost is not None:
            for s in u.ghost.snapshots:
                ghost[s.examples_seen] = s
    return main, ghost


# ------------------------------------------------------------------ the ghost's spec
def test_each_ghost_choice_changes_what_it_says():
    main = PRESETS["glr17-1hl"].spec
    expect = {"backprop": {"rule": "backprop", "lr": PRESETS["glr17-1hl-backprop"].spec.lr},
              "feedback_alignment": {"rule": "feedback_alignment", "lr": PRESETS["glr17-1hl-fa"].spec.lr},
              "ga06": {"g_a": 0.6}, "symmetric": {"feedback": "symmetric"}, "rate": {"mode": "rate"},
              "sparse": {"feedback": "sparse"}, "sparse_norescale": {"feedback": "sparse", "sparse_rescale": False},
              "jittered": {"plateaus": "jittered"}, "twin": {}}
    for choice, changes in expect.items():
        g = ghost_spec(choice, main)
        diff = {k: v for k, v in g.to_dict().items() if main.to_dict()[k] != v}
        assert diff == {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}, choice
        assert g.sizes == main.sizes
    with pytest.raises(SpecError, match="ghost"):
        ghost_spec("nonsense", main)
    # a ghost of another rule or feedback starts from the same forward weights
    for choice in ("backprop", "sparse", "symmetric", "ga06", "rate"):
        a = build_network(main.replace(hidden=(30,)), seed=4)
        b = build_network(ghost_spec(choice, main.replace(hidden=(30,))), seed=4)
        assert np.array_equal(a.w, b.w) and np.array_equal(a.b, b.b), choice


def test_a_ghost_of_another_rule_takes_that_rules_own_learning_rates():
    one, bp, fa = (PRESETS[n].spec for n in ("glr17-1hl", "glr17-1hl-backprop", "glr17-1hl-fa"))
    assert ghost_spec("backprop", one) == bp and ghost_spec("feedback_alignment", one) == fa
    assert ghost_spec("dendrites", bp) == one and ghost_spec("backprop", fa) == bp
    assert ghost_spec("backprop", bp) == bp and ghost_spec("twin", bp) == bp
    # other choices keep the main run's rates
    assert ghost_spec("symmetric", one).lr == one.lr and ghost_spec("rate", bp).lr == bp.lr

    class Recorder:
        def __init__(self):
            self.changes = []

        def set_live(self, **changes):
            self.changes.append(changes)

    from app.ghost import Ghost
    from app.seats import TrainingSlots
    g = Ghost(TrainingSlots(1))
    g.choice, g._main_rule, g.engine = "backprop", "dendrites", Recorder()
    half = tuple(v / 2 for v in one.lr)
    g.set_live(lr=half, g_a=0.05)                 # the main run's slider halves its rates: so does the ghost
    (sent,) = g.engine.changes
    assert sent["g_a"] == 0.05 and sent["lr"] == pytest.approx(tuple(v / 2 for v in bp.lr))
    g.engine = None


def test_a_ghost_of_another_rule_sees_the_same_examples_in_the_same_order():
    data = load_dataset("mnist")
    spec = PRESETS["glr17-1hl"].spec.replace(hidden=(20,))
    a = Trainer(spec, data, seed=7)
    b = Trainer(ghost_spec("backprop", spec), data, seed=7)
    sa = a.train_examples(120)
    sb = np.concatenate([b.train_examples(n).indices for n in (7, 50, 63)])   # other chunking too
    assert np.array_equal(sa.indices, sb)
    assert not np.array_equal(a.net.w, b.net.w)       # ...and learns differently from them


# ------------------------------------------------------------------ the ghost in a session
@pytest.mark.parametrize("preset", ["glr17-1hl-rate", "glr17-1hl"])
def test_identical_ghost_has_identical_state_at_every_common_point(lab, preset):
    """Full speed: the two threads cut the example stream into different chunks, and still agree."""
    c = lab(preset=preset, hidden="20", ghost="twin", test_images=100)
    c.activate()
    c.start()
    ups = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        ups.append(c.poll())
        main, ghost = collect(ups)
        common = sorted(set(main) & set(ghost))
        if len(common) >= 5 and common[-1] >= 500:
            break
        time.sleep(0.02)
    c.stop()
    assert len(common) >= 5, (sorted(main)[:10], sorted(ghost)[:10])
    for k in common:
        m, g = main[k], ghost[k]
        assert m.example_index == g.example_index
        assert m.weight_angle_deg == g.weight_angle_deg
        assert m.angle_to_backprop_deg == g.angle_to_backprop_deg
        assert m.example_output_rates == g.example_output_rates
    tests_m = {t[0]: t[1] for u in ups for t in u.tests}
    tests_g = {t[0]: t[1] for u in ups if u.ghost for t in u.ghost.tests}
    both = set(tests_m) & set(tests_g)
    assert all(tests_m[k] == tests_g[k] for k in both)


def test_identical_ghost_draws_identical_curves(lab):
    """Snapshots on fixed example counts: the plotted curves of main run and twin coincide point by point."""
    c = lab(ghost="twin")
    c.activate()
    c.start()
    ups = pump(c, lambda c: ghost_seen(c) >= 12000 and seen(c) >= 12000, timeout=60)
    c.stop()
    plots = LivePlots(1, "rate", tuple(str(k) for k in range(10)))
    plots.figures()
    for u in ups:
        plots.update(u)
    h = plots._h
    n = min(len(h["train_src"].data["x"]), len(h["g_train_src"].data["x"]))
    assert n >= 10
    for main_key, ghost_key, cols in (("train_src", "g_train_src", ("x", "y")),
                                      ("align_src", "g_align_src", ("examples_seen", "angle_h1")),
                                      ("loss_src", "g_loss_src", ("examples_seen", "loss_out", "loss_h1"))):
        for col in cols:
            a = np.asarray(h[main_key].data[col][:n], dtype=float)
            b = np.asarray(h[ghost_key].data[col][:n], dtype=float)
            assert np.array_equal(a, b, equal_nan=True), (main_key, col)
    assert plots.errors == 0


def test_backprop_ghost_shares_the_examples_and_differs_in_the_angle(lab):
    c = lab(ghost="backprop")
    c.activate()
    c.start()
    ups = pump(c, lambda c: seen(c) >= ghost_seen(c) >= 1500, timeout=30)
    c.stop()
    main, ghost = collect(ups)
    common = [k for k in sorted(set(main) & set(ghost)) if k >= 500]
    assert common
    for k in common:
        assert main[k].example_index == ghost[k].example_index
    last = common[-1]
    assert ghost[last].angle_to_backprop_deg[0] < 1.0          # backprop against itself
    assert main[last].angle_to_backprop_deg[0] > 20.0          # random feedback is far from it
    assert c.ghost_run.spec.rule == "backprop" and c.run.spec.rule == "dendrites"
    assert "ghost (backprop)" in c.ghost_status and "angle to backprop 0°" in c.ghost_status


def test_ghost_never_gets_ahead_of_the_main_run(lab):
    # a rate-mode ghost beside a spiking run would be ~30 times faster if it were let off the leash
    c = lab(preset="glr17-1hl", hidden="30", ghost="rate", test_images=100)
    c.activate()
    c.start()
    checks = []

    def ahead(c):
        # the threads' counts, and the counts the two status lines show after this poll
        checks.append((ghost_seen(c), c.engine.examples_seen, c.tracker.examples_seen))
        return seen(c) >= 2000 and ghost_seen(c) > 0 and len(checks) >= 20
    pump(c, ahead, timeout=60)
    assert all(g <= m for g, m, _ in checks)
    assert all(g <= shown for g, _, shown in checks), [c for c in checks if c[0] > c[2]]
    assert sum(g > 0 for g, m, _ in checks) >= 5
    assert c.ghost_run.engine.examples_seen <= c.engine.examples_seen


def test_a_slow_page_never_shows_the_ghost_ahead_of_the_main_run(lab, monkeypatch):
    """A page that polls seldom fills the main run's queue: its thread then waits to post a chunk it has
    already trained. The ghost must not train up to that chunk and be shown ahead of the main run."""
    import app.engine as engine_module
    monkeypatch.setattr(engine_module, "QUEUE_SIZE", 2)
    c = lab(hidden="30", ghost="twin")
    c.activate()
    c.start()
    shown = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60 and not (len(shown) >= 25 and shown[-1][1] >= 5000):
        time.sleep(0.25)            # the page is busy elsewhere
        c.poll()
        shown.append((ghost_seen(c), c.tracker.examples_seen))
    c.stop()
    assert shown[-1][1] >= 5000 and sum(g > 0 for g, _ in shown) >= 10
    assert all(g <= m for g, m in shown), [s for s in shown if s[0] > s[1]]


def test_ghost_starts_pauses_steps_and_resets_with_the_main_run(lab):
    c = lab(ghost="feedback_alignment")
    c.activate()
    c.start()
    pump(c, lambda c: ghost_seen(c) >= 500)
    assert c.ghost_run.running and c.ghost_run.engine.running
    c.stop()
    assert not c.ghost_run.running and not c.ghost_run.engine.running
    time.sleep(0.3)
    c.poll()
    g0, m0 = c.ghost_run.engine.examples_seen, c.engine.examples_seen
    time.sleep(0.5)
    c.poll()
    assert (c.ghost_run.engine.examples_seen, c.engine.examples_seen) == (g0, m0)
    assert g0 <= m0
    # Reset: both fresh, at 0, paused
    old_ghost_run = c.ghost_run.run_id
    c.restart()
    pump(c, lambda c: c.ghost_run.ready and c.ghost_run.run_id > old_ghost_run and c.run.run_id == 2)
    assert c.ghost_run.engine.examples_seen == 0 and c.engine.examples_seen == 0
    # Step: one example each
    c.step_once()
    pump(c, lambda c: seen(c) == 1 and ghost_seen(c) == 1)
    time.sleep(0.3)
    c.poll()
    assert seen(c) == 1 and ghost_seen(c) == 1


def test_turning_the_ghost_on_restarts_both_and_off_frees_its_thread(lab):
    slots = TrainingSlots(8)
    c = lab(slots=slots)
    c.activate()
    c.start()
    pump(c, lambda c: seen(c) >= 1000)
    c.ghost = "symmetric"
    assert "Ghost run: symmetric feedback" in c.message and "example 0" in c.message
    pump(c, lambda c: c.run.run_id == 2 and ghost_seen(c) >= 200)
    assert c.running and c.ghost_run.running and slots.in_use == 2
    engine = c.ghost_run.engine
    assert engine.alive
    c.ghost = "off"
    assert not engine.alive, "turning the ghost off stops its thread"
    assert slots.in_use == 1 and c.ghost_run.engine is None
    up = c.poll()
    assert up.ghost is not None and up.ghost.new_run and up.ghost.spec is None   # the plots drop its curves
    assert c.running and c.run.run_id == 2, "the main run goes on"
    assert c.ghost_status == ""


def test_the_ghost_counts_against_the_class_cap():
    slots = TrainingSlots(1)
    a = make(slots=slots, ghost="backprop")
    b = make(slots=slots)
    try:
        a.activate()
        a.start()
        assert a.running and not a.ghost_run.running
        assert "ghost run waits for a free place" in a.message
        pump(a, lambda a: a.ghost_run.ready)
        assert "waiting for a free training place" in a.ghost_status
        b.start()
        assert not b.running, "the main run took the only place"
        a.stop()
        slots.capacity = 2              # a place frees up while the run plays: the ghost takes it quietly
        a.start()
        pump(a, lambda a: a.ghost_run.running)
        assert slots.in_use == 2
        b.start()
        assert not b.running
    finally:
        a.close()
        b.close()
    assert slots.in_use == 0


def test_ghost_follows_live_changes_except_the_one_it_fixes(lab):
    c = lab(ghost="ga06")
    c.activate()
    c.start()
    pump(c, lambda c: ghost_seen(c) > 0)
    assert c.ghost_run.spec.g_a == 0.6 and c.run.spec.g_a == 0.0
    c.param.update(g_a=0.05, lr_hidden=0.1)
    pump(c, lambda c: c.ghost_run.spec.lr[0] == 0.1 and c.run.spec.g_a == 0.05)
    assert c.ghost_run.spec.g_a == 0.6, "the g_a ghost keeps its g_a"
    c.ghost = "backprop"
    pump(c, lambda c: c.ghost_run.ready and c.ghost_run.spec.rule == "backprop")
    c.feedback_scale = 2.0
    pump(c, lambda c: c.ghost_run.spec.feedback_scale == 2.0)
    assert c.ghost_run.spec.g_a == 0.05
    # a structural change rebuilds the ghost beside the new network, in the new architecture
    c.hidden = "30"
    pump(c, lambda c: c.ghost_run.ready and c.ghost_run.spec.hidden == (30,) and ghost_seen(c) > 0)
    assert c.run.spec.hidden == (30,) and c.ghost_run.spec.rule == "backprop"


def test_a_ghost_that_diverges_is_paused_with_a_message_and_the_main_run_goes_on(lab):
    c = lab(ghost="backprop")
    c.activate()
    c.start()
    pump(c, lambda c: ghost_seen(c) > 0)
    g = c.ghost_run
    g.engine.out.put(Stopped(g.run_id, "diverged", "training diverged at example 9 (test)", 9))
    pump(c, lambda c: "ghost run (backprop) diverged" in c.message)
    assert not g.running and c.running
    n = seen(c)
    pump(c, lambda c: seen(c) > n + 500)
    assert not g.running, "a ghost that stopped by itself is not restarted behind the user's back"


def test_ghost_in_a_shared_link(lab):
    c = lab()
    assert "ghost" in c.settings()
    assert c.apply_settings({"ghost": "sparse", "hidden": "30"}) == []
    assert c.ghost == "sparse"
    bad = c.apply_settings({"ghost": "telepathy"})
    assert bad and "ghost" in bad[0] and c.ghost == "sparse"
    assert "cannot use" in c.message


def test_plots_show_the_ghost_on_the_same_axes_and_hide_it_when_off(lab):
    c = lab(ghost="backprop")
    c.activate()
    c.start()
    ups = pump(c, lambda c: ghost_seen(c) >= 20000 and c.ghost_run.last_test is not None)
    c.stop()
    plots = LivePlots(1, "rate", tuple(str(k) for k in range(10)))
    figs = plots.figures()
    for u in ups:
        plots.update(u)
    h = plots._h
    assert len(h["g_train_src"].data["x"]) >= 3 and len(h["g_test_src"].data["x"]) >= 1
    error_fig = figs["learning"][0]
    ghost_lines = [r for r in error_fig.renderers if getattr(r, "data_source", None) is h["g_train_src"]]
    assert ghost_lines and ghost_lines[0].glyph.line_dash in ([6], "dashed")
    assert all(r.visible for r, _ in h["ghost_r"])
    labels = [i.label.value for i, _ in h["ghost_items"] if i.visible]
    assert "ghost: training" in labels and "ghost: h1 vs backprop" in labels and "ghost (backprop)" in labels
    # the ghost's angle line sits in the same figure as the main run's, on the same x range
    ang = figs["alignment"][0]
    assert any(getattr(r, "data_source", None) is h["g_align_src"] for r in ang.renderers)
    assert ang.x_range is error_fig.x_range
    # switched off: a ghost update without a spec hides and empties its curves
    from app.ghost import GhostUpdate
    plots.update(Update(run_id=c.run.run_id, ghost=GhostUpdate(run_id=-1, new_run=True)))
    assert not any(r.visible for r, _ in h["ghost_r"]) and len(h["g_train_src"].data["x"]) == 0
    assert not any(i.visible for i, _ in h["ghost_items"])


# ------------------------------------------------------------------ experiment cards
def test_experiments_use_existing_presets_and_the_published_numbers():
    keys = {e.key for e in EXPERIMENTS}
    assert {"depth", "sparse", "symmetric", "apical", "angle", "jitter"} <= keys
    for e in EXPERIMENTS:
        assert len(e.text) > 200 and e.variants
        for v in e.variants:
            assert v.preset in PRESETS
            pub = PRESETS[v.preset].published_error_pct
            if pub is not None and v.metric == "test":
                assert f"{pub:g} %" in v.published
        if e.compare is not None:
            assert e.compare[0] in PRESETS and e.compare[1] in GHOSTS
    by_key = {e.key: e for e in EXPERIMENTS}
    assert [v.preset for v in by_key["depth"].variants] == ["glr17-0hl", "glr17-1hl", "glr17-2hl"]
    assert "65–70°" in by_key["angle"].variants[0].published and "35–40°" in by_key["angle"].variants[1].published
    assert PRESETS["glr17-1hl-jittered"].spec.plateaus == "jittered"
    assert PRESETS["glr17-1hl-jittered"].spec.replace(plateaus="sync") == PRESETS["glr17-1hl"].spec


def test_scoreboard_counts_a_run_only_while_it_is_the_preset():
    board = Scoreboard()
    spec = PRESETS["glr17-1hl-rate"].spec
    assert presets_matching(spec, "mnist") == ["glr17-1hl-rate"]
    assert presets_matching(spec, "fashion-mnist") == []
    assert board.observe(("main", 1), spec, "mnist", None, (12.5, 500, 2000)) == ["glr17-1hl-rate"]
    assert board.get("glr17-1hl-rate").test == (12.5, 500, 2000)
    v = board.version
    assert board.observe(("main", 1), spec.replace(g_a=0.3), "mnist", None, (11.0, 500, 3000)) == []
    assert board.get("glr17-1hl-rate").test == (12.5, 500, 2000) and board.version == v
    board.observe(("main", 2), spec, "mnist", None, None)     # not trained yet: the old result stays
    assert board.get("glr17-1hl-rate").test == (12.5, 500, 2000)
    snap = Snapshot(version=1, examples_seen=40, epoch=0.0, wall_s=0.1, examples=40, loss_output=None,
                    loss_hidden=None, train_error_pct=None, angle_to_backprop_deg=[71.0])
    board.observe(("main", 2), spec, "mnist", snap, None)     # once it has trained, it replaces the old result
    res = board.get("glr17-1hl-rate")
    assert res.test is None and res.examples_seen == 40 and res.angle == 71.0 and res.run == ("main", 2)
    # backprop in the 1-hidden-layer network is both the baseline preset and 1hl with another rule
    backprop = spec.replace(rule="backprop", lr=PRESETS["glr17-1hl-backprop"].spec.lr)
    assert set(presets_matching(backprop, "mnist")) == {"glr17-1hl-backprop-rate"}


def test_card_compare_button_loads_the_preset_with_its_ghost_and_results_follow(lab):
    from app.cards import ExperimentCards
    c = lab(preset="glr17-0hl-rate", hidden="none")
    c.activate()
    shown = []
    cards = ExperimentCards(c, on_load=lambda: shown.append(True))
    c.start()
    cards.buttons["compare-rate:symmetric"].clicks += 1     # what a click in the browser does
    assert shown and c.preset == "glr17-1hl-rate" and c.ghost == "symmetric" and c.hidden == "500"
    pump(c, lambda c: c.tracker.last_test is not None and c.ghost_run.last_test is not None, timeout=60)
    assert c.run.spec == PRESETS["glr17-1hl-rate"].spec
    assert c.ghost_run.spec == PRESETS["glr17-1hl-symmetric-rate"].spec
    assert cards.refresh()
    table = cards._tables["symmetric"].object
    err_main, err_ghost = c.tracker.last_test[0], c.ghost_run.last_test[0]
    assert f"your run: {err_main:.1f} %" in table
    assert f"your ghost run: {err_ghost:.1f} %" in table
    assert "3.6 % test error after 60 epochs" in table
    # a control moved away from the preset: Load puts every control back and starts afresh
    c.hidden = "100"
    run = c.run.run_id
    cards.buttons["load:glr17-1hl-rate"].clicks += 1
    assert c.hidden == "500" and "Loaded the preset glr17-1hl-rate" in c.message
    pump(c, lambda c: c.run.run_id > run + 1 or (c.run.run_id > run and c.run.spec.hidden == (500,)))
    assert c.run.spec == PRESETS["glr17-1hl-rate"].spec


def test_load_preset_refuses_unknown_names(lab):
    c = lab()
    assert not c.load_preset("glr99")
    assert "Unknown preset" in c.message
    assert not c.load_preset("glr17-1hl", ghost="telepathy")
    assert c.preset == "glr17-1hl-rate"


# ------------------------------------------------------------------ sweeps


@pytest.fixture(scope="module")
def sweeps_root(tmp_path_factory):
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("sweeps")
    res = make_tiny_sweep(root / "tiny")
    assert res.returncode == 1, res.stderr      # exit 1: one run failed, the rest finished
    assert len(list((root / "tiny" / "runs").glob("*.json"))) == 12
    return root


@pytest.fixture
def sweeps_env(sweeps_root, monkeypatch):
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(sweeps_root))
    return sweeps_root


def test_only_sweeps_below_the_configured_roots_are_offered(sweeps_env, tmp_path):
    from app.sweep_view import list_sweeps, open_sweep
    from dendcore.sweep import SweepError

    outside = tmp_path / "elsewhere"
    (outside / "runs").mkdir(parents=True)
    (outside / "sweep.json").write_text((sweeps_env / "tiny" / "sweep.json").read_text())
    link = sweeps_env / "sneaky"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    nested = sweeps_env / "group" / "inner"
    nested.mkdir(parents=True, exist_ok=True)
    (nested / "sweep.json").write_text((sweeps_env / "tiny" / "sweep.json").read_text())
    try:
        listing = list_sweeps()
        assert "sweeps/tiny" in listing and "sweeps/group/inner" in listing
        assert not any("sneaky" in name for name in listing), "a link out of the root is never offered"
        assert all(p.is_relative_to(sweeps_env.resolve()) or p.is_relative_to((ROOT / "app").resolve())
                   for p in listing.values())
        assert any(name.startswith("examples/") for name in listing), "the shipped example is offered"
        for name in ("sweeps/sneaky", "sweeps/../elsewhere", str(outside), "/etc", "sweeps/tiny/runs"):
            with pytest.raises(SweepError, match="not one of the sweeps"):
                open_sweep(name)
        assert open_sweep("sweeps/tiny").n_runs == 12
    finally:
        link.unlink()


def test_heat_map_cells_are_seed_means_with_sample_sd(sweeps_env):
    from app.sweep_view import open_sweep

    t = open_sweep("sweeps/tiny")
    assert t.fields == ["g_a", "feedback_scale"]
    df = t.cells("g_a", "feedback_scale")
    assert len(df) == 6
    recs = json.loads((sweeps_env / "tiny" / "runs" / "g_a=0,feedback_scale=1-seed0.json").read_text()), \
        json.loads((sweeps_env / "tiny" / "runs" / "g_a=0,feedback_scale=1-seed1.json").read_text())
    row = df[(df.x == "0") & (df.y == "1")].iloc[0]
    errs = [r["test_error_pct"] for r in recs]
    angs = [r["angle_deg"] for r in recs]
    assert row.err == pytest.approx(np.mean(errs)) and row.err_sd == pytest.approx(np.std(errs, ddof=1))
    assert row.ang == pytest.approx(np.mean(angs)) and row.ang_sd == pytest.approx(np.std(angs, ddof=1))
    failed = df[(df.x == "0.6") & (df.y == "2")].iloc[0]
    assert failed.n_ok == 1 and failed.n_failed == 1 and math.isnan(failed.err_sd)
    assert "deliberate failure" in failed.error
    # one axis: the other field held at a value
    one = t.cells("feedback_scale", None, {"g_a": "0.6"})
    assert sorted(one.x) == ["0.5", "1", "2"] and set(one.y) == {"all"}


def test_clicking_a_cell_shows_that_points_runs(sweeps_env):
    import holoviews as hv
    from app.sweep_view import SweepView

    v = SweepView()
    v.show()
    assert "sweeps/tiny" in v.chooser.options
    v.chooser.value = "sweeps/tiny"
    assert "Runs finished: 11 of 12, 1 failed" in v.info.object
    hv.render(v.maps.object)                  # the heat maps draw
    assert len(v.taps) == 2
    v.taps[0].event(x="0", y="0.5")           # what a click on the error map sends
    assert v.selected == ("0", "0.5")
    assert "g_a = 0, feedback_scale = 0.5" in v.cell_info.object and "seed 1: test error" in v.cell_info.object
    layout = v.curves.object
    assert isinstance(layout, hv.Layout)
    hv.render(layout)
    err = layout[0] if not hasattr(layout, "values") else list(layout.values())[0]
    assert len(err) >= 2                       # a curve (and the final test) per seed
    v.taps[1].event(x="0.6", y="2")           # the angle map: a cell with a failed run
    assert "failed" in v.cell_info.object and "deliberate failure" in v.cell_info.object
    # another pair of axes, the third... here: feedback_scale across, g_a held
    v.x_axis.value = "feedback_scale"
    v.y_axis.value = "(none)"
    assert v.slice_fields == ["g_a"] and len(v.slices.objects) == 1
    v.taps[0].event(x="2", y="all")
    assert "feedback_scale = 2 (g_a = 0)" in v.cell_info.object


def test_a_damaged_or_unfinished_sweep_gives_a_clear_message(sweeps_env, tmp_path, monkeypatch):
    from app.sweep_view import SweepView

    root = tmp_path / "root"
    (root / "broken").mkdir(parents=True)
    (root / "broken" / "sweep.json").write_text("{not json")
    (root / "empty" / "runs").mkdir(parents=True)
    definition = json.loads((sweeps_env / "tiny" / "sweep.json").read_text())
    (root / "empty" / "sweep.json").write_text(json.dumps(definition))
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(root))
    v = SweepView()
    v.show()
    v.chooser.value = "sweeps/broken"
    assert v.message.visible and "Cannot open this sweep" in v.message.object
    v.chooser.value = "sweeps/empty"
    assert not v.message.visible and "Runs finished: 0 of 12" in v.info.object
    assert "No run of this sweep has finished yet" in v.cell_info.object
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(tmp_path / "nowhere"))
    v.rescan()
    assert all(n.startswith("examples/") for n in v.chooser.options)


def test_the_shipped_example_sweep_is_complete():
    from app.sweep_view import EXAMPLES_DIR, SweepTable, list_sweeps
    from dendcore.sweep import load_sweep

    listing = list_sweeps([("examples", EXAMPLES_DIR)])
    assert listing
    size = sum(p.stat().st_size for d in listing.values() for p in d.rglob("*") if p.is_file())
    assert size < 3_000_000
    for name, path in listing.items():
        definition, records = load_sweep(path)
        t = SweepTable(name, definition, records)
        assert len(records) == t.n_runs and all(r["status"] == "ok" for r in records), name
        assert len(t.fields) == 2


# ------------------------------------------------------------------ the page
def test_page_draws_the_ghost_and_builds_the_other_tabs_when_opened(sweeps_env):
    from app.page import build_page

    c = make(ghost="feedback_alignment")
    dash = build_page(controller=c).dashboard
    try:
        assert dash.cards is None and dash.sweeps is None      # nothing built before the tab is opened
        assert "feedback alignment" in dash.ghost_text(c.ghost)
        c.activate()
        c.start()
        def ghost_points():
            h = dash.plots._h if dash.plots is not None else {}
            return len(h["g_train_src"].data["x"]) if "g_train_src" in h else 0

        t0 = time.perf_counter()
        while ghost_points() < 3 and time.perf_counter() - t0 < 20:
            dash.tick()
            time.sleep(0.05)
        assert ghost_points() >= 3
        assert dash.plots.ghost.label == "feedback alignment" and dash.plots.errors == 0
        assert "ghost (feedback alignment): examples seen" in c.ghost_status
        dash.tabs.active = 1
        assert dash.cards is not None and dash._cards_tab.objects
        dash.tabs.active = 2
        assert dash.sweeps is not None and dash.sweeps.table is not None     # the first listed sweep is open
        assert dash.sweeps.chooser.value == "sweeps/tiny"
        ghost_engine = c.ghost_run.engine
    finally:
        dash.close()
    assert not c.engine.alive and not ghost_engine.alive
