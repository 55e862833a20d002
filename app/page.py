"""The page of one browser session: template, controls, plots and the periodic drain."""
from __future__ import annotations

import asyncio
import io
import logging
import time
import weakref
from collections import deque

import numpy as np
import panel as pn

from . import explain, export
from .controller import LIVE, URL_PARAMS, Controller, paper_reference
from .plots import LivePlots, probe_image_uris

log = logging.getLogger("dendrite_lab.page")

# Panel 1.9 renamed Button.button_type to color; stay compatible with older releases
_COLOR = "color" if "color" in pn.widgets.Button.param else "button_type"
_LABEL = "label" if "label" in pn.widgets.Button.param else "name"


def _look(kind: str) -> dict:
    return {_COLOR: kind}


POLL_PERIOD_MS = 200            # the drain runs 5 times a second
EXPLAIN_WIDTH = 270
ATTACH_ORDER = ("learning", "plateaus", "example", "alignment", "tsne")

pn.extension(notifications=False)

SESSIONS: "weakref.WeakSet[Dashboard]" = weakref.WeakSet()

CSS = """
.dl-status { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 15px; }
.dl-inforce { font-size: 13px; color: #444; }
.dl-section { border: 1px solid #e3e3e3; border-radius: 6px; padding: 4px 8px 8px 8px; background: white; }
"""


class Dashboard:
    """Wires a :class:`Controller` to the plots of its current run."""

    def __init__(self, controller: Controller):
        self.ctrl = controller
        self.plots: LivePlots | None = None
        self.panes = {name: pn.Column(css_classes=[f"dl-plot-{name}"], name=f"plot-{name}", margin=0)
                      for name in explain.SECTIONS}
        self.update_times: deque[float] = deque(maxlen=500)   # wall times of plot updates (benchmark)
        self.first_point_t: float | None = None
        self.timeline: dict[str, float] = {"created": time.perf_counter()}   # for the benchmark
        self._callback = None
        self._closed = False
        self._to_attach: list = []
        self._downloads: dict[str, pn.widgets.FileDownload] = {}

        c = controller
        self.status = pn.pane.Str(c.param.status, css_classes=["dl-status"], name="status",
                                  sizing_mode="stretch_width")
        self.in_force = pn.pane.Markdown(pn.bind(lambda s: f"**Running now:** {s}" if s else "", c.param.in_force),
                                         css_classes=["dl-inforce"], name="in-force", margin=(0, 10))
        self.alert = pn.pane.Alert(c.param.message, alert_type=c.param.message_kind,
                                   visible=pn.bind(bool, c.param.message), name="message",
                                   sizing_mode="stretch_width", margin=(0, 10))

    # ------------------------------------------------------------- widgets
    def sidebar(self) -> list:
        c = self.ctrl
        buttons = pn.Param(
            c, parameters=["play", "pause", "step", "reset"], show_name=False, default_layout=pn.Row,
            widgets={"play": {**_look("success"), "width": 70}, "pause": {**_look("warning"), "width": 70},
                     "step": {**_look("primary"), "width": 60}, "reset": {**_look("danger"), "width": 70}},
            margin=0)
        speed = pn.Param(c, parameters=["speed"], show_name=False,
                         widgets={"speed": {"type": pn.widgets.DiscreteSlider}})
        live = pn.Param(c, parameters=["g_a", "lr_hidden", "lr_output", "feedback_scale"], show_name=False,
                        widgets={name: {"type": pn.widgets.EditableFloatSlider, "css_classes": [f"dl-{name}"]}
                                 for name in LIVE})
        model = pn.Param(c, parameters=["preset", "mode", "hidden", "rule", "feedback", "seed", "dataset"],
                         show_name=False, widgets={"hidden": {"type": pn.widgets.TextInput},
                                                   "seed": {"type": pn.widgets.IntInput}})
        tests = pn.Param(c, parameters=["test_every", "test_images"], show_name=False,
                         widgets={"test_every": {"type": pn.widgets.IntInput, "step": 500},
                                  "test_images": {"type": pn.widgets.IntInput, "step": 100}})

        json_dl = pn.widgets.FileDownload(callback=self._json_file, filename="dendrite-lab-run.json",
                                          label="Run as JSON", **_look("light"), embed=False)
        csv_dl = pn.widgets.FileDownload(callback=self._csv_file, filename="dendrite-lab-run.csv",
                                         label="Run as CSV", **_look("light"), embed=False)
        html_dl = pn.widgets.FileDownload(callback=self._html_file, filename="dendrite-lab-plots.html",
                                          label="Plots as HTML", **_look("light"), embed=False)
        self.png_dl = pn.widgets.FileDownload(filename="dendrite-lab-plots.png", label="Download the PNG",
                                              **_look("success"), visible=False, embed=False)
        self._downloads = {"json": json_dl, "csv": csv_dl, "html": html_dl, "png": self.png_dl}
        self._name_downloads()
        png_btn = pn.widgets.Button(**{_LABEL: "Render plots as PNG"}, **_look("light"),
                                    disabled=not export.png_available())
        png_btn.on_click(self._render_png)
        self.png_btn = png_btn
        share = pn.pane.Markdown("The address bar always holds the current settings: copy it to share "
                                 "this exact setup.", styles={"font-size": "12px", "color": "#555"})
        return [
            buttons, speed,
            pn.pane.Markdown("#### Live on the running network"), live,
            pn.pane.Markdown("#### Model (a change starts a new run)"), model,
            pn.pane.Markdown("#### Test error"), tests,
            pn.pane.Markdown("#### Export"), pn.Row(json_dl, csv_dl), pn.Row(html_dl, png_btn), self.png_dl,
            share,
        ]

    def main(self) -> list:
        intro = pn.Card(pn.pane.Markdown(explain.INTRO, sizing_mode="stretch_width"),
                        title="About Dendrite Lab", collapsed=False, sizing_mode="stretch_width",
                        name="about")
        sections = []
        for name, (title, text) in explain.SECTIONS.items():
            note = pn.Card(pn.pane.Markdown(text, width=EXPLAIN_WIDTH - 30), title="What am I looking at?",
                           collapsible=True, collapsed=False, width=EXPLAIN_WIDTH,
                           css_classes=[f"dl-explain-{name}"], header_background="#f4f6fb")
            sections.append(pn.Column(pn.pane.Markdown(f"### {title}", margin=(0, 5)),
                                      pn.Row(self.panes[name], note), css_classes=["dl-section"],
                                      margin=6, name=f"section-{name}"))
        grid = pn.FlexBox(*sections, flex_wrap="wrap", align_content="flex-start", sizing_mode="stretch_width")
        header = pn.Column(self.status, self.in_force, self.alert, sizing_mode="stretch_width")
        return [header, intro, grid]

    # ------------------------------------------------------------ the drain
    def start(self) -> None:
        """Set the session up: cleanup when the tab closes; network, plots and drain once the page shows.

        The page goes out without figures; when the browser has rendered it
        (``pn.state.onload``) the engine builds the network, and its figures follow group by
        group, the learning curves first.  Measured on 2 cores this gave the earliest first
        plotted point (about 2 s after opening the page, against about 2.8 s with the empty
        figures sent along with the page).  A document without a browser session (the
        ``--liveness`` check renders one) never gets an engine thread.
        """
        pn.state.on_session_destroyed(self._on_destroyed)
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return
        pn.state.onload(self._go)

    def _go(self) -> None:
        if self._closed:
            return
        self.timeline["onload"] = time.perf_counter()
        self.ctrl.activate()
        self._callback = pn.state.add_periodic_callback(self.tick, period=POLL_PERIOD_MS)

    def tick(self) -> None:
        """Drain the engine's queue into the plots (one batch of stream events)."""
        if self._closed:
            return
        with pn.io.hold():      # every change of this poll (status line too) reaches the browser as one message
            up = self.ctrl.poll()
            if up.empty:
                if self._to_attach:
                    self._attach(1)
                return
            if up.new_run:
                self._new_plots()
                self.timeline.setdefault("first_network", time.perf_counter())
            elif self._to_attach:
                self._attach(1)
            if self.plots is not None and self.plots.update(up, example_image=self.ctrl.example_image):
                now = time.perf_counter()
                self.update_times.append(now)
                if self.first_point_t is None and up.snapshots:
                    self.first_point_t = now

    def _new_plots(self) -> None:
        """A network was built: fresh plots for it."""
        run = self.ctrl.run
        if run is not None:
            self._make_plots(run.spec, run.preset, run.dataset, run.probe_indices)

    def _make_plots(self, spec, preset, dataset, probe_indices) -> None:
        from dendcore import load_dataset
        data = load_dataset(dataset)
        uris = probe_image_uris(data, probe_indices) if spec.n_hidden_layers else []
        labels = np.asarray(data.test_labels)[probe_indices]
        paper_error, curve = paper_reference(preset, spec, dataset)
        self.plots = LivePlots(spec.n_hidden_layers, spec.mode, data.classes, paper_error=paper_error,
                               paper_curve=curve, probe_uris=uris, probe_labels=labels,
                               title=f"Dendrite Lab: {preset}, {spec.describe()}")
        self._stem = f"dendrite-lab-{preset}"
        self._name_downloads()
        figures = self.plots.figures()
        # the browser draws the learning curves first; the other groups follow one per poll, so
        # the first point does not wait for all ten figures to be laid out
        self._to_attach = [(name, figures[name]) for name in ATTACH_ORDER]
        self._attach(1)
        self.first_point_t = None

    def _attach(self, n: int) -> None:
        for name, figs in self._to_attach[:n]:
            self.panes[name].objects = [pn.pane.Bokeh(f, margin=(2, 0)) for f in figs]
        del self._to_attach[:n]

    def _name_downloads(self) -> None:
        stem = getattr(self, "_stem", "dendrite-lab")
        for ext, widget in self._downloads.items():
            widget.filename = f"{stem}-plots.{ext}" if ext in ("html", "png") else f"{stem}-run.{ext}"

    def _on_destroyed(self, session_context) -> None:   # Bokeh checks this exact signature; None is fine
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._callback is not None:
            try:
                self._callback.stop()
            except Exception:
                pass
        self.ctrl.close()

    # ---------------------------------------------------------------- export
    def _json_file(self):
        run = self.ctrl.run
        if run is None:
            return io.StringIO("{}")
        return io.StringIO(export.run_json(run, self.ctrl.history))

    def _csv_file(self):
        return io.StringIO(export.run_csv(self.ctrl.history))

    def _html_file(self):
        if self.plots is None:
            return io.StringIO("<p>No plots yet.</p>")
        return io.StringIO(export.plots_html(self.plots.static_layout(), title="Dendrite Lab plots"))

    async def _render_png(self, event=None) -> None:
        if self.plots is None:
            return
        self.png_btn.loading = True
        try:
            html = export.plots_html(self.plots.static_layout(), title="Dendrite Lab plots")
            png = await asyncio.to_thread(export.html_to_png, html)
        except Exception as exc:
            self.ctrl.notify(f"PNG export failed: {exc}", "warning")
            return
        finally:
            self.png_btn.loading = False
        self.png_dl.file = io.BytesIO(png)
        self.png_dl.visible = True


def build_page(controller: Controller | None = None):
    """One session's page; the URL's query string sets the controls and follows them."""
    ctrl = controller or Controller()
    doc = pn.state.curdoc
    loc = pn.state.location if doc is not None and doc.session_context is not None else None
    if loc is not None:
        query = dict(loc.query_params)
        if query:
            ctrl.apply_settings(query)
        loc.sync(ctrl, {name: name for name in URL_PARAMS}, on_error=ctrl.apply_settings)
    dash = Dashboard(ctrl)
    template = pn.template.FastListTemplate(
        title="Dendrite Lab · deep learning with segregated dendrites",
        sidebar=dash.sidebar(), main=dash.main(), sidebar_width=340, accent="#3b6ea8",
        theme_toggle=False, raw_css=[CSS])
    dash.start()
    SESSIONS.add(dash)          # in-process benchmarks and tests look the session up here
    template.dashboard = dash
    return template
