"""A small class on ``deploy/serve.sh``: the load test of ``benchmarks/load_test.py``, short.

Five browser-like sessions (a page GET, the Bokeh websocket, Play), three training places:
three train, two are told the class is full.  The full-size run (30 sessions, with its
latency figures) is ``python -m benchmarks.load_test``; its figures are in benchmarks/README.md.
"""
from pathlib import Path

import pytest

pytest.importorskip("panel")
pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[2]

from benchmarks.load_test import report, run  # noqa: E402


@pytest.mark.timeout(300)
def test_a_small_class_trains_fairly_and_leaves_nothing_behind():
    r = run(n=5, seconds=8, cap=3, settle=4, timeout=120, after_timeout=60, log=lambda *a: None,
            page_seconds=8, bare_seconds=2, session_lifetime_s=3)
    text = report(r)
    assert r["errors"] == [], text
    # three places: three sessions train, the other two get the class-full note (and no stalled page)
    assert (r["training"], r["watching"]) == (3, 2), text
    assert r["status_advancing"] == 3 and r["plots_advancing"] == 3, text
    assert r["rate"]["min"] > 0 and r["fairness_jain"] > 0.8, text
    # the class's speed is set against the bare engine measured on the same cores, before the class
    assert r["bare_engine_rate"] > r["rate"]["max"] and 0 < r["class_efficiency"] < 1.5, text
    # every engine thread ends with its session
    assert r["threads"]["after"] <= r["threads"]["before"], text
    assert r["threads"]["during"] >= r["threads"]["before"] + 3, text
    assert r["server_tracebacks"] == 0, text
    # the closed sessions' objects were collected (app/memory.py) and their memory went back
    assert r["gc_cycles"] >= 1, text
    assert r["memory_growth"] < 0.2, text
    # the server stayed responsive enough to answer at all (the latency target is the full run's)
    assert r["http_liveness"]["n"] > 0 and r["http_liveness"]["max"] < 10, text
    assert r["http_page"]["n"] > 0 and r["http_page"]["max"] < 20, text
