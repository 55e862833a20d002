"""The plot package without a controller: series, figure groups, and main run and ghost drawn alike.

Updates are plain namespaces with the attributes :meth:`LivePlots.update` reads, so these tests do
not depend on how the controller builds its updates.
"""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColumnDataSource, GlyphRenderer, Line

from dendcore import Snapshot
from app.plots import GHOST, MAIN, MAX_ROWS, LivePlots, Series
from app.plots import alignment, example, learning, plateaus, tsne_map
from app.plots.base import Feed, write_feeds
from app.plots.series import SMOOTH_EXAMPLES, columns_of_tests, scalar_columns, snapshot_row
from app.plots.style import GHOST_DASH

CLASSES = tuple("0123456789")


def snap(k, n_hidden=1, examples=50, test=None):
    """The curve fields of a snapshot (no plateaus, traces or example: those have tests of their own)."""
    rng = np.random.default_rng(k)
    return Snapshot(version=1, examples_seen=k * examples, epoch=0.0, wall_s=0.0, examples=examples,
                    loss_output=float(rng.random()), loss_hidden=list(rng.random(n_hidden)),
                    train_error_pct=float(rng.random() * 100), test_error_pct=test,
                    test_images=None if test is None else 500, angle_to_backprop_deg=list(90 * rng.random(n_hidden)),
                    weight_angle_deg=[85.0] * n_hidden, eig_jacobian=float(rng.random() * 2))


def update(snapshots=(), tests=(), ghost=None, tsne=None):
    return SimpleNamespace(snapshots=list(snapshots), tests=list(tests), tsne=tsne, ghost=ghost)


def ghost(snapshots=(), tests=(), run_id=1, new_run=False, label="backprop", spec=object()):
    return SimpleNamespace(run_id=run_id, new_run=new_run, spec=spec, label=label, snapshots=list(snapshots),
                           tests=list(tests))


def feed(plots, run, snapshots, tests=()):
    """Send snapshots to the main run or to the ghost, through the one public entry point."""
    if run == "main":
        return plots.update(update(snapshots, tests))
    return plots.update(update(ghost=ghost(snapshots, tests)))


def glyphs(fig, source):
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer) and r.data_source is source]


# ------------------------------------------------------------------ one series, one drawing
STYLE_PROPS = ("color", "alpha", "dash", "marker")      # what a RunStyle may set apart


def _shape(glyph, ignore=()):
    """A glyph's properties but those a run style declares (colours, alpha, dash, marker, ``ignore``)."""
    return {k: v for k, v in glyph.properties_with_values(include_defaults=True).items()
            if not any(s in k for s in STYLE_PROPS) and k not in ignore}


@pytest.mark.parametrize("n_hidden", [1, 3])
def test_ghost_curves_are_the_main_runs_but_for_their_declared_style(n_hidden):
    plots = LivePlots(n_hidden, "rate", CLASSES)
    figs = plots.figures()
    h = plots._h
    pairs = [("train_src", "g_train_src"), ("test_src", "g_test_src"), ("loss_src", "g_loss_src"),
             ("align_src", "g_align_src")]
    checked = 0
    for fig in figs["learning"] + figs["alignment"]:
        for main_key, ghost_key in pairs:
            main = {(type(r.glyph).__name__, getattr(r.glyph, "y", None)): r for r in glyphs(fig, h[main_key])}
            ghostly = {(type(r.glyph).__name__, getattr(r.glyph, "y", None)): r for r in glyphs(fig, h[ghost_key])}
            for key, g in ghostly.items():
                m = main[key]          # every ghost curve has its main-run twin on the same figure
                ignore = ("line_width",) if main_key == "test_src" else ()    # declared: test_width
                assert _shape(g.glyph, ignore) == _shape(m.glyph, ignore), (fig.title.text, key)
                if isinstance(g.glyph, Line):
                    assert g.glyph.line_dash == [6] and m.glyph.line_dash == []
                checked += 1
            # the main run's extra curves are the Y-vs-W angles (dashed there means the ghost)
            extra = {k for k in main if k not in ghostly}
            assert all(str(y).startswith("wangle_h") for _, y in extra)
    assert checked == 3 + 1 + n_hidden + n_hidden + 1     # train, test points and line; losses; angles; eig


def test_run_styles_name_and_dash_the_ghosts_curves():
    assert GHOST.dash == GHOST_DASH and MAIN.dash is None
    assert MAIN.label("training", "training (running mean)") == "training (running mean)"
    assert GHOST.label("training", "training (running mean)") == "ghost: training"
    assert GHOST.label("", "this run") == "ghost"
    assert MAIN.line("#123456", 2) == {"color": "#123456", "line_width": 2}
    assert GHOST.line("#123456", 2) == {"color": "#123456", "line_width": 2, "line_dash": GHOST_DASH}


def test_ghost_legend_is_named_shown_and_hidden_with_the_ghost():
    plots = LivePlots(2, "rate", CLASSES)
    plots.figures()
    h = plots._h
    assert not any(r.visible for r, _ in h["ghost_r"])
    plots.set_ghost("sparse")
    labels = [item.label.value for item, _ in h["ghost_items"]]
    assert "ghost: training" in labels and "ghost: h2 vs backprop" in labels
    assert "ghost (sparse)" in labels       # the eigenvalue's entry names the ghost (the others fit a quarter of a screen)
    assert all(r.visible for r, _ in h["ghost_r"])
    plots.set_ghost("")
    assert not any(item.visible for item, _ in h["ghost_items"])


def test_identical_snapshots_draw_identical_main_and_ghost_curves():
    plots = LivePlots(2, "rate", CLASSES)
    plots.figures()
    snaps = [snap(k, n_hidden=2, test=9.0 if k % 10 == 0 else None) for k in range(1, 120)]
    for i in range(0, len(snaps), 7):
        feed(plots, "main", snaps[i:i + 7])
        feed(plots, "ghost", snaps[i:i + 7])
    h = plots._h
    assert plots.errors == 0 and plots.ghost.label == "backprop"
    for key in ("train_src", "test_src", "loss_src", "align_src"):
        ghost_data = h["g_" + key].data
        for col, values in ghost_data.items():
            np.testing.assert_array_equal(np.asarray(h[key].data[col]), np.asarray(values), err_msg=col)
    assert "wangle_h1" in h["align_src"].data and "wangle_h1" not in h["g_align_src"].data


# ------------------------------------------------------------------ one contract for both runs
@pytest.mark.parametrize("run", ["main", "ghost"])
def test_thinning_keeps_at_most_max_rows_covering_the_whole_run(run):
    plots = LivePlots(1, "rate", CLASSES)
    plots.figures()
    series = plots.main if run == "main" else plots.ghost
    prefix = "" if run == "main" else "g_"
    k = 0
    for _ in range(50):
        assert feed(plots, run, [snap(k + i) for i in range(100)])
        k += 100
    assert plots.errors == 0
    df = series.scalars.data
    assert len(df) <= MAX_ROWS and series.merge > 1                # thinned at least once
    assert df["examples_seen"].iloc[0] <= 2 * 50 * series.merge     # still starts at the beginning
    assert df["examples_seen"].iloc[-1] >= (k - series.merge) * 50  # and reaches the latest snapshot
    assert np.all(np.diff(df["examples_seen"].to_numpy()) > 0)
    for key, col in (("train_src", "x"), ("align_src", "examples_seen"), ("loss_src", "examples_seen")):
        np.testing.assert_array_equal(plots._h[prefix + key].data[col], df["examples_seen"].to_numpy(dtype=float))


@pytest.mark.parametrize("run", ["main", "ghost"])
def test_tests_from_updates_and_snapshots_reach_their_run_only(run):
    plots = LivePlots(1, "rate", CLASSES)
    plots.figures()
    feed(plots, run, [snap(1, test=12.0), snap(2)], tests=[(75, 11.0, 500)])
    mine, other = ("test_src", "g_test_src") if run == "main" else ("g_test_src", "test_src")
    assert list(plots._h[mine].data["x"]) == [75.0, 50.0] and list(plots._h[mine].data["y"]) == [11.0, 12.0]
    assert len(plots._h[other].data["x"]) == 0


def test_a_new_or_removed_ghost_starts_its_curves_afresh():
    plots = LivePlots(1, "rate", CLASSES)
    plots.figures()
    plots.update(update(ghost=ghost([snap(k) for k in range(1, 30)], tests=[(100, 20.0, 500)], new_run=True)))
    h = plots._h
    assert len(h["g_train_src"].data["x"]) == 29 and plots.ghost.run_id == 1
    plots.update(update(ghost=ghost([snap(5)], run_id=2, label="sparse")))       # rebuilt: a new run id
    assert list(h["g_train_src"].data["x"]) == [250.0] and len(h["g_test_src"].data["x"]) == 0
    assert plots.ghost.label == "sparse"
    plots.update(update(ghost=ghost(run_id=-1, new_run=True, label="", spec=None)))    # switched off
    assert len(h["g_train_src"].data["x"]) == 0 and plots.ghost.label == ""
    assert not any(r.visible for r, _ in h["ghost_r"])


# ------------------------------------------------------------------ series
def test_running_mean_ignores_gaps_and_holds_a_constant():
    state = {}
    rows = [snapshot_row(snap(k), 1, state) for k in range(1, 5)]
    assert set(rows[0]) == set(scalar_columns(1))
    s = snap(9)
    s.train_error_pct = float("nan")
    before = dict(state)
    assert np.isnan(snapshot_row(s, 1, state)["train_err"]) and state["train_err"] == before["train_err"]
    flat = {}
    for k in range(1, 4 * SMOOTH_EXAMPLES // 50):
        s = snap(k)
        s.train_error_pct = 30.0
        row = snapshot_row(s, 1, flat)
    assert row["train_err"] == pytest.approx(30.0)


def test_series_merges_snapshots_once_thinned():
    s = Series(1)
    s.merge = 3
    rows = s.rows([snap(k) for k in range(1, 8)])
    assert [r["examples_seen"] for r in rows] == [150.0, 300.0] and len(s.pending) == 1
    assert columns_of_tests([], [snap(1)]) is None
    tests = columns_of_tests([(10, 5.0, 100)], [snap(2, test=4.0)])
    assert tests == {"examples_seen": [10.0, 100.0], "test_err": [5.0, 4.0]}


def test_feeds_stream_rows_and_keep_log_axes_free_of_zeros():
    src = ColumnDataSource({"examples_seen": [], "loss_out": []})
    f = Feed(src, (("examples_seen", "examples_seen"), ("loss_out", "loss_out")), positive=True)
    write_feeds([f], pd.DataFrame({"examples_seen": [0.0, 1.0], "loss_out": [0.0, 0.5], "other": [1, 2]}), True)
    assert src.data["examples_seen"].tolist() == [0.0, 1.0] and np.isnan(src.data["loss_out"][0])
    write_feeds([f], pd.DataFrame({"examples_seen": [2.0], "loss_out": [0.25]}), False)
    assert list(src.data["loss_out"][1:]) == [0.5, 0.25]
    write_feeds([f], pd.DataFrame({"examples_seen": [], "loss_out": []}), False)     # nothing to stream
    assert len(src.data["examples_seen"]) == 3


# ------------------------------------------------------------------ groups
def _builders(n_hidden, mode):
    from bokeh.models import DataRange1d
    x = DataRange1d(start=0, only_visible=True)
    labels = np.arange(30) % 10
    curve = (np.array([0.0, 1e4, 1e6]), np.array([50.0, 10.0, 2.0]))
    return {"learning": learning.build(x, n_hidden, 4.1, curve), "alignment": alignment.build(x, n_hidden),
            "plateaus": plateaus.build(n_hidden, mode), "tsne": tsne_map.build(n_hidden, CLASSES, labels, []),
            "example": example.build(CLASSES)}


def _sources(value):
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, ColumnDataSource)]


@pytest.mark.parametrize("n_hidden, mode", [(0, "rate"), (1, "rate"), (2, "spiking")])
def test_each_group_returns_the_sources_its_figures_draw(n_hidden, mode):
    pipes = {"plateau", "traces", "example", "tsne", "paper"}
    columns = {MAIN.name: set(scalar_columns(n_hidden)), GHOST.name: set(scalar_columns(n_hidden))}
    for name, group in _builders(n_hidden, mode).items():
        drawn = {id(r.data_source) for f in group.figures for r in f.renderers if isinstance(r, GlyphRenderer)}
        handed = [s for v in group.handles.values() for s in _sources(v)]
        assert all(id(s) in drawn for s in handed), name                  # each source is on a figure
        assert set(group.shows) <= pipes, name
        for run, feeds in group.feeds.items():
            for f in feeds:
                assert any(f.source is s for s in handed), (name, run)    # and each fed one is handed out
                wanted = {"examples_seen", "test_err"} if f.stream == "tests" else columns[run]
                assert {col for _, col in f.columns} <= wanted, (name, run)
                assert [c for c, _ in f.columns] == list(f.source.data), (name, run)
        assert all(r in [x for f in group.figures for x in f.renderers] for r, _ in group.ghost), name
    groups = _builders(n_hidden, mode)
    assert bool(groups["alignment"].feeds) == bool(n_hidden) and bool(groups["tsne"].shows) == bool(n_hidden)
    assert ("traces" in groups["plateaus"].shows) == (mode == "spiking" and n_hidden > 0)


def test_static_layout_holds_the_data_without_following_the_streams():
    plots = LivePlots(1, "rate", CLASSES, paper_error=4.1)
    plots.figures()
    plots.update(update([snap(k) for k in range(1, 10)]))
    caption, grid = plots.static_layout().children
    assert "Dendrite Lab" in caption.text
    error_fig = grid.children[0][0]
    assert error_fig.toolbar_location is None and error_fig.sizing_mode == "fixed"      # a file, not a page
    src = next(r.data_source for r in error_fig.renderers if r.data_source.data.get("x") is not None
               and len(r.data_source.data["x"]))
    assert len(src.data["x"]) == 9
    plots.update(update([snap(k) for k in range(10, 15)]))
    assert len(src.data["x"]) == 9 and len(plots._h["train_src"].data["x"]) == 14


@pytest.mark.parametrize("n_hidden,mode", [(1, "spiking"), (2, "rate")])
def test_figures_carry_one_glyph_per_renderer_and_share_their_stateless_parts(n_hidden, mode):
    """app/plots/base.py ``slim``: no unused glyph copies, one filter, label policy and selection policy."""
    from bokeh.models import AllIndices, AllLabels, Glyph, UnionRenderers
    figs = [f for group in LivePlots(n_hidden, mode, CLASSES, paper_error=4.1).figures().values() for f in group]
    models = set().union(*(f.references() for f in figs))
    renderers = [m for m in models if isinstance(m, GlyphRenderer)]
    assert len(renderers) > 20
    assert all(r.nonselection_glyph == "auto" and r.muted_glyph == "auto" for r in renderers)
    assert {m for m in models if isinstance(m, Glyph)} == {r.glyph for r in renderers}
    for kind in (AllIndices, AllLabels, UnionRenderers):
        assert sum(isinstance(m, kind) for m in models) == 1, kind.__name__
    assert {r.view.filter for r in renderers} == {m for m in models if isinstance(m, AllIndices)}


def test_the_tsne_title_says_when_a_full_server_rations_the_maps():
    labels = np.arange(20) % 10
    plots = LivePlots(1, "rate", CLASSES, probe_labels=labels)
    fig = plots.figures()["tsne"][0]
    xy = np.arange(40, dtype=float).reshape(20, 2)
    plots.update(update(tsne=SimpleNamespace(xy=xy, examples_seen=700, rationed=False)))
    assert fig.title.text == "t-SNE map of the top hidden layer, 20 test images, 700 examples"
    plots.update(update(tsne=SimpleNamespace(xy=xy, examples_seen=900, rationed=True)))
    assert fig.title.text.endswith("900 examples · full server: fewer maps")
    assert sorted(plots._h["tsne_src"].data["x"]) == sorted(xy[:, 0])


def test_progress_reports_show_the_latest_example_but_add_no_curve_point():
    from dendcore import SCHEMA_VERSION, Snapshot
    from app.controller import Update
    from app.plots import LivePlots

    def snap(k):
        return Snapshot(version=SCHEMA_VERSION, examples_seen=k, epoch=0.0, wall_s=0.0, examples=1,
                        loss_output=0.5, loss_hidden=[0.2], train_error_pct=0.0, example_index=k,
                        example_label=3, example_prediction=3, example_output_rates=[0.1] * 10)

    lp = LivePlots(1, "rate", tuple(str(k) for k in range(10)))
    lp.figures()
    lp.update(Update(run_id=1, snapshots=[snap(100)]))
    lp.update(Update(run_id=1, progress=[snap(101), snap(102)]))
    assert len(lp.scalars.data) == 1, "a progress report is not a row of the learning curves"
    assert lp.example.data["examples_seen"] == 102


@pytest.mark.parametrize("start, end, ticks", [
    (80, 4200, [100, 200, 500, 1000, 2000]),               # the first minutes of a run: 1-2-5
    (4200, 80, [100, 200, 500, 1000, 2000]),               # (a flipped range)
    (300, 120_000, [300, 1000, 3000, 10_000, 30_000, 100_000]),     # 2.6 decades: 1-3
    (10, 3_600_000, [10, 100, 1000, 10_000, 100_000, 1_000_000]),   # the 60-epoch reference: powers of ten
    (0.1, 10, [1, 3, 10]),                                 # an empty plot: no fractions of an example
    (48_100, 49_000, [48_200, 48_400, 48_600, 48_800, 49_000]),    # a run taken over late: round steps
    (48_100, 60_000, [50_000, 55_000, 60_000]),
    (1_000_000, 1_000_400, [1_000_000]),                   # no two ticks that would read "1m"
    (0, 0, []),
])
def test_the_examples_axis_ticks_stay_evenly_spread_on_the_log_scale(start, end, ticks):
    """The x ticker of every examples axis, run in node as the browser runs it (Bokeh's own LogTicker
    puts linear ticks on ranges under two decades, crowding 1.5k, 2k, 2.5k, ... at the right end)."""
    import json
    import shutil
    import subprocess
    from app.plots.base import EXAMPLES_TICKS_JS, new_fig
    from bokeh.models import CustomJSTicker
    assert isinstance(new_fig("x").xaxis[0].ticker, CustomJSTicker)
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is installed with the browser tests' npm packages"
    script = f"const f = function(cb_data) {{ {EXAMPLES_TICKS_JS} }};\n" \
             f"console.log(JSON.stringify(f({{start: {start}, end: {end}}})));"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [round(t) for t in json.loads(out.stdout)] == ticks
