"""The CPU this server process shares between its sessions: the compute gate, thread priority, and
limits read from the environment.
"""
from __future__ import annotations

import importlib
import logging
import math
import os
import sys
import threading
from typing import Callable

log = logging.getLogger("dendrite_lab.compute")


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

    @property
    def oversubscribed(self) -> bool:
        """At least as many chunks wait for a place as run: the trainings ask for more CPU than there
        is, so every cycle spent elsewhere (page updates, maps) is taken from them."""
        return len(self._waiting) >= self.width


# deploy/serve.sh runs DENDRITE_SERVERS processes side by side (the Docker image: two, behind nginx):
# each counts its share of the machine's cores as its own when it sizes its training places and
# Steps, and its share of the memory (app/capacity.py)
def own_cores(servers: int, cpus: int | None = None) -> int:
    """The cores one of ``servers`` processes on this machine counts as its own."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, servers))


SERVERS = int(env_number("DENDRITE_SERVERS", 1, minimum=1, integer=True))
CORES = own_cores(SERVERS)
# ... but its compute gate stays as wide as the machine, and the kernel shares the cores between the
# processes: with a gate of its share, one run's tests waited for its training, so a presenter alone
# trained 1,524 examples/s instead of 1,930, and a class of 30 over two servers did 1,209 instead of
# 1,648 (benchmarks/README.md, 2026-12-03)
COMPUTE = ComputeGate(env_number("DENDRITE_COMPUTE_THREADS", os.cpu_count() or 1, minimum=1, integer=True))
ENGINE_NICE = 10     # training threads run at this niceness, below the server's event loop


def thread_niceness(tid: int) -> int | None:
    """The niceness of the thread with the OS id ``tid`` (``threading.Thread.native_id``); None where unknown."""
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (AttributeError, OSError):
        return None


def set_thread_niceness(tid: int, niceness: int) -> bool:
    """Give the thread ``tid`` this niceness; False where the OS refuses (an unprivileged process may
    lower a thread's priority but never raise it again) or has no per-thread priorities."""
    try:
        os.setpriority(os.PRIO_PROCESS, tid, niceness)
        return True
    except (AttributeError, OSError):
        return False


def lower_priority(kind: str | None = None) -> None:
    """Let the calling thread yield the CPU to the server's event loop (and, with ``kind``,
    name it for the operating system).

    With the training threads at the loop's priority, a page load waited for CPU behind
    them (the load test's p95 page latency); at a lower priority they still take every
    cycle the loop does not need.  Linux schedules threads individually, so this changes
    the calling thread only; elsewhere it does nothing.
    """
    if kind is not None:
        name_os_thread(kind)
    tid = threading.get_native_id()
    now = thread_niceness(tid)
    if now is not None and now < ENGINE_NICE:
        set_thread_niceness(tid, ENGINE_NICE)


THREAD_PREFIX = "dl-"    # the load test sums the CPU of this process's threads by these names


def single_threaded_blas() -> list[str]:
    """Let every BLAS library in this process compute in the calling thread; returns their names.

    OpenBLAS hands a large enough product to a pool of its own threads, which then spin waiting
    for the next one.  The server's products are small (a probe's rates, snapshot diagnostics), each
    runs in a session's turn at the compute gate, and every cycle spun is one the trainings lose:
    in a class of 30 (benchmarks/load_test.py, 2026-12-04) the pool's threads took 0.07 of the
    server's 2 cores, and with them stopped the class trained 8 % more examples per second.
    """
    # libraries loaded later (SciPy's OpenBLAS comes with the kernels' warm-up) read the variable
    # as they load; those loaded already are set through threadpoolctl
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    importlib.import_module("numpy")    # its OpenBLAS is loaded, and so limited, from here on
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
    return sorted({f"{i['internal_api']} ({i['num_threads']} thread)" for i in threadpool_info()
                   if i["user_api"] == "blas"})


SWITCH_INTERVAL_S = 0.0005   # Python's default is 0.005


def short_gil_turns() -> float:
    """Hand the GIL to a waiting thread after ``SWITCH_INTERVAL_S`` instead of Python's 5 ms; returns it.

    The kernels run without the GIL, but each chunk's Python around them needs it back, and a thread
    that wants it back waits a whole switch interval before the holder is asked to let go.  While the
    event loop is busy, say completing thirty followers' pages, a training thread in the same process
    waits that long after every kernel call.  ``python -m benchmarks.gil_contention`` (2026-12-07): a
    busy loop cost a training thread 23 % of its speed at 5 ms and 14 % at 0.5 ms.

    Tried once before and reverted (2026-12-06) because a lone page's first t-SNE map came later.
    The map's worker then ran at ``SCHED_IDLE``; since it starts at nice 15 (app/tsne.py), the
    interval no longer moves the first map (six runs each, benchmarks/README.md, 2026-12-07).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return sys.getswitchinterval()


def name_os_thread(kind: str) -> None:
    """Name the calling thread ``dl-<kind>`` where the OS shows it (``top -H``, /proc/<pid>/task).

    Python before 3.14 names its threads for itself only; with the names, the load test
    (benchmarks/load_test.py) tells the CPU of training, tests and the event loop apart.
    Linux keeps 15 bytes of a name; elsewhere this does nothing.
    """
    try:
        with open("/proc/thread-self/comm", "w") as f:
            f.write((THREAD_PREFIX + kind)[:15])
    except OSError:
        pass
