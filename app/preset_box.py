"""The Preset box: readable names with the id second, and "custom" once the controls leave the preset.

The controller's ``preset`` stays the preset the controls started from (the spec is built on it
and the link carries it); this box shows what runs: the preset's name while every control
agrees with it, "custom" as soon as one does not (a structural change, or a live slider).
"""
from __future__ import annotations

import re

import panel as pn

from dendcore import PRESETS, SpecError

from .layout import LABEL_KEY
from .settings import LIVE, STRUCTURAL

CUSTOM = "custom"


def preset_label(name: str) -> str:
    """``glr17-1hl-rate`` → "784-500-10, random broadcast feedback, rate mode (glr17-1hl-rate)"."""
    summary = PRESETS[name].summary if name in PRESETS else ""
    short = re.split(r"[(:]", summary)[0].strip(" ,") if summary else ""
    return f"{short} ({name})" if short else name


def is_custom(ctrl) -> bool:
    """True when the controls describe a network other than their preset's."""
    try:
        return ctrl.build_spec() != PRESETS[ctrl.preset].spec
    except (SpecError, KeyError, ValueError):
        return True


def file_stem(preset: str, spec) -> str:
    """Download names: the preset's id, or "custom" once the run's network is not the preset's."""
    same = preset in PRESETS and PRESETS[preset].spec == spec
    return f"dendrite-lab-{preset}" if same else f"dendrite-lab-custom-from-{preset}"


class PresetBox:
    """A Select over the presets that follows the controls (see the module doc)."""

    def __init__(self, ctrl):
        self.ctrl = ctrl
        self.named = {preset_label(n): n for n in PRESETS}
        self.widget = pn.widgets.Select(**{LABEL_KEY: "Preset"}, options=dict(self.named), value=ctrl.preset,
                                        description=ctrl.param.preset.doc, css_classes=["dl-preset"])
        self._following = False
        self.widget.param.watch(self._chosen, "value")
        ctrl.param.watch(self.follow, list(STRUCTURAL + LIVE))
        self.follow()

    def follow(self, *_events) -> None:
        if is_custom(self.ctrl):
            options = {f"custom (changed from {self.ctrl.preset})": CUSTOM, **self.named}
            value = CUSTOM
        else:
            options, value = dict(self.named), self.ctrl.preset
        self._following = True
        try:
            self.widget.param.update(options=options, value=value)
        finally:
            self._following = False

    def _chosen(self, event) -> None:
        if self._following or event.new == CUSTOM:
            return
        if event.new == self.ctrl.preset:
            # the same preset again, after custom changes: back to its settings (a new run)
            self.ctrl.param.trigger("preset")
        else:
            self.ctrl.preset = event.new
        self.follow()
