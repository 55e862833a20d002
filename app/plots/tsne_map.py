"""The t-SNE map of the top hidden layer's activity for the probe test images."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure
from bokeh.transform import factor_cmap, factor_mark

from .base import Group, class_name, note_fig, readable
from .style import CLASS_COLORS, CLASS_MARKERS, LEGEND_SIZE, WIDTH

HOVER = """
                <div style="display:flex;align-items:center;gap:6px">
                  <img src="@img" width="56" height="56" style="image-rendering:pixelated;border:1px solid #ccc">
                  <span style="font-size:14px">@cls</span>
                </div>"""


def build(n_hidden: int, classes: tuple[str, ...], probe_labels: np.ndarray, probe_uris: list[str]) -> Group:
    if not (n_hidden and len(probe_labels)):
        return Group(figures=[note_fig("No hidden layer: no hidden activity to map.")])
    order = np.argsort(probe_labels, kind="stable")     # legend lists the classes in order
    names = [class_name(classes, k) for k in probe_labels[order]]
    uris = [probe_uris[i] for i in order] if len(probe_uris) == len(order) else [""] * len(order)
    n = len(order)
    src = ColumnDataSource({"x": np.full(n, np.nan), "y": np.full(n, np.nan), "cls": names, "img": [""] * n})
    ts = figure(width=WIDTH + 40, height=WIDTH, tools="pan,wheel_zoom,box_zoom,reset,save",
                title="t-SNE map of the top hidden layer (after Play, or later on a full server)", toolbar_location="right",
                sizing_mode="stretch_both", min_width=200, min_height=160)
    readable(ts)
    factors = list(classes)
    r = ts.scatter("x", "y", source=src, size=7, alpha=0.85,
                   color=factor_cmap("cls", palette=[CLASS_COLORS[i % 10] for i in range(len(factors))],
                                     factors=factors),
                   marker=factor_mark("cls", [CLASS_MARKERS[i % len(CLASS_MARKERS)] for i in range(len(factors))],
                                      factors), legend_field="cls")
    ts.add_tools(HoverTool(renderers=[r], tooltips=HOVER))
    ts.xaxis.visible = False
    ts.yaxis.visible = False
    ts.grid.visible = False
    leg = ts.legend[0]
    leg.label_text_font_size = LEGEND_SIZE
    leg.label_height = 14
    leg.glyph_height = 14
    leg.spacing = 0
    leg.padding = 4
    ts.add_layout(leg, "right")
    # the hover images (~0.3 kB each) travel with the first map, not with the page
    handles = {"tsne_order": order, "tsne_uris": uris, "tsne_src": src, "tsne_fig": ts}
    return Group(figures=[ts], handles=handles, shows={"tsne": show_tsne})


def show_tsne(h, data) -> None:
    if data is None:
        return
    xy = np.asarray(data["xy"], dtype=float)[h["tsne_order"]]
    if h.get("tsne_uris") is not None:
        h["tsne_src"].data.update(x=xy[:, 0], y=xy[:, 1], img=h.pop("tsne_uris"))
    else:
        # only x and y change: the class names and hover images were sent once
        h["tsne_src"].data.update(x=xy[:, 0], y=xy[:, 1])
    title = f"t-SNE map of the top hidden layer, {len(xy)} test images, {data['examples_seen']} examples"
    if data.get("rationed"):
        title += " · full server: fewer maps"     # app/tsne.py, MapRation
    h["tsne_fig"].title.text = title
