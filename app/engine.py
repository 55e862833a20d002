"""The training thread of one dashboard session.

The thread owns a :class:`dendcore.Trainer`.  The page talks to it only
through a few coalescing command slots (a new configuration, live changes,
play / pause / step, pacing) guarded by one condition variable, and the thread
answers only through a bounded :class:`queue.Queue` of :class:`Message`
records.  Nothing here touches Panel, param or Bokeh objects, so the thread can
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
import os
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dendcore import Diagnostics, DivergenceError, ModelSpec, SpecError, Trainer, load_dataset
from dendcore.evaluation import test_network

log = logging.getLogger("dendrite_lab.engine")

QUEUE_SIZE = 32            # messages; the thread waits when the page falls this far behind
TARGET_CHUNK_S = 0.05      # at full speed a chunk lasts about this long (bounds slider latency)
MAX_CHUNK = 5000           # examples per chunk, whatever the speed
FIRST_CHUNK = {"spiking": 10, "rate": 200}   # small first chunks: the first point appears quickly
PACED_CHUNK_S = 0.2        # at a limited speed, one chunk per this many seconds (or per example)
FIRST_TEST_AT = 500        # tests at 500, 1000, 2000, ... then every ``test_every`` examples
PROBE_EVERY_S = 6.0        # t-SNE probe activity at most this often
FIRST_PROBE_DELAY_S = 2.0  # the first map waits this long, so it does not slow the page's first seconds
ALLOWANCE_WAIT_S = 0.02   # a thread held back by ``allowance`` looks again this often


def env_number(name: str, default: float, minimum: float, integer: bool = False) -> float:
    """A server limit from the environment; a value that is not a number >= ``minimum`` is
    reported in the log and replaced by the default (a typo must not stop the server)."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
        if integer and value != int(value):
            raise ValueError
    except (ValueError, OverflowError):
        value = math.nan
    if not (math.isfinite(value) and value >= minimum):
        log.warning("%s=%r is not a number >= %g; using %g", name, text, minimum, default)
        return default
    return int(value) if integer else value


MAX_EPOCHS = env_number("DENDRITE_MAX_EPOCHS", 100.0, minimum=1e-6)   # a run pauses itself here (bounded run length)


class ComputeGate:
    """At most ``width`` chunks of work (training, testing, t-SNE probes) run at once in this
    process; the others wait their turn, first come first served.

    Every session has its own thread.  Thirty of them computing at once on two cores would
    starve the server's single event-loop thread, which renders pages, answers websockets
    and sends every plot update, of CPU and of the GIL: pages took seconds to load in the
    load test (benchmarks/load_test.py).  Behind the gate the loop competes with ``width``
    threads at most, and serving waiting threads in arrival order shares the CPU evenly
    between sessions (a chunk is sized to last about ``TARGET_CHUNK_S``).
    """

    def __init__(self, width: int):
        self.width = max(1, int(width))
        self._lock = threading.Lock()
        self._waiting: list[threading.Event] = []
        self._busy = 0

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a turn; False (without a turn) when ``cancelled()`` becomes true meanwhile."""
        with self._lock:
            if self._busy < self.width and not self._waiting:
                self._busy += 1
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        while not turn.wait(0.1):
            if cancelled():
                with self._lock:
                    if turn in self._waiting:
                        self._waiting.remove(turn)
                        return False
                break       # handed a turn just now: give it back properly
        if cancelled():
            self.release()
            return False
        return True

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.pop(0).set()     # the turn passes on directly: nobody can jump the queue
            else:
                self._busy -= 1

    @property
    def waiting(self) -> int:
        return len(self._waiting)


COMPUTE = ComputeGate(env_number("DENDRITE_COMPUTE_THREADS", os.cpu_count() or 1, minimum=1, integer=True))
ENGINE_NICE = 10     # training threads run at this niceness, below the server's event loop


def lower_priority() -> None:
    """Let the calling thread yield the CPU to the server's event loop.

    With the training threads at the loop's priority, a page load waited for CPU behind
    them (the load test's p95 page latency); at a lower priority they still take every
    cycle the loop does not need.  Linux schedules threads individually, so this changes
    the calling thread only; elsewhere it does nothing.
    """
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < ENGINE_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, ENGINE_NICE)
    except (AttributeError, OSError):
        pass


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: changing any of it needs a new network."""
    spec: ModelSpec
    seed: int
    dataset: str
    run_id: int


@dataclass
class Message:
    kind: str          # "ready", "snapshot", "test", "live", "limit", "diverged", "error"
    run_id: int
    payload: Any = None
    t: float = field(default_factory=time.perf_counter)


@dataclass
class Pacing:
    speed: float = 0.0        # examples per second; 0 = as fast as possible
    test_every: int = 2500    # examples between two test measurements (0 = never)
    test_images: int = 500


class Engine:
    """One training thread, started lazily and stopped by :meth:`close`."""

    # what the snapshots carry; a ghost run (app/ghost.py) plots no traces, so it skips recording them
    TRAINER_DIAGNOSTICS = Diagnostics(traces=True, probe=False)

    def __init__(self, probe_sink: Callable[[np.ndarray, int, int], bool] | None = None,
                 probe_ready: Callable[[], bool] | None = None, queue_size: int = QUEUE_SIZE,
                 name: str = "engine"):
        self.out: queue.Queue[Message] = queue.Queue(maxsize=queue_size)
        self._cond = threading.Condition()
        self._config: RunConfig | None = None     # pending new configuration
        self._live: dict[str, Any] = {}            # pending live changes (coalesced)
        self._live_t: float | None = None          # when the oldest pending live change was requested
        self._running = False
        self._steps = 0
        self._pacing = Pacing()
        self._stop = False
        self._probe_sink = probe_sink
        self._probe_ready = probe_ready or (lambda: True)
        self._name = name
        self._thread: threading.Thread | None = None
        self._test_thread: threading.Thread | None = None
        # read by the page (plain attributes; written only by the thread)
        self.examples_seen = 0
        self.rate = math.nan            # training examples per second (EMA)
        self.cpu_s = 0.0
        self.limit_reached = False      # the run has trained MAX_EPOCHS: Play cannot continue it
        self.run_id = -1                # the run the counters above belong to (set after examples_seen)
        self.chunk_ends: deque[int] = deque(maxlen=4096)   # examples_seen after each chunk (a ghost follows them)
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
            self._steps = min(self._steps + int(n), 100)   # bounded: a burst of clicks cannot queue forever
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

    @property
    def running(self) -> bool:
        return self._running

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def threads_alive(self) -> bool:
        """The training thread or a test helper of it is still running (they hold the session's objects)."""
        return any(t is not None and t.is_alive() for t in (self._thread, self._test_thread))

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
    def _post(self, msg: Message) -> bool:
        """Put a message, waiting while the queue is full (back-pressure); False when superseded."""
        while True:
            try:
                self.out.put(msg, timeout=0.1)
                return True
            except queue.Full:
                with self._cond:
                    if self._stop or self._config is not None:
                        return False

    def _main(self) -> None:
        lower_priority()
        try:
            self._loop()
        except Exception:   # never die silently: the page shows the message
            text = traceback.format_exc()
            log.error("engine thread failed:\n%s", text)
            try:
                self.out.put_nowait(Message("error", -1, "The training thread failed: "
                                            + text.strip().splitlines()[-1]))
            except queue.Full:
                pass
        finally:
            self.stopped.set()
            log.info("%s: engine thread stopped", self._name)

    def _loop(self) -> None:
        tr: Trainer | None = None
        run_id = -1
        chunk = 10
        next_test = FIRST_TEST_AT
        due = 0.0                  # earliest start of the next chunk when paced
        next_probe_t = 0.0         # earliest time for the next t-SNE probe
        probed_at = -1             # examples_seen of the last probe accepted by the t-SNE worker
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    if self._config is not None or self._live:
                        break
                    now = time.perf_counter()
                    if tr is not None and (self._running or self._steps):
                        wait = due - now if self._running else 0.0
                        if wait <= 0:
                            break
                        self._cond.wait(min(wait, 0.25))
                        continue
                    # idle: refresh the t-SNE map once after training stopped
                    if (tr is not None and self._wants_probe(tr) and tr.examples_seen != probed_at
                            and now >= next_probe_t):
                        break
                    self._cond.wait(0.5)
                config, self._config = self._config, None
                live, self._live = self._live, {}
                live_t, self._live_t = self._live_t, None
                running, steps = self._running, self._steps
                pacing = Pacing(**vars(self._pacing))

            if config is not None:
                tr = None
                run_id = config.run_id
                try:
                    data = load_dataset(config.dataset)
                    tr = Trainer(config.spec, data=data, seed=config.seed,
                                 diagnostics=self.TRAINER_DIAGNOSTICS, chunk=50)
                except Exception as exc:   # SpecError, DatasetError, out of memory...
                    self._post(Message("error", run_id, f"Could not build the network: {exc}"))
                    continue
                self.examples_seen = 0
                self.rate = math.nan
                self.limit_reached = False
                self.chunk_ends.clear()
                self.run_id = run_id
                chunk = FIRST_CHUNK.get(tr.spec.mode, 10)
                next_test = FIRST_TEST_AT
                next_probe_t = time.perf_counter() + FIRST_PROBE_DELAY_S
                probed_at = -1
                due = 0.0
                self._post(Message("ready", run_id, {"spec": tr.spec, "probe_indices": tr.probe_indices.copy(),
                                                     "n_hidden": tr.spec.n_hidden_layers}))
                continue

            if live and tr is not None:
                self._apply_live(tr, run_id, live, live_t)
                continue

            if tr is None:
                continue

            if not running and not steps:
                if self._probe(tr, run_id):
                    probed_at = tr.examples_seen
                    next_probe_t = time.perf_counter() + PROBE_EVERY_S
                else:
                    next_probe_t = time.perf_counter() + 2.0
                continue

            # ---- one chunk of training (a run stops itself at the run-length limit)
            limit = int(MAX_EPOCHS * tr.n_train)
            if tr.examples_seen >= limit:
                with self._cond:
                    self._running = False
                    self._steps = 0
                self.limit_reached = True
                self._post(Message("limit", run_id, {"examples_seen": tr.examples_seen, "epochs": MAX_EPOCHS}))
                continue
            allowed = self.allowance(tr, run_id)
            if allowed is not None and allowed <= 0:
                with self._cond:           # held back (a ghost waiting for its main run): wake up soon
                    self._cond.wait(ALLOWANCE_WAIT_S)
                continue
            if steps and not running:
                n = 1
                with self._cond:
                    self._steps = max(0, self._steps - 1)
            elif pacing.speed > 0:
                n = max(1, int(round(pacing.speed * PACED_CHUNK_S)))
            else:
                n = chunk
            n = max(1, min(n, limit - tr.examples_seen))
            if allowed is not None and allowed <= 2 * n:
                n = allowed     # end exactly where the leader ended a chunk: both runs report the same points
            if not COMPUTE.acquire(lambda: self._stop):
                continue
            t0 = time.perf_counter()
            diverged = None
            try:
                stats = tr.train_examples(n, record_last=True)
            except DivergenceError as exc:
                diverged = exc
            finally:
                COMPUTE.release()       # before posting: a full queue must not hold up other sessions
            if diverged is not None:
                exc = diverged
                with self._cond:
                    self._running = False
                    self._steps = 0
                self.examples_seen = tr.examples_seen
                self._post(Message("diverged", run_id, {"text": str(exc), "examples_seen": tr.examples_seen}))
                continue
            dt = time.perf_counter() - t0
            self.examples_seen = tr.examples_seen
            self.chunk_ends.append(tr.examples_seen)
            self.cpu_s = time.thread_time()         # CPU time of this thread so far (benchmarks)
            if dt > 0:
                r = n / dt
                self.rate = r if math.isnan(self.rate) else 0.7 * self.rate + 0.3 * r
            if pacing.speed > 0:
                due = t0 + n / pacing.speed
            else:
                due = 0.0
                if not math.isnan(self.rate):
                    chunk = int(min(MAX_CHUNK, max(1, self.rate * TARGET_CHUNK_S)))

            if pacing.test_every > 0 and tr.examples_seen >= next_test:
                self._start_test(tr, run_id, pacing.test_images)
                while next_test <= tr.examples_seen:
                    next_test = next_schedule(next_test, pacing.test_every)
            snap = tr.snapshot(stats)
            self._post(Message("snapshot", run_id, {"snapshot": snap, "rate": self.rate}))

            now = time.perf_counter()
            if self._wants_probe(tr) and now >= next_probe_t:
                if self._probe(tr, run_id):
                    probed_at = tr.examples_seen
                    next_probe_t = now + PROBE_EVERY_S
                else:
                    next_probe_t = now + 0.5

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

    def _apply_live(self, tr: Trainer, run_id: int, live: dict, live_t: float | None) -> None:
        try:
            spec = tr.set_live(**live)
        except SpecError as exc:
            self._post(Message("error", run_id, f"Live change refused: {exc}"))
            return
        self._post(Message("live", run_id, {"changes": live, "spec": spec, "requested": live_t,
                                            "applied": time.perf_counter(), "examples_seen": tr.examples_seen}))

    def _start_test(self, tr: Trainer, run_id: int, n_images: int) -> bool:
        """Measure the test error of the network as it is now, without stopping the training.

        Rate mode tests in a few milliseconds, here.  A spiking test takes seconds, so it
        runs on a copy of the weights in a helper thread on one core while training goes
        on; the result is posted with the example count at which the copy was taken.  At
        most one test per session is in flight (a test point that falls due meanwhile is
        skipped).
        """
        total = min(int(n_images), len(tr.data.test_labels))
        if total <= 0:
            return False
        indices = np.arange(total)
        at = tr.examples_seen
        info = {"examples_seen": at, "epoch": tr.epoch, "wall_s": tr.wall_s}
        if tr.spec.mode == "rate":
            res = tr.test(indices=indices)
            self._post(Message("test", run_id, {**info, "error_pct": res.error_pct, "n_images": res.n_images,
                                                "test_wall_s": res.wall_s}))
            return True
        t = self._test_thread
        if t is not None and t.is_alive():
            return False
        net, spec, prm, kappa = tr.net.copy(), tr.spec, tr.prm.copy(), tr.kappa.copy()
        data, seed = tr.data, tr.seed

        def work():
            lower_priority()
            try:
                try:
                    import numba
                    numba.set_num_threads(1)      # this thread only: leave the other core to training
                except Exception:
                    pass
                if not COMPUTE.acquire(lambda: self._stop):
                    return
                try:
                    res = test_network(net, spec, prm, kappa, data, indices, seed)
                finally:
                    COMPUTE.release()
                msg = Message("test", run_id, {**info, "error_pct": res.error_pct, "n_images": res.n_images,
                                               "test_wall_s": res.wall_s})
            except Exception as exc:   # report, never kill the session
                msg = Message("error", run_id, f"The test-error measurement failed: {exc}")
            if not self._stop:
                try:
                    self.out.put(msg, timeout=5.0)
                except queue.Full:
                    pass

        self._test_thread = threading.Thread(target=work, name=f"{self._name}-test", daemon=True)
        self._test_thread.start()
        return True


def next_schedule(at: int, every: int) -> int:
    """The test after the one at ``at`` examples: doubling from 500 until the spacing reaches ``every``."""
    if at < every:
        return min(2 * at, at + every) if at > 0 else FIRST_TEST_AT
    return at + every
