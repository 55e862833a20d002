"""Warm-up: load the data and the compiled kernels once per server process.

On a new machine (a cold Numba cache) compiling the kernels takes about a minute.
The server therefore warms up in a background thread (``server_lifecycle.py``) and
answers pages at once: they show the step the warm-up is at and enable Play when it
is done.  Compiling competes with the first pages for the CPU and the GIL (the page
took 7.3 s to show the warm-up, 3.9 s without it), so on a cold cache a child process at
the lowest priority (``python -m app.warmup --compile-only``) fills the on-disk cache,
and the server's own thread then loads from it.  ``python -m app.warmup`` (the Docker build) and the
benchmarks run it in the foreground.
"""
from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .compute import name_os_thread

log = logging.getLogger("dendrite_lab.warmup")

_ROOT = Path(__file__).resolve().parent.parent
COMPILE_TIMEOUT_S = 900
KERNEL_PRESETS = ("glr17-1hl", "glr17-1hl-rate")    # (small versions) between them, every kernel a session calls


def kernel_cache_is_warm() -> bool:
    """Whether this version's compiled kernels are on disk already (an index file of Numba's cache)."""
    from dendcore._numba_cache import cache_dir
    where = os.environ.get("NUMBA_CACHE_DIR") or cache_dir()
    if where is None:
        return True      # Numba's own default place: nothing to look at, so no child
    return any(Path(where).rglob("*.nbi"))


def compile_in_a_child() -> bool:
    """Fill the kernel cache from a child process (its GIL is not the server's); True when it did."""
    proc = subprocess.Popen([sys.executable, "-m", "app.warmup", "--compile-only", "--parent", str(os.getpid())],
                            cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # at the lowest priority: the first pages (and the students' browsers on the same machine) go
        # first (set from here: a preexec_fn is not safe in a process with threads)
        os.setpriority(os.PRIO_PROCESS, proc.pid, 19)
    except OSError:
        pass
    try:
        _, err = proc.communicate(timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode != 0:
        tail = (err or "").strip().splitlines()[-1:] or ["no message"]
        log.warning("compiling in a child process failed (%s); compiling here instead", tail[0][:300])
        return False
    return True


class WarmUp:
    """Where the process's warm-up stands (read by every page)."""

    STEPS = ("the training data", "the spiking kernels", "the rate kernels", "the page's modules",
             "the t-SNE worker")

    def __init__(self):
        self.done = threading.Event()
        self.step = 0                     # index into STEPS of the step running now
        self.seconds: float | None = None
        self.error: str | None = None
        self.spiking_rate: float | None = None   # examples/s of spiking 784-500-10 on one core, measured
        self._thread: threading.Thread | None = None

    @property
    def text(self) -> str:
        if self.done.is_set():
            return ""
        return (f"Preparing the engine (the first start on a new server compiles its kernels, about a minute): "
                f"step {self.step + 1} of {len(self.STEPS)}, {self.STEPS[self.step]}…")

    def run(self) -> float:
        """Warm up now, in this thread; returns the seconds it took."""
        t0 = time.perf_counter()
        # compiling creates objects by the million: full collections then paused the whole server for
        # seconds at a time while it served its first pages; the warm-up's objects are frozen after it
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._steps()
        except Exception as exc:      # a page must still work: it compiles on first use instead
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("warm-up failed")
        finally:
            if collecting:
                gc.enable()
            self.seconds = time.perf_counter() - t0
            self.done.set()
        return self.seconds

    def start(self, then: Callable[[float], None] | None = None) -> None:
        """Warm up in a background thread; ``then(seconds)`` runs in it afterwards."""
        if self._thread is not None:
            return

        def work():
            name_os_thread("warm-up")
            secs = self.run()
            if then is not None:
                then(secs)
        self._thread = threading.Thread(target=work, name="warm-up", daemon=True)
        self._thread.start()

    def skip(self) -> None:
        self.seconds = 0.0
        self.done.set()

    def _steps(self) -> None:
        from dendcore import load_dataset
        self.step = 0
        data = load_dataset("mnist")
        self.step = 1
        if not kernel_cache_is_warm():
            t0 = time.perf_counter()
            if compile_in_a_child():
                log.info("kernels compiled in a child process in %.1f s", time.perf_counter() - t0)
        for self.step, name in enumerate(KERNEL_PRESETS, start=1):
            _use_kernels(name, data)
            if name == "glr17-1hl":       # the network the training cap is sized from
                self.spiking_rate = _measure_spiking_rate(data)
        self.step = 3
        import openTSNE  # noqa: F401  (the first import takes a moment)
        import app.page  # noqa: F401  (Panel, HoloViews and the page modules: ~1 s the first session would pay)
        from app.plots import probe_image_uris
        probe_image_uris(data, np.arange(min(1000, len(data.test_labels))))   # hover images of the t-SNE plot
        self.step = 4
        from app.tsne import start_worker
        start_worker()   # the t-SNE worker process, with openTSNE loaded


def _use_kernels(preset: str, data) -> None:
    """Call every kernel a session calls (training, snapshot diagnostics, test, probe) once, small."""
    from dendcore import Diagnostics, Trainer, get_preset
    tr = Trainer(get_preset(preset).spec.replace(hidden=(20,)), data=data, seed=0,
                 diagnostics=Diagnostics(traces=True))
    stats = tr.train_examples(2, record_last=True)
    tr.snapshot(stats)
    tr.test(indices=np.arange(4))
    tr.probe_activity()


def _measure_spiking_rate(data, seconds: float = 0.3) -> float:
    """Examples/s of the default network (spiking 784-500-10) in this thread on one core: what the
    server's training cap is sized from (app/seats.py)."""
    from dendcore import Diagnostics, Trainer, get_preset
    try:
        import numba
        numba.set_num_threads(1)          # (this thread only) a training thread uses one core
    except Exception:
        pass
    tr = Trainer(get_preset("glr17-1hl").spec, data=data, seed=0, diagnostics=Diagnostics.none())
    tr.train_examples(10)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        tr.train_examples(25)
        n += 25
    return n / (time.perf_counter() - t0)


WARMUP = WarmUp()


def warm_up() -> None:
    """Warm up in the foreground (the Docker build, benchmarks)."""
    WARMUP.run()
    if WARMUP.error:
        raise RuntimeError(f"warm-up failed: {WARMUP.error}")


def _end_with_parent(parent: int) -> None:
    """The compiling child ends when its server (pid ``parent``, named by the server itself: a server
    that ended before the child got here would otherwise be missed) does.  A stopped server's child
    otherwise went on compiling for minutes, and a restarted server started a second one beside it."""

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def compile_only() -> None:
    """The child's work: compile every kernel into the on-disk cache (and nothing else)."""
    from dendcore import load_dataset
    data = load_dataset("mnist")
    for name in KERNEL_PRESETS:
        _use_kernels(name, data)
    _measure_spiking_rate(data, seconds=0.0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compile-only"]:
        # --compile-only [--parent PID]
        _end_with_parent(int(sys.argv[3]) if sys.argv[2:3] == ["--parent"] else os.getppid())
        compile_only()
    else:
        warm_up()
