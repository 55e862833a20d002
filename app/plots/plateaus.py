"""Plateau potentials of sample hidden neurons, and (spiking mode) their voltages through one example."""
from __future__ import annotations

import operator

import numpy as np
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Range1d, Slope, Span

from dendcore.snapshot import Traces

from .base import Group, legend_above, new_fig, note_fig
from .style import HEIGHT, LAYER_COLORS, POTENTIALS, REFERENCE_COLOR, REFERENCE_DASH


def traced_voltages(tr: Traces, col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Somatic, basal and apical voltage of the traced neuron in column ``col``, one value per step."""
    # one column read out of the rows: converting all the rows (every traced neuron) to an array
    # first took 5-10 times as long, and a page does it at every update of a crowded class
    if isinstance(tr.V, np.ndarray):            # as the trainer makes them
        return tuple(np.array(rows[:, col], dtype=float) for rows in (tr.V, tr.V_b, tr.V_a))
    pick = operator.itemgetter(col)
    return tuple(np.fromiter(map(pick, rows), dtype=float, count=len(rows)) for rows in (tr.V, tr.V_b, tr.V_a))


def build(n_hidden: int, mode: str) -> Group:
    if not n_hidden:
        return Group(figures=[note_fig("No hidden layer: no apical dendrites,", "so no plateau potentials.")])
    group = _plateau_group(n_hidden)
    if mode == "spiking":
        traces = _trace_group()
        group.figures += traces.figures
        group.handles.update(traces.handles)
        group.shows.update(traces.shows)
    else:
        group.figures.append(note_fig("Voltage traces exist in spiking mode only:", "rate mode jumps straight to",
                                      "each phase's steady state."))
    return group


def _plateau_group(n_hidden: int) -> Group:
    p = new_fig("Plateau potentials α", examples_axis=False, x_range=Range1d(0.4, 0.6),
                y_range=Range1d(0.4, 0.6))
    # the diagonal αᵗ = αᶠ is a reference: dotted, like every reference line (style.py)
    p.add_layout(Slope(gradient=1, y_intercept=0, line_color=REFERENCE_COLOR, line_dash=REFERENCE_DASH, line_width=2))
    sources, renderers = [], []
    for j in range(n_hidden):
        src = ColumnDataSource({"x": [], "y": []})
        renderers.append(p.scatter("x", "y", source=src, size=7, alpha=0.8, color=LAYER_COLORS[j % 3],
                                   legend_label=f"hidden {j + 1}"))
        sources.append(src)
    p.add_tools(HoverTool(renderers=renderers, tooltips=[("αᶠ", "@x{0.000}"), ("αᵗ", "@y{0.000}")]))
    p.xaxis.axis_label = "αᶠ, forward phase (0–1)"
    p.yaxis.axis_label = "αᵗ, target phase (0–1)"
    if n_hidden > 1:
        p.legend.location = "bottom_right"
    else:
        p.legend.visible = False
    return Group(figures=[p], handles={"plateau_src": sources, "plateau_fig": p}, shows={"plateau": show_plateaus})


def _trace_group() -> Group:
    t = new_fig("Voltages, latest example", height=HEIGHT + 20, examples_axis=False)
    h = {"trace_src": ColumnDataSource({"t": [], "V": [], "V_b": [], "V_a": []})}
    for key, label, color, width in POTENTIALS:
        t.line("t", key, source=h["trace_src"], color=color, line_width=width, legend_label=label)
    h["win_f"] = BoxAnnotation(left=0, right=0, fill_color="#1f77b4", fill_alpha=0.12)
    h["win_t"] = BoxAnnotation(left=0, right=0, fill_color="#d62728", fill_alpha=0.12)
    h["phase"] = Span(location=0, dimension="height", line_dash=REFERENCE_DASH, line_color=REFERENCE_COLOR, line_width=2)
    for a in (h["win_f"], h["win_t"], h["phase"]):
        t.add_layout(a)
    t.xaxis.axis_label = "time (ms): forward | target phase"
    t.yaxis.axis_label = "potential (model units)"
    legend_above(t)
    h["trace_fig"] = t
    return Group(figures=[t], handles=h, shows={"traces": show_traces})


def square_range(values, fallback=(0.4, 0.6)) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return fallback
    lo, hi = float(v.min()), float(v.max())
    pad = 0.06 * max(hi - lo, 1e-3)
    return lo - pad, hi + pad


def show_plateaus(h, data) -> None:
    if data is None:
        return
    allv = []
    for j, src in enumerate(h["plateau_src"]):
        af = np.asarray(data["alpha_f"][j] if j < len(data["alpha_f"]) else [], dtype=float)
        at = np.asarray(data["alpha_t"][j] if j < len(data["alpha_t"]) else [], dtype=float)
        src.data = {"x": af, "y": at}
        allv.extend([af, at])
    lo, hi = square_range(np.concatenate(allv) if allv else [])
    f = h["plateau_fig"]
    f.x_range.update(start=lo, end=hi)
    f.y_range.update(start=lo, end=hi)
    f.title.text = f"Plateaus α, example {data['examples_seen']}"


def show_traces(h, data) -> None:
    if data is None:
        return
    tr: Traces = data["traces"]
    if len(tr.V) == 0:
        return
    # the neuron chosen under the network picture (app/network_picture.py), else the first of hidden layer 1
    chosen = h.get("trace_neuron")
    col = tr.neurons.index(chosen) if chosen in tr.neurons else 0
    V, Vb, Va = traced_voltages(tr, col)
    h["trace_src"].data = {"t": np.arange(len(V), dtype=float), "V": V, "V_b": Vb, "V_a": Va}
    h["win_f"].update(left=tr.forward_window[0], right=tr.forward_window[1])
    h["win_t"].update(left=tr.target_window[0], right=tr.target_window[1])
    h["phase"].location = tr.forward_steps
    h["trace_fig"].title.text = f"Neuron {tr.neurons[col]}, example {data['examples_seen']}"
