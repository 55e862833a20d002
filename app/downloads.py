"""The page's downloads: the run as JSON or CSV, the plots as HTML or (drawn by the browser) PNG.

The files are made when the student clicks (app/export.py holds their formats); their names
follow the setup in force (``glr17-1hl-…-run.json``).
"""
from __future__ import annotations

import io

import panel as pn

from . import export
from .layout import LABEL_KEY, look


class Downloads:
    """The download buttons of one page; ``dash`` is its Dashboard (its controller and plots)."""

    def __init__(self, dash):
        self._dash = dash
        self.json = pn.widgets.FileDownload(callback=self._json_file, filename="dendrite-lab-run.json",
                                            label="Run as JSON", **look("light"), embed=False)
        self.csv = pn.widgets.FileDownload(callback=self._csv_file, filename="dendrite-lab-run.csv",
                                           label="Run as CSV", **look("light"), embed=False)
        self.html = pn.widgets.FileDownload(callback=self._html_file, filename="dendrite-lab-plots.html",
                                            label="Plots as HTML", **look("light"), embed=False)
        # drawn by the browser itself: the server starts no browser of its own (app/export.py)
        self.png = pn.widgets.Button(**{LABEL_KEY: "Plots as PNG"}, **look("light"))
        self.png.js_on_click(args={"html": self.html}, code=export.PNG_IN_BROWSER_JS)
        self.name("dendrite-lab")

    @property
    def widgets(self) -> list:
        return [self.json, self.csv, self.html, self.png]

    def name(self, stem: str) -> None:
        """Files named after the setup in force."""
        for ext, widget in (("json", self.json), ("csv", self.csv), ("html", self.html)):
            widget.filename = f"{stem}-plots.{ext}" if ext == "html" else f"{stem}-run.{ext}"

    def _json_file(self):
        ctrl = self._dash.ctrl
        if ctrl.run is None:
            return io.StringIO("{}")
        t = ctrl.tracker
        return io.StringIO(export.run_json(ctrl.run, ctrl.history, t.start_spec, t.changes))

    def _csv_file(self):
        return io.StringIO(export.run_csv(self._dash.ctrl.history))

    def _html_file(self):
        plots = self._dash.plots
        if plots is None:
            return io.StringIO("<p>No plots yet.</p>")
        return io.StringIO(export.plots_html(plots.static_layout(), title="Dendrite Lab plots"))
