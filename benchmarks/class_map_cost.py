"""What a class heat map costs a page's event loop: ``python -m benchmarks.class_map_cost``.

Every page of a class experiment shows the class's heat map and looks at the experiment's files
every few seconds (app/sweep_view.py, ``LOOK_EVERY_MS``); the teacher's Sweeps tab does the same.
This builds one such map attached to a Bokeh document, in this process and without a browser, over
a 3 × 3 grid with some students' results, and times (CPU time of this thread, median over rounds):

* before: a look that reads the sweep again and redraws its HoloViews maps, as every look did;
* after: a look that finds the files unchanged (``refresh_if_changed``, the usual case);
* after: a look after one more student's result landed (app/plots/class_map.py updates its two
  sources in place).

With 30 students on two servers every page looks every 5 s: six looks a second in all.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import weakref
from types import SimpleNamespace

os.environ.setdefault("BOKEH_VALIDATE_DOC", "false")
os.environ.setdefault("BOKEH_PERFORM_ERROR_DIAGNOSTICS", "false")

from bokeh.document import Document  # noqa: E402
from bokeh.io.doc import patch_curdoc  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402


class _Session:
    id = "class-map-cost"
    server_context = None
    request = SimpleNamespace(arguments={}, headers={}, cookies={}, uri="/app", host="localhost",
                              protocol="http", remote_ip="127.0.0.1")


def _student_result(code: str, n: int) -> None:
    """One more student's finished grid point, written as app/class_experiment.py writes it."""
    from app import class_experiment as cx
    a = cx.claim(code, who=f"bench-{n}")
    history = [{"examples": 100, "examples_seen": 100 * (i + 1), "train_error_pct": 90.0 - 4 * i - n,
                "loss_output": 0.1, "angle_to_backprop_deg": [80.0 - 2 * i]} for i in range(20)]
    cx.finish(a, history, (30.0 + n, 500, 2000), 5.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    os.environ["DENDRITE_SWEEPS_DIR"] = tempfile.mkdtemp(prefix="class-map-cost-")

    import panel as pn
    from app import class_experiment as cx
    from app.class_view import ClassMap, parse_grid_text
    from app.sweep_view import SweepView

    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.05,0.6; feedback_scale=0.5,1,2"), 3000)
    for n in range(4):
        _student_result(code, n)
    ctx, doc = _Session(), Document()
    doc._session_context = weakref.ref(ctx)
    before, unchanged, landed = ("before: every look reads the sweep and redraws the HoloViews maps",
                                 "after: a look, the files unchanged", "after: a look after a new result")
    times: dict[str, list[float]] = {before: [], unchanged: [], landed: []}
    mine = {"g_a": 0.05, "feedback_scale": 1}
    name = f"sweeps/{cx.PREFIX}{code}"
    with patch_curdoc(doc), set_curdoc(doc):
        old = SweepView()                  # what a class page's map was: the Sweeps tab's maps, reloaded
        old.highlight = mine
        doc.add_root(pn.Column(old.message, old.info, old.maps).get_root(doc))
        cmap = ClassMap(code, mine=mine)
        doc.add_root(cmap.panel().get_root(doc))
        old.open(name)
        cmap.start()
        for r in range(args.rounds):
            t0 = time.thread_time()
            old.open(name)
            times[before].append(time.thread_time() - t0)
            t0 = time.thread_time()
            assert not cmap.refresh_if_changed()
            times[unchanged].append(time.thread_time() - t0)
            if r < 5:                       # 9 points: 4 at the start, 5 more
                _student_result(code, 4 + r)
                t0 = time.thread_time()
                assert cmap.refresh_if_changed()
                times[landed].append(time.thread_time() - t0)
        cmap.stop()
    print(f"one class map, 3 x 3 grid, {args.rounds} rounds alternated (CPU ms of this thread, median / max):")
    for what, ts in times.items():
        print(f"  {what:68s} {1e3 * statistics.median(ts):8.2f} / {1e3 * max(ts):8.2f}")
    per_look = statistics.median(times[before])
    print(f"30 pages looking every 5 s: {30 / 5 * per_look:.2f} s of event loop per second before, "
          f"{30 / 5 * statistics.median(times[unchanged]) * 1e3:.1f} ms after; a result landing costs the class "
          f"{30 * per_look:.1f} s before (at the next look of each page), {30 * statistics.median(times[landed]):.2f} s after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
