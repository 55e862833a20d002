"""Warm-up: load the data and the compiled kernels once per server process.

On a new machine (a cold Numba cache) compiling the kernels takes about a minute.
The server therefore warms up in a background thread (``server_lifecycle.py``) and
answers pages at once: they show the step the warm-up is at and enable Play when it
is done.  ``python -m app.warmup`` (the Docker build) and the benchmarks run it in
the foreground.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Callable

import numpy as np

log = logging.getLogger("dendrite_lab.warmup")


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
            secs = self.run()
            if then is not None:
                then(secs)
        self._thread = threading.Thread(target=work, name="warm-up", daemon=True)
        self._thread.start()

    def skip(self) -> None:
        self.seconds = 0.0
        self.done.set()

    def _steps(self) -> None:
        from dendcore import Diagnostics, Trainer, get_preset, load_dataset
        self.step = 0
        data = load_dataset("mnist")
        for self.step, name in ((1, "glr17-1hl"), (2, "glr17-1hl-rate")):
            tr = Trainer(get_preset(name).spec.replace(hidden=(20,)), data=data, seed=0,
                         diagnostics=Diagnostics(traces=True), chunk=50)
            stats = tr.train_examples(2, record_last=True)
            tr.snapshot(stats)
            tr.test(indices=np.arange(4))
            tr.probe_activity()
            if name == "glr17-1hl":
                self.spiking_rate = _measure_spiking_rate(data)
        self.step = 3
        import openTSNE  # noqa: F401  (the first import takes a moment)
        import app.page  # noqa: F401  (Panel, HoloViews and the page modules: ~1 s the first session would pay)
        from app.plots import probe_image_uris
        probe_image_uris(data, np.arange(min(1000, len(data.test_labels))))   # hover images of the t-SNE plot
        self.step = 4
        from app.tsne import start_worker
        start_worker()   # the t-SNE worker process, with openTSNE loaded


def _measure_spiking_rate(data, seconds: float = 0.3) -> float:
    """Examples/s of the default network (spiking 784-500-10) in this thread on one core: what the
    server's training cap is sized from (app/seats.py)."""
    from dendcore import Diagnostics, Trainer, get_preset
    try:
        import numba
        numba.set_num_threads(1)          # (this thread only) a training thread uses one core
    except Exception:
        pass
    tr = Trainer(get_preset("glr17-1hl").spec, data=data, seed=0, diagnostics=Diagnostics.none(), chunk=50)
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


if __name__ == "__main__":
    warm_up()
