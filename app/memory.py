"""When Python's cyclic garbage collector runs in the server process, and over what.

Measured with 30 training sessions (benchmarks/load_test.py): the process tracks about
1.8 million Python objects (46,000 per session: widgets, Bokeh models, plot sources).  A full
collection walks every one of them and took up to 1.3 s, during which nothing else in the
process ran, pages and websockets included; with 30 sessions it happened every few seconds
and was what kept the page latency above 1 s at p95.  Yet those objects live as long as their
session.  So:

* :func:`freeze_baseline`: what the warm-up created (imports, MNIST, Panel and HoloViews
  machinery: about 400,000 objects) is taken out of the collector's sight for good.
* :func:`session_ready`: once a session's page and plots are built, everything alive is moved
  out of sight as well (``gc.freeze``, a constant-time list splice).  The collector then only
  walks what was created since: plot updates, snapshots, pages not yet connected.
* :func:`frozen_garbage`: frozen objects are never freed by the collector, so when a session
  whose objects were frozen closes, or its plots are replaced by a new run's, one full
  collection over everything runs a few seconds later (closes of a class come together: one
  collection for all) and at most once per ``MIN_INTERVAL_S``.  Without it the garbage of a
  class waited minutes for the next full collection and the server kept twice its baseline.

Everything here runs on the server's event loop thread, so a freeze never interleaves with
the full collection.  Collections that stop the process for long are logged.
"""
from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("dendrite_lab.memory")

COLLECT_DELAY_S = 5.0      # after the last close of a batch
MIN_INTERVAL_S = 30.0      # at most one full collection of frozen objects per this many seconds
SLOW_PAUSE_S = 0.25        # collections that stop the process at least this long are logged

# Only a served app (app/server_lifecycle.py) manages the collector; a test or a notebook that
# builds pages in its own process keeps Python's defaults.
ENABLED = False

_state = {"handle": None, "last_full": -1e9, "due": None}
_pauses = {"count": 0, "total_s": 0.0, "max_s": 0.0, "slow": 0, "freezes": 0, "full_cycles": 0}
_started = [0.0]


def _on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    if info.get("generation") != 2:
        return
    dt = time.perf_counter() - _started[0]
    _pauses["count"] += 1
    _pauses["total_s"] += dt
    _pauses["max_s"] = max(_pauses["max_s"], dt)
    if dt >= SLOW_PAUSE_S:
        _pauses["slow"] += 1
        log.info("full garbage collection paused the server %.2f s (%d objects freed)", dt, info.get("collected", 0))


def watch_pauses() -> None:
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def stats() -> dict:
    """Full collections so far (count, total and longest pause in s, slow ones), freezes, full cycles."""
    return {**_pauses, "frozen": gc.get_freeze_count(), "tracked": sum(gc.get_count())}


def freeze_baseline() -> int:
    """Collect once, then exempt every object alive now from later collections; returns their count."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def session_ready() -> None:
    """A session's page and plots are built: its objects (and all others alive) leave the collector's sight."""
    if not ENABLED:
        return
    gc.freeze()
    _pauses["freezes"] += 1


def collect_all() -> int:
    """One full collection over frozen objects too; the survivors are frozen again a second later.

    Between the two steps the event loop runs: finalizers of the collected objects (pending
    coroutines, futures) hand callbacks to the loop that still hold parts of closed sessions,
    and those parts were only freed by the next collection (the load test saw a class's
    sessions survive a single collection).  So a second collection follows before the freeze.
    """
    _state["last_full"] = time.monotonic()
    _pauses["full_cycles"] += 1
    t0 = time.perf_counter()
    gc.unfreeze()
    n = gc.collect()
    dt = time.perf_counter() - t0
    try:
        from tornado.ioloop import IOLoop
        IOLoop.current().call_later(1.0, _second_pass, n, dt)
    except Exception:
        _second_pass(n, dt)
    return n


def _second_pass(first: int, first_s: float) -> None:
    t0 = time.perf_counter()
    n = gc.collect()
    gc.freeze()
    log.info("collected the garbage of closed sessions and replaced plots: %d + %d objects in %.2f + %.2f s",
             first, n, first_s, time.perf_counter() - t0)


def frozen_garbage() -> None:
    """Frozen objects were dropped (a session closed, plots replaced): collect them soon.

    Called on the event loop.  Each call pushes the collection back to ``COLLECT_DELAY_S``
    from now, but never later than ``MIN_INTERVAL_S`` after the first pending call, and a
    collection follows the previous one by ``MIN_INTERVAL_S`` at least.
    """
    if not ENABLED:
        return
    from tornado.ioloop import IOLoop
    now = time.monotonic()
    if _state["due"] is None:
        _state["due"] = now + MIN_INTERVAL_S            # the latest moment, whatever keeps closing
    at = min(now + COLLECT_DELAY_S, _state["due"])
    at = max(at, _state["last_full"] + MIN_INTERVAL_S)
    loop = IOLoop.current()
    if _state["handle"] is not None:
        loop.remove_timeout(_state["handle"])
    _state["handle"] = loop.call_at(loop.time() + (at - now), _fire)


def _fire() -> None:
    _state["handle"] = None
    _state["due"] = None
    try:
        collect_all()
    except Exception as exc:       # housekeeping must never take the server down
        log.warning("garbage collection failed: %s", exc)


def cancel() -> None:
    handle, _state["handle"], _state["due"] = _state["handle"], None, None
    if handle is not None:
        try:
            from tornado.ioloop import IOLoop
            IOLoop.current().remove_timeout(handle)
        except Exception:
            pass


def forget_js_links(root) -> None:
    """Drop this page's entries from Panel's registry of browser-side links.

    ``panel.links.Callback.registry`` holds its keys (widgets) weakly, but each entry's
    value refers back to widgets of the same page (an editable slider links its slider
    and its number box), so a closed page's entries were never collected, and with them
    the whole session: its controller, network and plots.  The load test measured about
    20 MB kept per closed session before this.
    """
    from panel.links import Callback
    if root is None:
        return
    for top in [*root.sidebar, *root.main, *root.header]:
        try:
            for obj in top.select():
                Callback.registry.pop(obj, None)
        except Exception as exc:       # never let the cleanup fail the server's session sweep
            log.warning("could not release the links of %s: %s", type(top).__name__, exc)
