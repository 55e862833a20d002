"""The session controller: a param class mirroring the spec, driving one engine thread.

The page's widgets are generated from the parameters below (labels, bounds and
docs become the widgets' labels, limits and tooltips).  Parameters fall into
three groups:

* ``STRUCTURAL`` -- preset, mode, hidden layers, learning rule, feedback kind,
  seed, dataset: changing one needs a new network, so the run restarts from
  example 0 (and keeps playing if it was playing); the page says so.
* ``LIVE`` -- learning rates, apical coupling g_a, feedback scale: sent to the
  running network, which applies them between two chunks of examples.
* ``PACING`` -- speed and the test schedule: how the thread trains, not what.

``ghost`` chooses a second run trained beside this one (:mod:`app.ghost`); it is
rebuilt with every new network, follows Play, Pause, Step and the live sliders,
and its news arrive in ``Update.ghost``.

:meth:`Controller.poll` drains the engine's queue (called by the page's
periodic callback) and returns an :class:`Update` for the plots.  Nothing in
this module needs a Panel server, so the controller is unit-tested directly.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import param

from dendcore import PRESETS, SCHEMA_VERSION, ModelSpec, Snapshot, SpecError
from dendcore.datasets import available_datasets, load_dataset
from dendcore.spec import FEEDBACK_KINDS, MAX_HIDDEN_LAYERS, paper_learning_rates

from .engine import Engine, Message, RunConfig, env_number
from .experiments import Scoreboard
from .ghost import GHOST_OPTIONS, GHOSTS, Ghost, GhostUpdate
from .tsne import TsneMap, TsneResult

log = logging.getLogger("dendrite_lab.controller")

STRUCTURAL = ("preset", "mode", "hidden", "rule", "feedback", "seed", "dataset")
LIVE = ("lr_hidden", "lr_output", "g_a", "feedback_scale")
PACING = ("speed", "test_every", "test_images")
URL_PARAMS = STRUCTURAL + LIVE + ("test_every", "test_images", "ghost")

DEFAULT_PRESET = "glr17-1hl"
MAX_HIDDEN_UNITS = 2000          # per layer, a classroom bound (the engine allows 5000)
HISTORY_LIMIT = 4000             # snapshots kept for export (thinned by half when reached)
POLL_LIMIT = 256                 # messages drained per poll

SPEEDS = {"1 example/s": 1, "5 examples/s": 5, "20 examples/s": 20, "100 examples/s": 100,
          "full speed": 0}
RULES = {"segregated dendrites": "dendrites", "backprop": "backprop",
         "feedback alignment": "feedback_alignment"}


# ------------------------------------------------------------------ class full
class TrainingSlots:
    """A cap on how many sessions of this server process train at the same time."""

    def __init__(self, capacity: int):
        self.capacity = max(1, int(capacity))
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self, owner: int) -> bool:
        with self._lock:
            if owner in self._held:
                return True
            if len(self._held) >= self.capacity:
                return False
            self._held.add(owner)
            return True

    def release(self, owner: int) -> None:
        with self._lock:
            self._held.discard(owner)

    @property
    def in_use(self) -> int:
        return len(self._held)

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self._held))


SLOTS = TrainingSlots(env_number("DENDRITE_MAX_TRAININGS", 2 * (os.cpu_count() or 1), minimum=1, integer=True))

CLASS_FULL = ("The class is full — you can watch: {n} training on this server right now, the most it runs at "
              "once. Meanwhile the error plot shows the whole reference run where this setup has one, Step "
              "trains your network one example at a time, and ▶ Play works as soon as a place is free (this "
              "note will say so).")
PLACE_FREE = "A place is free now: press ▶ Play to train your network."


# --------------------------------------------------------------------- helpers
def parse_hidden(text: str) -> tuple[int, ...]:
    """``"500-100"``, ``"500, 100"`` or ``"500 100"`` -> (500, 100); ``""``/``"none"`` -> ()."""
    t = str(text).strip().lower()
    if t in ("", "none", "0", "()", "-"):
        return ()
    parts = [p for p in t.replace(",", " ").replace("-", " ").replace("x", " ").split() if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise SpecError(f"hidden: write layer sizes as numbers, e.g. 500 or 500-100 (got {text!r})") from None
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise SpecError(f"hidden: at most {MAX_HIDDEN_LAYERS} hidden layers (got {len(sizes)})")
    for n in sizes:
        if not 1 <= n <= MAX_HIDDEN_UNITS:
            raise SpecError(f"hidden: each layer needs 1 to {MAX_HIDDEN_UNITS} units (got {n})")
    return sizes


def _cut(text: str, limit: int = 60) -> str:
    """User-supplied text cut short for a message (a link can carry megabytes)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shorten(value: Any) -> str:
    return _cut(repr(value))


def format_hidden(sizes) -> str:
    return "-".join(str(int(n)) for n in sizes) if len(sizes) else "none"


def lr_vector(n_hidden: int, lr_hidden: float, lr_output: float) -> tuple[float, ...]:
    return (float(lr_hidden),) * n_hidden + (float(lr_output),)


def spec_description(spec: ModelSpec) -> str:
    lr = ", ".join(f"{v:g}" for v in spec.lr)
    return (f"{'-'.join(str(n) for n in spec.sizes)} · {spec.mode} · {spec.rule.replace('_', ' ')} · "
            f"feedback {spec.feedback} × {spec.feedback_scale:g} · g_a = {spec.g_a:g} · lr = ({lr})")


def _dataset_objects() -> list[str]:
    try:
        return list(available_datasets())
    except Exception:   # a broken optional install must not break the page
        return ["mnist"]


def load_curve(preset: str):
    """The paper's test-error curve for a preset, if one is shipped (examples_seen, test_error_pct)."""
    from pathlib import Path
    import dendcore
    path = Path(dendcore.__file__).resolve().parent / "data" / "curves" / f"{preset}.csv"
    if not path.is_file():
        return None
    try:
        arr = np.genfromtxt(path, delimiter=",", names=True)
        x = np.atleast_1d(arr["examples_seen"]).astype(float)
        y = np.atleast_1d(arr["test_error_pct"]).astype(float)
    except Exception as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    ok = np.isfinite(x) & np.isfinite(y)
    return (x[ok], y[ok]) if ok.any() else None


# ---------------------------------------------------------------------- update
@dataclass
class Update:
    """What one poll brought: the page turns it into stream events."""
    run_id: int
    new_run: bool = False                       # a network was (re)built: clear the plots
    snapshots: list[Snapshot] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    tests: list[tuple[int, float, int]] = field(default_factory=list)   # (examples_seen, error %, images)
    tsne: TsneResult | None = None
    live: list[dict] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)   # (kind, text)
    ghost: GhostUpdate | None = None            # the ghost run's news (None: no ghost)

    @property
    def empty(self) -> bool:
        return not (self.new_run or self.snapshots or self.tests or self.tsne or self.live or self.messages
                    or (self.ghost is not None and not self.ghost.empty))


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


class LayerSizes(param.String):
    """Hidden-layer sizes as text, refused like an out-of-range number when they do not parse.

    A plain String would take anything a link or the browser sends (the network would keep
    its old layers while the control showed the garbage), and a link's one-batch update
    would set it without running the watchers that build the network.
    """

    def _validate_value(self, val, allow_None):
        super()._validate_value(val, allow_None)
        if val is not None:
            try:
                parse_hidden(val)
            except SpecError as exc:
                raise ValueError(str(exc)) from None


class Controller(param.Parameterized):
    """One browser session: the controls, the running spec and the engine thread."""

    # ---- the model (changing these builds a new network)
    preset = param.Selector(default=DEFAULT_PRESET, objects=list(PRESETS), label="Preset", doc=(
        "A setup from Guerguiev, Lillicrap & Richards (2017). Choosing one sets every control below; "
        "presets ending in -rate use the fast rate-based neurons. Starts a new run."))
    mode = param.Selector(default="spiking", objects=["spiking", "rate"], label="Neurons", doc=(
        "spiking: Poisson spikes, two phases of ~50 ms per example (the paper's model, ~500 examples/s). "
        "rate: every phase at its steady state, ~30x faster. Starts a new run."))
    hidden = LayerSizes(default="500", label="Hidden layers", doc=(
        f"Sizes of the hidden layers from the input up, e.g. 500, 500-100 or none; at most "
        f"{MAX_HIDDEN_LAYERS} layers of 1-{MAX_HIDDEN_UNITS} units. Changing the depth sets the paper's "
        f"learning rates. Starts a new run."))
    rule = param.Selector(default="dendrites", objects=RULES, label="Learning rule", doc=(
        "How hidden layers learn: segregated dendrites (the paper: apical plateau potentials), "
        "backprop (exact error transport, a baseline) or feedback alignment (fixed random error "
        "weights, a baseline). Starts a new run."))
    feedback = param.Selector(default="random", objects=list(FEEDBACK_KINDS), label="Feedback weights Y", doc=(
        "random: fixed random Y (paper default); sparse: 80 % zeroed; symmetric: Y = W_out transposed; "
        "noisy_symmetric: symmetric plus noise; learned: Y learns to invert the forward weights. "
        "Starts a new run."))
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed", doc=(
        "Random seed of the weights, spikes and example order: the same setup and seed give the same "
        "run. Starts a new run."))
    dataset = param.Selector(default="mnist", objects=_dataset_objects(), label="Dataset", doc=(
        "MNIST digits; Fashion-MNIST clothing when Debian's dataset-fashion-mnist is installed. "
        "Starts a new run."))

    # ---- live (applied to the running network between two chunks)
    g_a = param.Number(default=0.0, bounds=(0.0, 1.0), step=0.01, label="Apical coupling g_a (live)", doc=(
        "How strongly the apical dendrite leaks into the soma. 0 = fully segregated (paper default), "
        "0.05 = strong attenuation, 0.6 = weak attenuation (learning suffers). Acts on the running network."))
    lr_hidden = param.Number(default=0.21, bounds=(0.0, 1.0), step=0.01, label="Learning rate, hidden (live)",
                             doc="Learning rate of every hidden layer (paper: 0.21 with one hidden layer, "
                                 "0.23 with two). Acts on the running network.")
    lr_output = param.Number(default=0.21, bounds=(0.0, 1.0), step=0.01, label="Learning rate, output (live)",
                             doc="Learning rate of the output layer (paper: 0.21 with one hidden layer, 0.12 "
                                 "with two, 0.19 with none). Acts on the running network.")
    feedback_scale = param.Number(default=1.0, bounds=(0.0, 10.0), step=0.1, label="Feedback scale (live)", doc=(
        "Multiplies the feedback weights Y, i.e. how loud the top-down signal is in the apical "
        "dendrites. Acts on the running network."))

    # ---- pacing
    speed = param.Selector(default=0, objects=SPEEDS, label="Speed", doc=(
        "Slow speeds train one example at a time so you can follow each image and its voltage traces."))
    test_every = param.Integer(default=2500, bounds=(500, 60000), label="Test every (examples)", doc=(
        "How often the test error is measured (also at 500, 1000 and 2000 examples). Training "
        "waits while the test runs."))
    test_images = param.Integer(default=500, bounds=(100, 10000), label="Test images", doc=(
        "How many test images each measurement uses (more = less noisy, slower; spiking tests "
        "run at roughly 450 images/s)."))

    # ---- comparison
    ghost = param.Selector(default="off", objects=GHOST_OPTIONS, label="Ghost run", doc=(
        "A second network with the same seed, examples and architecture but another rule or setting, "
        "trained beside this one; its curves are dashed. Turning it on starts both runs again from "
        "example 0. It takes a training place of its own while it plays."))

    # ---- buttons
    # (no docs on the buttons: a tooltip over Play would cover Pause right after a click)
    play = param.Action(lambda self: self.start(), label="▶ Play")
    pause = param.Action(lambda self: self.stop(), label="‖ Pause")
    step = param.Action(lambda self: self.step_once(), label="Step")
    reset = param.Action(lambda self: self.restart(), label="↺ Reset")

    # ---- read-only outputs for the page
    status = param.String(default="", precedence=-1, doc="The status line.")
    in_force = param.String(default="", precedence=-1, doc="The spec the engine is running now.")
    message = param.String(default="", precedence=-1, doc="The latest notice for the user.")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"], precedence=-1)
    running = param.Boolean(default=False, precedence=-1)
    watching = param.Boolean(default=False, precedence=-1, doc=(
        "Play was refused because the class is full; the session watches until a place is free."))
    class_note = param.String(default="", precedence=-1, doc="The class-full note (stays while watching).")
    class_note_kind = param.Selector(default="warning", objects=["warning", "success"], precedence=-1)
    ghost_status = param.String(default="", precedence=-1, doc="The ghost run's status line.")

    def __init__(self, slots: TrainingSlots | None = None, tsne: TsneMap | None = None, **params):
        self._slots = slots or SLOTS
        self._engine: Engine | None = None
        self._ghost = Ghost(self._slots, name=f"ghost-{id(self):x}")
        self.scores = Scoreboard()                 # this session's results per paper preset (the cards)
        self._ghost_cleared = False                # the ghost was turned off: the next poll tells the plots
        self._tsne = tsne if tsne is not None else TsneMap()
        self._active = False
        self._applying = False
        self._run_id = 0
        self._run: RunInfo | None = None
        self._pending_run: RunInfo | None = None
        self._closed = False
        self._history: list[dict] = []
        self._history_stride = 1
        self._history_skip = 0
        self._last: Snapshot | None = None
        self._last_test: tuple[float, int, int] | None = None   # (error %, images, at examples)
        self._rate = math.nan
        self.live_latencies: list[float] = []     # seconds from a slider move to the engine applying it
        self.last_live_applied: float | None = None   # perf_counter() when the engine applied the last change
        self._keep_playing = False
        self.played_at: float | None = None
        super().__init__(**params)
        self._sync_controls_from_preset(self.preset, keep=set(params))
        self.param.watch(self._on_change, list(STRUCTURAL + LIVE + PACING + ("ghost",)))
        self._update_status()

    # ---------------------------------------------------------------- spec
    def build_spec(self) -> ModelSpec:
        """The spec the controls describe (raises SpecError naming the field)."""
        base = PRESETS[self.preset].spec
        hidden = parse_hidden(self.hidden)
        return base.replace(mode=self.mode, hidden=hidden, rule=self.rule, feedback=self.feedback,
                            lr=lr_vector(len(hidden), self.lr_hidden, self.lr_output),
                            g_a=float(self.g_a), feedback_scale=float(self.feedback_scale))

    def _sync_controls_from_preset(self, name: str, keep: set[str] = frozenset()) -> None:
        """Set the controls to a preset's values, except those named in ``keep``."""
        s = PRESETS[name].spec
        values = {"mode": s.mode, "hidden": format_hidden(s.hidden), "rule": s.rule, "feedback": s.feedback,
                  "lr_hidden": s.lr[0] if s.hidden else self.lr_hidden, "lr_output": s.lr[-1],
                  "g_a": s.g_a, "feedback_scale": s.feedback_scale}
        values = {k: v for k, v in values.items() if k not in keep}
        self._applying = True
        try:
            self.param.update(**values)
        finally:
            self._applying = False

    # ------------------------------------------------------------ watchers
    def _on_change(self, *events) -> None:
        if self._applying or self._closed:
            return
        names = {e.name for e in events}
        note = ""
        if "preset" in names:
            # a preset sets everything, except values changed in the same batch (a shared link)
            self._sync_controls_from_preset(self.preset, keep=names - {"preset"})
        if "hidden" in names and not names & {"lr_hidden", "lr_output", "preset"}:
            try:
                old = next(e.old for e in events if e.name == "hidden")
                old_depth = len(parse_hidden(old))
            except SpecError:
                old_depth = -1
            try:
                depth = len(parse_hidden(self.hidden))
            except SpecError as exc:
                self._notify(str(exc), "warning")
                return
            if depth != old_depth:
                rates = paper_learning_rates(depth)
                self._applying = True
                try:
                    self.param.update(lr_hidden=rates[0] if depth else self.lr_hidden, lr_output=rates[-1])
                finally:
                    self._applying = False
                note = (f" The learning rates were set to the paper's for {depth} hidden layer"
                        f"{'' if depth == 1 else 's'}: {', '.join(f'{r:g}' for r in rates)}.")
        if names & set(PACING) and self._engine is not None:
            self._engine.set_pacing(speed=float(self.speed), test_every=int(self.test_every),
                                    test_images=int(self.test_images))
        if names & set(PACING):
            self._ghost.set_pacing(**self._pacing())
        if names & set(STRUCTURAL):
            changed = [self.param[n].label or n for n in STRUCTURAL if n in names]
            self._new_run(reason="Changed " + ", ".join(changed) + ": that needs a new network, so the "
                          "run started again from example 0." + note)
        elif "ghost" in names:
            self._ghost_changed()
        elif names & set(LIVE):
            self._send_live()

    def _pacing(self) -> dict:
        return {"speed": float(self.speed), "test_every": int(self.test_every), "test_images": int(self.test_images)}

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
                                  self._pacing())
        except SpecError as exc:
            self._ghost_off()
            self._notify(f"The ghost run cannot be built: {exc}", "warning")

    def _play_ghost(self) -> None:
        if self._ghost.enabled and not self._ghost.play():
            self._notify(f"The class is full ({self._slots.capacity} trainings on this server), so the ghost run "
                         f"waits for a free place; your run trains alone until one frees up.", "warning")

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
        if self._active or self._closed:
            return
        self._active = True
        self._new_run(reason=None)

    def _new_run(self, reason: str | None) -> None:
        if not self._active:
            return
        try:
            spec = self.build_spec()
        except SpecError as exc:
            self._notify(f"{exc} — the running network was kept.", "warning")
            return
        if self._engine is None:
            self._engine = Engine(probe_sink=self._tsne.submit, probe_ready=lambda: not self._tsne.busy,
                                  name=f"engine-{id(self):x}")
        was_playing = self._engine.running
        self._run_id += 1
        self._tsne.reset(self._run_id)
        self._pending_run = RunInfo(self._run_id, spec, int(self.seed), str(self.dataset), str(self.preset),
                                    np.zeros(0, dtype=np.int64))
        self._engine.set_pacing(speed=float(self.speed), test_every=int(self.test_every),
                                test_images=int(self.test_images))
        self._engine.configure(RunConfig(spec, int(self.seed), str(self.dataset), self._run_id))
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
        if not self._active:
            self.activate()
        if self._closed or self._engine is None:
            return
        if self._engine.limit_reached and self._pending_run is None:
            # asking the engine would take a training place for nothing
            self._notify(self._limit_text(), "info")
            return
        if not self._slots.acquire(id(self)):
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
        self.param.update(watching=True, running=False, class_note=self._full_text(), class_note_kind="warning")
        # the note is the message; a leftover notice beside it would only compete
        self._notify("The class is full — ▶ Play was refused for now; see the note above.", "warning")
        self._update_status()

    def _check_place(self) -> None:
        """While watching: tell the student when a place frees up (and when it is taken again)."""
        if not self.watching:
            return
        if self._slots.free:
            if self.class_note != PLACE_FREE:
                self.param.update(class_note=PLACE_FREE, class_note_kind="success")
                if self.message.startswith("The class is full"):
                    self._notify("", "info")        # the refusal is old news now
        elif self.class_note == PLACE_FREE:
            self.param.update(class_note=self._full_text(), class_note_kind="warning")

    def _full_text(self) -> str:
        n = self._slots.capacity
        return CLASS_FULL.format(n=f"{n} network is" if n == 1 else f"{n} networks are")

    def stop(self) -> None:
        """Pause."""
        if self._engine is not None:
            self._engine.pause()
        self._ghost.pause()
        self._release_slot()
        self.running = False
        self._update_status()

    def step_once(self) -> None:
        if not self._active:
            self.activate()
        if self._engine is None:
            return
        self._engine.step(1)
        self._ghost.step(1)
        self._release_slot()
        self.running = False
        self._update_status()

    def restart(self) -> None:
        """Reset: a fresh network with the current settings, paused at example 0."""
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
        self._release_slot()
        self.watching = False
        self._tsne.close()
        self._ghost.close()
        if self._engine is not None:
            stopped = self._engine.close(timeout=1.0)   # a chunk lasts ~0.1 s; never block the server long
            log.info("session closed; engine thread %s", "stopped" if stopped else "still finishing a chunk")

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
        return self._last

    # ------------------------------------------------------------------ poll
    def poll(self, limit: int = POLL_LIMIT) -> Update:
        """Drain the engine's queue (non-blocking) into one :class:`Update`."""
        up = Update(run_id=self._run_id)
        if self._engine is None:
            return up
        for _ in range(limit):
            try:
                msg: Message = self._engine.out.get_nowait()
            except queue.Empty:
                break
            if msg.run_id != self._run_id and msg.run_id != -1:
                continue   # from a network that has since been replaced
            self._handle(msg, up)
        result = self._tsne.take()
        if result is not None and result.run_id == self._run_id:
            up.tsne = result
        self._poll_ghost(up)
        self._score(up)
        self._check_place()
        if not up.empty:
            self._update_status()
        return up

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
            self.scores.observe(("main", run.run_id), run.spec, run.dataset, self._last, self._last_test)
        g = up.ghost
        if g is not None and g.run_id == self._ghost.run_id and self._ghost.spec is not None and not g.empty:
            self.scores.observe(("ghost", g.run_id), self._ghost.spec, str(self.dataset), self._ghost.last,
                                self._ghost.last_test)

    @property
    def ghost_run(self) -> Ghost:
        return self._ghost

    def _handle(self, msg: Message, up: Update) -> None:
        if msg.kind == "ready":
            info = self._pending_run
            spec = msg.payload["spec"]
            self._run = RunInfo(msg.run_id, spec, info.seed if info else int(self.seed),
                                info.dataset if info else str(self.dataset),
                                info.preset if info else str(self.preset), msg.payload["probe_indices"])
            self._pending_run = None
            self._history = []
            self._history_stride = 1
            self._history_skip = 0
            self._last = None
            self._last_test = None
            self._rate = math.nan
            up.new_run = True
            up.snapshots.clear()
            up.rates.clear()
            up.tests.clear()
            self.in_force = spec_description(spec)
        elif msg.kind == "snapshot":
            snap: Snapshot = msg.payload["snapshot"]
            self._last = snap
            self._rate = msg.payload.get("rate", math.nan)
            if self._history_skip:
                self._history_skip -= 1       # thinned: see _remember
            else:
                self._history_skip = self._history_stride - 1
                self._remember(dataclasses.replace(snap, traces=None, probe_activity=None).to_dict(), test=None)
            up.snapshots.append(snap)
            up.rates.append(self._rate)
        elif msg.kind == "test":
            p = msg.payload
            self._last_test = (p["error_pct"], p["n_images"], p["examples_seen"])
            up.tests.append((p["examples_seen"], p["error_pct"], p["n_images"]))
            # kept in the run's history as a snapshot that summarises no training examples
            self._remember(Snapshot(version=SCHEMA_VERSION, examples_seen=p["examples_seen"], epoch=p["epoch"],
                                    wall_s=p["wall_s"], examples=0, loss_output=None, loss_hidden=None,
                                    train_error_pct=None, test_error_pct=p["error_pct"],
                                    test_images=p["n_images"]).to_dict(), test=True)
        elif msg.kind == "live":
            p = msg.payload
            spec = p["spec"]
            if self._run is not None:
                self._run.spec = spec
            self.in_force = spec_description(spec)
            self.last_live_applied = p.get("applied")
            if p.get("requested") is not None:
                self.live_latencies.append(p["applied"] - p["requested"])
                del self.live_latencies[:-200]
            up.live.append(p)
        elif msg.kind == "limit":
            self._release_slot()
            self.running = False
            text = self._limit_text(msg.payload["epochs"], msg.payload["examples_seen"])
            up.messages.append(("info", text))
            self._notify(text, "info")
        elif msg.kind == "diverged":
            self._release_slot()
            self.running = False
            text = (f"{msg.payload['text']}. Training is paused: lower a learning rate (or the feedback "
                    f"scale) and press Play to continue, or press Reset.")
            up.messages.append(("danger", text))
            self._notify(text, "danger")
        elif msg.kind == "error":
            self._release_slot()
            self.running = False
            up.messages.append(("danger", str(msg.payload)))
            self._notify(str(msg.payload), "danger")

    def _limit_text(self, epochs: float | None = None, seen: int | None = None) -> str:
        from . import engine
        epochs = engine.MAX_EPOCHS if epochs is None else epochs
        seen = self._engine.examples_seen if seen is None and self._engine is not None else seen
        return (f"Stopped after {epochs:g} epochs ({seen} examples), the longest run this server allows. "
                f"Export the run, or press Reset to start again.")

    def _remember(self, d: dict, test: bool | None = False) -> None:
        """Keep snapshot records for export; bounded by thinning (every other one) when full.

        Test measurements (``test=True``) are always kept, in order of examples seen;
        ``test=None`` means the caller already applied the thinning stride.
        """
        if test is False:
            if self._history_skip:
                self._history_skip -= 1
                return
            self._history_skip = self._history_stride - 1
        d.pop("traces", None)
        d.pop("probe_activity", None)
        if test:
            k = len(self._history)
            while k and self._history[k - 1]["examples_seen"] > d["examples_seen"]:
                k -= 1
            self._history.insert(k, d)
        else:
            self._history.append(d)
        if len(self._history) >= HISTORY_LIMIT:
            self._history = [h for i, h in enumerate(self._history)
                             if i % 2 == 0 or h.get("test_error_pct") is not None]
            self._history_stride *= 2

    @property
    def history(self) -> list[dict]:
        """Snapshots of this run as dicts (without traces), thinned when long."""
        return list(self._history)

    # ---------------------------------------------------------------- status
    def notify(self, text: str, kind: str = "info") -> None:
        """Show a notice on the page (kind: info, success, warning or danger)."""
        self.param.update(message=text, message_kind=kind)

    _notify = notify

    def _update_status(self) -> None:
        seen = self._last.examples_seen if self._last is not None else 0
        epoch = self._last.epoch if self._last is not None else 0.0
        if self._last_test is not None:
            err, n, at = self._last_test
            test = f"test error: {err:.1f} % ({n} images, at {at} examples)"
        else:
            test = "test error: not measured yet"
        if self._engine is None or not self._active:
            state = "starting"
        elif self._run is None or self._pending_run is not None:
            state = "building the network…"
        elif self.running:
            state = f"training, {self._rate:,.0f} examples/s" if math.isfinite(self._rate) else "training"
        elif self.watching:
            state = "watching (the class is full)"
        else:
            state = "paused"
        self.status = f"examples seen: {seen} · epoch {epoch:.2f} · {test} · {state}"
        ghost = self._ghost.status()
        if ghost != self.ghost_status:
            self.ghost_status = ghost

    # ------------------------------------------------------------- helpers
    def load_preset(self, name: str, ghost: str | None = None) -> bool:
        """An experiment card's button: every control to the preset (and the ghost, if given), one new run.

        Unlike choosing the preset in its menu, this also starts afresh when the preset is already
        chosen but controls were changed since.  Keeps playing if the run was playing.
        """
        if name not in PRESETS:
            self._notify(f"Unknown preset {_cut(repr(name))}; the running network was kept.", "warning")
            return False
        if ghost is not None and ghost not in GHOSTS:
            self._notify(f"Unknown ghost choice {_cut(repr(ghost))}; the running network was kept.", "warning")
            return False
        self._applying = True        # one new run below, not one per changed control
        try:
            self.param.update(preset=name, **({"ghost": ghost} if ghost is not None else {}))
        finally:
            self._applying = False
        self._sync_controls_from_preset(name)
        if not self._active:
            return True
        with_ghost = f", with the ghost run ({GHOSTS[self.ghost].label})" if self.ghost != "off" else ""
        self._new_run(reason=f"Loaded the preset {name}{with_ghost}: a new run from example 0.")
        return True

    def apply_settings(self, values: dict[str, Any]) -> list[str]:
        """Apply settings from a shared link (query parameters): the preset first, then the rest.

        Values are coerced to each parameter's type; invalid ones are skipped
        and reported on the page.  Returns the rejected ``name=value`` texts.
        """
        values = {k: v for k, v in values.items() if k in URL_PARAMS}
        bad = []
        coerced = {}
        for name, value in values.items():
            try:
                coerced[name] = self._coerce(name, value)
            except (TypeError, ValueError, OverflowError, SpecError):
                bad.append(f"{name}={_shorten(value)}")
        if "preset" in coerced:
            try:
                self.param.update(preset=coerced.pop("preset"))
            except ValueError:
                bad.append(f"preset={_shorten(values['preset'])}")
        for name, value in coerced.items():    # one by one, so one bad value spoils nothing else
            try:
                self.param.update(**{name: value})
            except ValueError:
                bad.append(f"{name}={_shorten(values[name])}")
        if bad:
            self._notify("The link contained values this page cannot use: " + ", ".join(bad) +
                         " (the current values were kept for those).", "warning")
        return bad

    def url_errors(self, values: dict[str, Any]) -> list[str]:
        """Location.sync's on_error hook: its one-batch update failed part-way.

        param has then already set the values before the bad one, without calling
        any watcher, so the controls would disagree with the running network.  The
        values are applied again one by one, and the watchers of those set silently
        are run now.
        """
        silent = []
        for name, value in values.items():
            if name in URL_PARAMS:
                try:
                    if getattr(self, name) == value:
                        silent.append(name)
                except Exception:
                    pass
        bad = self.apply_settings(values)
        if silent:
            self.param.trigger(*silent)
        return bad

    def explain_refusal(self, exc: BaseException) -> str:
        """A sentence for the page about a value the browser sent that a control cannot take."""
        text = str(exc)
        m = re.search(r"parameter '\w+\.(\w+)'", text)
        if m and m.group(1) in self.param:
            p = self.param[m.group(1)]
            label = p.label or p.name
            got = re.search(r"(?:, not| does not accept) (.+?)(?:\.|;.*)?$", text, re.S)
            got = f" ({_cut(got.group(1))})" if got else ""
            bounds = getattr(p, "bounds", None)
            if bounds and None not in bounds:
                lo, hi = (f"{b:,}" if isinstance(b, int) else f"{b:g}" for b in bounds)
                return (f"{label}: the value sent{got} is outside {lo} to {hi}, so it was refused; "
                        f"the control is back at {getattr(self, p.name)!s}.")
            return f"{label}: the value sent{got} is not one this control takes, so it was refused."
        if text.startswith("hidden: "):
            return f"Hidden layers: {_cut(text[8:], 200)}. The value was refused; the control shows the layers in force."
        m = re.search(r"must be at (most|least) (\S+), not (.+?)\.?$", text, re.S)
        if m:     # a widget's own bounds (e.g. the box beside a slider)
            side = "largest" if m.group(1) == "most" else "smallest"
            return (f"The value sent ({_cut(m.group(3))}) is beyond the {side} this control allows "
                    f"({m.group(2)}), so it was refused; the control shows the value in force.")
        m = re.match(r"(.*) not in list$", text, re.S)
        if m:
            return (f"{_cut(repr(m.group(1)))} is not one of the choices offered, so it was refused; the control "
                    f"shows the choice in force.")
        return f"A change from the page was refused: {_cut(text, 200)}"

    def _coerce(self, name: str, value: Any) -> Any:
        p = self.param[name]
        if isinstance(p, param.Integer):
            f = float(value)
            if f != int(f):
                raise ValueError(value)
            return int(f)
        if isinstance(p, param.Number):
            return float(value)
        if name == "hidden":
            text = format_hidden(value) if isinstance(value, (list, tuple)) else str(value)
            return format_hidden(parse_hidden(text))
        return str(value) if not isinstance(value, str) else value

    def settings(self) -> dict[str, Any]:
        """The current setup as link parameters (what the page writes into the URL)."""
        return {name: getattr(self, name) for name in URL_PARAMS}

    def example_image(self, index: int) -> np.ndarray | None:
        run = self._run
        if run is None:
            return None
        data = load_dataset(run.dataset)
        return np.asarray(data.train_images[int(index)]).reshape(28, 28) if data.n_inputs == 784 else None

    def paper_reference(self) -> tuple[float | None, Any]:
        """(published 60-epoch test error, optional curve) for the running preset, when it matches."""
        run = self._run
        if run is None:
            return None, None
        return paper_reference(run.preset, run.spec, run.dataset)


def paper_reference(preset_name: str, spec: ModelSpec, dataset: str) -> tuple[float | None, Any]:
    """The paper's numbers for a setup: only when it is the preset's own network on MNIST.

    Live fields (learning rates, g_a, feedback scale) may differ; anything else makes the
    comparison meaningless, so no reference is drawn.
    """
    preset = PRESETS.get(preset_name)
    if preset is None or dataset != "mnist" or _structure(preset.spec) != _structure(spec):
        return None, None
    return preset.published_error_pct, load_curve(preset_name)


def _structure(spec: ModelSpec) -> dict:
    d = spec.to_dict()
    for k in ("lr", "g_a", "feedback_scale"):
        d.pop(k, None)
    return d
