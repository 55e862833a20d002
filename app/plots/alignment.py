"""Alignment: the angles to backprop (and of Y to W), and the Theorem-1 eigenvalue."""
from __future__ import annotations

from bokeh.models import DataRange1d

from .base import Feed, Group, empty_source, legend_above, new_fig, note_fig
from .series import layer_columns
from .style import GHOST, HEIGHT, MAIN, REFERENCE_COLOR, REFERENCE_DASH, WEIGHT_ANGLE_DASH, RunStyle


def draw_run(angles, eig, style: RunStyle, n_hidden: int):
    """One run's curves on the angle and eigenvalue figures: its sources, its feeds and its
    (renderer, what) pairs."""
    angle_cols, wangle_cols = layer_columns("angle", n_hidden), layer_columns("wangle", n_hidden)
    cols = ["examples_seen", "eig"] + angle_cols + (wangle_cols if style.weight_angles else [])
    src = empty_source(cols)
    drawn = []
    for j, (col, wcol) in enumerate(zip(angle_cols, wangle_cols)):
        what = f"h{j + 1} vs backprop"
        drawn.append((angles.line("examples_seen", col, source=src, **style.line(style.layer(j), 2),
                                  legend_label=style.label(what, what)), what))
        if style.weight_angles:
            angles.line("examples_seen", wcol, source=src, color=style.layer(j), line_width=2,
                        line_dash=WEIGHT_ANGLE_DASH, legend_label=f"Y{'₁₂₃'[j] if j < 3 else j + 1} vs W")
    drawn.append((eig.line("examples_seen", "eig", source=src, **style.line(style.eig, 2),
                           legend_label=style.label("", "this run")), ""))
    return {f"{style.handle}align_src": src}, [Feed(src, tuple((c, c) for c in cols))], drawn


def build(x_range, n_hidden: int) -> Group:
    if not n_hidden:
        return Group(figures=[note_fig("No hidden layer: there is no feedback to align.")])
    # starts a little below 0°: a backprop ghost's line at exactly 0° would hide in the axis
    angles = new_fig("Angle to backprop", height=HEIGHT + 20, x_range=x_range,
                     y_range=DataRange1d(start=-4, only_visible=True))
    eig = new_fig("Theorem-1 eigenvalue", x_range=x_range,
                  y_range=DataRange1d(start=0, only_visible=True))
    handles, feeds, _ = draw_run(angles, eig, MAIN, n_hidden)
    ghost_sources, ghost_feeds, ghost = draw_run(angles, eig, GHOST, n_hidden)
    handles.update(ghost_sources)
    angles.yaxis.axis_label = "angle (°)"
    # (title and label must fit the projector's cell; over the last 100 examples, says the explanation)
    eig.yaxis.axis_label = "largest eigenvalue"
    eig.hspan(y=[1.0], line_dash=REFERENCE_DASH, line_color=REFERENCE_COLOR, line_width=2, legend_label="threshold 1")
    for f in (angles, eig):
        legend_above(f)
    handles["eig_legend"] = eig.legend[0]
    return Group(figures=[angles, eig], handles=handles, feeds={MAIN.name: feeds, GHOST.name: ghost_feeds},
                 ghost=ghost)
