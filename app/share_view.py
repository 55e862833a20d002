"""The page's part of presenter mode: the Share button, the follow link with its QR code, the
following banner with "Take it from here", and read-only controls while following."""
from __future__ import annotations

import html
import logging
from typing import Callable

import panel as pn

from .look import button, param_widgets

log = logging.getLogger("dendrite_lab.share_view")

ROLE_KEYS = ("follow", "present", "experiment")


def role_of(query: dict) -> tuple[str, str] | None:
    """``?follow=CODE``, ``?present=CODE`` or ``?experiment=CODE`` from a link's query (in that order), else None."""
    for key in ROLE_KEYS:
        if key in query:
            value = query[key]
            value = value[-1] if isinstance(value, list) and value else value
            return key, str(value)[:40]
    return None


def page_link(key: str, code: str) -> str:
    """``/app?KEY=CODE`` on the host the browser used (what students type or scan)."""
    loc = pn.state.location
    if loc is None or not loc.hostname:
        return f"/app?{key}={code}"
    port = f":{loc.port}" if loc.port else ""
    return f"{loc.protocol}//{loc.hostname}{port}{loc.pathname or '/app'}?{key}={code}"


def qr_image(text: str) -> str:
    """An SVG data URI of a QR code for phones (empty when segno is not installed)."""
    try:
        import segno
    except ImportError:
        return ""
    return segno.make(text, error="m").svg_data_uri(scale=6, dark="#111111")


class ShareView:
    """Widgets bound to the controller's ``presenting`` / ``following`` codes."""

    def __init__(self, ctrl, param_panes: Callable[[], list]):
        self.ctrl = ctrl
        self._param_panes = param_panes
        # the widgets are made with the part of the page they sit in: "Take it from here" with the header
        # (``take_over_button``), so that a follower finds it at once, on a phone too (where the settings
        # fold behind the menu); the rest with the settings sidebar (``panel``), which follows the header.
        # The controls are locked from the start
        self.share_button = self.take_button = self.link = self.banner = None
        ctrl.param.watch(self._roles_changed, ["presenting", "following", "experiment"])
        self._roles_changed()

    def take_over_button(self) -> pn.widgets.Button:
        """The header's "Take it from here", visible while following."""
        self.take_button = button("Take it from here", "success", css_classes=["dl-take-over"],
                                  description="Train your own copy of the presenter's network from this point")
        self.take_button.on_click(lambda _e: self.ctrl.take_over())
        self._show_roles()
        return self.take_button

    def panel(self) -> pn.Column:
        ctrl = self.ctrl
        self.share_button = button("Share with the class", "primary",
                                   description="Show this run on every student's screen", css_classes=["dl-share"])
        self.share_button.on_click(lambda _e: ctrl.present())
        self.link = pn.pane.HTML("", name="follow-link", sizing_mode="stretch_width")
        self.banner = pn.pane.Alert("", alert_type="primary", name="following-banner", sizing_mode="stretch_width",
                                    visible=False)
        self._roles_changed()
        return pn.Column(self.banner, self.share_button, self.link, sizing_mode="stretch_width",
                         margin=0, name="share")

    def _roles_changed(self, *_events) -> None:
        self._show_roles()
        self.lock_controls(bool(self.ctrl.following), bool(self.ctrl.in_experiment))

    def _show_roles(self) -> None:
        presenting, following = self.ctrl.presenting, self.ctrl.following
        if self.take_button is not None:
            self.take_button.visible = bool(following)
        if self.banner is None:
            return
        self.share_button.visible = not presenting and not following and not self.ctrl.in_experiment
        self.banner.visible = bool(following)
        self.banner.object = (f"**Following {following}**: the presenter's run, live. Your controls are read-only; "
                              f"“Take it from here” (beside Play) trains your own copy." if following else "")
        if presenting:
            link = page_link("follow", presenting)
            qr = qr_image(link)
            link = html.escape(link)
            img = f'<img src="{qr}" alt="QR code of the follow link" width="180" height="180">' if qr else ""
            self.link.object = (f'<div class="dl-follow-link"><div style="font-size:14px">The class opens</div>'
                                f'<div style="font-size:22px;font-weight:700;word-break:break-all">{link}</div>'
                                f'<div style="font-size:28px;letter-spacing:4px">code {presenting}</div>{img}</div>')
        else:
            self.link.object = ""

    def lock_controls(self, following: bool, in_experiment: bool = False) -> None:
        """Read-only controls while following; in a class experiment, all but Play/Pause/Step and the speed."""
        from .settings import PACING
        free = set(PACING) | {"play", "pause", "step", "reset"}     # (Reset is refused with a message)
        for pane in self._param_panes():
            names = set(getattr(pane, "parameters", None) or ())
            locked = following or (in_experiment and not names <= free)
            for widget in param_widgets(pane).values():
                if "disabled" in widget.param:
                    try:
                        widget.disabled = locked
                    except Exception as exc:     # a widget that cannot be disabled stays as it is
                        log.warning("could not lock %s: %s", type(widget).__name__, exc)
