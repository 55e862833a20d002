"""The ghost run: a second network trained beside the main one, for a side-by-side comparison.

The ghost has the main run's architecture, seed and dataset, so it starts from
the same forward weights and sees the same examples in the same order (the
example order is its own random stream, independent of the rule); one choice
(:data:`GHOSTS`) changes the rule or one setting.  A ghost of another learning
rule also takes that rule's own learning rates (tuned per rule: dendcore/presets.py), since
each rule's error has its own scale; the example order and initial weights stay the same.  It trains in its own
:class:`GhostEngine` thread, which is a normal :class:`app.engine.Engine`
held on a leash: it never trains past the main run's example count, so on a
2-core machine it cannot race ahead and take the core the main run needs, and
the two curves always cover the same stretch of examples.

A ghost thread is a training like any other: it takes its own place in the
class's :class:`app.seats.TrainingSlots` while it plays and gives it back
when it pauses.  Turning the ghost off stops its thread.

This module never touches Panel objects; the controller owns one :class:`Ghost`
per session and merges its news into each poll.
"""
from __future__ import annotations

import bisect
import math
import logging
from dataclasses import dataclass
from typing import Callable

from dendcore import Diagnostics, ModelSpec, Snapshot, SpecError
from dendcore.presets import rates_for_rule

from .engine import Engine, RunConfig
from .tracker import RunNews, RunTracker

log = logging.getLogger("dendrite_lab.ghost")


@dataclass(frozen=True)
class GhostChoice:
    label: str                                   # what the selector shows
    short: str                                   # legend name, e.g. "backprop"
    apply: Callable[[ModelSpec], ModelSpec]      # the main run's spec -> the ghost's
    pinned: tuple[str, ...] = ()                 # live fields the choice fixes (main's sliders leave them alone)
    rule: str | None = None                      # a learning rule the choice trains with, at that rule's own rates


def _set(**changes) -> Callable[[ModelSpec], ModelSpec]:
    return lambda spec: spec.replace(**changes)


def _rule(rule: str) -> Callable[[ModelSpec], ModelSpec]:
    """Another learning rule at its own learning rates: a rule's error has its own scale, so the main run's
    rates carry over by the ratio of the two rules' tuned rates (:func:`dendcore.presets.rates_for_rule`)."""
    def apply(spec: ModelSpec) -> ModelSpec:
        if spec.rule == rule:
            return spec
        return spec.replace(rule=rule, lr=rates_for_rule(spec.lr, spec.rule, rule))
    return apply


def _rule_choice(label: str, short: str, rule: str) -> GhostChoice:
    return GhostChoice(label, short, _rule(rule), rule=rule)


# keys are what the address bar holds (``?ghost=backprop``)
GHOSTS: dict[str, GhostChoice] = {
    "off": GhostChoice("off", "", lambda s: s),
    "backprop": _rule_choice("backprop", "backprop", "backprop"),
    "feedback_alignment": _rule_choice("feedback alignment", "feedback alignment", "feedback_alignment"),
    "dendrites": _rule_choice("segregated dendrites", "dendrites", "dendrites"),
    "ga06": GhostChoice("g_a = 0.6 (weak attenuation)", "g_a = 0.6", _set(g_a=0.6), pinned=("g_a",)),
    "ga005": GhostChoice("g_a = 0.05 (strong attenuation)", "g_a = 0.05", _set(g_a=0.05), pinned=("g_a",)),
    "ga0": GhostChoice("g_a = 0 (fully segregated)", "g_a = 0", _set(g_a=0.0), pinned=("g_a",)),
    "symmetric": GhostChoice("symmetric feedback", "symmetric Y", _set(feedback="symmetric")),
    "noisy_symmetric": GhostChoice("noisy symmetric feedback", "noisy symmetric Y",
                                   _set(feedback="noisy_symmetric")),
    "random": GhostChoice("random feedback", "random Y", _set(feedback="random")),
    "sparse": GhostChoice("sparse feedback", "sparse Y", _set(feedback="sparse", sparse_rescale=True)),
    "sparse_norescale": GhostChoice("sparse feedback, no rescale", "sparse Y, no rescale",
                                    _set(feedback="sparse", sparse_rescale=False)),
    "rate": GhostChoice("rate-mode neurons", "rate mode", _set(mode="rate")),
    "spiking": GhostChoice("spiking neurons", "spiking", _set(mode="spiking")),
    "jittered": GhostChoice("jittered plateau timing", "jittered plateaus", _set(plateaus="jittered")),
    "twin": GhostChoice("identical twin (a control)", "twin", lambda s: s),
}
GHOST_OPTIONS = {c.label: key for key, c in GHOSTS.items()}    # label -> key, for a param.Selector


def ghost_spec(choice: str, main: ModelSpec) -> ModelSpec:
    """The ghost's spec for a choice, given the main run's (raises SpecError for an unknown choice)."""
    if choice not in GHOSTS or choice == "off":
        raise SpecError(f"ghost: unknown choice {choice!r}; choose one of {', '.join(GHOSTS)}")
    return GHOSTS[choice].apply(main)


class GhostEngine(Engine):
    """A training thread that stays behind a leader (the main run's engine)."""

    TRAINER_DIAGNOSTICS = Diagnostics(traces=False, probe=False)
    THREAD_KIND = "ghost"

    def __init__(self, name: str = "ghost"):
        super().__init__(probe_sink=None, name=name)
        self.leader: Callable[[int], int] | None = None

    def allowance(self, tr, run_id: int) -> int | None:
        lead = self.leader
        if lead is None:
            return None
        return lead(tr.examples_seen) - tr.examples_seen


def follow(main: Engine, main_run_id: int) -> Callable[[int], int]:
    """The leash: from a position, the next position the main run has shown its page (or the position itself).

    Only shown positions, not merely trained ones: the main run's page may lag its thread (a full
    queue, a progress report not due yet), and the ghost's line must never read ahead of it.
    Snapshots fall on the same fixed grid in both runs, so their curves share points and smoothing.
    """
    def target(pos: int) -> int:
        if main.run_id != main_run_id:       # the main run is still being rebuilt
            return pos
        ends = list(main.shown_ends)         # a copy made without releasing the GIL
        i = bisect.bisect_right(ends, pos)
        return ends[i] if i < len(ends) else pos
    return target


GhostUpdate = RunNews      # a ghost's news are a run's news, with its legend name in ``label``


class Ghost:
    """The session's ghost run: its choice, thread, training place and latest numbers."""

    def __init__(self, slots, name: str = "ghost"):
        self._slots = slots
        self._name = name
        self.choice = "off"
        self.engine: GhostEngine | None = None
        self.tracker = RunTracker(keep_history=False)
        self._planned: ModelSpec | None = None      # the spec asked for, until the thread reports it built
        self._main_rule: str | None = None          # the main run's rule: its rates are carried over to the ghost's
        self.running = False
        self.refused = False        # Play found no free training place for the ghost
        self.halted = False         # it stopped by itself (divergence, run-length limit, an error)

    # -------------------------------------------------------------- state
    @property
    def enabled(self) -> bool:
        return self.choice != "off"

    @property
    def label(self) -> str:
        return GHOSTS[self.choice].short if self.enabled else ""

    @property
    def run_id(self) -> int:
        return self.tracker.run_id

    @property
    def spec(self) -> ModelSpec | None:
        return self.tracker.spec or self._planned

    @property
    def ready(self) -> bool:
        return self.tracker.ready

    @property
    def last(self) -> Snapshot | None:
        return self.tracker.last

    @property
    def last_test(self) -> tuple[float, int, int] | None:
        return self.tracker.last_test

    @property
    def rate(self) -> float:
        return self.tracker.rate

    def _slot_key(self) -> int:
        return id(self)

    # ----------------------------------------------------------- commands
    def configure(self, choice: str, main_spec: ModelSpec, seed: int, dataset: str, main_engine: Engine,
                  main_run_id: int, pacing: dict) -> ModelSpec | None:
        """(Re)build the ghost beside a new main run, paused at example 0; ``"off"`` stops it."""
        if choice == "off":
            self.off()
            return None
        spec = ghost_spec(choice, main_spec)
        self.choice = choice
        self._main_rule = main_spec.rule
        if self.engine is None:
            self.engine = GhostEngine(name=f"{self._name}-engine")
        self.pause()
        self.tracker.expect(self.run_id + 1)
        self._planned = spec
        self.halted = False
        self.engine.leader = follow(main_engine, main_run_id)
        self.engine.set_pacing(**pacing)
        self.engine.configure(RunConfig(spec, int(seed), str(dataset), self.run_id))
        return spec

    def play(self) -> bool:
        """Play with the main run; False when the class has no place left for the ghost."""
        if not self.enabled or self.engine is None:
            return True
        if not self._slots.acquire(self._slot_key()):
            self.refused = True
            return False
        self.refused = False
        self.halted = False
        self.engine.play()
        self.running = True
        return True

    def pause(self) -> None:
        if self.engine is not None:
            self.engine.pause()
        self._slots.release(self._slot_key())
        self.running = False
        self.refused = False

    def step(self, n: int = 1) -> None:
        if self.enabled and self.engine is not None:
            self.engine.step(n)
        self._slots.release(self._slot_key())
        self.running = False

    def set_live(self, **changes) -> None:
        """Forward the main run's live changes, except those the choice fixes (a g_a ghost keeps its g_a);
        a ghost of another rule takes learning rates carried over to its rule's scale."""
        if not self.enabled or self.engine is None:
            return
        choice = GHOSTS[self.choice]
        changes = {k: v for k, v in changes.items() if k not in choice.pinned}
        if choice.rule is not None and "lr" in changes and self._main_rule is not None:
            changes["lr"] = rates_for_rule(tuple(changes["lr"]), self._main_rule, choice.rule)
        if changes:
            self.engine.set_live(**changes)

    def set_pacing(self, **pacing) -> None:
        if self.engine is not None:
            self.engine.set_pacing(**pacing)

    def off(self) -> bool:
        """Stop the ghost's thread and give its place back; True when the thread has ended."""
        self.choice = "off"
        self._slots.release(self._slot_key())
        self.running = False
        self._planned = None
        self.tracker.expect(self.run_id)
        engine, self.engine = self.engine, None
        if engine is None:
            return True
        return engine.close(timeout=1.0)

    close = off

    # --------------------------------------------------------------- poll
    def poll(self, limit: int = 256) -> GhostUpdate | None:
        """Drain the ghost's queue; None when there is no ghost."""
        if self.engine is None:
            return None
        news = GhostUpdate(run_id=self.run_id, label=self.label)
        for stop in self.tracker.drain(self.engine.out, news, limit):
            self.pause()
            self.halted = True
            name = f"The ghost run ({self.label})"
            if stop.reason == "diverged":
                news.messages.append(("warning", f"{name} diverged: {stop.text}. The ghost is paused; the main "
                                                 f"run goes on."))
            elif stop.reason == "failed":
                news.messages.append(("warning", f"{name} failed: {stop.text}. The main run goes on."))
        return news

    def status(self) -> str:
        """One line for the page."""
        if not self.enabled:
            return ""
        seen = self.tracker.examples_seen
        parts = [f"ghost ({self.label}): examples seen {seen}"]
        if self.last_test is not None:
            err, n, at = self.last_test
            parts.append(f"test error {err:.1f} % ({n} images, at {at} examples)")
        ang = self.last.angle_to_backprop_deg if self.last is not None else None
        if ang:
            vals = [a for a in ang if a is not None and math.isfinite(a)]
            if vals:
                parts.append("angle to backprop " + ", ".join(f"{a:.0f}°" for a in vals))
        if not self.ready:
            parts.append("building…")
        elif self.running:
            parts.append("training")
        elif self.refused:
            parts.append("waiting for a free training place")
        else:
            parts.append("paused")
        return " · ".join(parts)
