"""A picture of the network (static/network.svg), coloured by the latest example, and the choice of the
neuron whose voltages are traced.

The picture follows the run's latest values, redrawn after each poll that brings news: the image's
ink colours the input, the traced neuron's mean basal and somatic potentials its dendrite and soma,
the sample neurons' mean plateau potentials the apical dendrite (left half forward phase, right half
target phase), the output rates the output layer, with ✓/✗ at the target and a wrong guess.  The
trainer records the voltages of a few hidden neurons per layer and of every output neuron; a menu
under the picture chooses which of them the voltage plot shows (any other neuron needs the trainer to
record it: see ``choose``).
"""
from __future__ import annotations

import math
from html import escape
from string import Template

import numpy as np
import panel as pn

from . import assets
from .layout import LABEL_KEY
from .live_panes import LiveHTML
from .plots.plateaus import traced_voltages

RAMP = ((255, 247, 188), (254, 153, 41), (153, 52, 4))     # low → high activity (light yellow to brown)


def shade(v: float | None, lo: float = 0.0, hi: float = 1.0) -> str:
    """A colour for an activity between lo and hi (grey when unknown)."""
    # math, not NumPy: on one number NumPy's calls took most of a redraw (15 shades per picture)
    if v is None or not math.isfinite(v):
        return "#dddddd"
    t = min(1.0, max(0.0, (v - lo) / (hi - lo) if hi > lo else 0.0)) * 2
    a, b = (RAMP[0], RAMP[1]) if t <= 1 else (RAMP[1], RAMP[2])
    t = t if t <= 1 else t - 1
    return "#%02x%02x%02x" % tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _fmt(v, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def outputs_svg(rates, label, prediction) -> str:
    """One circle per output neuron, coloured by its rate relative to the largest; ✓ target, ✗ wrong guess."""
    rates = np.asarray(rates if rates is not None else np.zeros(10), dtype=float)
    top = float(rates.max()) if rates.size and rates.max() > 0 else 1.0
    parts = []
    for k, r in enumerate(rates[:10]):
        y = 40 + 20 * k
        mark = "✓" if k == label else "✗" if k == prediction else ""
        parts.append(f'<circle cx="548" cy="{y}" r="8" fill="{shade(r, 0, top)}" stroke="#333"/>'
                     f'<text x="562" y="{y + 5}" fill="#333">{k} {mark}</text>')
    return "".join(parts)


class NetworkPicture:
    """The picture pane and the traced-neuron buttons of one session (its grid cell)."""

    def __init__(self):
        self.template = Template(assets.text("network.svg"))
        self.values: dict = {"input": None, "basal": None, "soma": None, "alpha_f": None, "alpha_t": None,
                             "rates": None, "label": None, "prediction": None, "neuron": "–"}
        self.pane = LiveHTML(self.render(), sizing_mode="stretch_both", margin=0, name="network-picture")
        self.chooser = pn.widgets.Select(options=["–"], value="–", margin=(0, 4), visible=False, width=220,
                                         css_classes=["dl-traced"], **{LABEL_KEY: "Voltages of neuron"})
        self.chooser.param.watch(self._chosen, "value")
        self.plots = None
        self._dirty = False

    # ------------------------------------------------------------ data
    def render(self) -> str:
        v = self.values
        desc = (f"Latest example: input ink {_fmt(v['input'])}, basal {_fmt(v['basal'])}, soma {_fmt(v['soma'])}, "
                f"plateaus forward {_fmt(v['alpha_f'], 3)} and target {_fmt(v['alpha_t'], 3)}.")
        pred, label = v["prediction"], v["label"]
        output = "" if label is None else f"{label} → {pred} {'✓' if pred == label else '✗'}"
        return self.template.substitute(
            description=escape(desc), input_fill=shade(v["input"], 0, 0.4), input_text=f"ink {_fmt(v['input'])}",
            basal_fill=shade(v["basal"], -1, 1), basal_text=_fmt(v["basal"]), soma_fill=shade(v["soma"], -1, 1),
            soma_text=_fmt(v["soma"]), apical_f_fill=shade(v["alpha_f"], 0.4, 0.6),
            apical_t_fill=shade(v["alpha_t"], 0.4, 0.6), alpha_f_text=_fmt(v["alpha_f"], 3),
            alpha_t_text=_fmt(v["alpha_t"], 3), neuron=escape(str(v["neuron"])),
            outputs=outputs_svg(v["rates"], label, pred), output_text=escape(output))

    def attach(self, plots) -> None:
        """Follow a new run's plots (their latest plateaus, traces and example)."""
        self.plots = None               # no choice reaches the new plots while the buttons are reset
        self.chooser.param.update(options=["–"], value="–", visible=False)
        self.plots = plots
        plots.plateau.add_subscriber(lambda: self._plateaus(plots.plateau.data))
        plots.traces.add_subscriber(lambda: self._traces(plots.traces.data))
        plots.example.add_subscriber(lambda: self._example(plots.example.data))

    def _plateaus(self, data) -> None:
        if data is not None and len(data["alpha_f"]):
            self.values["alpha_f"] = float(np.mean(data["alpha_f"][0]))
            self.values["alpha_t"] = float(np.mean(data["alpha_t"][0]))
            self._redraw()

    def _traces(self, data) -> None:
        if data is None or len(data["traces"].V) == 0:
            return
        tr = data["traces"]
        if list(self.chooser.options) != list(tr.neurons):
            keep = self.chooser.value if self.chooser.value in tr.neurons else tr.neurons[0]
            self.chooser.param.update(options=list(tr.neurons), value=keep, visible=True)
        soma, basal, _ = traced_voltages(tr, tr.neurons.index(self.chooser.value))
        self.values["basal"] = float(np.mean(basal))
        self.values["soma"] = float(np.mean(soma))
        self.values["neuron"] = self.chooser.value
        self._redraw()

    def _example(self, data) -> None:
        if data is None:
            return
        img = data.get("image")
        if img is not None:
            self.values["input"] = float(np.mean(np.asarray(img, dtype=float)) / 255.0)
        self.values.update(rates=data.get("rates"), label=data.get("label"), prediction=data.get("prediction"))
        self._redraw()

    def _redraw(self, now: bool = False) -> None:
        self._dirty = True
        if now:
            self.flush()

    def flush(self) -> None:
        """Draw the latest values if they changed (the page's drain calls this after each poll).

        Every poll that brings a new example redraws, so the picture names the digit the example plot
        beside it shows.  It used to be held to two redraws a second, and a solo page polls five times a
        second: on a projected page the two disagreed more often than not.  A crowded server polls every
        2 s, so a class gets no more redraws than before; a solo page sends about 4 kB five times a second.
        """
        if self._dirty:
            self._dirty = False
            self.pane.object = self.render()

    # ------------------------------------------------------------ choice
    def _chosen(self, event) -> None:
        if self.plots is not None and event.new in self.chooser.options:
            self.choose(event.new)

    def choose(self, neuron: str) -> None:
        """Trace this neuron (one of those the trainer records) in the voltage plot and the picture.

        Tracing any other neuron, e.g. one clicked in the plateau scatter, needs a hook in the
        engine: the trainer picks its traced neurons once (``Trainer._pick_trace_neurons``); a
        ``set_trace_neurons(layer, indices)`` there, passed on by the engine thread between
        examples, would let this method ask for it.
        """
        self.plots.trace_neuron(neuron)
        self._traces(self.plots.traces.data)
        self._redraw(now=True)

    def panel(self) -> pn.Row:
        return pn.Row(self.pane, self.chooser, sizing_mode="stretch_both", margin=0)
