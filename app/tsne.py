"""t-SNE maps of hidden activity, computed in the background with openTSNE.

Each session owns a :class:`TsneMap`; the work runs in one worker *process*
shared by every session of the server, at a lower CPU priority.  A process,
not a thread: openTSNE holds the GIL for much of its optimisation, and in a
thread it slowed the training thread by about 30 % on a 2-core machine.  So
however many students press Play, at most one map is being optimised at a
time and each session has at most one job waiting.  A new map starts from the
previous one of the same run (warm start: the affinities of the new activity,
optimised from the old positions), so points drift as the network learns
instead of the whole picture jumping.  A new run starts from a PCA layout, or on a full server
from a classmate's latest map of the same images (:class:`Layouts`).
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .compute import COMPUTE, set_thread_niceness

log = logging.getLogger("dendrite_lab.tsne")

_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()

PERPLEXITY = 30
COLD_ITERS = (125, 250)    # early-exaggeration and normal iterations for a first map
WARM_ITERS = 120           # iterations when continuing from the previous map
# The maps are the first thing to give way on a crowded server.  At nice 5 the worker took 0.75 of
# the 2 cores during a class of 30, at nice 15 still 0.3 (benchmarks/load_test.py): a niceness only
# weights the share, and with 30 sessions the worker always has a map to make.  Linux's SCHED_IDLE
# runs it only on CPU that training and the page leave unused.  But with one run on the server and the
# browser on the same machine (a teacher's laptop) nothing is left unused, and the first map came 42–65 s
# after Play.  So the worker starts at nice 15, below the trainings (nice 10), and goes to SCHED_IDLE for
# good with the first map asked while trainings wait for CPU (a class).
WORKER_NICENESS = 15
# Even at SCHED_IDLE the maps cost a full class: 30 trainings on two servers (page updates within a tenth
# of the loop, app/drain.py) got 65 % of the bare engine with the workers at 0.16 of a core, 71 % at 0.09
# and 79 % with no maps (benchmarks/README.md, 12-03),
# likely through the caches the two share.  So while trainings wait for CPU, a worker takes at most
# this share of a core: after a map of c CPU seconds, it rests c * (1 / share - 1) before the next.
CROWDED_MAP_SHARE = 0.05


def _every_thread(change: Callable[[int], None]) -> bool:
    """Apply ``change(tid)`` to every thread of this process; False where that is impossible.

    Every thread, not only the calling one: OpenBLAS and jemalloc started theirs when the worker imported
    NumPy, and a priority is per thread.  OpenBLAS's thread stayed at nice 0, above the training threads,
    for the distances of each map (threads started later inherit the caller's).
    """
    try:
        tasks = [int(t) for t in os.listdir("/proc/self/task")]
        for tid in tasks:
            try:
                change(tid)
            except ProcessLookupError:      # the thread ended meanwhile
                pass
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _init_worker() -> None:
    global _IN_WORKER
    _IN_WORKER = True
    if not _every_thread(lambda tid: set_thread_niceness(tid, WORKER_NICENESS)):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass


_IN_WORKER = False    # this process is the shared worker (an executor of threads runs maps in the server)
_IDLE = False         # (in the worker) its threads run at SCHED_IDLE


def _go_idle() -> None:
    """From now on this worker runs only on CPU nothing else wants (one way: an unprivileged process
    cannot leave SCHED_IDLE).  Nothing elsewhere: never the server's own threads."""
    global _IDLE
    if _IN_WORKER and not _IDLE:
        _IDLE = True
        _every_thread(lambda tid: os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0)))


class MapRation:
    """When this process's worker may start the next map: whenever asked while the trainings get the
    CPU they ask for, one at a time and after a rest (``CROWDED_MAP_SHARE``) while they wait for it.
    Rationed, a session's first map goes before anyone's next one: every student gets a map."""

    def __init__(self, share: float = CROWDED_MAP_SHARE, crowded: Callable[[], bool] | None = None):
        self.share = share
        self._crowded = crowded or (lambda: COMPUTE.oversubscribed)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._rest_until = 0.0
        self._first_asked_at = -math.inf     # when a session without a map was last turned away

    @property
    def rationed(self) -> bool:
        return self._crowded()

    def allows(self, first: bool = False, now: float | None = None) -> bool:
        """Whether a map (``first``: a session's first) could start now (a hint: :meth:`take` decides)."""
        if not self._crowded():
            return True
        now = time.perf_counter() if now is None else now
        with self._lock:
            free = self._free(first, now)
            if first and not free:
                self._first_asked_at = now
            return free

    def take(self, first: bool = False, now: float | None = None) -> bool:
        """Reserve the worker for one map (``first``: a session's first); False: not now."""
        crowded = self._crowded()
        now = time.perf_counter() if now is None else now
        with self._lock:
            if crowded and not self._free(first, now):
                if first:
                    self._first_asked_at = now
                return False
            self._in_flight += 1
            return True

    def _free(self, first: bool, now: float) -> bool:
        # a session without a map asks again within FIRST_ASKS_S (its engine looks every 0.5 s)
        return (self._in_flight == 0 and now >= self._rest_until
                and (first or now - self._first_asked_at > FIRST_ASKS_S))

    def done(self, cpu_s: float, now: float | None = None) -> None:
        """A map reserved by :meth:`take` ended after ``cpu_s`` seconds of the worker's CPU."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._rest_until = max(self._rest_until, now + max(0.0, cpu_s) * (1.0 / self.share - 1.0))


FIRST_ASKS_S = 1.5
RATION = MapRation()


class Layouts:
    """The newest map of each data set's probe images in this process (every run probes the same
    images: the first 1,000 test images).  While maps are rationed, a session's first map starts
    from a classmate's layout and only continues it (``WARM_ITERS``, about 0.5 s of CPU) instead of a
    PCA start and the full optimisation (about 2.2 s): so a full class gets its first maps four
    times as fast.  It is a starting point only; the map then follows this run's own activity."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest: dict[tuple, np.ndarray] = {}

    def put(self, key, xy: np.ndarray) -> None:
        if key is not None:
            with self._lock:
                self._latest[key] = xy

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            return None if key is None else self._latest.get(key)


LAYOUTS = Layouts()


def shared_executor() -> ProcessPoolExecutor:
    """The one t-SNE worker process of this server (started on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)
        return _POOL


def _reset_executor(broken: Executor) -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is broken:
            _POOL = None
    try:
        broken.shutdown(wait=False, cancel_futures=True)
    except Exception:
        pass


def shutdown() -> None:
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def start_worker() -> None:
    """Start the worker process and load openTSNE in it (server warm-up)."""
    rng = np.random.default_rng(0)
    shared_executor().submit(embed, rng.random((40, 5)), None).result(timeout=120)


@dataclass
class TsneResult:
    xy: np.ndarray            # (n_probe, 2)
    examples_seen: int        # training progress the map describes
    run_id: int
    wall_s: float
    warm: bool
    rationed: bool = False    # made while the server rationed maps (its trainings waiting for CPU)


def embed_timed(activity: np.ndarray, previous: np.ndarray | None = None,
                crowded: bool = False) -> tuple[np.ndarray, float]:
    """:func:`embed`, and the CPU seconds it took in the worker (what :class:`MapRation` rests for).
    ``crowded``: asked while the server's trainings wait for CPU, so the worker goes idle first."""
    if crowded:
        _go_idle()
    t0 = time.process_time()
    xy = embed(activity, previous)
    return xy, time.process_time() - t0


def embed(activity: np.ndarray, previous: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE map of the rows of ``activity``, continued from ``previous`` when given."""
    from openTSNE import TSNEEmbedding, affinity, initialization

    x = np.asarray(activity, dtype=np.float64)
    # rates of saturated or silent units carry no information and make distances degenerate
    spread = x.std(axis=0)
    if np.any(spread > 0):
        x = x[:, spread > 0]
    x = x + 1e-9 * np.random.default_rng(seed).standard_normal(x.shape)   # break exact ties
    perplexity = min(PERPLEXITY, max(2, (x.shape[0] - 1) // 3))
    aff = affinity.PerplexityBasedNN(x, perplexity=perplexity, method="exact", n_jobs=1,
                                     random_state=seed, verbose=False)
    if previous is None or previous.shape != (x.shape[0], 2):
        init = initialization.pca(x, random_state=seed)
        emb = TSNEEmbedding(init, aff, negative_gradient_method="bh", n_jobs=1, random_state=seed)
        emb = emb.optimize(n_iter=COLD_ITERS[0], exaggeration=12, momentum=0.5)
        emb = emb.optimize(n_iter=COLD_ITERS[1], momentum=0.8)
    else:
        emb = TSNEEmbedding(np.array(previous, dtype=np.float64), aff, negative_gradient_method="bh",
                            n_jobs=1, random_state=seed)
        emb = emb.optimize(n_iter=WARM_ITERS, momentum=0.8)
    return np.asarray(emb, dtype=np.float64)


class TsneMap:
    """The t-SNE state of one session: the latest map and at most one job in flight."""

    def __init__(self, executor: Executor | None = None, ration: MapRation | None = None,
                 layouts: Layouts | None = None):
        self._executor = executor
        self._ration = ration or RATION
        self._layouts = layouts or LAYOUTS
        self._layout_key: tuple | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._closed = False
        self._run_id = -1
        self._previous: np.ndarray | None = None
        self._result: TsneResult | None = None
        self.last_error: str | None = None

    def reset(self, run_id: int, layout_key: tuple | None = None) -> None:
        """A new run: forget the old map (a job still running for the old run is discarded).
        ``layout_key`` names its probe images (the data set) for :class:`Layouts`."""
        with self._lock:
            self._run_id = run_id
            self._previous = None
            self._result = None
            self._layout_key = layout_key

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._result = None
            self._previous = None

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, activity: np.ndarray, examples_seen: int, run_id: int) -> bool:
        """Start a map of ``activity`` unless one is being computed; thread-safe, never blocks."""
        with self._lock:
            if self._busy or self._closed or run_id != self._run_id:
                return False
            if not self._ration.take(first=self._previous is None):
                return False
            self._busy = True
            previous = self._previous
            layout_key = None if self._layout_key is None else (*self._layout_key, len(activity))
        rationed = self._ration.rationed
        if previous is None and rationed:
            previous = self._layouts.get(layout_key)     # a classmate's layout to start from, if any
        executor = self._executor or shared_executor()
        t0 = time.perf_counter()
        try:
            future = executor.submit(embed_timed, np.array(activity, dtype=np.float64, copy=True), previous,
                                     rationed)
        except Exception as exc:     # shut down, or a broken worker process
            if self._executor is None:
                _reset_executor(executor)
            self._ration.done(0.0)
            with self._lock:
                self._busy = False
            log.warning("t-SNE worker unavailable: %s", exc)
            return False
        future.add_done_callback(lambda f: self._done(f, examples_seen, run_id, t0, previous is not None, executor,
                                                      rationed, layout_key))
        return True

    @property
    def ready(self) -> bool:
        """No map of this session in flight, and the worker may take one now (the engine's probe hint)."""
        return not self._busy and self._ration.allows(first=self._previous is None)

    def _done(self, future, examples_seen: int, run_id: int, t0: float, warm: bool, executor,
              rationed: bool = False, layout_key: tuple | None = None) -> None:
        cpu_s = 0.0
        try:
            xy, cpu_s = future.result()
        except Exception as exc:     # a degenerate activity pattern, or the worker died
            log.warning("t-SNE failed: %s", exc)
            self.last_error = str(exc)
            if self._executor is None and type(exc).__name__ == "BrokenProcessPool":
                _reset_executor(executor)      # the next map starts a fresh worker
            xy = None
        self._ration.done(cpu_s)
        if xy is not None:
            self._layouts.put(layout_key, xy)
        with self._lock:
            self._busy = False
            if xy is not None and not self._closed and run_id == self._run_id:
                self._previous = xy
                self._result = TsneResult(xy, examples_seen, run_id, time.perf_counter() - t0, warm, rationed)
                self.last_error = None

    @property
    def has_result(self) -> bool:
        return self._result is not None      # one attribute read: no lock needed for a hint

    def take(self) -> TsneResult | None:
        """The newest finished map, once (None when nothing new)."""
        with self._lock:
            result, self._result = self._result, None
            return result
