"""What one page costs the server's event loop, stage by stage: ``python -m benchmarks.page_cost``.

Builds the page a browser's session gets, in this process and without a browser, and times (CPU
time of this thread) each stage of its opening (app/opening.py): the page and its template, the
first document (what the websocket's pull sends), the settings and the plot grid (``show_rest``),
the run's figures with the first group attached, the other groups attached, and the serialisation
of the whole page (what the patches carry, about).  Rounds alternate Bokeh's own property reads and
app/bokeh_defaults.py's, so a noisy machine slows both alike; medians over the rounds.

A class of 30 on the 2-core server pays this 30 times on two event loops, so every 100 ms here is
about 1.5 s of the class's opening.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import weakref
from contextlib import contextmanager
from types import SimpleNamespace

# as deploy/serve.sh runs the server: without Bokeh's development checks
os.environ.setdefault("BOKEH_VALIDATE_DOC", "false")
os.environ.setdefault("BOKEH_PERFORM_ERROR_DIAGNOSTICS", "false")

import numpy as np  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.io.doc import patch_curdoc  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402

from app import bokeh_defaults  # noqa: E402
from app import page as page_mod  # noqa: E402
from dendcore.presets import get_preset  # noqa: E402

STAGES = ("page and template", "first document", "settings and plot grid", "figures, first group",
          "the other groups", "whole page serialised")


class _Session:
    """What a page reads from its document's session context: a browser's, with a plain link."""
    id = "page-cost"
    server_context = None
    request = SimpleNamespace(arguments={}, headers={}, cookies={}, uri="/app", host="localhost",
                              protocol="http", remote_ip="127.0.0.1")


@contextmanager
def built_dashboard(preset: str, probe_images: int = 500, on_stage=lambda stage: None):
    """The page a browser's session gets, built here in the order of its opening; yields its document
    and its dashboard (app/page.py).

    ``on_stage(name)`` is called as each of the first five STAGES ends (the caller times them).  The
    dashboard is closed, and the page's document released, when the block ends.
    """
    ctx, doc = _Session(), Document()
    doc._session_context = weakref.ref(ctx)
    with patch_curdoc(doc), set_curdoc(doc):
        tpl = page_mod.build_page()
        try:
            with doc.models.freeze():
                tpl.servable(title="Dendrite Lab")
            on_stage(STAGES[0])
            Protocol().create("PULL-DOC-REPLY", "x", doc)
            on_stage(STAGES[1])
            dash = tpl.dashboard
            dash._doc = doc
            dash.show_rest()
            on_stage(STAGES[2])
            dash._make_plots(get_preset(preset).spec, preset, "mnist", np.arange(probe_images))
            on_stage(STAGES[3])
            dash._attach()
            on_stage(STAGES[4])
            yield doc, dash
        finally:
            tpl.dashboard.close()


@contextmanager
def built_page(preset: str, probe_images: int = 500, on_stage=lambda stage: None):
    """As :func:`built_dashboard`, yielding the document only."""
    with built_dashboard(preset, probe_images, on_stage) as (doc, _):
        yield doc


def one_page(preset: str) -> tuple[list[float], int]:
    """CPU seconds of this thread in each of STAGES, and the number of Bokeh models on the page."""
    clock = time.thread_time
    times: list[float] = []
    started = [clock()]

    def lap(stage):
        now = clock()
        times.append(now - started[0])
        started[0] = now
    with built_page(preset, on_stage=lap) as doc:
        Protocol().create("PULL-DOC-REPLY", "x", doc)
        lap(STAGES[5])
        n_models = len(list(doc.models))
    return times, n_models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--preset", default="glr17-1hl")
    opts = ap.parse_args()
    variants = {"Bokeh's own reads": bokeh_defaults.uninstall, "app/bokeh_defaults.py": bokeh_defaults.install}
    if not bokeh_defaults.install():
        print("this Bokeh's code differs from the one app/bokeh_defaults.py was checked with: it is not used")
        variants.pop("app/bokeh_defaults.py")
    bokeh_defaults.uninstall()
    for use in variants.values():      # warm both: imports, caches of Panel and Bokeh, MNIST
        use()
        one_page(opts.preset)
    results: dict[str, list[list[float]]] = {name: [] for name in variants}
    n_models = 0
    for _ in range(opts.rounds):
        for name, use in variants.items():
            use()
            gc.collect()
            times, n_models = one_page(opts.preset)
            results[name].append(times)
    bokeh_defaults.uninstall()
    names = list(variants)
    print(f"One page of {opts.preset} ({n_models} Bokeh models), CPU ms of the building thread, median of "
          f"{opts.rounds} rounds")
    print(f"{'stage':<28}" + "".join(f"{n:>24}" for n in names))
    medians = {n: [statistics.median(col) * 1e3 for col in zip(*results[n])] for n in names}
    for i, stage in enumerate(STAGES):
        print(f"{stage:<28}" + "".join(f"{medians[n][i]:>24.0f}" for n in names))
    totals = {n: statistics.median(sum(r) for r in results[n]) * 1e3 for n in names}
    print(f"{'total':<28}" + "".join(f"{totals[n]:>24.0f}" for n in names))


if __name__ == "__main__":
    main()
