"""Learning curves: the error figure (training, test, the paper's reference) and the layer losses."""
from __future__ import annotations

import numpy as np
from bokeh.models import DataRange1d, FixedTicker, HoverTool

from .base import Feed, Group, empty_source, legend_above, new_fig
from .series import layer_columns
from .style import GHOST, HEIGHT, MAIN, REFERENCE_COLOR, REFERENCE_DASH, RunStyle

XY = (("x", "examples_seen"),)


def draw_run(error, loss, style: RunStyle, n_hidden: int):
    """One run's curves on the error and loss figures: its sources, its feeds and its (renderer, what) pairs."""
    p = style.handle
    loss_cols = layer_columns("loss", n_hidden)
    train, test = empty_source(("x", "y")), empty_source(("x", "y"))
    losses = empty_source(["examples_seen", "loss_out"] + loss_cols)
    drawn = [(error.line("x", "y", source=train, **style.line(style.train, 2),
                         legend_label=style.label("training", "training")), "training")]
    marker = {"marker": style.test_marker} if style.test_marker else {}
    points = error.scatter("x", "y", source=test, size=7, **marker, color=style.test,
                           legend_label=style.label("test", "test"))
    drawn.append((points, "test"))
    drawn.append((error.line("x", "y", source=test, **style.line(style.test, style.test_width),
                             alpha=style.test_alpha, legend_label=style.label("test", "test")), "test"))
    error.add_tools(HoverTool(renderers=[points], tooltips=[style.hover_examples, ("test error", "@y{0.0} %")]))
    drawn.append((loss.line("examples_seen", "loss_out", source=losses, **style.line(style.output, 2),
                            legend_label=style.label("Lₒᵤₜ", "output Lₒᵤₜ")), "Lₒᵤₜ"))
    for j, col in enumerate(loss_cols):
        drawn.append((loss.line("examples_seen", col, source=losses, **style.line(style.layer(j), 2),
                                legend_label=style.label(f"hidden {j + 1}", f"hidden {j + 1}")), f"hidden {j + 1}"))
    sources = {f"{p}train_src": train, f"{p}test_src": test, f"{p}loss_src": losses}
    feeds = [Feed(train, XY + (("y", "train_err"),)), Feed(test, XY + (("y", "test_err"),), stream="tests"),
             Feed(losses, tuple((c, c) for c in ["examples_seen", "loss_out"] + loss_cols), positive=True)]
    return sources, feeds, drawn


def build(x_range, n_hidden: int, paper_error: float | None, paper_curve) -> Group:
    error = new_fig("Error (training and test)", height=HEIGHT + 20, x_range=x_range, y_range=DataRange1d(start=0, only_visible=True))
    loss = new_fig("Layer losses (running mean)", height=HEIGHT + 20, x_range=x_range, y_axis_type="log")
    error.yaxis.axis_label = "error (%)"
    loss.yaxis.axis_label = "loss (squared difference)"
    # drawing order is legend order: the main run, the paper's reference, then the ghost
    handles, feeds, _ = draw_run(error, loss, MAIN, n_hidden)
    group = Group(figures=[error, loss], handles=handles, feeds={MAIN.name: feeds})
    # references are dotted (style.py): the paper's final error, and the shipped 60-epoch run
    if paper_error is not None:
        error.hspan(y=[paper_error], line_dash=REFERENCE_DASH, line_color=REFERENCE_COLOR, line_width=2,
                    legend_label=f"paper {paper_error:g} %")
    if paper_curve is not None:
        handles["paper_src"] = empty_source(("x", "y"))
        error.line("x", "y", source=handles["paper_src"], line_dash=REFERENCE_DASH, line_width=2, color="#7a7a7a",
                   legend_label="60-epoch run")
        group.shows["paper"] = show_paper
    # 1-2-5 ticks sit evenly on a log axis (the default crowds labels within one decade)
    loss.yaxis.ticker = FixedTicker(ticks=[m * 10.0 ** e for e in range(-6, 3) for m in (1, 2, 5)])
    ghost_sources, group.feeds[GHOST.name], group.ghost = draw_run(error, loss, GHOST, n_hidden)
    handles.update(ghost_sources)
    for f in (error, loss):
        legend_above(f)
    return group


def show_paper(h, data) -> None:
    if data is not None:
        h["paper_src"].data = {"x": np.asarray(data["x"], dtype=float), "y": np.asarray(data["y"], dtype=float)}


def paper_points(curve, upto: float) -> dict:
    """The paper's curve up to a little past this run's progress (so the axis follows the run)."""
    x, y = curve
    limit = max(upto * 1.15, 1000.0)
    keep = x <= limit
    xs, ys = list(x[keep]), list(y[keep])
    after = np.flatnonzero(~keep)
    if xs and after.size:      # end the line exactly at the limit, by interpolation
        j = after[0]
        ys.append(float(np.interp(limit, [xs[-1], x[j]], [ys[-1], y[j]])))
        xs.append(limit)
    return {"x": np.asarray(xs, dtype=float), "y": np.asarray(ys, dtype=float)}
