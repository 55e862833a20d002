"""Sizes, colours and the two run styles.

The main run and the ghost are drawn by the same functions (one per figure group), each given one
:class:`RunStyle`; everything that tells a ghost's curve from the main run's is declared in
``MAIN`` and ``GHOST`` below, so the two cannot drift apart unnoticed.
"""
from __future__ import annotations

from dataclasses import dataclass

WIDTH = 440                 # the size of an exported figure; on the page figures fill their grid cell
HEIGHT = 230
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
# text on the canvas, read from the back of a classroom (projector) or on a phone
TITLE_SIZE = "15px"
TICK_SIZE = "14px"
AXIS_LABEL_SIZE = "14px"
LEGEND_SIZE = "14px"
# one meaning per line style, in every figure: solid = this run, dashed = the ghost run,
# dotted = a reference (the paper, a threshold, the diagonal), dash-dot = the angle of Y to W
REFERENCE_DASH = "dotted"
WEIGHT_ANGLE_DASH = "dashdot"
REFERENCE_COLOR = "#444444"
LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")
# the ghost run: dashed, in purples and an orange the main run's plots do not use for the same thing
GHOST_TRAIN = "#7e3fa0"
GHOST_TEST = "#e6550d"
GHOST_LAYERS = ("#7e3fa0", "#b07cc6", "#d4b3e0")
GHOST_DASH = "dashed"
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
# (Unicode has no subscript b: canvases say "basal"; the texts write V<sub>b</sub>)
POTENTIALS = (("V", "V soma", "#222222", 2.0), ("V_b", "V basal", "#1f77b4", 2.0),
              ("V_a", "Vₐ apical", "#d62728", 2.0))
# t-SNE: each class has its own marker as well as its own colour (colour must not be the only carrier)
CLASS_MARKERS = ("circle", "square", "triangle", "diamond", "inverted_triangle", "hex", "star", "plus",
                 "square_pin", "triangle_pin")


@dataclass(frozen=True)
class RunStyle:
    """How one run's curves look on the shared axes."""

    name: str                   # "main" or "ghost": which Series feeds the curves
    prefix: str                 # "" names curves in full ("output L_out"); else "PREFIX: what" ("ghost: L_out")
    handle: str                 # prefix of its data sources' names in LivePlots._h ("g_train_src")
    train: str                  # colours: training error, test error, output loss, eigenvalue, hidden layers
    test: str
    output: str
    eig: str
    layers: tuple[str, ...]
    dash: str | None            # None: solid
    test_marker: str | None     # None: Bokeh's circle
    test_width: float           # the line joining the test points (a thin dashed line needs more ink)
    test_alpha: float
    hover_examples: tuple[str, str]
    weight_angles: bool         # also the Y-vs-W angles, drawn dashed: only where dashes do not mean the ghost

    def label(self, what: str, full: str) -> str:
        """A legend entry: ``full`` for the main run; ``"ghost: what"`` (or just ``"ghost"``) otherwise."""
        if not self.prefix:
            return full
        return f"{self.prefix}: {what}" if what else self.prefix

    def line(self, color: str, width: float, **kw) -> dict:
        """Keyword arguments of one of this run's lines."""
        if self.dash is not None:
            kw["line_dash"] = self.dash
        return dict(color=color, line_width=width, **kw)

    def layer(self, j: int) -> str:
        return self.layers[j % len(self.layers)]


MAIN = RunStyle(name="main", prefix="", handle="", train="#1f77b4", test="#d62728", output="#d62728",
                eig="#9467bd", layers=LAYER_COLORS, dash=None, test_marker=None, test_width=1, test_alpha=0.5,
                hover_examples=("examples", "@x{0,0}"), weight_angles=True)
GHOST = RunStyle(name="ghost", prefix="ghost", handle="g_", train=GHOST_TRAIN, test=GHOST_TEST, output=GHOST_TEST,
                 eig=GHOST_TEST, layers=GHOST_LAYERS, dash=GHOST_DASH, test_marker="triangle", test_width=1.5,
                 test_alpha=0.7, hover_examples=("ghost", "@x{0,0} examples"), weight_angles=False)
