"""The session controller: the settings of one browser session, driving its engine threads.

:class:`Controller` is a :class:`app.settings.Settings` (the controls, their spec
and the link codec) that also coordinates what runs: the main engine thread, the
ghost run (:mod:`app.ghost`), the class's training places (:mod:`app.seats`) and
the t-SNE map.  Structural changes start a new run from example 0 (and keep
playing if it was playing); live changes go to the running network; the ghost is
rebuilt with every new network and follows Play, Pause, Step and the sliders.

:meth:`Controller.poll` drains the engine's events through a
:class:`app.tracker.RunTracker` (called by the page's periodic callback) and
returns an :class:`Update` for the plots.  Nothing in this module needs a Panel
server, so the controller is unit-tested directly.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import param

from dendcore import PRESETS, ModelSpec, Snapshot, SpecError
from dendcore.datasets import load_dataset

from . import capacity
from . import engine as engine_module
from .engine import Engine, RunConfig
from .events import LiveApplied, Stopped
from .experiments import Scoreboard
from .opening import OPENING
from .ghost import GHOSTS, Ghost, GhostUpdate
from .paper import paper_reference
from .seats import PLACE_FREE, REFUSED, SLOTS, STEPS, StepBudget, TrainingSlots
from .settings import LIVE, PACING, STRUCTURAL, URL_PARAMS, Settings, cut, spec_description
from .class_runs import ClassRun
from .comparing import Comparing
from .sharing import Sharing
from .tracker import RunNews, RunTracker
from .tsne import TsneMap, TsneResult

log = logging.getLogger("dendrite_lab.controller")



def _memory_budget() -> capacity.MemoryBudget:
    try:
        return capacity.budget_from_env()
    except ValueError as exc:     # a typo in the environment must not stop the server: say so, use the defaults
        log.warning("%s; using the default memory budget", exc)
        saved = {k: os.environ.pop(k) for k in ("DENDRITE_MEMORY_BUDGET_MB", "DENDRITE_SESSION_MEMORY_MB",
                                                "DENDRITE_BROWSER_MEMORY_MB") if k in os.environ}
        try:
            return capacity.budget_from_env()
        finally:
            os.environ.update(saved)


MEMORY = _memory_budget()       # the networks of all sessions of this process, and of each one

POLL_LIMIT = 256                 # events drained per poll

__all__ = ["Controller", "Update", "RunInfo", "TrainingSlots", "SLOTS", "PLACE_FREE", "LIVE", "URL_PARAMS",
           "paper_reference"]


@dataclass
class Update(RunNews):
    """What one poll brought: the main run's news, its t-SNE map, and the ghost's news."""
    tsne: TsneResult | None = None
    ghost: GhostUpdate | None = None            # the ghost run's news (None: no ghost)

    @property
    def empty(self) -> bool:
        return super().empty and not self.tsne and (self.ghost is None or self.ghost.empty)


@dataclass
class RunInfo:
    """The network being trained now (set when the engine reports it built)."""
    run_id: int
    spec: ModelSpec
    seed: int
    dataset: str
    preset: str
    probe_indices: np.ndarray
    started: float = field(default_factory=time.time)


class Controller(ClassRun, Sharing, Comparing, Settings):
    """One browser session: the controls, the running spec and the engine threads."""

    # ---- buttons
    # (no docs on the buttons: a tooltip over Play would cover Pause right after a click)
    play = param.Action(lambda self: self.start(), label="▶ Play")
    pause = param.Action(lambda self: self.stop(), label="‖ Pause")
    step = param.Action(lambda self: self.step_once(), label="Step")
    reset = param.Action(lambda self: self.restart(), label="↺ Reset")

    # ---- read-only outputs for the page
    status = param.String(default="", precedence=-1, doc="The status line.")
    in_force = param.String(default="", precedence=-1, doc="The spec the engine is running now.")
    running = param.Boolean(default=False, precedence=-1)
    watching = param.Boolean(default=False, precedence=-1, doc=(
        "Play was refused because the class is full; the session watches until a place is free."))
    class_note = param.String(default="", precedence=-1, doc="The class-full note (stays while watching).")
    class_note_kind = param.Selector(default="warning", objects=["warning", "success"], precedence=-1)
    ghost_status = param.String(default="", precedence=-1, doc="The ghost run's status line.")

    def __init__(self, slots: TrainingSlots | None = None, tsne: TsneMap | None = None,
                 steps: StepBudget | None = None, **params):
        self._slots = slots or SLOTS
        self._step_budget = steps or STEPS
        self._engine: Engine | None = None
        self._ghost = Ghost(self._slots, name=f"ghost-{id(self):x}")
        self.tracker = RunTracker()
        self.scores = Scoreboard()                 # this session's results per paper preset (the cards)
        self._ghost_cleared = False                # the ghost was turned off: the next poll tells the plots
        self._tsne = tsne if tsne is not None else TsneMap()
        self._active = False
        self._run_id = 0
        self._run: RunInfo | None = None
        self._pending_run: RunInfo | None = None
        self._closed = False
        self.live_latencies: list[float] = []     # seconds from a slider move to the engine applying it
        self.last_live_applied: float | None = None   # perf_counter() when the engine applied the last change
        self._keep_playing = False
        self.played_at: float | None = None
        self.browser: str | None = None            # the page's browser (app/browsers.py): its tabs share a cap
        super().__init__(**params)
        self.param.watch(self._on_change, list(STRUCTURAL + LIVE + PACING + ("ghost",)))
        self._update_status()

    # ------------------------------------------------------------ watchers
    def _on_change(self, *events) -> None:
        if self._applying or self._closed:
            return
        if self.is_following:       # read-only: put the presenter's values back
            self._mirror_controls(self._mirrored)
            self._refused_while_following()
            return
        names = {e.name for e in events}
        if self.in_experiment and names - set(PACING):     # the grid point's settings are the class's
            self._mirror_controls(self._mirrored)
            self._notify("This page trains a grid point of the class experiment: its settings are fixed "
                         "(the speed is yours to choose).", "info")
            return
        note = ""
        if "preset" in names:
            # a preset sets everything, except values changed in the same batch (a shared link)
            self._sync_controls_from_preset(self.preset, keep=names - {"preset"})
        if "hidden" in names and not names & {"lr_hidden", "lr_output", "preset"}:
            try:
                note = self.follow_depth(events)
            except SpecError as exc:
                self._notify(str(exc), "warning")
                return
        if names & set(PACING):
            if self._engine is not None:
                self._engine.set_pacing(**self.pacing())
            self._ghost.set_pacing(**self.pacing())
        if names & set(STRUCTURAL):
            changed = [self.param[n].label or n for n in STRUCTURAL if n in names]
            self._new_run(reason="Changed " + ", ".join(changed) + ": that needs a new network, so the "
                          "run started again from example 0." + note)
        elif "ghost" in names:
            self._ghost_changed()
        elif names & set(LIVE):
            self._send_live()

    def _send_live(self) -> None:
        try:
            spec = self.build_spec()
        except SpecError as exc:
            self._notify(str(exc), "warning")
            return
        if not self._active or self._engine is None:
            return
        self._engine.set_live(lr=spec.lr, g_a=spec.g_a, feedback_scale=spec.feedback_scale)
        self._ghost.set_live(lr=spec.lr, g_a=spec.g_a, feedback_scale=spec.feedback_scale)

    # ------------------------------------------------------------- lifecycle
    def activate(self) -> None:
        """Start the session: build the first network in the background (call after URL sync)."""
        if self._active or self._closed or self.is_following:
            return
        self._active = True
        self._new_run(reason=None)

    def _new_run(self, reason: str | None, spec: ModelSpec | None = None, state: dict | None = None,
                 budget: int | None = None, final_test_images: int = 0) -> None:
        """Build a network from the controls (or from ``spec`` and another run's ``state``; a class
        experiment's point stops after ``budget`` examples with a test of ``final_test_images``)."""
        if not self._active:
            return
        try:
            spec = spec or self.build_spec()
        except SpecError as exc:
            self._notify(f"{exc} — the running network was kept.", "warning")
            return
        # building needs no training place, so the memory a network holds is counted here (app/capacity.py)
        refused = MEMORY.reserve(id(self), capacity.session_bytes(spec.hidden, ghost=self.ghost != "off"),
                                 what=f"a {capacity.describe(spec.hidden)} network", browser=self.browser)
        if refused:
            self._notify(f"{refused} The running network was kept.", "warning")
            return
        if self._engine is None:
            # the t-SNE map of a network (~0.2 s of a core) waits while pages of this server open
            self._engine = Engine(probe_sink=self._tsne.submit,
                                  probe_ready=lambda: self._tsne.ready and not OPENING.holds_back(),
                                  name=f"engine-{id(self):x}", foreground=bool(self.presenting))
        was_playing = self._engine.running
        self._run_id += 1
        self.tracker.expect(self._run_id)
        self._tsne.reset(self._run_id, layout_key=(str(self.dataset),))
        self._pending_run = RunInfo(self._run_id, spec, int(self.seed), str(self.dataset), str(self.preset),
                                    np.zeros(0, dtype=np.int64))
        self._engine.set_pacing(**self.pacing())
        self._engine.configure(RunConfig(spec, int(self.seed), str(self.dataset), self._run_id, state, budget,
                                         final_test_images))
        self._configure_ghost(spec)
        self._keep_playing = was_playing and reason is not None
        if self._keep_playing:
            self._engine.play()
            self._play_ghost()
        else:
            self._release_slot()
            self.running = False
        if reason:
            self._notify(reason, "info")
        self._update_status()

    def start(self) -> None:
        """Play."""
        if self._refused_while_following():
            return
        if not self._active:
            self.activate()
        if self._closed or self._engine is None:
            return
        self._keep_point()
        if self._engine.limit_reached and self._pending_run is None:
            # asking the engine would take a training place for nothing
            self._notify(self._limit_text(), "info")
            return
        if self._slots.browser_full(id(self), self.browser):
            self._notify(self._slots.browser_full_text(), "warning")
            self._update_status()
            return
        if not self._slots.acquire(id(self), self.browser):
            self._watch()
            return
        if self.watching:
            self.param.update(watching=False, class_note="")
            if self.message.startswith("The class is full"):
                self._notify("", "info")
        self._engine.play()
        self.played_at = time.perf_counter()
        self.running = True
        self._play_ghost()
        self._update_status()

    def _watch(self) -> None:
        """Play was refused: say why, and keep saying it until a place is free."""
        self.param.update(watching=True, running=False, class_note=self._slots.full_text(),
                          class_note_kind="warning")
        # the note is the message; a leftover notice beside it would only compete
        self._notify(REFUSED, "warning")
        self._update_status()

    def _check_place(self) -> None:
        """While watching: tell the student when a place frees up (and when it is taken again)."""
        if not self.watching:
            return
        note = self._slots.watching_note(self.class_note)
        if note is not None:
            self.param.update(class_note=note[0], class_note_kind=note[1])
            if note[0] == PLACE_FREE and self.message.startswith("The class is full"):
                self._notify("", "info")        # the refusal is old news now

    def stop(self) -> None:
        """Pause."""
        if self._engine is not None:
            self._engine.pause()
        self._ghost.pause()
        self._release_slot()
        self.running = False
        self._update_status()

    def step_once(self) -> None:
        if self._refused_while_following():
            return
        if not self._active:
            self.activate()
        if self._engine is None:
            return
        if not self._step_budget.take():
            self._notify(self._step_budget.busy_text(), "warning")
            return
        self._engine.step(1)
        self._ghost.step(1)
        self._release_slot()
        self.running = False
        self._update_status()

    def restart(self) -> None:
        """Reset: a fresh network with the current settings, paused at example 0."""
        if self._refused_while_following() or self._refused_in_experiment():
            return
        if self._engine is not None:
            self._engine.pause()
        self._release_slot()
        self.running = False
        self._new_run(reason=None)
        self._notify("Reset: a fresh network with the current settings, at example 0.", "info")

    def close(self) -> None:
        """End the session: stop the thread, free the training slot, drop the t-SNE map."""
        if self._closed:
            return
        self._closed = True
        MEMORY.release(id(self))
        self.stop_presenting()
        self.leave_experiment()
        self._follow = None
        self._release_slot()
        self.watching = False
        self._tsne.close()
        self._ghost.close()
        if self._engine is not None:
            stopped = self._engine.close(timeout=1.0)   # a chunk lasts ~0.1 s; never block the server long
            log.info("session closed; engine thread %s", "stopped" if stopped else "still finishing a chunk")

    def _drop_engines(self) -> None:
        """No engine in this session any more (it follows another's run)."""
        self._release_slot()
        self._ghost.off()
        if self._engine is not None:
            self._engine.close(timeout=1.0)
            self._engine = None
        self._run = self._pending_run = None
        self._active = False

    @property
    def has_news(self) -> bool:
        """A poll could bring something now or soon (cheap: the page's tab watch asks it 4 times a second
        for every dozing session).  Followers and class experiments are fed from outside this session,
        and a watching student is told when a training place frees up, so they always say yes."""
        if self.is_following or self.in_experiment or self.watching or self._pending_run is not None:
            return True
        engines = [self._engine, self._ghost.engine]
        return any(e is not None and e.has_news for e in engines) or self._tsne.has_result

    @property
    def building(self) -> bool:
        """A network of this session is being built (its page does not show it yet)."""
        return self._pending_run is not None

    @property
    def threads_alive(self) -> bool:
        """Some thread of this session (training, test, ghost) has not ended yet."""
        engines = [self._engine, self._ghost.engine]
        return any(e is not None and e.threads_alive for e in engines)

    def _release_slot(self) -> None:
        self._slots.release(id(self))

    @property
    def engine(self) -> Engine | None:
        return self._engine

    @property
    def run(self) -> RunInfo | None:
        return self._run

    @property
    def last_snapshot(self) -> Snapshot | None:
        """The latest example's snapshot (a history row, or a progress report between two)."""
        return self.tracker.latest

    @property
    def history(self) -> list[dict]:
        """Snapshots of this run as dicts (without traces), thinned when long."""
        return list(self.tracker.history.rows)

    # ------------------------------------------------------------------ poll
    def poll(self, limit: int = POLL_LIMIT) -> Update:
        """Drain the engine's queue (non-blocking) into one :class:`Update`."""
        if self.is_following:
            return self._poll_following(Update, GhostUpdate)
        up = Update(run_id=self._run_id)
        if self._engine is None:
            return up
        for stop in self.tracker.drain(self._engine.out, up, limit):
            self._stopped(stop, up)
        self._experiment_tick()
        if up.new_run:
            self._ready(up)
        for ev in up.live:
            self._live_applied(ev)
        result = self._tsne.take()
        if result is not None and result.run_id == self._run_id:
            up.tsne = result
        self._poll_ghost(up)
        self._score(up)
        self._check_place()
        if not up.empty:
            self._update_status()
        self._publish(up)
        return up

    def _ready(self, up: Update) -> None:
        info, spec = self._pending_run, up.spec
        self._run = RunInfo(self._run_id, spec, info.seed if info else int(self.seed),
                            info.dataset if info else str(self.dataset), info.preset if info else str(self.preset),
                            self.tracker.probe_indices)
        self._pending_run = None
        self.in_force = spec_description(spec)

    def _live_applied(self, ev: LiveApplied) -> None:
        if self._run is not None:
            self._run.spec = ev.spec
        self.in_force = spec_description(ev.spec)
        self.last_live_applied = ev.applied
        if ev.requested is not None:
            self.live_latencies.append(ev.applied - ev.requested)
            del self.live_latencies[:-200]

    def _stopped(self, stop: Stopped, up: Update) -> None:
        """The run stopped by itself: its place is free again, and the page says why."""
        self._release_slot()
        self.running = False
        if stop.reason == "limit":
            kind, text = "info", self._limit_text(stop.epochs, stop.examples_seen)
        elif stop.reason == "budget":
            kind, text = "success", self._experiment_done()
        elif stop.reason == "diverged":
            kind, text = "danger", (f"{stop.text}. Training is paused: lower a learning rate (or the feedback "
                                    f"scale) and press Play to continue, or press Reset.")
        else:
            kind, text = "danger", stop.text
        up.messages.append((kind, text))
        # a class experiment's result is said in its box on the page (app/page.py), not twice
        self._notify("" if text == self.experiment_note else text, kind)

    def _limit_text(self, epochs: float | None = None, seen: int | None = None) -> str:
        epochs = engine_module.MAX_EPOCHS if epochs is None else epochs
        seen = self._engine.examples_seen if seen is None and self._engine is not None else seen
        return (f"Stopped after {epochs:g} epochs ({seen} examples), the longest run this server allows. "
                f"Export the run, or press Reset to start again.")

    # ---------------------------------------------------------------- status
    _notify = Settings.notify

    def _update_status(self) -> None:
        t = self.tracker
        epoch = t.latest.epoch if t.latest is not None else 0.0
        test = t.test_text()
        test = f"test error: {test}" if test else "test error: not measured yet"
        if self._engine is None or not self._active:
            state = "starting"
        elif self._run is None or self._pending_run is not None:
            state = "building the network…"
        elif self.running:
            state = f"training, {t.rate:,.0f} examples/s" if math.isfinite(t.rate) else "training"
        elif self.watching:
            state = "watching (the class is full)"
        else:
            state = "paused"
        self.status = f"examples seen: {t.examples_seen} · epoch {epoch:.2f} · {test} · {state}"
        ghost = self._ghost.status()
        if ghost != self.ghost_status:
            self.ghost_status = ghost

    # ------------------------------------------------------------- helpers
    def load_preset(self, name: str, ghost: str | None = None) -> bool:
        """An experiment card's button: every control to the preset (and the ghost, if given), one new run.

        Unlike choosing the preset in its menu, this also starts afresh when the preset is already
        chosen but controls were changed since.  Keeps playing if the run was playing.
        """
        if self._refused_while_following() or self._refused_in_experiment():
            return False
        if name not in PRESETS:
            self._notify(f"Unknown preset {cut(repr(name))}; the running network was kept.", "warning")
            return False
        if ghost is not None and ghost not in GHOSTS:
            self._notify(f"Unknown ghost choice {cut(repr(ghost))}; the running network was kept.", "warning")
            return False
        # one new run below, not one per changed control
        self.quietly(preset=name, **({"ghost": ghost} if ghost is not None else {}))
        self._sync_controls_from_preset(name)
        if not self._active:
            return True
        with_ghost = f", with the ghost run ({GHOSTS[self.ghost].label})" if self.ghost != "off" else ""
        self._new_run(reason=f"Loaded the preset {name}{with_ghost}: a new run from example 0.")
        return True

    def example_image(self, index: int) -> np.ndarray | None:
        run = self._run
        if run is None:
            return None
        data = load_dataset(run.dataset)
        return np.asarray(data.train_images[int(index)]).reshape(28, 28) if data.n_inputs == 784 else None

    