"""The coordinator of one run's plots: the streams the page's drain sends into, and the figure groups
that follow them (see the package doc)."""
from __future__ import annotations

import logging
from collections import ChainMap
from html import escape

import numpy as np

from bokeh.layouts import column, gridplot
from bokeh.models import DataRange1d, Div

from . import alignment, example, learning, plateaus, tsne_map
from .base import Group, ghost_handles, show_ghost, slim, write_feeds
from .latest import Latest
from .marks import LiveMarks
from .series import Series, columns_of_tests
from .style import GHOST, MAIN, WIDTH

log = logging.getLogger("dendrite_lab.plots")

GROUPS = ("learning", "alignment", "plateaus", "tsne", "example")


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
        # what the drain sends into, once per poll (the figures subscribe)
        self.main = Series(self.n_hidden)
        self.ghost = Series(self.n_hidden)
        self.columns = self.main.columns
        self.scalars, self.tests = self.main.scalars, self.main.tests
        self.plateau = Latest()
        self.traces = Latest()
        self.example = Latest()
        self.tsne = Latest()
        self.paper = Latest()
        self.marks = LiveMarks()            # where a live slider change reached the network
        self.updates = 0
        self.errors = 0
        self._figs: dict[str, list] | None = None
        self._h: dict = {}

    # ------------------------------------------------------------- ingest
    def update(self, up, example_image=None) -> bool:
        """Send one poll's news on (the figures follow); True when anything was sent.

        A failure in one plot is logged and does not stop the others.
        """
        sent = False
        if up.snapshots:
            rows = self.main.rows(up.snapshots)
            if rows:
                self._safe("learning curves", self.main.send_rows, rows)
            sent = True
        # progress reports (between two snapshots) show the latest example, never a point of a curve
        shown = list(up.snapshots) + list(getattr(up, "progress", None) or [])
        if shown:
            self._send_latest(max(shown, key=lambda s: s.examples_seen), example_image)
            sent = True
        tests = columns_of_tests(getattr(up, "tests", []) or [], up.snapshots)
        if tests is not None:
            self._safe("test error", self.tests.send, tests)
            sent = True
        if up.tsne is not None and self.n_hidden and len(self.probe_labels) == len(up.tsne.xy):
            self._safe("t-SNE", self.tsne.send, {"xy": np.asarray(up.tsne.xy), "examples_seen": up.tsne.examples_seen,
                                                 "rationed": bool(getattr(up.tsne, "rationed", False))})
            sent = True
        if getattr(up, "live", None):
            sent = self.marks.add(up.live) or sent
        g = getattr(up, "ghost", None)
        if g is not None:
            self._safe("ghost", self._update_ghost, g)
            sent = True
        if sent:
            self.updates += 1
        return sent

    def _send_latest(self, last, example_image) -> None:
        """What only the latest snapshot of a poll shows: paper curve, plateaus, traces, example."""
        if self.paper_curve is not None:
            self._safe("paper curve", self.paper.send, learning.paper_points(self.paper_curve,
                                                                              float(last.examples_seen)))
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
            series.restart(g.run_id)
            self.set_ghost(getattr(g, "label", "") if g.spec is not None or g.snapshots else "")
        rows = series.rows(g.snapshots)
        if rows:
            series.send_rows(rows)
        tests = columns_of_tests(g.tests, g.snapshots)
        if tests is not None:
            series.tests.send(tests)

    def trace_neuron(self, neuron: str) -> None:
        """Show this recorded neuron's voltages (a name of ``Traces.neurons``, e.g. "h1[337]")."""
        self._h["trace_neuron"] = neuron
        if self.traces.data is not None and "trace_src" in self._h:
            plateaus.show_traces(self._h, self.traces.data)

    def set_ghost(self, label: str) -> None:
        """Show the ghost's curves under this name ("" hides them)."""
        self.ghost.label = label
        if self._h:
            show_ghost(self._h, label)

    # ------------------------------------------------------------ figures
    def figures(self) -> dict[str, list]:
        """Bokeh figures per plot group, built once and kept up to date by stream subscribers."""
        if self._figs is None:
            self._figs, self._h = self._build(live=True)
        return self._figs

    def static_layout(self):
        """Fresh figures holding the current data (for export: no live links to the session), at a fixed
        size, without toolbars, under a caption naming the settings (``title``)."""
        figs, _ = self._build(live=False)
        items = [f for name in GROUPS for f in figs[name]]
        for f in items:
            f.sizing_mode = "fixed"         # on the page they fill a cell; a file has no cell
            f.toolbar_location = None
        grid = gridplot(items, ncols=2, merge_tools=False, toolbar_location=None)
        caption = Div(text=f"<b>{escape(self.title or 'Dendrite Lab')}</b>", styles={"font-size": "16px"},
                      width=2 * WIDTH)
        return column(caption, grid)

    def _groups(self) -> dict[str, Group]:
        x_range = DataRange1d(only_visible=True)      # one examples axis (log scale) for all curves
        return {"learning": learning.build(x_range, self.n_hidden, self.paper_error, self.paper_curve),
                "alignment": alignment.build(x_range, self.n_hidden),
                "plateaus": plateaus.build(self.n_hidden, self.mode),
                "tsne": tsne_map.build(self.n_hidden, self.classes, self.probe_labels, self.probe_uris),
                "example": example.build(self.classes)}

    def _build(self, live: bool):
        """The figures, filled with what the streams hold now, and (live) following them."""
        groups = self._groups()
        h = ChainMap(ghost_handles(groups.values()), *(g.handles for g in groups.values()))
        for style, series in ((MAIN, self.main), (GHOST, self.ghost)):
            feeds = [f for g in groups.values() for f in g.feeds.get(style.name, [])]
            self._follow_series(series, feeds, live)
        show_ghost(h, self.ghost.label)
        latest = {"plateau": self.plateau, "traces": self.traces, "example": self.example, "tsne": self.tsne,
                  "paper": self.paper}
        for g in groups.values():
            for name, show in g.shows.items():
                self._follow_latest(latest[name], show, g.handles, live)
        examples_axes = [f for name in ("learning", "alignment") for f in groups[name].figures if f.legend]
        self.marks.draw(examples_axes, live, legend_on=groups["learning"].figures[1])    # the losses
        slim([f for g in groups.values() for f in g.figures])
        return {name: g.figures for name, g in groups.items()}, h

    @staticmethod
    def _follow_series(series: Series, feeds: list, live: bool) -> None:
        rows = [f for f in feeds if f.stream == "scalars"]
        tests = [f for f in feeds if f.stream == "tests"]

        def on_rows():
            if series.new_rows is None:
                write_feeds(rows, series.scalars.arrays, replace=True)
            else:
                write_feeds(rows, series.new_rows, replace=series.replace)

        def on_tests():
            write_feeds(tests, series.tests.arrays, replace=True)

        write_feeds(rows, series.scalars.arrays, replace=True)
        on_tests()
        if live:
            series.scalars.add_subscriber(on_rows)
            series.tests.add_subscriber(on_tests)

    @staticmethod
    def _follow_latest(latest: Latest, show, handles: dict, live: bool) -> None:
        if latest.data is not None:
            show(handles, latest.data)
        if live:
            latest.add_subscriber(lambda: show(handles, latest.data))
