"""What the figure groups share: figure helpers, the :class:`Group` each builder returns, and how a
run's rows reach the Bokeh sources (:class:`Feed`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from bokeh.core.properties import value
from bokeh.models import (AllIndices, AllLabels, Axis, ColumnDataSource, CustomJSTicker, GlyphRenderer, Legend,
                          NumeralTickFormatter, Range1d, UnionRenderers)
from bokeh.plotting import figure

from .series import MAX_ROWS
from .style import AXIS_LABEL_SIZE, GHOST, HEIGHT, LEGEND_SIZE, TICK_SIZE, TITLE_SIZE, TOOLS, WIDTH


def readable(f):
    """Text sizes for a projector, and a toolbar that shows only under the pointer (more room for data)."""
    f.title.text_font_size = TITLE_SIZE
    f.axis.major_label_text_font_size = TICK_SIZE
    f.axis.axis_label_text_font_size = AXIS_LABEL_SIZE
    f.axis.axis_label_text_font_style = "normal"
    f.toolbar.logo = None
    f.toolbar.autohide = True
    return f


# Bokeh's LogTicker places linear ticks on a range shorter than two decades, which a log axis crowds
# into its right end (500, 1k, 1.5k, 2k, 2.5k, ... overlapping after 4,000 examples).  These stay
# evenly spread: 1-2-5 in each decade on short ranges, 1-3 on middling ones, powers of ten beyond.
EXAMPLES_TICKS_JS = """
const lo = Math.max(Math.min(cb_data.start, cb_data.end), 1e-9), hi = Math.max(cb_data.start, cb_data.end);
if (!(hi > lo) || !isFinite(hi)) return [];
const decades = Math.log10(hi / lo);
const mantissas = decades < 2 ? [1, 2, 5] : decades < 3.5 ? [1, 3] : [1];
const ticks = [];
for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
  for (const m of mantissas) {
    const t = m * Math.pow(10, e);
    if (t >= lo && t <= hi && t >= 1) ticks.push(t);     // (an empty plot's range starts at 0.1)
  }
if (ticks.length >= 2 || hi < 1) return ticks;
// a sliver of a decade (a run taken over at example 48,100 shows 48,100 to 49,000) holds at most one
// of those: evenly spaced round steps instead, no finer than the labels' 0.[0]a can tell apart
const span = hi - lo, label = 0.1 * Math.pow(1000, Math.floor(Math.log10(hi) / 3));
let step = Math.pow(10, Math.floor(Math.log10(span / 4)));
for (const m of [1, 2, 5, 10]) if (span / (m * step) <= 5) { step *= m; break; }
step = Math.max(step, label, 1);
const even = [];
for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) even.push(t);
return even.length > ticks.length ? even : ticks;
"""


def new_fig(title: str, height: int = HEIGHT, examples_axis: bool = True, **kw):
    """A figure that fills its grid cell on the page (``WIDTH``×``height`` when exported)."""
    if examples_axis:
        kw.setdefault("x_axis_type", "log")     # the first thousand examples keep their share of the axis
    f = figure(width=WIDTH, height=height, title=title, tools=TOOLS, toolbar_location="right",
               sizing_mode="stretch_both", min_width=200, min_height=160, **kw)
    readable(f)
    if examples_axis:
        f.xaxis.formatter = NumeralTickFormatter(format="0.[0]a")     # 500, 20k, 1.5m
        f.xaxis.ticker = CustomJSTicker(major_code=EXAMPLES_TICKS_JS)
        f.xaxis.axis_label = "examples seen (log scale)"
    return f


def slim(figures) -> None:
    """The same figures with about a fifth fewer Bokeh models (a page of glr17-1hl: 661 -> 527).

    Each model costs the server's event loop when it is made, at every walk of the document and when
    it is sent: a class opening the page pays for 30 pages of them.  bokeh.plotting gives each glyph
    renderer two extra copies of its glyph, drawn for data not selected and for a muted legend entry;
    nothing on these figures selects data, and their legends hide curves instead of muting them, so
    the browser's own stand-ins ("auto") are never drawn either.  The index filter of every renderer,
    the label policy of every axis and the selection policy of every source hold no state: one of each
    serves them all.
    """
    every, all_labels, union = AllIndices(), AllLabels(), UnionRenderers()
    for f in figures:
        for r in f.renderers:
            if not isinstance(r, GlyphRenderer):
                continue
            r.nonselection_glyph = "auto"
            r.muted_glyph = "auto"
            if type(r.view.filter) is AllIndices:
                r.view.filter = every
            if type(r.data_source.selection_policy) is UnionRenderers:
                r.data_source.selection_policy = union
        for axis in f.left + f.right + f.above + f.below:
            if isinstance(axis, Axis) and type(axis.major_label_policy) is AllLabels:
                axis.major_label_policy = all_labels


def legend_above(f) -> None:
    """Move the figure's legend above the plot area, in one row (it never covers the curves)."""
    if not f.legend:
        return
    leg: Legend = f.legend[0]
    leg.orientation = "horizontal"
    leg.label_text_font_size = LEGEND_SIZE
    leg.label_height = 16
    leg.glyph_height = 16
    leg.spacing = 8
    leg.padding = 2
    leg.margin = 2
    leg.click_policy = "hide"
    # two entries a row: a third would be cut off in a quarter of a projector's width or on a phone
    leg.ncols = 2
    f.add_layout(leg, "above")


def note_fig(*lines: str):
    """A plot-sized message where a plot does not apply."""
    f = figure(width=WIDTH, height=HEIGHT, tools="", toolbar_location=None, x_range=Range1d(-1, 1),
               y_range=Range1d(-1, 1), sizing_mode="stretch_both", min_width=200, min_height=160,
               title=" ".join(lines))
    f.title.visible = False         # the title names the canvas for screen readers (static/page.js)
    f.axis.visible = False
    f.grid.visible = False
    f.outline_line_color = None
    src = ColumnDataSource({"x": [0] * len(lines), "y": [0.15 - 0.3 * i for i in range(len(lines))],
                            "text": list(lines)})
    f.text("x", "y", "text", source=src, text_align="center", text_baseline="middle", text_font_size=LEGEND_SIZE,
           text_color="#555555")
    return f


@dataclass(frozen=True)
class Feed:
    """A Bokeh source filled from one of a run's :class:`~.rows.Rows`: ``columns`` pairs (source column,
    rows' column), the x axis first."""

    source: ColumnDataSource
    columns: tuple[tuple[str, str], ...]
    stream: str = "scalars"         # which rows of the run: "scalars" or "tests"
    positive: bool = False          # on a log axis: zeros and below become gaps

    def data(self, cols: dict) -> dict:
        out = {}
        for i, (name, col) in enumerate(self.columns):
            v = cols[col]
            out[name] = np.where(v > 0, v, np.nan) if self.positive and i else v
        return out


def empty_source(names) -> ColumnDataSource:
    return ColumnDataSource({c: [] for c in names})


def write_feeds(feeds: list[Feed], rows, replace: bool) -> None:
    """Rows, by column, into the sources they feed: replacing their data, or streamed after it."""
    cols = {c: np.asarray(v, dtype=float) for c, v in rows.items()}
    for feed in feeds:
        data = feed.data(cols)
        if replace:
            feed.source.data = data
        elif len(data[feed.columns[0][0]]):
            feed.source.stream(data, rollover=MAX_ROWS)


@dataclass
class Group:
    """One figure group as its builder returns it.

    ``handles`` names the models its updates write (merged, they are ``LivePlots._h``); ``feeds`` the
    sources each run's rows fill, by run name; ``shows`` what draws each latest value it follows, by the
    value's name in ``LivePlots`` (``plateau``, ``traces``, ...); ``ghost`` the ghost's renderers with the words after "ghost: " in their legend
    entry.
    """

    figures: list
    handles: dict = field(default_factory=dict)
    feeds: dict[str, list[Feed]] = field(default_factory=dict)
    shows: dict[str, Callable] = field(default_factory=dict)
    ghost: list = field(default_factory=list)


def ghost_handles(groups) -> dict:
    """The ghost's renderers, legend entries and legends over all groups, for :func:`show_ghost`."""
    renderers = [pair for g in groups for pair in g.ghost]
    what = dict(renderers)
    items = [(item, what[r]) for g in groups for fig in g.figures if fig.legend
             for item in fig.legend[0].items for r in item.renderers[:1] if r in what]
    return {"ghost_r": renderers, "ghost_items": items}


def show_ghost(h, label: str) -> None:
    """Ghost curves and legend entries visible, and named, exactly while there is a ghost."""
    for r, _ in h.get("ghost_r", []):
        r.visible = bool(label)
    for item, what in h.get("ghost_items", []):
        item.visible = bool(label)
        # "ghost (feedback alignment): h1 vs backprop" overran a quarter of the projector (the ghost's
        # rule is named in its status line right above); only an entry with nothing else to say names it
        name = GHOST.label(what, what) if what else f"{GHOST.prefix} ({label})"
        item.label = value(name if label else GHOST.prefix)


def class_name(classes: tuple[str, ...], k) -> str:
    if k is None:
        return "?"
    k = int(k)
    return classes[k] if 0 <= k < len(classes) else str(k)
