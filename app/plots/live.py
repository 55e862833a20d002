"""The live plots: HoloViews Buffer/Pipe streams feeding Bokeh figures.

One :class:`LivePlots` exists per run (a new network gets new figures, so the
number of curves always matches the number of layers).  The page's periodic
callback hands each :class:`app.controller.Update` to :meth:`LivePlots.update`,
inside ``pn.io.hold()``, which sends it into the HoloViews streams:

* ``scalars`` -- a :class:`holoviews.streams.Buffer` of one row per snapshot
  (running-mean training error and losses, angles, eigenvalue);
* ``tests`` -- a Buffer of test-error measurements;
* ``plateau``, ``traces``, ``example``, ``tsne``, ``paper`` -- Pipes holding the
  latest value.

Each stream has one light subscriber that writes into the data sources of
Bokeh figures built once per run (new rows are streamed, small arrays
replaced; the t-SNE map only resends x and y).  We measured HoloViews
DynamicMaps redrawing the same five plot groups at about 140 ms of CPU per
update on the 2-core reference machine, against a few milliseconds this way,
and the page must refresh at least four times a second next to the training
thread.

A ghost run (app/ghost.py) has its own pair of Buffers (``ghost.scalars``,
``ghost.tests``) feeding dashed purple curves on the same axes as the main run's
learning curves, losses, angles and eigenvalue; they are hidden while there is
no ghost.

Bounded: the scalar Buffer and its plots keep at most ``MAX_ROWS`` rows; when
they fill up, neighbouring rows are merged pairwise and later snapshots are
merged two at a time (then four, ...), so the curves always show the whole
run.  The test Buffer keeps the last ``MAX_TESTS`` measurements.
"""
from __future__ import annotations

import base64
import io
import logging
import math
import threading

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.core.properties import value
from bokeh.layouts import gridplot
from bokeh.models import (BoxAnnotation, ColumnDataSource, DataRange1d, FixedTicker, HoverTool, Legend,
                          LinearColorMapper, NumeralTickFormatter, Range1d, Slope, Span)
from bokeh.plotting import figure
from bokeh.palettes import Greys256
from bokeh.transform import factor_cmap

from dendcore import Snapshot
from dendcore.snapshot import Traces

log = logging.getLogger("dendrite_lab.plots")

MAX_ROWS = 2000
MAX_TESTS = 2000
SMOOTH_EXAMPLES = 1000      # running-mean window (in examples) of training error and losses
WIDTH = 440
HEIGHT = 230
LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")
# the ghost run: dashed, in purples and an orange the main run's plots do not use for the same thing
GHOST_TRAIN = "#7e3fa0"
GHOST_TEST = "#e6550d"
GHOST_LAYERS = ("#7e3fa0", "#b07cc6", "#d4b3e0")
GHOST_DASH = "dashed"
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
POTENTIALS = (("V", "V (soma)", "#222222", 2.0), ("V_b", "V_b (basal)", "#1f77b4", 1.5),
              ("V_a", "V_a (apical)", "#d62728", 1.5))
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"

_IMAGE_CACHE: dict[tuple, list[str]] = {}
_IMAGE_LOCK = threading.Lock()


# ------------------------------------------------------------------ images
def png_data_uri(img: np.ndarray, scale: int = 1) -> str:
    """A small greyscale PNG (white background, dark ink) as a data URI, for hover tooltips."""
    from PIL import Image
    a = 255 - np.asarray(img, dtype=np.uint8)
    im = Image.fromarray(a, mode="L")
    if scale > 1:
        im = im.resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def probe_image_uris(dataset, indices: np.ndarray) -> list[str]:
    """Data URIs of the probe test images; made once per data set and probe set, shared by sessions."""
    key = (dataset.name, len(indices), int(indices[0]) if len(indices) else 0,
           int(indices[-1]) if len(indices) else 0)
    with _IMAGE_LOCK:
        if key not in _IMAGE_CACHE:
            side = int(round(math.sqrt(dataset.n_inputs)))
            _IMAGE_CACHE[key] = [png_data_uri(dataset.test_images[int(i)].reshape(side, side)) for i in indices]
        return _IMAGE_CACHE[key]


# ------------------------------------------------------------------ helpers
def _num(v) -> float:
    return float(v) if v is not None and math.isfinite(v) else math.nan


def _merge_rows(rows: list[dict]) -> dict:
    if len(rows) == 1:
        return dict(rows[0])
    out = {}
    for k in rows[0]:
        if k == "examples_seen":
            out[k] = rows[-1][k]
        else:
            vals = [r[k] for r in rows if r[k] is not None and math.isfinite(r[k])]
            out[k] = float(np.mean(vals)) if vals else math.nan
    return out


def _columns(df: pd.DataFrame) -> dict:
    return {c: df[c].to_numpy(dtype=float) for c in df.columns}


def _fig(title: str, height: int = HEIGHT, examples_axis: bool = True, **kw):
    f = figure(width=WIDTH, height=height, title=title, tools=TOOLS, toolbar_location="right", **kw)
    f.title.text_font_size = "11pt"
    f.toolbar.logo = None
    if examples_axis:
        f.xaxis.formatter = NumeralTickFormatter(format="0.[0]a")     # 500, 20k, 1.5m
    return f


def _legend_above(f, columns: int | None = None) -> None:
    """Move the figure's legend above the plot area, in one row (it never covers the curves)."""
    if not f.legend:
        return
    leg: Legend = f.legend[0]
    leg.orientation = "horizontal"
    leg.label_text_font_size = "9pt"
    leg.spacing = 6
    leg.padding = 2
    leg.margin = 2
    leg.click_policy = "hide"
    f.add_layout(leg, "above")


def _square_range(values, fallback=(0.4, 0.6)) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return fallback
    lo, hi = float(v.min()), float(v.max())
    pad = 0.06 * max(hi - lo, 1e-3)
    return lo - pad, hi + pad


def _bounded_rows(buffer, columns: list[str], rows: list[dict]) -> tuple[pd.DataFrame, bool]:
    """The rows to send to a Buffer of at most ``MAX_ROWS``, and whether they replace it: when the
    new rows would overflow it, the whole curve thinned (neighbours merged pairwise)."""
    new = pd.DataFrame(rows, columns=columns)
    if len(buffer.data) + len(new) <= MAX_ROWS:
        return new, False
    records = pd.concat([buffer.data, new], ignore_index=True).to_dict("records")
    return pd.DataFrame([_merge_rows(records[i:i + 2]) for i in range(0, len(records), 2)], columns=columns), True


class _Series:
    """The ghost's curves: smoothed, merged and bounded like the main run's (see module doc)."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.scalars = hv.streams.Buffer(pd.DataFrame({c: np.zeros(0) for c in columns}), length=MAX_ROWS,
                                         index=False)
        self.tests = hv.streams.Buffer(pd.DataFrame({"examples_seen": np.zeros(0), "test_err": np.zeros(0)}),
                                       length=MAX_TESTS, index=False)
        self.label = ""             # "" = no ghost: its curves are hidden
        self.run_id = None
        self.reset()

    def reset(self) -> None:
        self.merge = 1
        self.pending: list[dict] = []
        self.smooth: dict[str, tuple[float, float]] = {}
        self.new_rows: pd.DataFrame | None = None
        self.replace = False

    def send_rows(self, rows: list[dict]) -> None:
        self.new_rows, self.replace = _bounded_rows(self.scalars, self.columns, rows)
        if self.replace:
            self.merge *= 2
            self.scalars.clear()
        self.scalars.send(self.new_rows)


class LivePlots:
    """Streams and figures of one run."""

    def __init__(self, n_hidden: int, mode: str, classes: tuple[str, ...], paper_error: float | None = None,
                 paper_curve=None, probe_uris: list[str] | None = None, probe_labels=None, title: str = ""):
        self.n_hidden = int(n_hidden)
        self.mode = mode
        self.classes = tuple(classes)
        self.paper_error = paper_error
        self.paper_curve = paper_curve
        self.probe_labels = np.asarray(probe_labels if probe_labels is not None else [], dtype=np.int64)
        self.probe_uris = list(probe_uris or [])
        self.title = title
        h = range(1, self.n_hidden + 1)
        self._loss_cols = [f"loss_h{j}" for j in h]
        self._angle_cols = [f"angle_h{j}" for j in h]
        self._wangle_cols = [f"wangle_h{j}" for j in h]
        self.columns = (["examples_seen", "train_err", "loss_out"] + self._loss_cols + self._angle_cols
                        + self._wangle_cols + ["eig"])
        # the HoloViews streams: the drain sends into these, once per poll
        self.scalars = hv.streams.Buffer(pd.DataFrame({c: np.zeros(0) for c in self.columns}),
                                         length=MAX_ROWS, index=False)
        self.tests = hv.streams.Buffer(pd.DataFrame({"examples_seen": np.zeros(0), "test_err": np.zeros(0)}),
                                       length=MAX_TESTS, index=False)
        self.plateau = hv.streams.Pipe(data=None)
        self.traces = hv.streams.Pipe(data=None)
        self.example = hv.streams.Pipe(data=None)
        self.tsne = hv.streams.Pipe(data=None)
        self.paper = hv.streams.Pipe(data=None)
        self.ghost = _Series(self.columns)
        # row merging keeps the Buffer bounded while covering the whole run
        self._merge = 1
        self._pending: list[dict] = []
        self._smooth: dict[str, tuple[float, float]] = {}
        self._new_rows: pd.DataFrame | None = None     # rows of the latest send (streamed to the figures)
        self._replace_rows = False                      # the latest send replaced the buffer (thinning)
        self.updates = 0
        self.errors = 0
        self._figs: dict[str, list] | None = None
        self._h: dict = {}

    # ------------------------------------------------------------- ingest
    def update(self, up, example_image=None) -> bool:
        """Send one poll's news into the streams (the figures follow); True when anything was sent.

        A failure in one plot is logged and does not stop the others.
        """
        sent = False
        if up.snapshots:
            rows = []
            for s in up.snapshots:
                self._pending.append(self._row(s))
                if len(self._pending) >= self._merge:
                    rows.append(_merge_rows(self._pending))
                    self._pending = []
            if rows:
                self._safe("learning curves", self._send_rows, rows)
            last = up.snapshots[-1]
            if self.paper_curve is not None:
                self._safe("paper curve", self.paper.send, self._paper_points(float(last.examples_seen)))
            if last.alpha_f is not None and self.n_hidden:
                self._safe("plateaus", self.plateau.send,
                           {"alpha_f": last.alpha_f, "alpha_t": last.alpha_t, "examples_seen": last.examples_seen})
            if self.mode == "spiking" and last.traces is not None and self.n_hidden:
                self._safe("traces", self.traces.send, {"traces": last.traces, "examples_seen": last.examples_seen})
            if last.example_index is not None and last.example_output_rates is not None:
                img = example_image(last.example_index) if example_image is not None else None
                self._safe("example", self.example.send,
                           {"image": img, "rates": last.example_output_rates, "label": last.example_label,
                            "prediction": last.example_prediction, "examples_seen": last.examples_seen})
            sent = True
        tests = list(getattr(up, "tests", []) or [])
        tests += [(s.examples_seen, s.test_error_pct, s.test_images) for s in up.snapshots
                  if s.test_error_pct is not None]
        if tests:
            self._safe("test error", self.tests.send, pd.DataFrame(
                {"examples_seen": [float(t[0]) for t in tests], "test_err": [float(t[1]) for t in tests]}))
            sent = True
        if up.tsne is not None and self.n_hidden and len(self.probe_labels) == len(up.tsne.xy):
            self._safe("t-SNE", self.tsne.send, {"xy": np.asarray(up.tsne.xy), "examples_seen": up.tsne.examples_seen})
            sent = True
        g = getattr(up, "ghost", None)
        if g is not None:
            self._safe("ghost", self._update_ghost, g)
            sent = True
        if sent:
            self.updates += 1
        return sent

    def _safe(self, what: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self.errors += 1
            if self.errors <= 5:
                log.exception("updating the %s plot failed: %s", what, exc)

    def _update_ghost(self, g) -> None:
        """The ghost's news: a (re)built or removed ghost clears its curves; then rows and tests."""
        series = self.ghost
        if g.new_run or g.run_id != series.run_id:
            series.run_id = g.run_id
            series.reset()
            series.scalars.clear()
            series.tests.clear()
            self.set_ghost(getattr(g, "label", "") if g.spec is not None or g.snapshots else "")
        rows = []
        for s in g.snapshots:
            series.pending.append(self._row(s, series.smooth))
            if len(series.pending) >= series.merge:
                rows.append(_merge_rows(series.pending))
                series.pending = []
        if rows:
            series.send_rows(rows)
        tests = list(g.tests) + [(s.examples_seen, s.test_error_pct, s.test_images) for s in g.snapshots
                                 if s.test_error_pct is not None]
        if tests:
            series.tests.send(pd.DataFrame({"examples_seen": [float(t[0]) for t in tests],
                                            "test_err": [float(t[1]) for t in tests]}))

    def set_ghost(self, label: str) -> None:
        """Show the ghost's curves under this name ("" hides them)."""
        self.ghost.label = label
        if self._h:
            self._show_ghost(self._h)

    def _row(self, s: Snapshot, state: dict | None = None) -> dict:
        n = max(1, s.examples)
        decay = math.exp(-n / SMOOTH_EXAMPLES)
        row = {"examples_seen": float(s.examples_seen)}
        state = self._smooth if state is None else state

        def smooth(key, value):
            """Running mean over about SMOOTH_EXAMPLES examples (the exact mean while fewer were seen)."""
            if value is None or not math.isfinite(value):
                return math.nan
            total, weight = state.get(key, (0.0, 0.0))
            total = total * decay + n * value
            weight = weight * decay + n
            state[key] = (total, weight)
            return total / weight

        row["train_err"] = smooth("train_err", s.train_error_pct)
        row["loss_out"] = smooth("loss_out", s.loss_output)
        hid = s.loss_hidden or []
        ang = s.angle_to_backprop_deg or []
        wang = s.weight_angle_deg or []
        for j in range(self.n_hidden):
            row[f"loss_h{j + 1}"] = smooth(f"loss_h{j + 1}", hid[j] if j < len(hid) else None)
            row[f"angle_h{j + 1}"] = _num(ang[j] if j < len(ang) else None)
            row[f"wangle_h{j + 1}"] = _num(wang[j] if j < len(wang) else None)
        row["eig"] = _num(s.eig_jacobian)
        return row

    def _send_rows(self, rows: list[dict]) -> None:
        # set before sending: the buffer's subscriber streams exactly these rows to the figures
        self._new_rows, self._replace_rows = _bounded_rows(self.scalars, self.columns, rows)
        if self._replace_rows:
            self._merge *= 2          # later snapshots are merged twice as much
            self.scalars.clear()
        self.scalars.send(self._new_rows)

    def _paper_points(self, upto: float):
        """The paper's curve up to a little past this run's progress (so the axis follows the run)."""
        x, y = self.paper_curve
        limit = max(upto * 1.15, 1000.0)
        keep = x <= limit
        xs, ys = list(x[keep]), list(y[keep])
        after = np.flatnonzero(~keep)
        if xs and after.size:      # end the line exactly at the limit, by interpolation
            j = after[0]
            ys.append(float(np.interp(limit, [xs[-1], x[j]], [ys[-1], y[j]])))
            xs.append(limit)
        return {"x": np.asarray(xs, dtype=float), "y": np.asarray(ys, dtype=float)}

    # ------------------------------------------------------------ figures
    def figures(self) -> dict[str, list]:
        """Bokeh figures per plot group, built once and kept up to date by stream subscribers."""
        if self._figs is None:
            self._figs, self._h = self._build(live=True)
        return self._figs

    def static_layout(self):
        """Fresh figures holding the current data (for export: no live links to the session)."""
        figs, _ = self._build(live=False)
        items = [f for name in ("learning", "alignment", "plateaus", "tsne", "example") for f in figs[name]]
        return gridplot(items, ncols=2, merge_tools=False)

    def _build(self, live: bool):
        h: dict = {}
        figs: dict[str, list] = {}
        ex_range = DataRange1d(start=0, only_visible=True)

        # ---- learning curves
        title = "Error (%)"
        if self.paper_error is not None:
            title = f"Error (%); dashed: the paper after 60 epochs, {self.paper_error:g} %"
        f = _fig(title, height=HEIGHT + 20, x_range=ex_range, y_range=DataRange1d(start=0, only_visible=True))
        h["train_src"] = ColumnDataSource({"x": [], "y": []})
        f.line("x", "y", source=h["train_src"], line_width=2, color="#1f77b4", legend_label="training (running mean)")
        h["test_src"] = ColumnDataSource({"x": [], "y": []})
        tr = f.scatter("x", "y", source=h["test_src"], size=7, color="#d62728", legend_label="test")
        f.line("x", "y", source=h["test_src"], line_width=1, color="#d62728", alpha=0.5, legend_label="test")
        f.add_tools(HoverTool(renderers=[tr], tooltips=[("examples", "@x{0,0}"), ("test error", "@y{0.0} %")]))
        if self.paper_error is not None:
            f.add_layout(Span(location=self.paper_error, dimension="width", line_dash="dashed", line_color="#555555",
                              line_width=1.5))
        if self.paper_curve is not None:
            h["paper_src"] = ColumnDataSource({"x": [], "y": []})
            f.line("x", "y", source=h["paper_src"], line_dash="dotted", line_width=2, color="#555555",
                   legend_label="60-epoch reference (test)")
        f.xaxis.axis_label = "examples seen"
        ghost_r: list = []           # the ghost's renderers, with the legend text after "ghost (NAME): "
        h["g_train_src"] = ColumnDataSource({"x": [], "y": []})
        h["g_test_src"] = ColumnDataSource({"x": [], "y": []})
        ghost_r.append((f.line("x", "y", source=h["g_train_src"], line_width=2, color=GHOST_TRAIN,
                               line_dash=GHOST_DASH, legend_label="ghost: training"), "training"))
        gt = f.scatter("x", "y", source=h["g_test_src"], size=7, marker="triangle", color=GHOST_TEST,
                       legend_label="ghost: test")
        ghost_r.append((gt, "test"))
        ghost_r.append((f.line("x", "y", source=h["g_test_src"], line_width=1.5, color=GHOST_TEST, alpha=0.7,
                               line_dash=GHOST_DASH, legend_label="ghost: test"), "test"))
        f.add_tools(HoverTool(renderers=[gt], tooltips=[("ghost", "@x{0,0} examples"), ("test error", "@y{0.0} %")]))
        _legend_above(f)
        loss = _fig("Layer losses (running mean)", height=HEIGHT + 20, x_range=ex_range, y_axis_type="log")
        h["loss_src"] = ColumnDataSource({c: [] for c in ["examples_seen", "loss_out"] + self._loss_cols})
        loss.line("examples_seen", "loss_out", source=h["loss_src"], color="#d62728", line_width=2,
                  legend_label="output L_out")
        for j, col in enumerate(self._loss_cols):
            loss.line("examples_seen", col, source=h["loss_src"], color=LAYER_COLORS[j % 3], line_width=2,
                      legend_label=f"hidden {j + 1} L_{j + 1}")
        # 1-2-5 ticks sit evenly on a log axis (the default crowds labels within one decade)
        loss.yaxis.ticker = FixedTicker(ticks=[m * 10.0 ** e for e in range(-6, 3) for m in (1, 2, 5)])
        loss.xaxis.axis_label = "examples seen"
        h["g_loss_src"] = ColumnDataSource({c: [] for c in ["examples_seen", "loss_out"] + self._loss_cols})
        ghost_r.append((loss.line("examples_seen", "loss_out", source=h["g_loss_src"], color=GHOST_TEST,
                                  line_width=2, line_dash=GHOST_DASH, legend_label="ghost: L_out"), "L_out"))
        for j, col in enumerate(self._loss_cols):
            ghost_r.append((loss.line("examples_seen", col, source=h["g_loss_src"], color=GHOST_LAYERS[j % 3],
                                      line_width=2, line_dash=GHOST_DASH, legend_label=f"ghost: L_{j + 1}"),
                            f"L_{j + 1}"))
        _legend_above(loss)
        figs["learning"] = [f, loss]

        # ---- alignment
        if self.n_hidden:
            # starts a little below 0°: a backprop ghost's line at exactly 0° would hide in the axis
            ang = _fig("Angles: solid, update vs backprop; dashed, Y vs W", height=HEIGHT + 20, x_range=ex_range,
                       y_range=DataRange1d(start=-4, only_visible=True))
            h["align_src"] = ColumnDataSource({c: [] for c in ["examples_seen", "eig"] + self._angle_cols
                                               + self._wangle_cols})
            for j, (col, wcol) in enumerate(zip(self._angle_cols, self._wangle_cols)):
                c = LAYER_COLORS[j % 3]
                ang.line("examples_seen", col, source=h["align_src"], color=c, line_width=2,
                         legend_label=f"h{j + 1} vs backprop")
                ang.line("examples_seen", wcol, source=h["align_src"], color=c, line_width=1.5, line_dash="dashed",
                         legend_label=f"Y_{j + 1} vs W")
            ang.yaxis.axis_label = "angle (°)"
            ang.xaxis.axis_label = "examples seen"
            h["g_align_src"] = ColumnDataSource({c: [] for c in ["examples_seen", "eig"] + self._angle_cols})
            for j, col in enumerate(self._angle_cols):
                ghost_r.append((ang.line("examples_seen", col, source=h["g_align_src"], color=GHOST_LAYERS[j % 3],
                                         line_width=2, line_dash=GHOST_DASH,
                                         legend_label=f"ghost: h{j + 1} vs backprop"), f"h{j + 1} vs backprop"))
            _legend_above(ang)
            eig = _fig("Theorem-1 eigenvalue (learning guaranteed below 1)", x_range=ex_range,
                       y_range=DataRange1d(start=0, only_visible=True))
            eig.line("examples_seen", "eig", source=h["align_src"], color="#9467bd", line_width=2,
                     legend_label="this run")
            ghost_r.append((eig.line("examples_seen", "eig", source=h["g_align_src"], color=GHOST_TEST, line_width=2,
                                     line_dash=GHOST_DASH, legend_label="ghost"), ""))
            _legend_above(eig)
            h["eig_legend"] = eig.legend[0]
            eig.add_layout(Span(location=1.0, dimension="width", line_dash="dashed", line_color="#333333",
                                line_width=1.5))
            eig.yaxis.axis_label = "largest eigenvalue"
            eig.xaxis.axis_label = "examples seen"
            figs["alignment"] = [ang, eig]
        else:
            figs["alignment"] = [_note_fig("No hidden layer: there is no feedback to align.")]

        # ---- plateaus and traces
        if self.n_hidden:
            p = _fig("Plateaus α of sample hidden neurons", examples_axis=False, x_range=Range1d(0.4, 0.6),
                     y_range=Range1d(0.4, 0.6))
            p.add_layout(Slope(gradient=1, y_intercept=0, line_color="#888888", line_dash="dashed"))
            h["plateau_src"] = []
            renderers = []
            for j in range(self.n_hidden):
                src = ColumnDataSource({"x": [], "y": []})
                renderers.append(p.scatter("x", "y", source=src, size=7, alpha=0.8, color=LAYER_COLORS[j % 3],
                                           legend_label=f"hidden {j + 1}"))
                h["plateau_src"].append(src)
            p.add_tools(HoverTool(renderers=renderers, tooltips=[("α^f", "@x{0.000}"), ("α^t", "@y{0.000}")]))
            p.xaxis.axis_label = "α^f (forward-phase plateau)"
            p.yaxis.axis_label = "α^t (target phase)"
            if self.n_hidden > 1:
                p.legend.location = "bottom_right"
            else:
                p.legend.visible = False
            h["plateau_fig"] = p
            group = [p]
            if self.mode == "spiking":
                t = _fig("Voltages through the latest example", height=HEIGHT + 20, examples_axis=False)
                h["trace_src"] = ColumnDataSource({"t": [], "V": [], "V_b": [], "V_a": []})
                for key, label, color, width in POTENTIALS:
                    t.line("t", key, source=h["trace_src"], color=color, line_width=width, legend_label=label)
                h["win_f"] = BoxAnnotation(left=0, right=0, fill_color="#1f77b4", fill_alpha=0.12)
                h["win_t"] = BoxAnnotation(left=0, right=0, fill_color="#d62728", fill_alpha=0.12)
                h["phase"] = Span(location=0, dimension="height", line_dash="dotted", line_color="#444444")
                for a in (h["win_f"], h["win_t"], h["phase"]):
                    t.add_layout(a)
                t.xaxis.axis_label = "time step (ms): forward phase | target phase"
                t.yaxis.axis_label = "potential"
                _legend_above(t)
                h["trace_fig"] = t
                group.append(t)
            else:
                group.append(_note_fig("Voltage traces exist in spiking mode only:",
                                       "rate mode jumps straight to",
                                       "each phase's steady state."))
            figs["plateaus"] = group
        else:
            figs["plateaus"] = [_note_fig("No hidden layer: no apical dendrites,", "so no plateau potentials.")]

        # ---- t-SNE
        if self.n_hidden and len(self.probe_labels):
            order = np.argsort(self.probe_labels, kind="stable")     # legend lists the classes in order
            h["tsne_order"] = order
            names = [self._name(k) for k in self.probe_labels[order]]
            uris = [self.probe_uris[i] for i in order] if len(self.probe_uris) == len(order) else [""] * len(order)
            n = len(order)
            # the hover images (~0.3 kB each) travel with the first map, not with the page
            h["tsne_uris"] = uris
            h["tsne_src"] = ColumnDataSource({"x": np.full(n, np.nan), "y": np.full(n, np.nan), "cls": names,
                                              "img": [""] * n})
            ts = figure(width=WIDTH + 40, height=WIDTH, tools="pan,wheel_zoom,box_zoom,reset,save",
                        title="Top hidden layer (the first map comes a few seconds after Play)",
                        toolbar_location="right")
            ts.title.text_font_size = "11pt"
            ts.toolbar.logo = None
            factors = list(self.classes)
            r = ts.scatter("x", "y", source=h["tsne_src"], size=5, alpha=0.85,
                           color=factor_cmap("cls", palette=[CLASS_COLORS[i % 10] for i in range(len(factors))],
                                             factors=factors), legend_field="cls")
            ts.add_tools(HoverTool(renderers=[r], tooltips="""
                <div style="display:flex;align-items:center;gap:6px">
                  <img src="@img" width="56" height="56" style="image-rendering:pixelated;border:1px solid #ccc">
                  <span style="font-size:14px">@cls</span>
                </div>"""))
            ts.xaxis.visible = False
            ts.yaxis.visible = False
            ts.grid.visible = False
            leg = ts.legend[0]
            leg.label_text_font_size = "9pt"
            ts.add_layout(leg, "right")
            h["tsne_fig"] = ts
            figs["tsne"] = [ts]
        else:
            figs["tsne"] = [_note_fig("No hidden layer: no hidden activity to map.")]

        # ---- the current example
        side = 28
        im = figure(width=270, height=270, title="Current example", tools="save", toolbar_location=None,
                    x_range=Range1d(0, side), y_range=Range1d(0, side))
        im.title.text_font_size = "10pt"
        im.axis.visible = False
        im.grid.visible = False
        h["image_src"] = ColumnDataSource({"image": [np.zeros((side, side))]})
        ink = LinearColorMapper(palette=list(reversed(Greys256)), low=0, high=255)   # white paper, dark ink
        im.image("image", x=0, y=0, dw=side, dh=side, source=h["image_src"], color_mapper=ink, level="image")
        h["image_fig"] = im
        names = [self._name(k) for k in range(len(self.classes))]
        bars = figure(width=320, height=250, x_range=names, title="Output rates (green = target, red = wrong guess)",
                      tools="save,hover", tooltips=[("class", "@cls"), ("rate", "@rate{0.000}")],
                      y_range=DataRange1d(start=0), toolbar_location=None)
        bars.title.text_font_size = "9pt"
        h["bars_src"] = ColumnDataSource({"cls": names, "rate": np.zeros(len(names)),
                                          "color": ["#9e9e9e"] * len(names)})
        bars.vbar(x="cls", top="rate", width=0.8, color="color", source=h["bars_src"])
        bars.xaxis.axis_label = "output neuron (forward phase)"
        bars.yaxis.axis_label = "rate (spikes/step)"
        if max((len(n) for n in names), default=1) > 2:
            bars.xaxis.major_label_orientation = 0.8
        figs["example"] = [im, bars]

        h["ghost_r"] = ghost_r
        h["ghost_items"] = [(item, dict(ghost_r)[r]) for fig in (f, loss, figs.get("alignment", [None])[0])
                            if fig is not None and fig.legend for item in fig.legend[0].items
                            for r in item.renderers[:1] if r in dict(ghost_r)]
        if "eig_legend" in h:
            h["ghost_items"] += [(item, "") for item in h["eig_legend"].items if item.renderers[0] in dict(ghost_r)]
        h["ghost_legends"] = list({id(item_legend): item_legend for fig in (f, loss, figs.get("alignment", [None])[0])
                                   if fig is not None and fig.legend for item_legend in fig.legend[:1]}.values())

        # fill with what the streams hold now, then follow them
        self._fill(h)
        if live:
            self.scalars.add_subscriber(lambda **kw: self._on_scalars(h))
            self.tests.add_subscriber(lambda **kw: self._on_tests(h))
            self.plateau.add_subscriber(lambda **kw: self._on_plateau(h, self.plateau.data))
            self.traces.add_subscriber(lambda **kw: self._on_traces(h, self.traces.data))
            self.example.add_subscriber(lambda **kw: self._on_example(h, self.example.data))
            self.tsne.add_subscriber(lambda **kw: self._on_tsne(h, self.tsne.data))
            self.paper.add_subscriber(lambda **kw: self._on_paper(h, self.paper.data))
            self.ghost.scalars.add_subscriber(lambda **kw: self._on_ghost_scalars(h))
            self.ghost.tests.add_subscriber(lambda **kw: self._on_ghost_tests(h))
        return figs, h

    def _fill(self, h) -> None:
        df = self.scalars.data
        self._set_scalars(h, df, replace=True)
        self._set_ghost_scalars(h, self.ghost.scalars.data, replace=True)
        self._on_ghost_tests(h)
        self._show_ghost(h)
        self._on_tests(h)
        if self.plateau.data is not None:
            self._on_plateau(h, self.plateau.data)
        if self.traces.data is not None:
            self._on_traces(h, self.traces.data)
        if self.example.data is not None:
            self._on_example(h, self.example.data)
        if self.tsne.data is not None:
            self._on_tsne(h, self.tsne.data)
        if self.paper.data is not None:
            self._on_paper(h, self.paper.data)

    # ------------------------------------------------- stream subscribers
    def _on_scalars(self, h) -> None:
        rows = self._new_rows
        if rows is None:
            rows, replace = self.scalars.data, True
        else:
            replace = self._replace_rows
        self._set_scalars(h, rows, replace=replace)

    def _set_scalars(self, h, df: pd.DataFrame, replace: bool) -> None:
        cols = _columns(df)
        parts = [("train_src", {"x": cols["examples_seen"], "y": cols["train_err"]}),
                 ("loss_src", {c: cols[c] for c in ["examples_seen", "loss_out"] + self._loss_cols})]
        if "align_src" in h:
            parts.append(("align_src", {c: cols[c] for c in ["examples_seen", "eig"] + self._angle_cols
                                        + self._wangle_cols}))
        for key, data in parts:
            src = h[key]
            if key == "loss_src":      # a log axis cannot show zeros
                data = {k: (np.where(v > 0, v, np.nan) if k != "examples_seen" else v) for k, v in data.items()}
            if replace:
                src.data = data
            elif len(data["examples_seen" if "examples_seen" in data else "x"]):
                src.stream(data, rollover=MAX_ROWS)

    def _on_ghost_scalars(self, h) -> None:
        g = self.ghost
        if g.new_rows is None:
            self._set_ghost_scalars(h, g.scalars.data, replace=True)
        else:
            self._set_ghost_scalars(h, g.new_rows, replace=g.replace or not len(g.scalars.data))

    def _set_ghost_scalars(self, h, df: pd.DataFrame, replace: bool) -> None:
        cols = _columns(df)
        parts = [("g_train_src", {"x": cols["examples_seen"], "y": cols["train_err"]}),
                 ("g_loss_src", {c: (np.where(cols[c] > 0, cols[c], np.nan) if c != "examples_seen" else cols[c])
                                 for c in ["examples_seen", "loss_out"] + self._loss_cols})]
        if "g_align_src" in h:
            parts.append(("g_align_src", {c: cols[c] for c in ["examples_seen", "eig"] + self._angle_cols}))
        for key, data in parts:
            src = h[key]
            if replace:
                src.data = data
            elif len(next(iter(data.values()))):
                src.stream(data, rollover=MAX_ROWS)

    def _on_ghost_tests(self, h) -> None:
        df = self.ghost.tests.data
        h["g_test_src"].data = {"x": df["examples_seen"].to_numpy(dtype=float),
                                "y": df["test_err"].to_numpy(dtype=float)}

    def _show_ghost(self, h) -> None:
        """Ghost curves and legend entries visible, and named, exactly while there is a ghost."""
        label = self.ghost.label
        for r, _ in h.get("ghost_r", []):
            r.visible = bool(label)
        for item, what in h.get("ghost_items", []):
            item.visible = bool(label)
            item.label = value(f"ghost ({label})" + (f": {what}" if what else "") if label else "ghost")
        if "eig_legend" in h:
            h["eig_legend"].visible = bool(label)
        for legend in h.get("ghost_legends", []):
            legend.nrows = 2 if label else "auto"     # the ghost's entries would not fit in one row

    def _on_tests(self, h) -> None:
        df = self.tests.data
        h["test_src"].data = {"x": df["examples_seen"].to_numpy(dtype=float),
                              "y": df["test_err"].to_numpy(dtype=float)}

    def _on_paper(self, h, data) -> None:
        if "paper_src" in h and data is not None:
            h["paper_src"].data = {"x": np.asarray(data["x"], dtype=float), "y": np.asarray(data["y"], dtype=float)}

    def _on_plateau(self, h, data) -> None:
        if "plateau_src" not in h or data is None:
            return
        allv = []
        for j, src in enumerate(h["plateau_src"]):
            af = np.asarray(data["alpha_f"][j] if j < len(data["alpha_f"]) else [], dtype=float)
            at = np.asarray(data["alpha_t"][j] if j < len(data["alpha_t"]) else [], dtype=float)
            src.data = {"x": af, "y": at}
            allv.extend([af, at])
        lo, hi = _square_range(np.concatenate(allv) if allv else [])
        f = h["plateau_fig"]
        f.x_range.update(start=lo, end=hi)
        f.y_range.update(start=lo, end=hi)
        f.title.text = f"Plateaus α of sample hidden neurons, example {data['examples_seen']}"

    def _on_traces(self, h, data) -> None:
        if "trace_src" not in h or data is None:
            return
        tr: Traces = data["traces"]
        if not tr.V:
            return
        col = 0     # the first sample neuron of hidden layer 1
        V, Vb, Va = (np.asarray(x, dtype=float)[:, col] for x in (tr.V, tr.V_b, tr.V_a))
        h["trace_src"].data = {"t": np.arange(len(V), dtype=float), "V": V, "V_b": Vb, "V_a": Va}
        h["win_f"].update(left=tr.forward_window[0], right=tr.forward_window[1])
        h["win_t"].update(left=tr.target_window[0], right=tr.target_window[1])
        h["phase"].location = tr.forward_steps
        h["trace_fig"].title.text = f"Neuron {tr.neurons[col]}, example {data['examples_seen']}"

    def _on_example(self, h, data) -> None:
        if data is None:
            return
        img = data.get("image")
        if img is not None:
            # Bokeh draws row 0 at the bottom; images store the top row first
            h["image_src"].data = {"image": [np.flipud(np.asarray(img, dtype=float))]}
        label, pred = data.get("label"), data.get("prediction")
        rates = np.asarray(data["rates"], dtype=float)
        colors = ["#2ca02c" if k == label else "#d62728" if k == pred else "#9e9e9e" for k in range(len(rates))]
        n = len(h["bars_src"].data["cls"])
        h["bars_src"].data = {"cls": h["bars_src"].data["cls"], "rate": rates[:n], "color": colors[:n]}
        if label is not None:
            ok = label == pred
            h["image_fig"].title.text = (f"target {self._name(label)} · guess {self._name(pred)} "
                                         f"{'✓' if ok else '✗'}")

    def _on_tsne(self, h, data) -> None:
        if "tsne_src" not in h or data is None:
            return
        xy = np.asarray(data["xy"], dtype=float)[h["tsne_order"]]
        if h.get("tsne_uris") is not None:
            h["tsne_src"].data.update(x=xy[:, 0], y=xy[:, 1], img=h.pop("tsne_uris"))
        else:
            # only x and y change: the class names and hover images were sent once
            h["tsne_src"].data.update(x=xy[:, 0], y=xy[:, 1])
        h["tsne_fig"].title.text = f"Top hidden layer, {len(xy)} test images, at {data['examples_seen']} examples"

    def _name(self, k) -> str:
        if k is None:
            return "?"
        k = int(k)
        return self.classes[k] if 0 <= k < len(self.classes) else str(k)


def _note_fig(*lines: str):
    """A plot-sized message where a plot does not apply."""
    f = figure(width=WIDTH, height=HEIGHT, tools="", toolbar_location=None, x_range=Range1d(-1, 1),
               y_range=Range1d(-1, 1))
    f.axis.visible = False
    f.grid.visible = False
    f.outline_line_color = None
    src = ColumnDataSource({"x": [0] * len(lines), "y": [0.15 - 0.3 * i for i in range(len(lines))],
                            "text": list(lines)})
    f.text("x", "y", "text", source=src, text_align="center", text_baseline="middle", text_font_size="11pt",
           text_color="#555555")
    return f

