"""The "Paper's experiments" tab: one card per experiment (see :mod:`app.experiments`).

Each card explains the experiment, lists its presets with the published number
beside this session's own result (refreshed by the page's periodic drain when
the controller's scoreboard changes), and has buttons that load a preset, its
rate-mode version, or the side-by-side comparison with a ghost run.
"""
from __future__ import annotations

from typing import Callable

import panel as pn

from dendcore import PRESETS

from . import explain
from .experiments import EXPERIMENTS, Experiment, describe
from .paper import reference_result

CARD_WIDTH = 540
TABLE_CSS = "table { width: 100%; } td, th { padding: 3px 6px; vertical-align: top; }"
_LABEL = "label" if "label" in pn.widgets.Button.param else "name"
_COLOR = "color" if "color" in pn.widgets.Button.param else "button_type"


def _button(text: str, kind: str, **kw) -> pn.widgets.Button:
    return pn.widgets.Button(**{_LABEL: text, _COLOR: kind}, **kw)


class ExperimentCards:
    """The cards of one session; ``refresh()`` redraws the results when the scoreboard moved on."""

    def __init__(self, controller, on_load: Callable[[], None] | None = None):
        self.ctrl = controller
        self.on_load = on_load
        self._seen_version = -1
        self._tables: dict[str, pn.pane.Markdown] = {}
        self.buttons: dict[str, pn.widgets.Button] = {}     # by "load:<preset>" / "compare:<key>" (tests)
        self.cards = [self._card(e) for e in EXPERIMENTS]
        self.refresh()

    def panel(self):
        return pn.Column(pn.pane.Markdown(explain.CARDS_INTRO, sizing_mode="stretch_width"),
                         pn.FlexBox(*self.cards, flex_wrap="wrap", align_content="flex-start",
                                    sizing_mode="stretch_width"),
                         sizing_mode="stretch_width", name="experiments")

    # ---- one card
    def _card(self, e: Experiment):
        table = pn.pane.Markdown("", width=CARD_WIDTH - 30, css_classes=[f"dl-card-results-{e.key}"],
                                 name=f"results-{e.key}", stylesheets=[TABLE_CSS])
        self._tables[e.key] = table
        rows = []
        for v in e.variants:
            b = _button(f"Load {v.preset}", "primary", width=250, margin=(2, 4))
            b.on_click(lambda ev, name=v.preset: self.load(name))
            self.buttons[f"load:{v.preset}"] = b
            row = [b]
            rate = f"{v.preset}-rate"
            if rate in PRESETS and not v.preset.endswith("-rate"):
                rb = _button("rate", "light", width=60, margin=(2, 4))
                rb.on_click(lambda ev, name=rate: self.load(name))
                self.buttons[f"load:{rate}"] = rb
                row.append(rb)
            rows.append(pn.Row(*row, margin=0))
        parts = [pn.pane.Markdown(e.text, width=CARD_WIDTH - 30), table, *rows]
        if e.compare is not None:
            preset, ghost = e.compare
            parts.append(pn.pane.Markdown(f"**Side by side:** {e.compare_note}.", width=CARD_WIDTH - 30,
                                          margin=(8, 10, 0, 10)))
            cb = _button("▶ Compare live", "success", width=150, margin=(2, 4))
            cb.on_click(lambda ev, p=preset, g=ghost: self.load(p, g))
            self.buttons[f"compare:{e.key}"] = cb
            row = [cb]
            rate = f"{preset}-rate"
            # (plateau timing does not exist in rate mode: a rate comparison would show two equal runs)
            if rate in PRESETS and ghost not in ("rate", "spiking", "jittered"):
                crb = _button("▶ Compare live in rate mode (fast)", "success", width=260, margin=(2, 4))
                crb.on_click(lambda ev, p=rate, g=ghost: self.load(p, g))
                self.buttons[f"compare-rate:{e.key}"] = crb
                row.append(crb)
            parts.append(pn.Row(*row, margin=0))
        elif e.compare_note:
            parts.append(pn.pane.Markdown(f"*{e.compare_note}*", width=CARD_WIDTH - 30))
        return pn.Card(*parts, title=e.title, width=CARD_WIDTH, collapsible=False, margin=8,
                       header_background="#f4f6fb", css_classes=[f"dl-card-{e.key}"], name=f"card-{e.key}")

    # ---- actions
    def load(self, preset: str, ghost: str | None = None) -> None:
        if self.ctrl.load_preset(preset, ghost) and self.on_load is not None:
            self.on_load()

    # ---- results
    def results_markdown(self, e: Experiment) -> str:
        scores = self.ctrl.scores
        lines = ["| preset | the paper | our long run (seed 0) | you |", "| --- | --- | --- | --- |"]
        for v in e.variants:
            own = {w.preset for w in e.variants}
            rate = f"{v.preset}-rate"
            names = [v.preset] + ([rate] if rate in PRESETS and rate not in own else [])
            mine = []
            for name in names:
                res = scores.get(name)
                if res is not None or name == v.preset:
                    text = describe(res, v.metric)
                    mine.append(text if name == v.preset else f"rate: {text}")
            ours = reference_result(v.preset) if v.metric == "test" else ""
            lines.append(f"| **{v.label}**<br>`{v.preset}` | {v.published or '–'} | {ours or '–'} | "
                         f"{'<br>'.join(mine)} |")
        return "\n".join(lines)

    def refresh(self, force: bool = False) -> bool:
        """Redraw the result tables if the session's results changed; True when redrawn."""
        version = self.ctrl.scores.version
        if version == self._seen_version and not force:
            return False
        self._seen_version = version
        for e in EXPERIMENTS:
            text = self.results_markdown(e)
            if self._tables[e.key].object != text:
                self._tables[e.key].object = text
        return True
