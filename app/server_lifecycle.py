"""Server hooks of the directory app (Bokeh runs them once per server process).

On start: send the dashboard's log lines to the server's stderr (every line bounded in
length and repeated warnings rate-limited, app/logs.py), compress the server's responses
(app/assets.py) and warm up in a
background thread (load MNIST, build one spiking and one rate network and train an
example each) so that Numba's compiled kernels are loaded before the first student
clicks Play, while pages are already served; then exempt what the warm-up created
from garbage collection and let the pages manage the collector (app/memory.py); have Bokeh compute its property defaults
once instead of at every read (app/bokeh_defaults.py) and build a page update's message without
priming it with every model of the page (app/patch_messages.py), and write it in one piece
(app/socket_writes.py).  On stop: shut the shared t-SNE worker down.
"""
import logging
import os
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)


def _importable():
    # Bokeh restores sys.path after running this file, so do it when a hook runs
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)


def on_server_loaded(server_context):
    _importable()
    log = logging.getLogger("dendrite_lab")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    from app import assets, logs, memory
    logs.install("dendrite_lab")        # bounded lines whatever a browser sends (app/logs.py)
    if not assets.compress_responses(server_context):
        log.warning("no Bokeh server found: responses go out uncompressed")
    memory.ENABLED = True
    memory.watch_pauses()
    if os.environ.get("DENDRITE_BOKEH_DEFAULTS", "cached") != "bokeh":
        from app import bokeh_defaults
        if bokeh_defaults.install():
            log.info("Bokeh's property defaults are computed once per class (app/bokeh_defaults.py)")
        from app import patch_messages
        if patch_messages.install():
            log.info("page updates look up only the models they send (app/patch_messages.py)")
        from app import socket_writes
        if socket_writes.install():
            log.info("page updates go out in one socket write each (app/socket_writes.py)")
    from app import pull_messages        # a reconnected page's redraw needs it, whatever the defaults
    if pull_messages.install():
        log.info("a reconnected page gets its document with the arrays inline (app/pull_messages.py)")
    from app.compute import short_gil_turns, single_threaded_blas
    log.info("BLAS in the calling thread: %s", ", ".join(single_threaded_blas()) or "no BLAS library found")
    log.info("GIL switch interval %.1f ms (app/compute.py)", 1000 * short_gil_turns())
    from app.warmup import WARMUP

    def warmed(seconds: float) -> None:
        if WARMUP.error:
            log.warning("warm-up failed after %.1f s (%s); kernels compile on first use", seconds, WARMUP.error)
        else:
            log.info("warm-up done in %.1f s", seconds)
            from app import seats
            places = seats.size_from_speed(WARMUP.spiking_rate)
            log.info("training places: %d (%s)", places, "DENDRITE_MAX_TRAININGS" if seats.CAP_FROM_ENV else
                     f"spiking 784-500-10 measured at {WARMUP.spiking_rate or 0:.0f} examples/s per core, "
                     f"{seats.WATCHABLE_RATE:.0f} or more each")
        log.info("%d objects of the warm-up exempted from garbage collection", memory.freeze_baseline())

    if os.environ.get("DENDRITE_NO_WARMUP"):
        WARMUP.skip()
        warmed(0.0)
    else:
        # in the background: on a cold cache compiling takes a minute, and the first page must not wait
        # for it (pages show the warm-up's progress and enable Play when it is done)
        WARMUP.start(then=warmed)


def on_server_unloaded(server_context):
    _importable()
    from app import memory, tsne
    memory.cancel()
    tsne.shutdown()
