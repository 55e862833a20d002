"""What one update of a training page costs the server's event loop: ``python -m benchmarks.tick_cost``.

In a class every training page is updated every 2 s on its server's event loop: the run's news go
into the plots (``Dashboard._apply``: curves, plateaus, traces, the example, the network picture),
the status line changes, and the changes go to the browser as one ``PATCH-DOC`` message.  This
builds a page here (as benchmarks.page_cost does), trains the page's network for real in this
process to get the snapshots a page receives, then times (CPU time of this thread) each update:
the plots, and the message (made and serialised as the server sends it: its JSON and its binary
buffers).  Rounds alternate the ways the code at hand can update a page (Panel's own panes or
app/live_panes.py, Bokeh's own patch messages or app/patch_messages.py); medians over the rounds.

30 pages on two servers make 15 updates a second, so every millisecond here is 1.5 % of a core.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time

import panel as pn
from bokeh.protocol import Protocol

from app import bokeh_defaults
from app import network_picture
from app import page as page_mod
from app.controller import Update
from app.opening import Opening
from dendcore import Trainer, load_mnist
from dendcore.presets import get_preset

from .page_cost import built_dashboard

try:        # not in code from before it existed (benchmarks are run on older worktrees too)
    from app import patch_messages
except ImportError:
    patch_messages = None


def news(preset: str, updates: int, examples: int) -> list:
    """The snapshots a page gets in a class: ``examples`` trained between two, the last one recorded."""
    trainer = Trainer(get_preset(preset).spec, load_mnist(), seed=0)
    out = []
    for _ in range(updates):
        out.append(trainer.snapshot(trainer.train_examples(examples, record_last=True)))
    return out


def one_round(preset: str, snapshots: list) -> tuple[list[float], list[float]]:
    """CPU seconds of each update: into the plots, and its message."""
    clock = time.thread_time
    plots, messages = [], []
    with built_dashboard(preset) as (doc, dash):
        doc.models.flush_synced()           # the page is in the browser
        gc.collect()
        gc.freeze()                         # as the server does once a page is built (app/memory.py)
        events: list = []
        doc.on_change(events.append)
        for snap in snapshots:
            t0 = clock()
            dash.ctrl.status = (f"examples seen: {snap.examples_seen} · epoch {snap.epoch:.2f} · "
                                f"test error: not measured yet · training, 75 examples/s")
            dash._apply(Update(run_id=1, snapshots=[snap]))
            t1 = clock()
            if events:
                msg = Protocol().create("PATCH-DOC", list(events))
                msg.content_json
                for buf in msg.buffers:
                    buf.to_bytes()
                events.clear()
            t2 = clock()
            plots.append(t1 - t0)
            messages.append(t2 - t1)
    gc.unfreeze()
    return plots, messages


def variants() -> dict:
    """name -> a function that sets this process up that way (those the code at hand has)."""
    live = getattr(page_mod, "LiveStr", None), getattr(network_picture, "LiveHTML", None)

    def panes(own: bool) -> None:
        if live[0] is not None:
            page_mod.LiveStr, network_picture.LiveHTML = (pn.pane.Str, pn.pane.HTML) if own else live

    def patches(ours: bool) -> None:
        if patch_messages is not None:
            patch_messages.install() if ours else patch_messages.uninstall()

    out = {"Panel's panes, Bokeh's patches": lambda: (panes(True), patches(False))}
    if live[0] is not None:
        out["live panes, Bokeh's patches"] = lambda: (panes(False), patches(False))
    if patch_messages is not None and patch_messages.install():
        out["live panes, patch_messages"] = lambda: (panes(False), patches(True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--updates", type=int, default=60)
    ap.add_argument("--examples", type=int, default=100, help="examples trained between two updates")
    ap.add_argument("--preset", default="glr17-1hl")
    opts = ap.parse_args()
    page_mod.OPENING = Opening()
    network_picture.MIN_INTERVAL_S = 0.0     # a class's pages update every 2 s: the picture is redrawn each time
    bokeh_defaults.install()        # as the server runs
    snapshots = news(opts.preset, opts.updates, opts.examples)
    ways = variants()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for use in ways.values():       # warm every way
        use()
        one_round(opts.preset, snapshots[:3])
    for _ in range(opts.rounds):
        for name, use in ways.items():
            use()
            plots, messages = one_round(opts.preset, snapshots)
            results[name].append((statistics.median(plots[1:]) * 1e3, statistics.median(messages[1:]) * 1e3))
    first = next(iter(results.values()))
    print(f"One update of a {opts.preset} page ({opts.examples} examples since the last), CPU ms of the "
          f"event loop's thread: median of {opts.updates - 1} updates per round, then over {opts.rounds} "
          f"alternated rounds (range in brackets); the ratio is taken round by round against the first line")
    print(f"{'':<32}{'plots':>8}{'message':>10}{'total':>22}{'ratio':>8}")
    for name, rows in results.items():
        p = statistics.median(r[0] for r in rows)
        m = statistics.median(r[1] for r in rows)
        totals = [sum(r) for r in rows]
        ratio = statistics.median(t / sum(f) for t, f in zip(totals, first))
        spread = f"{statistics.median(totals):.2f} ({min(totals):.2f}-{max(totals):.2f})"
        print(f"{name:<32}{p:>8.2f}{m:>10.2f}{spread:>22}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
