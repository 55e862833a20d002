"""The training thread of one dashboard session.

The thread owns a :class:`dendcore.Trainer`.  The page talks to it only
through a few coalescing command slots (a new configuration, live changes,
play / pause / step, pacing) guarded by one condition variable, and the thread
answers only through a bounded :class:`queue.Queue` of typed events
(:mod:`app.events`).  Nothing here touches Panel, param or Bokeh objects, so the thread can
never race the page, and the module is testable without a server.

The Numba kernels release the GIL, so the thread trains on one core while the
server thread renders on the other.  At full speed a chunk of examples lasts
about 50 ms; between two chunks the thread applies pending live changes, so a
slider reaches the running network within one chunk.  Spiking test-error
measurements run on a copy of the weights in a helper thread, so training (and
the plots) never stop for them.  A run pauses itself after ``MAX_EPOCHS``.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dendcore import Diagnostics, DivergenceError, ModelSpec, SpecError, Trainer, load_dataset
from dendcore.trainer import ChunkStats

from .compute import (COMPUTE, ENGINE_NICE, env_number, lower_priority, name_os_thread, set_thread_niceness,
                      thread_niceness)
from .events import Event, LiveApplied, Progress, Ready, SnapshotTaken, Stopped
from .measuring import Measurements
from .pacing import ChunkPacer, MeasurementSchedule, Pacing

log = logging.getLogger("dendrite_lab.engine")

QUEUE_SIZE = 32            # events; the thread waits when the page falls this far behind
# ... or this far, for a presented run (Engine.set_foreground): when 30 followers open at once the event
# loop is busy with their pages for seconds at a time, and with 32 events (about 1.6 s of snapshots) the
# presented run stood still 3.0-3.7 s in each of three load tests, waiting for its own page's next poll
FOREGROUND_QUEUE_SIZE = 256
PROBE_EVERY_S = 6.0        # t-SNE probe activity at most this often
FIRST_PROBE_DELAY_S = 2.0  # the first map waits this long, so it does not slow the page's first seconds
ALLOWANCE_WAIT_S = 0.02    # a thread held back by ``allowance`` looks again this often
IDLE_WAIT_S = 5.0          # a thread with nothing to do wakes this often (commands wake it at once)
MAX_STEPS = 100            # queued Step presses: a burst of clicks cannot queue forever
PROGRESS_EVERY_S = 0.2     # between two snapshots, the latest example is shown at most this often

MAX_EPOCHS = env_number("DENDRITE_MAX_EPOCHS", 100.0, minimum=1e-6)   # a run pauses itself here (bounded run length)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: changing any of it needs a new network."""
    spec: ModelSpec
    seed: int
    dataset: str
    run_id: int
    state: dict | None = None      # go on from another trainer's state (Trainer.state()) instead of example 0
    budget: int | None = None      # stop after this many examples, with a test of ``final_test_images``
    final_test_images: int = 0


@dataclass
class StateRequest:
    """A page asks the thread for a copy of its trainer's state (taken between two chunks)."""
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[ModelSpec, int, str, dict] | None = None     # (spec, seed, dataset, state)


@dataclass(frozen=True)
class Commands:
    """The command slots as the thread took them, all at once."""
    config: RunConfig | None
    live: dict[str, Any]
    live_t: float | None
    running: bool
    steps: int
    pacing: Pacing
    state_requests: list[StateRequest]


class _Run:
    """The thread's own state for the network it trains now."""

    def __init__(self, tr: Trainer, run_id: int, dataset: str):
        self.tr = tr
        self.run_id = run_id
        self.dataset = dataset
        self.pacer = ChunkPacer(tr.spec.mode, tr.spec.sizes)
        self.tests = MeasurementSchedule()
        self.resumed = tr.examples_seen > 0     # (taken over from another run: tests go on from here)
        self.config: RunConfig | None = None
        self.next_probe_t = time.perf_counter() + FIRST_PROBE_DELAY_S
        self.probed_at = -1      # examples_seen of the last probe the t-SNE worker took
        self.pending: list[ChunkStats] = []     # chunks since the last snapshot
        self.progress_t = 0.0                   # when the latest example was last shown
        self.reported_at = tr.examples_seen     # examples_seen of the latest snapshot or progress posted


_HANDOVER = object()       # _take_commands: leave the run to a successor thread (Engine.set_foreground)


class Engine:
    """One training thread, started lazily and stopped by :meth:`close`.

    The thread trains below the server loop's priority (app/compute.py), except in the foreground
    (:meth:`set_foreground`): a presented run, which the whole class watches.
    """

    # what the snapshots carry; a ghost run (app/ghost.py) plots no traces, so it skips recording them
    TRAINER_DIAGNOSTICS = Diagnostics(traces=True, probe=False)
    THREAD_KIND = "train"      # the OS's name of its thread: dl-train (app/compute.py)

    def __init__(self, probe_sink: Callable[[np.ndarray, int, int], bool] | None = None,
                 probe_ready: Callable[[], bool] | None = None, queue_size: int | None = None,
                 name: str = "engine", foreground: bool = False):
        self._queue_size = queue_size or QUEUE_SIZE
        self.out: queue.Queue[Event] = queue.Queue(maxsize=self._queue_limit(foreground))
        self._cond = threading.Condition()
        self._config: RunConfig | None = None     # pending new configuration
        self._live: dict[str, Any] = {}            # pending live changes (coalesced)
        self._live_t: float | None = None          # when the oldest pending live change was requested
        self._state_requests: list[StateRequest] = []
        self._running = False
        self._steps = 0
        self._pacing = Pacing()
        self._stop = False
        self._probe_sink = probe_sink
        self._probe_ready = probe_ready or (lambda: True)
        self._name = name
        self._thread: threading.Thread | None = None
        self._foreground = foreground
        self._handover = False          # the thread leaves its run to a successor (set_foreground)
        self._parked: _Run | None = None     # the run between the two
        self.tests = Measurements(self)
        # read by the page (plain attributes; written only by the thread)
        self.examples_seen = 0
        self.rate = math.nan            # training examples per second of computing (moving average)
        self.cpu_s = 0.0
        self.limit_reached = False      # the run has trained MAX_EPOCHS: Play cannot continue it
        self.run_id = -1                # the run the counters above belong to (set after examples_seen)
        # positions the page has been told (a snapshot or progress posted): a ghost trains only up to
        # them, so its status line can never show more examples than the main run's
        self.shown_ends: deque[int] = deque(maxlen=4096)
        self.stopped = threading.Event()

    # ------------------------------------------------------------- commands
    def configure(self, config: RunConfig) -> None:
        """Build a new network (the thread does the work); pauses the run."""
        with self._cond:
            self._config = config
            self._live = {}
            self._running = False
            self._steps = 0
            self._cond.notify_all()
        self._ensure_thread()

    def play(self) -> None:
        with self._cond:
            self._running = True
            self._cond.notify_all()
        self._ensure_thread()

    def pause(self) -> None:
        with self._cond:
            self._running = False
            self._steps = 0
            self._cond.notify_all()

    def step(self, n: int = 1) -> None:
        with self._cond:
            self._running = False
            self._steps = min(self._steps + int(n), MAX_STEPS)
            self._cond.notify_all()
        self._ensure_thread()

    def set_live(self, **changes) -> None:
        """Queue live changes (``lr``, ``g_a``, ``feedback_scale``); the latest value of each wins."""
        with self._cond:
            if not self._live:
                self._live_t = time.perf_counter()
            self._live.update(changes)
            self._cond.notify_all()

    def set_pacing(self, **changes) -> None:
        with self._cond:
            for k, v in changes.items():
                setattr(self._pacing, k, v)
            self._cond.notify_all()

    def request_state(self, timeout: float = 10.0) -> tuple[ModelSpec, int, str, dict] | None:
        """A copy of the running network's state, taken by the thread between two chunks:
        (spec, seed, dataset, state), or None when there is no network (or no answer in time)."""
        if not self.alive:
            return None
        req = StateRequest()
        with self._cond:
            self._state_requests.append(req)
            self._cond.notify_all()
        req.done.wait(timeout)
        return req.result

    def set_foreground(self, on: bool) -> None:
        """Train at the priority of the calling thread (the server's event loop) instead of below it.

        A presented run is projected and followed by the whole class, so it should not give way to
        the pages its followers open: in the minute after 30 followers opened, the presenter lost
        32 % of its speed on average below the loop and 22 % at its priority (five runs each, from 6
        to 43 %; benchmarks/README.md, seventeenth session).  Its tests follow it (app/measuring.py).

        An unprivileged process can lower a thread's priority but never raise it again, so a thread
        that already runs lowered leaves its run, between two chunks, to a new thread started from
        here, which inherits this thread's priority.
        """
        with self._cond:
            if on == self._foreground:
                return
            self._foreground = on
            self._resize_queue(self._queue_limit(on))
            t = self._thread
            if self._stop or t is None or not t.is_alive() or t.native_id is None:
                return      # the next thread starts at the right priority (_main)
            if not on:
                set_thread_niceness(t.native_id, ENGINE_NICE)
                return
            own = thread_niceness(threading.get_native_id())
            now = thread_niceness(t.native_id)
            if own is None or now is None or now <= own or set_thread_niceness(t.native_id, own):
                return
            self._handover = True
            self._cond.notify_all()
            self._thread = threading.Thread(target=self._main, args=(t,), name=self._name, daemon=True)
            self._thread.start()

    def _queue_limit(self, foreground: bool) -> int:
        return max(self._queue_size, FOREGROUND_QUEUE_SIZE) if foreground else self._queue_size

    def _resize_queue(self, size: int) -> None:
        """Let the queue hold ``size`` events from now on (a smaller size: the thread waits until the page
        has taken enough).  ``Queue.put`` reads ``maxsize`` under the queue's lock each time."""
        q = self.out
        with q.mutex:
            q.maxsize = size
            q.not_full.notify_all()

    @property
    def foreground(self) -> bool:
        return self._foreground

    @property
    def running(self) -> bool:
        return self._running

    @property
    def has_news(self) -> bool:
        """Something for the page now or soon: training, stepping, building, or events waiting."""
        return bool(self._running or self._steps or self._config is not None or self._live) or not self.out.empty()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def threads_alive(self) -> bool:
        """The training thread or a test helper of it is still running (they hold the session's objects)."""
        return (self._thread is not None and self._thread.is_alive()) or self.tests.alive

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread; True when it has ended."""
        with self._cond:
            self._stop = True
            self._running = False
            self._cond.notify_all()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def _ensure_thread(self) -> None:
        if self._stop:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
            self._thread.start()

    # --------------------------------------------------------------- thread
    def _post(self, event: Event) -> bool:
        """Put an event, waiting while the queue is full (back-pressure); False when superseded."""
        while True:
            try:
                self.out.put(event, timeout=0.1)
                if isinstance(event, (SnapshotTaken, Progress)):
                    self.shown_ends.append(event.snapshot.examples_seen)
                return True
            except queue.Full:
                with self._cond:
                    if self._stop or self._config is not None:
                        return False

    def _main(self, predecessor: threading.Thread | None = None) -> None:
        if predecessor is not None:
            predecessor.join()
        with self._cond:
            run, self._parked, self._handover = self._parked, None, False
            if self._foreground:
                name_os_thread(self.THREAD_KIND)
            else:
                lower_priority(self.THREAD_KIND)
        handed_over = False
        try:
            handed_over = self._loop(run)
        except Exception:   # never die silently: the page shows the message
            text = traceback.format_exc()
            log.error("engine thread failed:\n%s", text)
            try:
                self.out.put_nowait(Stopped(-1, "failed", "The training thread failed: "
                                            + text.strip().splitlines()[-1]))
            except queue.Full:
                pass
        finally:
            if not handed_over:
                self.stopped.set()
                log.info("%s: engine thread stopped", self._name)

    def _loop(self, run: _Run | None) -> bool:
        """Serve the commands until stopped (False) or until the run is handed over (True)."""
        while True:
            cmd = self._take_commands(run)
            if cmd is None:
                return False
            if cmd is _HANDOVER:
                self._parked = run
                return True
            for req in cmd.state_requests:
                if run is not None and cmd.config is None:
                    req.result = (run.tr.spec, run.tr.seed, run.dataset, run.tr.state())
                req.done.set()
            if cmd.config is not None:
                run = self._build(cmd.config)
            elif run is None:
                continue
            elif cmd.live:
                self._apply_live(run, cmd.live, cmd.live_t)
            elif cmd.running or cmd.steps:
                self._train_chunk(run, cmd)
            elif run.reported_at != run.tr.examples_seen and run.pending:
                # paused between two snapshots: the page shows where training stopped
                self._post(Progress(run.run_id, run.tr.snapshot(run.pending[-1], window_diagnostics=False),
                                       run.pacer.achieved))
                run.reported_at = run.tr.examples_seen
            elif self._probe(run.tr, run.run_id):     # idle: refresh the t-SNE map once after training stopped
                run.probed_at = run.tr.examples_seen
                run.next_probe_t = time.perf_counter() + PROBE_EVERY_S
            else:
                run.next_probe_t = time.perf_counter() + 2.0

    def _take_commands(self, run: _Run | None):
        """Wait until there is something to do, then take every command slot at once; None: stop,
        _HANDOVER: leave the run to the successor thread."""
        with self._cond:
            while True:
                if self._stop:
                    return None
                if self._handover:
                    return _HANDOVER
                if self._config is not None or self._live or self._state_requests:
                    break
                now = time.perf_counter()
                if run is not None and (self._running or self._steps):
                    wait = run.pacer.wait(now, self._running)
                    if wait <= 0:
                        break
                    self._cond.wait(min(wait, 0.25))
                    continue
                if run is not None and run.pending and run.reported_at != run.tr.examples_seen:
                    break           # paused with the latest examples not shown yet
                wait = IDLE_WAIT_S
                if run is not None and self._wants_probe(run.tr) and run.tr.examples_seen != run.probed_at:
                    if now >= run.next_probe_t:
                        break
                    wait = min(wait, run.next_probe_t - now)
                # every command notifies the condition: the timeout only bounds a missed notification
                self._cond.wait(wait)
            cmd = Commands(self._config, self._live, self._live_t, self._running, self._steps,
                           Pacing(**vars(self._pacing)), self._state_requests)
            self._config, self._live, self._live_t, self._state_requests = None, {}, None, []
            return cmd

    def _build(self, config: RunConfig) -> _Run | None:
        try:
            data = load_dataset(config.dataset)
            if config.state is not None:
                tr = Trainer.resume(config.spec, data, config.seed, config.state,
                                    diagnostics=self.TRAINER_DIAGNOSTICS)
            else:
                tr = Trainer(config.spec, data=data, seed=config.seed, diagnostics=self.TRAINER_DIAGNOSTICS)
        except Exception as exc:   # SpecError, DatasetError, out of memory...
            self._post(Stopped(config.run_id, "failed", f"Could not build the network: {exc}"))
            return None
        self.tests.clear()           # the old network's tests would be thrown away anyway
        self.examples_seen = 0
        self.rate = math.nan
        self.limit_reached = False
        self.shown_ends.clear()
        self.run_id = config.run_id
        self.examples_seen = tr.examples_seen
        self._post(Ready(config.run_id, tr.spec, tr.probe_indices.copy()))
        run = _Run(tr, config.run_id, config.dataset)
        run.config = config
        return run

    def _halt(self) -> None:
        with self._cond:
            self._running = False
            self._steps = 0

    def _train_chunk(self, run: _Run, cmd: Commands) -> None:
        """One chunk of training (a run stops itself at the run-length limit), then its news.

        A chunk never passes the next snapshot or test point, so both fall on fixed example
        counts whatever the speed or the machine.
        """
        tr = run.tr
        budget = run.config.budget if run.config is not None else None
        limit = min(int(MAX_EPOCHS * tr.n_train), budget or tr.n_train * 10**6)
        if tr.examples_seen >= limit:
            self._halt()
            self.limit_reached = True
            if budget is not None and tr.examples_seen >= budget:
                self.tests.final(run.tr, run.run_id, run.config.final_test_images)
                self._post(Stopped(run.run_id, "budget", "", tr.examples_seen))
            else:
                self._post(Stopped(run.run_id, "limit", "", tr.examples_seen, epochs=MAX_EPOCHS))
            return
        allowed = self.allowance(tr, run.run_id)
        if allowed is not None and allowed <= 0:
            with self._cond:           # held back (a ghost waiting for its main run): wake up soon
                self._cond.wait(ALLOWANCE_WAIT_S)
            return
        if run.resumed:
            run.tests.advance(tr.examples_seen, cmd.pacing.test_every)
            run.resumed = False
        stepping = bool(cmd.steps) and not cmd.running
        if stepping:
            with self._cond:
                self._steps = max(0, self._steps - 1)
        stops = [limit, run.pacer.next_stop(tr.examples_seen)]
        if cmd.pacing.test_every > 0:
            stops.append(max(run.tests.next, tr.examples_seen + 1))
        n = run.pacer.size(cmd.pacing, stepping, min(stops) - tr.examples_seen, allowed)
        if not COMPUTE.acquire(lambda: self._stop):
            return
        t0 = time.perf_counter()
        try:
            stats = tr.train_examples(n, record_last=True)
        except DivergenceError as exc:
            stats = exc
        finally:
            COMPUTE.release()       # before posting: a full queue must not hold up other sessions
        if isinstance(stats, DivergenceError):
            self._halt()
            self.examples_seen = tr.examples_seen
            self._post(Stopped(run.run_id, "diverged", str(stats), tr.examples_seen))
            return
        run.pacer.done(n, t0, time.perf_counter() - t0, cmd.pacing)
        self.examples_seen = tr.examples_seen
        self.cpu_s = time.thread_time()         # CPU time of this thread so far (benchmarks)
        self.rate = run.pacer.rate
        self._report(run, stats, limit, always=stepping)
        if run.tests.due(tr.examples_seen, cmd.pacing.test_every):
            self.tests.start(tr, run.run_id, cmd.pacing.test_images)
            run.tests.advance(tr.examples_seen, cmd.pacing.test_every)
        now = time.perf_counter()
        if self._wants_probe(tr) and now >= run.next_probe_t:
            if self._probe(tr, run.run_id):
                run.probed_at = tr.examples_seen
                run.next_probe_t = now + PROBE_EVERY_S
            else:
                run.next_probe_t = now + 0.5

    def _report(self, run: _Run, stats: ChunkStats, limit: int, always: bool = False) -> None:
        """A snapshot on the grid (over every example since the last one), else now and then the latest
        example (``always`` for a Step: the student waits to see it)."""
        tr = run.tr
        run.pending.append(stats)
        if tr.examples_seen % run.pacer.grid == 0 or tr.examples_seen >= limit:
            snap = tr.snapshot(ChunkStats.join(run.pending))
            run.pending = []
            run.progress_t = time.perf_counter()
            run.reported_at = tr.examples_seen
            self._post(SnapshotTaken(run.run_id, snap, run.pacer.achieved))
        elif always or time.perf_counter() - run.progress_t >= PROGRESS_EVERY_S:
            run.progress_t = time.perf_counter()
            run.reported_at = tr.examples_seen
            self._post(Progress(run.run_id, tr.snapshot(stats, window_diagnostics=False), run.pacer.achieved))

    def allowance(self, tr: Trainer, run_id: int) -> int | None:
        """How many examples the thread may train right now; None = no bound.

        A ghost run (app/ghost.py) overrides this to never get ahead of its main run.
        """
        return None

    def _wants_probe(self, tr: Trainer) -> bool:
        return self._probe_sink is not None and tr.spec.n_hidden_layers > 0

    def _probe(self, tr: Trainer, run_id: int) -> bool:
        """Hand the probe images' top-hidden activity to the t-SNE worker; False when it is busy."""
        if not self._wants_probe(tr) or not self._probe_ready():
            return False
        if not COMPUTE.acquire(lambda: self._stop):
            return False
        try:
            activity = tr.probe_activity()
        finally:
            COMPUTE.release()
        return bool(self._probe_sink(activity, tr.examples_seen, run_id))

    def _apply_live(self, run: _Run, live: dict, live_t: float | None) -> None:
        try:
            spec = run.tr.set_live(**live)
        except SpecError as exc:
            self._post(Stopped(run.run_id, "failed", f"Live change refused: {exc}", run.tr.examples_seen))
            return
        self._post(LiveApplied(run.run_id, dict(live), spec, live_t, time.perf_counter(), run.tr.examples_seen))
