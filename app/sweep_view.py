"""Sweeps in the dashboard: heat maps of a sweep's grid, and the curves of the runs behind a cell.

Which directories a browser can open is decided on the server only: the
subdirectories (one or two levels down) that hold a ``sweep.json`` in

* ``$DENDRITE_SWEEPS_DIR`` (default ``sweeps`` in the server's working directory,
  where ``python -m dendcore sweep --out sweeps/NAME`` puts them), and
* ``app/example_sweeps`` (the examples shipped with Dendrite Lab).

The page offers their names; a name sent back is looked up in a fresh listing,
and a directory that resolves outside its root (a symlink, say) is never
listed.  Nothing else on the server's disk is reachable from the page.

:class:`SweepTable` turns a sweep (``dendcore.sweep.load_sweep``) into heat-map
cells (mean and sample sd over seeds of the final test error and angle to
backprop); :class:`SweepView` draws them with HoloViews and follows clicks on
a cell through a ``Tap`` stream.
"""
from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend, which .opts() below needs)
import numpy as np
import pandas as pd
import panel as pn

from dendcore.sweep import SweepError, load_sweep, summarise_points

from . import explain
from .layout import READABLE_ALERT
from .plots.class_map import plus_minus

log = logging.getLogger("dendrite_lab.sweeps")

SWEEPS_ENV = "DENDRITE_SWEEPS_DIR"
EXAMPLES_DIR = Path(__file__).resolve().parent / "example_sweeps"
MAX_LISTED = 200            # sweeps listed per root at most: a crowded directory cannot make the page huge
MAX_SCANNED = 20_000        # ... nor the scan long (directory entries looked at per root)
MAX_CELLS = 400             # heat-map cells drawn at most (a grid this large needs slicing)
LOOK_EVERY_MS = 5000        # an open sweep's files are looked at this often; read again only if they changed
SEED_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf")
NO_AXIS = "(none)"
_LABEL = "label" if "label" in pn.widgets.Button.param else "name"     # Panel 1.9 renamed a widget's name


# ------------------------------------------------------------------ where sweeps may come from
def sweep_roots() -> list[tuple[str, Path]]:
    """(label, directory) of the places sweeps are listed from (read at call time, so tests can set it)."""
    return [("sweeps", Path(os.environ.get(SWEEPS_ENV) or "sweeps")), ("examples", EXAMPLES_DIR)]


def list_sweeps(roots: list[tuple[str, Path]] | None = None) -> dict[str, Path]:
    """Name -> directory of every sweep the page may open (one level below a root, then two), in name order.

    A root with more than ``MAX_LISTED`` sweeps (a term of class experiments) offers its newest: a new
    experiment must be in the list whatever its code."""
    out: dict[str, Path] = {}
    for label, root in roots if roots is not None else sweep_roots():
        found: list[tuple[float, str, Path]] = []
        try:
            base = root.resolve()
            if not base.is_dir():
                continue
            level, scanned = [base], 0
            for _depth in range(2):
                below = []
                for parent in level:
                    for d in parent.iterdir():
                        scanned += 1
                        if scanned > MAX_SCANNED:
                            raise OSError(f"more than {MAX_SCANNED} entries; the rest is not listed")
                        if not d.is_dir() or d.name.startswith("."):
                            continue
                        real = d.resolve()
                        if not real.is_relative_to(base):
                            continue        # a link out of the root: never offered
                        try:
                            st = (real / "sweep.json").stat()
                        except FileNotFoundError:
                            below.append(real)
                            continue
                        if stat.S_ISREG(st.st_mode):
                            found.append((st.st_mtime, (_depth, f"{label}/{real.relative_to(base).as_posix()}"),
                                          real))
                level = below
        except OSError as exc:       # an unreadable root must not break the page
            log.warning("cannot list all sweeps in %s: %s", root, exc)
        newest = sorted(found, key=lambda f: f[0], reverse=True)[:MAX_LISTED]
        # each level in name order, as the page has always listed them
        out.update((name, real) for _t, (_d, name), real in sorted(newest, key=lambda f: f[1]))
    return out


def open_sweep(name: str) -> "SweepTable":
    """Open a sweep by its listed name (raises SweepError with a sentence for the page)."""
    listing = list_sweeps()
    if name not in listing:
        raise SweepError(f"{str(name)[:80]!r} is not one of the sweeps this server offers")
    # before the reading: a run that finishes meanwhile makes the next look read the sweep again
    seen = sweep_signature(listing[name])
    try:
        definition, records = load_sweep(listing[name])
    except SweepError:
        raise
    except Exception as exc:         # a damaged sweep.json, a field this version does not know...
        raise SweepError(f"cannot read the sweep {name}: {type(exc).__name__}: {exc}") from None
    return SweepTable(name, definition, records, directory=listing[name], signature=seen)


def sweep_signature(directory: Path | None) -> tuple:
    """What changes when a run of the sweep finishes or its definition is rewritten: the name, size and
    modification time of sweep.json and of each run record (a few dozen ``stat`` calls; re-reading the
    sweep and redrawing its maps costs a page's event loop far more, ``python -m benchmarks.class_map_cost``)."""
    if directory is None:
        return ()
    found = []
    try:
        st = (directory / "sweep.json").stat()
        found.append(("sweep.json", st.st_mtime_ns, st.st_size))
        with os.scandir(directory / "runs") as entries:
            for e in entries:
                if e.name.endswith(".json") and not e.name.startswith("."):
                    st = e.stat()
                    found.append((e.name, st.st_mtime_ns, st.st_size))
    except OSError:          # no runs yet, or a record renamed in between: the next look sees it
        pass
    return tuple(sorted(found))


# ------------------------------------------------------------------ data
def value_label(v) -> str:
    """How a grid value is written on an axis."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "-".join(value_label(x) for x in v) or "none"
    return str(v)


def _num(v) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else math.nan


@dataclass
class SweepTable:
    name: str
    definition: dict
    records: list[dict]
    directory: Path | None = None
    signature: tuple = ()           # sweep_signature(directory) when it was read

    def __post_init__(self):
        self.fields = [g["field"] for g in self.definition.get("grid", [])]
        self.values = {g["field"]: [value_label(v) for v in g["values"]] for g in self.definition.get("grid", [])}
        self.points = summarise_points(self.definition, self.records)
        for p in self.points:
            p["labels"] = {f: value_label(p["grid"][f]) for f in self.fields}
            errors = [r.get("error") for r in self.records if r.get("point") == p["point"]
                      and r.get("status") == "failed"]
            p["error"] = errors[0] if errors else ""

    # ---- summary
    @property
    def n_runs(self) -> int:
        return len(self.points) * len(self.definition.get("seeds", []))

    def describe(self) -> str:
        d = self.definition
        ok = sum(r.get("status") == "ok" for r in self.records)
        failed = sum(r.get("status") == "failed" for r in self.records)
        grid = "; ".join(f"{f} = {', '.join(self.values[f])}" for f in self.fields) or "no grid (one point)"
        sets = f" with {', '.join(d.get('sets') or [])}" if d.get("sets") else ""
        seeds = len(d.get("seeds", []))
        return (f"**{self.name}**: preset `{d.get('preset')}`{sets}, {d.get('dataset')}; grid {grid}; "
                f"{seeds} seed{'' if seeds == 1 else 's'}; {d.get('examples', 0):,} examples per run, final test on "
                f"{d.get('test_images', 0):,} images. Runs finished: {ok} of {self.n_runs}"
                + (f", {failed} failed" if failed else "") + ".")

    # ---- cells
    def axes(self, x: str | None = None, y: str | None = None) -> tuple[str | None, str | None]:
        """The fields on the two axes (defaults: the first two of the grid)."""
        fields = self.fields
        x = x if x in fields else (fields[0] if fields else None)
        if y == NO_AXIS:
            y = None
        elif y not in fields or y == x:
            y = next((f for f in fields if f != x), None)
        return x, y

    def cells(self, x: str | None, y: str | None, fixed: dict[str, str] | None = None) -> pd.DataFrame:
        """One row per heat-map cell: the grid points with the other fields at ``fixed`` (else all averaged)."""
        fixed = fixed or {}
        rows: dict[tuple[str, str], list[dict]] = {}
        for p in self.points:
            if any(p["labels"].get(f) != v for f, v in fixed.items() if f not in (x, y)):
                continue
            key = (p["labels"][x] if x else "all", p["labels"][y] if y else "all")
            rows.setdefault(key, []).append(p)
        out = []
        for (xl, yl), ps in rows.items():
            runs = [r for r in self.records if r.get("point") in {p["point"] for p in ps}]
            ok = [r for r in runs if r.get("status") == "ok"]
            err = np.array([_num(r.get("test_error_pct")) for r in ok], dtype=float)
            ang = np.array([_num(r.get("angle_deg")) for r in ok], dtype=float)
            err, ang = err[np.isfinite(err)], ang[np.isfinite(ang)]
            n_planned = len(ps) * len(self.definition.get("seeds", []))
            out.append({
                "x": xl, "y": yl, "points": [p["point"] for p in ps],
                "err": float(err.mean()) if err.size else math.nan,
                "err_sd": float(err.std(ddof=1)) if err.size > 1 else math.nan,
                "ang": float(ang.mean()) if ang.size else math.nan,
                "ang_sd": float(ang.std(ddof=1)) if ang.size > 1 else math.nan,
                "n_ok": len(ok), "n_runs": n_planned, "n_failed": sum(r.get("status") == "failed" for r in runs),
                "error": next((p["error"] for p in ps if p["error"]), ""),
            })
        df = pd.DataFrame(out, columns=["x", "y", "points", "err", "err_sd", "ang", "ang_sd", "n_ok", "n_runs",
                                        "n_failed", "error"])
        return df

    def runs_at(self, x: str | None, y: str | None, xl: str, yl: str,
                fixed: dict[str, str] | None = None) -> list[dict]:
        """The stored runs behind one cell (in grid order, then seed)."""
        df = self.cells(x, y, fixed)
        hit = df[(df["x"] == str(xl)) & (df["y"] == str(yl))]
        if hit.empty:
            return []
        points = set(hit.iloc[0]["points"])
        return [r for r in self.records if r.get("point") in points]


# ------------------------------------------------------------------ view
def cell_px(xs) -> int:
    """A heat-map cell's width: large enough to read from the back of a projected room for a class-sized
    grid (3 values: 120 px, 14 px text), narrower for a long axis."""
    return max(44, min(120, 600 // max(len(xs), 1)))


def _never_faded(plot, element) -> None:
    r = plot.handles.get("glyph_renderer")
    if r is not None:
        r.nonselection_glyph = r.glyph


class SweepView:
    """The "Sweeps" tab of one session."""

    def __init__(self):
        self.table: SweepTable | None = None
        self.selected: tuple[str, str] | None = None
        self.taps: list[hv.streams.Tap] = []
        self.chooser = pn.widgets.Select(**{_LABEL: "Sweep"}, options=[], width=360)
        self.refresh_btn = pn.widgets.Button(**{_LABEL: "↻ Rescan and reload"}, width=160, margin=(23, 5, 5, 5))
        self.x_axis = pn.widgets.Select(**{_LABEL: "Across (x)"}, options=[], width=170, visible=False)
        self.y_axis = pn.widgets.Select(**{_LABEL: "Up (y)"}, options=[], width=170, visible=False)
        self.slices = pn.Row(visible=False)
        self.slice_fields: list[str] = []      # the grid field each widget in ``slices`` holds
        self.info = pn.pane.Markdown("", sizing_mode="stretch_width", name="sweep-info")
        self.maps = pn.pane.HoloViews(None, name="sweep-maps", sizing_mode="fixed")
        self.cell_info = pn.pane.Markdown("", sizing_mode="stretch_width", name="sweep-cell")
        self.curves = pn.pane.HoloViews(None, name="sweep-curves", sizing_mode="fixed")
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                     stylesheets=[READABLE_ALERT])
        self.chooser.param.watch(lambda e: self.open(e.new), "value")
        self.refresh_btn.on_click(lambda e: self.rescan(reopen=True))
        for w in (self.x_axis, self.y_axis):
            w.param.watch(lambda e: self.draw(), "value")
        self._applying = False
        self.shown = False
        self.highlight: dict | None = None     # a grid point (field -> value) marked on the maps: "yours"
        self._looking = None                   # the periodic look at the open sweep's files (follow_changes)

    def show(self) -> None:
        """The tab was opened: list the sweeps and open the first one (once per session; ↻ redoes it)."""
        if not self.shown:
            self.shown = True
            self.rescan()

    def follow_changes(self) -> None:
        """Redraw the open sweep whenever one of its runs finishes: a class experiment fills in on the
        teacher's projector, a ``dendcore sweep`` still running fills in on anyone's page.  Only in a
        served session (a test or a notebook calls :meth:`refresh_if_changed` itself)."""
        doc = pn.state.curdoc
        if self._looking is None and doc is not None and doc.session_context is not None:
            self._looking = pn.state.add_periodic_callback(self._look, period=LOOK_EVERY_MS)

    def stop(self) -> None:
        if self._looking is not None:
            self._looking.stop()
            self._looking = None

    def _look(self) -> None:
        try:
            self.refresh_if_changed()
        except Exception as exc:        # a half-written file read mid-rename: the next look will do
            log.warning("could not reload the sweep %s: %s", self.table.name if self.table else "", exc)

    def refresh_if_changed(self) -> bool:
        """Read the open sweep again if its files changed since it was read; the axes, the slices held
        and the cell whose runs are shown stay as the person left them.  True if it was redrawn."""
        t = self.table
        if t is None or t.directory is None or sweep_signature(t.directory) == t.signature:
            return False
        selected = self.selected
        if not self.open(t.name):
            return False
        if selected is not None:
            self.select(*selected)
        return True

    # ---- layout
    def panel(self):
        return pn.Column(
            pn.pane.Markdown(explain.SWEEPS, sizing_mode="stretch_width"),
            pn.Row(self.chooser, self.refresh_btn, self.x_axis, self.y_axis),
            self.slices, self.message, self.info, self.maps, self.cell_info, self.curves,
            sizing_mode="stretch_width", name="sweeps")

    def _warn(self, text: str) -> None:
        self.message.object = text
        self.message.visible = bool(text)

    # ---- choosing and opening
    def rescan(self, reopen: bool = False) -> None:
        """List the sweeps again; keep the one open (re-read it if ``reopen``) or open the first."""
        self.shown = True
        names = list(list_sweeps())
        current = self.chooser.value
        target = current if current in names else (names[0] if names else None)
        self._applying = True
        try:
            self.chooser.options = names
            self.chooser.value = target
        finally:
            self._applying = False
        if not names:
            self.table = None
            self.maps.object = None
            self.info.object = ""
            root = sweep_roots()[0][1]
            self._warn(f"No sweeps found. Make one with `python -m dendcore sweep ... --out {root}/NAME` "
                       f"(the server lists the subdirectories of {root}, set by {SWEEPS_ENV}).")
        elif reopen or self.table is None or self.table.name != target:
            self.open(target)

    def open(self, name: str | None) -> bool:
        if self._applying or not name:
            return False
        try:
            table = open_sweep(name)
        except SweepError as exc:
            self._warn(f"Cannot open this sweep: {exc}.")
            return False
        self._warn("")
        self.table = table
        self.selected = None
        self.info.object = table.describe()
        fields = table.fields
        self._applying = True
        try:
            x, y = table.axes(self.x_axis.value, self.y_axis.value)
            self.x_axis.options = fields
            self.y_axis.options = [NO_AXIS] + fields
            self.x_axis.value, self.y_axis.value = x, (y or NO_AXIS)
            self.x_axis.visible = len(fields) >= 2
            self.y_axis.visible = len(fields) >= 2
        finally:
            self._applying = False
        self._make_slices()
        self.draw()
        return True

    def _make_slices(self) -> None:
        t = self.table
        x, y = t.axes(self.x_axis.value, self.y_axis.value)
        others = [f for f in t.fields if f not in (x, y)]
        held = self.fixed()          # a reload keeps the values a person chose
        widgets = []
        for f in others:
            value = held[f] if held.get(f) in t.values[f] else t.values[f][0]
            w = pn.widgets.Select(**{_LABEL: f"{f} (held at)"}, options=t.values[f], value=value, width=170)
            w.param.watch(lambda e: self.draw(), "value")
            widgets.append(w)
        self.slice_fields = others
        self.slices.objects = widgets
        self.slices.visible = bool(widgets)

    def fixed(self) -> dict[str, str]:
        return dict(zip(self.slice_fields, (w.value for w in self.slices.objects)))

    # ---- drawing
    def draw(self) -> None:
        if self._applying or self.table is None:
            return
        t = self.table
        x, y = t.axes(self.x_axis.value, self.y_axis.value)
        if set(self.slice_fields) != {f for f in t.fields if f not in (x, y)}:
            self._make_slices()
        df = t.cells(x, y, self.fixed())
        if len(df) > MAX_CELLS:
            self._warn(f"This grid has {len(df)} cells on these axes; choose other axes to draw at most {MAX_CELLS}.")
            self.maps.object = None
            return
        xs = t.values[x] if x else ["all"]
        ys = t.values[y] if y else ["all"]
        xname, yname = x or "grid", y or ""
        maps = []
        self.taps = []
        for col, sd, title, unit in (("err", "err_sd", "final test error (%)", "%"),
                                     ("ang", "ang_sd", "final angle to backprop (°)", "°")):
            hm, labels = self._heatmap(df, col, sd, title, xs, ys, xname, yname, unit)
            tap = hv.streams.Tap(source=hm, x=None, y=None)
            tap.add_subscriber(self._on_tap)
            self.taps.append(tap)
            maps.append(hm * labels * self._mark(x, y, xs))
        self.maps.object = hv.Layout(maps).cols(2).opts(shared_axes=False)
        self.selected = None
        self.cell_info.object = ("*Click a cell to see the learning curves of its runs.*" if t.records
                                 else "*No run of this sweep has finished yet: the maps fill in as runs finish.*")
        self.curves.object = None

    def highlighted_cell(self, x, y) -> tuple[str, str] | None:
        """The (x, y) labels of the highlighted grid point's cell on these axes, or None."""
        h = self.highlight
        if not h or (x and x not in h):
            return None
        return (value_label(h[x]) if x in h else "all", value_label(h[y]) if y in h else "all")

    def _mark(self, x, y, xs):
        """A frame around the highlighted grid point's cell (empty when there is none on these axes)."""
        at = self.highlighted_cell(x, y)
        return hv.Points([at] if at else [], kdims=["x", "y"]).opts(marker="square", size=cell_px(xs) - 8, fill_alpha=0,
                                                        line_color="#1f4fbf", line_width=4, tools=[])

    def _heatmap(self, df, col, sd_col, title, xs, ys, xname, yname, unit):
        data = df.assign(value=df[col],
                         text=[plus_minus(m, s, "", 1) if math.isfinite(m) else ("failed" if nf else "–")
                               for m, s, nf in zip(df[col], df[sd_col], df["n_failed"])],
                         # hover texts made here: a tooltip would print NaN for a cell with one seed
                         mean=[plus_minus(m, None, unit) for m in df[col]],
                         sd=[plus_minus(s, None, unit) if math.isfinite(s) else "– (fewer than 2 seeds)"
                             for s in df[sd_col]])
        data = data[["x", "y", "value", "mean", "sd", "n_ok", "n_runs", "n_failed", "text"]]
        hm = hv.HeatMap(data, kdims=["x", "y"], vdims=["value", "mean", "sd", "n_ok", "n_runs", "n_failed", "text"])
        hm = hm.redim.values(x=xs, y=ys).redim.label(x=xname, y=yname or " ")
        cell = cell_px(xs)
        width = min(720, 120 + cell * len(xs))
        height = min(520, 110 + max(44, min(90, 400 // max(len(ys), 1))) * len(ys))
        hm = hm.opts(cmap="YlOrRd", colorbar=True, clabel=title, tools=["hover", "tap"], title=title, width=width,
                     height=height, clipping_colors={"NaN": "#eeeeee"}, toolbar="above", xrotation=0,
                     nonselection_alpha=1.0, line_color="white", line_width=1, selection_line_color="#222222",
                     selection_line_width=3,
                     hover_tooltips=[(xname, "@x"), (yname or "row", "@y"), ("mean", "@mean"),
                                     ("sd over seeds", "@sd"), ("seeds finished", "@n_ok of @n_runs"),
                                     ("failed", "@n_failed")])
        # dark text on the light half of the colour scale, white on the dark half
        finite = data["value"][np.isfinite(data["value"])]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        dark = (data["value"] - lo) > 0.6 * (hi - lo) if hi > lo else pd.Series(False, index=data.index)
        # a click on a cell also "selects" the label under it, and Bokeh would fade the other labels
        style = dict(text_font_size="14px" if cell >= 80 else "11px", hooks=[_never_faded])
        labels = (hv.Labels(data[~dark], kdims=["x", "y"], vdims=["text"]).opts(text_color="#222222", **style)
                  * hv.Labels(data[dark], kdims=["x", "y"], vdims=["text"]).opts(text_color="white", **style))
        return hm, labels

    # ---- click-through
    def _on_tap(self, x=None, y=None, **kw) -> None:
        if x is None or y is None:
            return
        self.select(str(x), str(y))

    def select(self, xl: str, yl: str) -> bool:
        """Show the runs of one cell (the Tap streams call this; tests may too)."""
        t = self.table
        if t is None:
            return False
        x, y = t.axes(self.x_axis.value, self.y_axis.value)
        runs = t.runs_at(x, y, xl, yl, self.fixed())
        if not runs:
            self.cell_info.object = f"No finished runs at {xl}, {yl} yet."
            self.curves.object = None
            return False
        self.selected = (xl, yl)
        where = ", ".join(f"{f} = {v}" for f, v in ((x, xl), (y, yl)) if f)
        held = self.fixed()
        if held:
            where += " (" + ", ".join(f"{f} = {v}" for f, v in held.items()) + ")"
        lines = [f"**{where}**: {sum(r.get('status') == 'ok' for r in runs)} of "
                 f"{len(t.definition.get('seeds', [])) * len({r.get('point') for r in runs})} runs finished."]
        for r in runs:
            if r.get("status") == "ok":
                err = plus_minus(_num(r.get("test_error_pct")), None, " %", 2)
                lines.append(f"- seed {r.get('seed')}: test error {err}, "
                             f"angle to backprop {plus_minus(_num(r.get('angle_deg')), None, '°')}"
                             + (f" ({r.get('point')})" if len({q.get('point') for q in runs}) > 1 else ""))
            else:
                lines.append(f"- seed {r.get('seed')}: **failed**: {str(r.get('error', ''))[:200]}")
        self.cell_info.object = "\n".join(lines)
        self.curves.object = self._curves(runs)
        return True

    def _curves(self, runs: list[dict]):
        err_layers, ang_layers = [], []
        for i, r in enumerate(runs):
            curve = r.get("curve") or []
            if not curve:
                continue
            color = SEED_COLORS[i % len(SEED_COLORS)]
            name = f"seed {r.get('seed')}" + (f", {r.get('point')}" if len({q.get('point') for q in runs}) > 1 else "")
            xs = [c.get("examples_seen") for c in curve]
            err_layers.append(hv.Curve((xs, [_num(c.get("train_error_pct")) for c in curve]), "examples seen",
                                       "error (%)", label=name).opts(color=color, line_width=2))
            tests = [(c["examples_seen"], c["test_error_pct"]) for c in curve if c.get("test_error_pct") is not None]
            if tests:
                err_layers.append(hv.Scatter(tests, "examples seen", "error (%)", label=name).opts(
                    color=color, size=9, marker="diamond"))
            ang_layers.append(hv.Curve((xs, [_num(c.get("angle_deg")) for c in curve]), "examples seen",
                                       "angle (°)", label=name).opts(color=color, line_width=2))
        if not err_layers:
            return None
        opts = dict(width=540, height=300, show_grid=True, legend_position="right", toolbar="above", padding=0.06)
        err = hv.Overlay(err_layers).opts(title="Training error (lines) and final test error (diamonds)", **opts)
        if ang_layers:
            ang = hv.Overlay(ang_layers).opts(title="Angle to backprop (mean over hidden layers)", **opts)
            return hv.Layout([err, ang]).cols(2).opts(shared_axes=False)
        return err
