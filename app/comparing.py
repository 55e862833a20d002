"""A session's part in a side-by-side comparison: its ghost run follows the main run.

:class:`Comparing` is mixed into :class:`app.controller.Controller`; the ghost itself (its
thread, leash and training place) is :class:`app.ghost.Ghost`.  The ghost is rebuilt with
every new main network, plays when the main run plays (a place permitting), and its news
join each poll.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import param

from dendcore import ModelSpec, SpecError

from .ghost import GHOSTS, Ghost, GhostUpdate

if TYPE_CHECKING:
    from .controller import Update


class Comparing(param.Parameterized):

    def _ghost_changed(self) -> None:
        if self.ghost == "off":
            self._ghost_off()
            self._notify("Ghost run off: its training thread has stopped and its curves are gone.", "info")
            self._update_status()
        else:
            # a comparison only means something from the same starting point, so both runs restart
            self._new_run(reason=f"Ghost run: {GHOSTS[self.ghost].label}. Both runs started again from example "
                          f"0, on the same examples in the same order.")

    def _ghost_off(self) -> None:
        if self._ghost.enabled or self._ghost.engine is not None:
            self._ghost.off()
            self._ghost_cleared = True

    def _configure_ghost(self, spec: ModelSpec) -> None:
        """Rebuild the ghost beside the main run that is being built (or stop it when it is off)."""
        if self.ghost == "off":
            self._ghost_off()
            return
        try:
            self._ghost.configure(self.ghost, spec, int(self.seed), str(self.dataset), self._engine, self._run_id,
                                  self.pacing())
        except SpecError as exc:
            self._ghost_off()
            self._notify(f"The ghost run cannot be built: {exc}", "warning")

    def _play_ghost(self) -> None:
        if self._ghost.enabled and not self._ghost.play():
            self._notify(f"The class is full ({self._slots.capacity} trainings on this server), so the ghost run "
                         f"waits for a free place; your run trains alone until one frees up.", "warning")

    def _poll_ghost(self, up: Update) -> None:
        if self._ghost_cleared:
            up.ghost = GhostUpdate(run_id=-1, new_run=True)     # no spec: the plots drop the ghost's curves
            self._ghost_cleared = False
        if self._pending_run is not None or not self._ghost.enabled:
            return      # while the main run is being rebuilt, the ghost's news wait for its new plots
        g = self._ghost
        if self.running and not g.running and g.ready and not g.halted:
            g.play()    # it was refused a place: one may have freed up (quietly; the notice was given)
        elif not self.running and g.running:
            g.pause()   # the main run stopped by itself (run-length limit, divergence, an error)
        gup = g.poll()
        if gup is None:
            return
        for kind, text in gup.messages:
            up.messages.append((kind, text))
            self._notify(text, kind)
        if not gup.empty or up.ghost is None:
            up.ghost = gup

    def _score(self, up: Update) -> None:
        """Feed the experiment cards: the latest numbers of each run that is one of the paper's presets."""
        run = self._run
        if run is not None and (up.new_run or up.snapshots or up.tests or up.live):
            self.scores.observe(("main", run.run_id), run.spec, run.dataset, self.tracker.last,
                                self.tracker.last_test)
        g = up.ghost
        if g is not None and g.run_id == self._ghost.run_id and self._ghost.spec is not None and not g.empty:
            self.scores.observe(("ghost", g.run_id), self._ghost.spec, str(self.dataset), self._ghost.last,
                                self._ghost.last_test)

    @property
    def ghost_run(self) -> Ghost:
        return self._ghost
