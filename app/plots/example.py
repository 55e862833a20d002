"""The current example: its image, and the output layer's rates with target and guess marked."""
from __future__ import annotations

from functools import partial

import numpy as np
from bokeh.models import ColumnDataSource, DataRange1d, LinearColorMapper, Range1d
from bokeh.palettes import Greys256
from bokeh.plotting import figure

from .base import Group, class_name, readable

SIDE = 28
RIGHT, WRONG, OTHER = "#2ca02c", "#d62728", "#9e9e9e"


def build(classes: tuple[str, ...]) -> Group:
    # square whatever the cell: the picture keeps its proportions, as high as the cell
    im = figure(width=270, height=270, title="Current example", tools="save", toolbar_location=None,
                x_range=Range1d(0, SIDE), y_range=Range1d(0, SIDE), sizing_mode="scale_height", aspect_ratio=1,
                min_height=160)
    readable(im)
    im.axis.visible = False
    im.grid.visible = False
    image_src = ColumnDataSource({"image": [np.zeros((SIDE, SIDE))]})
    ink = LinearColorMapper(palette=list(reversed(Greys256)), low=0, high=255)   # white paper, dark ink
    im.image("image", x=0, y=0, dw=SIDE, dh=SIDE, source=image_src, color_mapper=ink, level="image")
    names = [class_name(classes, k) for k in range(len(classes))]
    bars = figure(width=320, height=250, x_range=names, title="Output rates (forward phase)",
                  tools="save,hover", tooltips=[("class", "@cls"), ("rate", "@rate{0.000}"), ("", "@mark")],
                  y_range=DataRange1d(start=0, range_padding=0.2), toolbar_location=None, sizing_mode="stretch_both", min_width=200,
                  min_height=160)
    readable(bars)
    bars_src = ColumnDataSource({"cls": names, "rate": np.zeros(len(names)), "color": [OTHER] * len(names),
                                 "mark": [""] * len(names)})
    bars.vbar(x="cls", top="rate", width=0.8, color="color", source=bars_src)
    # the target and the wrong guess are told by a sign above their bar as well as by colour
    bars.text(x="cls", y="rate", text="mark", source=bars_src, text_align="center", text_baseline="bottom",
              text_font_size="16px", text_color="color")
    bars.xaxis.axis_label = "output neuron (forward phase)"
    bars.yaxis.axis_label = "rate (spikes per time step)"
    if max((len(n) for n in names), default=1) > 2:
        bars.xaxis.major_label_orientation = 0.8
    handles = {"image_src": image_src, "image_fig": im, "bars_src": bars_src}
    return Group(figures=[im, bars], handles=handles, shows={"example": partial(show_example, classes=classes)})


def show_example(h, data, classes: tuple[str, ...]) -> None:
    if data is None:
        return
    img = data.get("image")
    if img is not None:
        # Bokeh draws row 0 at the bottom; images store the top row first
        h["image_src"].data = {"image": [np.flipud(np.asarray(img, dtype=float))]}
    label, pred = data.get("label"), data.get("prediction")
    rates = np.asarray(data["rates"], dtype=float)
    colors = [RIGHT if k == label else WRONG if k == pred else OTHER for k in range(len(rates))]
    marks = ["✓" if k == label else "✗" if k == pred else "" for k in range(len(rates))]
    n = len(h["bars_src"].data["cls"])
    h["bars_src"].data = {"cls": h["bars_src"].data["cls"], "rate": rates[:n], "color": colors[:n], "mark": marks[:n]}
    if label is not None:
        ok = label == pred
        h["image_fig"].title.text = (f"target {class_name(classes, label)} · guess {class_name(classes, pred)} "
                                     f"{'✓' if ok else '✗'}")
