"""A session's part in presenter mode: sharing its run, following another's, taking it over.

:class:`Sharing` is mixed into :class:`app.controller.Controller`.  A presenting
session publishes each poll into its :class:`app.presenting.Broadcast`; a following
session has no engine, mirrors the presenter's controls (read-only: changes sent
anyway are put back) and status, and polls the broadcast instead of an engine.
"Take it from here" copies the presenter's network state between two of its
chunks and starts the follower's own engine from it.
"""
from __future__ import annotations

import logging

import param

from .presenting import STAGE, Broadcast, PresentError, normalise_code
from .relay import PENDING
from .tracker import merge_news

log = logging.getLogger("dendrite_lab.sharing")

FOLLOWING_REFUSAL = ("You are following the class code {code}: the controls show the presenter's run. Press "
                     "“Take it from here” to train your own network from this point.")


class Sharing(param.Parameterized):
    presenting = param.String(default="", precedence=-1, doc="The class code this session presents under.")
    following = param.String(default="", precedence=-1, doc="The class code whose run this session shows.")

    stage = STAGE        # this server process's codes (a test gives a session another process's)

    def __init__(self, **params):
        self._broadcast: Broadcast | None = None
        self._follow: Broadcast | None = None
        self._follow_seq = -1
        self._mirrored: dict = {}
        self._take_ticket = None         # "Take it from here" asked, answer pending (another server's run)
        super().__init__(**params)

    # ------------------------------------------------------------ presenting
    def present(self, code: str | None = None) -> str | None:
        """Share this run under ``code`` (a new one when None); returns the code, or None when refused."""
        if self._follow is not None:
            self.notify("Take the run over first: a following page has no run of its own to share.", "warning")
            return None
        try:
            b = self.stage.open(self, code)
        except PresentError as exc:
            self.notify(str(exc), "warning")
            return None
        if self._broadcast is not None and self._broadcast is not b:
            self.stage.close(self._broadcast)
        self._broadcast = b
        self.presenting = b.code
        self._engine_in_foreground(True)
        self.notify(f"Your run is shared: the class opens /app?follow={b.code} (the link and a QR code are on "
                    f"the page).", "success")
        return b.code

    def stop_presenting(self) -> None:
        if self._broadcast is not None:
            self.stage.close(self._broadcast)
            self._broadcast = None
            self.presenting = ""
            self._engine_in_foreground(False)

    def _engine_in_foreground(self, on: bool) -> None:
        """A presented run trains at the page's priority, not below it (app/engine.py, set_foreground)."""
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.set_foreground(on)

    def _publish(self, up) -> None:
        if self._broadcast is not None:
            self._broadcast.publish(up, self._run, self.status, self.ghost_status, self.in_force, self.settings())

    # ------------------------------------------------------------- following
    def follow(self, code: str) -> bool:
        """Show the run presented under ``code`` instead of training one; False (with a message) if unknown."""
        try:
            b = self.stage.get(code)
        except PresentError as exc:
            self.notify(str(exc), "warning")
            return False
        if b is None or b.presenter is None or b.presenter is self:
            self.notify(f"No run is shared under the code {normalise_code(code)} on this server right now; "
                        f"this page runs its own network.", "warning")
            return False
        self.stop_presenting()
        self._drop_engines()
        self._follow, self._follow_seq, self._mirrored, self._take_ticket = b, -1, {}, None
        self.param.update(following=b.code, running=False, watching=False, class_note="")
        self.notify(f"Following the class code {b.code}: you see the presenter's run live. “Take it from "
                    "here” trains your own copy from this point.", "info")
        return True

    @property
    def is_following(self) -> bool:
        return self._follow is not None

    def _refused_while_following(self) -> bool:
        if self._follow is None:
            return False
        self.notify(FOLLOWING_REFUSAL.format(code=self._follow.code), "info")
        return True

    def _poll_following(self, update_type, ghost_type):
        b = self._follow
        if self._take_ticket is not None and self._take_over_if_answered():
            return update_type(run_id=self._run_id)
        if b.closed or b.presenter is None:
            self._follow = None
            self.following = ""
            self.status = "The presenter's run has ended · press ▶ Play to train your own network"
            self.notify(f"The run shared under {b.code} has ended. This page now runs its own network.", "info")
            self._active = False
            return update_type(run_id=self._run_id)
        got = b.since(self._follow_seq) if self._follow_seq >= 0 else None
        if got is None:
            seq, ups = b.catch_up(update_type, ghost_type)
            ups = [ups]
        else:
            seq, ups = got
        self._follow_seq = seq
        if b.settings and b.settings != self._mirrored:
            self._mirrored = dict(b.settings)
            self._mirror_controls(self._mirrored)
        self._run = b.run
        self.param.update(status=f"following {b.code} · {b.status}", ghost_status=b.ghost_status,
                          in_force=b.in_force)
        news = merge_news(ups, update_type) if ups else update_type(run_id=self._run_id)
        self.tracker.observe(news)
        return news

    def _mirror_controls(self, settings: dict) -> None:
        for name, value in settings.items():
            try:
                self.quietly(**{name: value})
            except ValueError as exc:       # a control this page cannot show (e.g. a dataset not installed here)
                log.warning("cannot mirror %s: %s", name, exc)

    def take_over(self) -> bool:
        """Go on from the presenter's network and settings, in this session's own engine."""
        b = self._follow
        if b is None or self._take_ticket is not None:
            return False
        self._take_ticket = b.ask_state()
        return self._take_over_if_answered()

    def _take_over_if_answered(self) -> bool:
        """Go on if the presenter's network has come (a run presented by another server process answers
        between two of its page's polls; this page's polls look again)."""
        b = self._follow
        got = b.answer(self._take_ticket)
        if got is PENDING:
            if "Copying" not in self.message:
                self.notify("Copying the presenter's network…", "info")
            return False
        self._take_ticket = None
        if got is None:
            self.notify("The presenter's network could not be copied just now (it may be rebuilding); try again "
                        "in a moment.", "warning")
            return False
        spec, seed, dataset, state = got
        settings = dict(b.settings)
        self._follow = None
        self.following = ""
        settings["ghost"] = "off"       # a ghost would start at example 0, far behind
        self._mirror_controls(settings)
        self._active = True
        self._new_run(reason=f"Taken over at example {int(state['examples_seen'][0]):,}: your own network goes on "
                             f"from the presenter's weights and settings.", spec=spec, state=state)
        self.start()
        return True
