"""Marks of live changes: where on the examples axis a slider reached the running network, and to what.

Every figure with an examples axis gets a thin grey vertical line at each change and a small
triangle at its foot; hovering over the triangle tells the new values.  The triangles sit on an
extra 0–1 range of their own, so they stay at the foot of the plot whatever its y axis shows.
"""
from __future__ import annotations

from bokeh.models import ColumnDataSource, HoverTool, Range1d

from ..glossary import plot_math

MARK_COLOR = "#6b6b6b"
NAMES = {"g_a": "g_a", "feedback_scale": "feedback ×", "lr": "learning rates"}


def describe(changes: dict, before: dict | None) -> str:
    """The changed values in words (all of them when there is nothing to compare with)."""
    shown = {k: v for k, v in changes.items() if before is None or before.get(k) != v} or changes
    parts = []
    for key, v in shown.items():
        value = "(" + ", ".join(f"{x:g}" for x in v) + ")" if isinstance(v, (tuple, list)) else f"{v:g}"
        parts.append(f"{NAMES.get(key, key)} = {value}" if key != "feedback_scale" else f"feedback × {value}")
    return plot_math(" · ".join(parts))


class LiveMarks:
    """The live changes of one run, and the figures that show them."""

    def __init__(self):
        self.x: list[float] = []
        self.text: list[str] = []
        self._before: dict | None = None
        self._sources: list[ColumnDataSource] = []

    def add(self, events) -> bool:
        """Record LiveApplied events; True when there was one."""
        new_x, new_text = [], []
        for ev in events:
            changes = dict(getattr(ev, "changes", {}) or {})
            if not changes:
                continue
            new_x.append(float(ev.examples_seen))
            new_text.append(describe(changes, self._before))
            self._before = changes
        if not new_x:
            return False
        self.x += new_x
        self.text += new_text
        for src in self._sources:
            src.stream({"x": new_x, "text": new_text})
        return True

    def draw(self, figures, live: bool, legend_on=None) -> None:
        """The marks on these figures (one source for all; a live one follows later changes); one
        figure's legend (``legend_on``) names them, the others have no room to spare."""
        src = ColumnDataSource({"x": list(self.x), "text": list(self.text)})
        if live:
            self._sources.append(src)
        for f in figures:
            f.extra_y_ranges = {**f.extra_y_ranges, "live_marks": Range1d(0, 1)}
            f.vspan(x="x", source=src, line_color=MARK_COLOR, line_width=1, line_alpha=0.7)
            named = {"legend_label": "live change"} if f is legend_on else {}
            foot = f.scatter(x="x", y=0.04, source=src, y_range_name="live_marks", marker="triangle", size=11,
                             color=MARK_COLOR, **named)
            f.add_tools(HoverTool(renderers=[foot], tooltips=[("live change at", "@x{0,0} examples"),
                                                              ("", "@text")]))
