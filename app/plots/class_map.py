"""The class experiment's two heat maps (final test error, final angle to backprop), drawn once and
then updated in place as the students' results land.

Every page of a class experiment shows them.  Drawn anew through HoloViews at each result, the two
maps cost a page's event loop about half a second (``python -m benchmarks.class_map_cost``), and every result
reached every page of the class; here a result changes a few short columns of two sources.
"""
from __future__ import annotations

import math

import numpy as np
from bokeh.models import BasicTicker, ColorBar, ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.palettes import YlOrRd9
from bokeh.plotting import figure

from .base import readable

PALETTE = tuple(reversed(YlOrRd9))      # light for low values, dark red for high ones
EMPTY = "#eeeeee"
MINE = "#1f4fbf"
MAPS = (("err", "err_sd", "final test error (%)", "%"), ("ang", "ang_sd", "final angle to backprop (°)", "°"))


def plus_minus(m, sd, unit: str, nd: int = 1) -> str:
    """A value as the maps and the Sweeps tab write it: 32.6 %, 32.6 % ± 1.2 % with an sd, – for none."""
    if m is None or not math.isfinite(m):
        return "–"
    return f"{m:.{nd}f}{unit}" + (f" ± {sd:.{nd}f}{unit}" if sd is not None and math.isfinite(sd) else "")


def cell_columns(df, col: str, sd_col: str, unit: str) -> tuple[dict, float, float]:
    """The columns of one map's source: a row per cell of ``SweepTable.cells``, its colour value (NaN
    when no run finished: drawn grey), the text on it and the hover's lines; and the finished cells'
    lowest and highest value."""
    values = np.array([float(v) for v in df[col]], dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    text, color, mean, sd = [], [], [], []
    for v, s, failed in zip(values, df[sd_col], df["n_failed"]):
        ok = math.isfinite(v)
        text.append(plus_minus(v, s, "") if ok else ("failed" if failed else "–"))
        # white on the dark half of the scale, dark text on the light half and on grey
        color.append("white" if ok and hi > lo and v - lo > 0.6 * (hi - lo) else "#222222")
        mean.append(plus_minus(v, None, unit))
        sd.append(plus_minus(float(s), None, unit) if math.isfinite(float(s)) else "– (fewer than 2 seeds)")
    data = {"x": [str(v) for v in df["x"]], "y": [str(v) for v in df["y"]], "value": values, "text": text,
            "text_color": color, "mean": mean, "sd": sd, "n_ok": [int(v) for v in df["n_ok"]],
            "n_runs": [int(v) for v in df["n_runs"]], "n_failed": [int(v) for v in df["n_failed"]]}
    return data, lo, hi


class ClassHeatMaps:
    """Two heat maps over the same grid axes; :meth:`show` puts new cells in the same figures."""

    def __init__(self, xs: list[str], ys: list[str], x_name: str, y_name: str, cell_height: int = 44):
        self.xs, self.ys = list(xs), list(ys)
        cell_w = max(44, min(90, 520 // max(len(xs), 1)))
        cell_h = max(36, min(cell_height, 300 // max(len(ys), 1)))
        width = min(600, 170 + cell_w * len(xs))
        height = min(420, 100 + cell_h * len(ys))
        self.sources, self.mappers, self.figures = [], [], []
        self.mine = ColumnDataSource({"x": [], "y": []})
        for _col, _sd, title, _unit in MAPS:
            src = ColumnDataSource({k: [] for k in ("x", "y", "value", "text", "text_color", "mean", "sd",
                                                    "n_ok", "n_runs", "n_failed")})
            mapper = LinearColorMapper(palette=PALETTE, nan_color=EMPTY, low=0, high=1)
            # as wide as the grid needs, narrower on a phone
            f = figure(width=width, height=height, title=title, x_range=FactorRange(factors=self.xs),
                       y_range=FactorRange(factors=self.ys), tools="", toolbar_location=None,
                       sizing_mode="stretch_width", max_width=width, min_width=min(width, 280))
            readable(f)
            f.rect("x", "y", 1, 1, source=src, fill_color={"field": "value", "transform": mapper},
                   line_color="white", line_width=1)
            f.text("x", "y", text="text", source=src, text_color="text_color", text_align="center",
                   text_baseline="middle", text_font_size="14px")
            f.rect("x", "y", 0.92, 0.92, source=self.mine, fill_alpha=0, line_color=MINE, line_width=4)
            f.add_tools(HoverTool(tooltips=[(x_name, "@x"), (y_name or "row", "@y"), ("mean", "@mean"),
                                            ("sd over seeds", "@sd"), ("seeds finished", "@n_ok of @n_runs"),
                                            ("failed", "@n_failed")], renderers=[f.renderers[0]]))
            f.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=4), width=12,
                                  major_label_text_font_size="14px"), "right")
            f.xaxis.axis_label, f.yaxis.axis_label = x_name, y_name
            f.grid.visible = False
            f.x_range.range_padding = f.y_range.range_padding = 0
            self.sources.append(src)
            self.mappers.append(mapper)
            self.figures.append(f)

    def fits(self, xs: list[str], ys: list[str]) -> bool:
        return list(xs) == self.xs and list(ys) == self.ys

    def show(self, df, mine: tuple[str, str] | None = None) -> None:
        """The cells of ``SweepTable.cells`` (rows x, y, err, err_sd, ang, ang_sd, n_ok, n_runs, n_failed)."""
        for (col, sd, _title, unit), src, mapper in zip(MAPS, self.sources, self.mappers):
            data, lo, hi = cell_columns(df, col, sd, unit)
            if hi - lo < 1e-9:          # one finished cell: a scale around it, not a zero-width one
                lo, hi = lo - 0.5, hi + 0.5
            mapper.update(low=lo, high=hi)
            src.data = data
        self.mine.data = {"x": [mine[0]], "y": [mine[1]]} if mine else {"x": [], "y": []}
