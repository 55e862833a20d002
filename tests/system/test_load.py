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


def test_a_stream_reader_takes_the_example_count_from_the_raw_messages():
    """The followers' and opening reader keeps no document: it must still see readiness and progress,
    skip binary buffers, and say when the server closed the websocket before the end."""
    import asyncio

    from benchmarks.load_test import Session

    class FakeSocket:
        def __init__(self, fragments):
            self.fragments = list(fragments)

        async def read_message(self):
            return self.fragments.pop(0) if self.fragments else None

    frames = ['{"msgtype":"PATCH-DOC"}', b"\x00\x01binary buffer",
              '{"events":[{"new":"Running now: spiking 784-500-10"}]}',
              '{"events":[{"kind":"ColumnsStreamed","data":{"x":[100]}}]}',
              '{"events":[{"new":"training · examples seen: 1200 · 1,000 ex/s"}]}']
    s = Session(0, "http://unused", client="stream")

    async def read(stopped: bool):
        stop = asyncio.Event()
        if stopped:
            stop.set()
        await s._read_stream(FakeSocket(frames), stop, 0.0)

    asyncio.run(read(stopped=False))
    assert s.ready_s is not None and s.patches == 4
    # the plot data that streamed so far stands for the learning curve's x of a document client
    assert [(x.seen, x.plot_x) for x in s.samples] == [(1200, 1.0)]
    assert s.error == "the server closed the websocket" and s.class_note == ""
    s.error, s.samples = None, []
    frames.append('{"events":[{"new":"The class is full: you can watch"}]}')
    asyncio.run(read(stopped=True))      # a close we asked for is no error
    assert s.error is None and [(x.seen, x.plot_x) for x in s.samples] == [(1200, 2.0)]
    assert s.class_note == "The class is full"


def test_the_servers_cpu_is_told_apart_by_the_names_its_threads_carry():
    """A training thread names itself dl-train for the OS (app/compute.py); the load test's reading of
    /proc sums each kind's CPU, and the main thread counts as the event loop."""
    import os
    import threading
    import time

    from app.compute import lower_priority
    from benchmarks.load_test import cpu_by_kind, thread_cpu

    started, stop = threading.Event(), threading.Event()

    def busy():
        lower_priority("train")
        started.set()
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        assert started.wait(10)
        samples = [{"t": time.perf_counter(), "by_thread": thread_cpu(os.getpid())}]
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:       # until the busy thread has run for a tenth of a second
            time.sleep(0.05)
            samples.append({"t": time.perf_counter(), "by_thread": thread_cpu(os.getpid())})
            if cpu_by_kind(samples).get("train", 0) * (samples[-1]["t"] - samples[0]["t"]) >= 0.1:
                break
    finally:
        stop.set()
        t.join(5)
    kinds = {kind for kind, _ in samples[-1]["by_thread"].values()}
    assert {"event loop", "train"} <= kinds, kinds
    assert (os.getpid(), os.getpid()) in samples[-1]["by_thread"]
    cores = cpu_by_kind(samples)
    assert cores["train"] * (samples[-1]["t"] - samples[0]["t"]) >= 0.1, cores
    # two hand-made samples: a thread seen twice counts its difference, one seen once nothing
    fake = [{"t": 0.0, "by_thread": {(1, 1): ("event loop", 5.0), (1, 2): ("train", 1.0)}},
            {"t": 2.0, "by_thread": {(1, 1): ("event loop", 5.5), (1, 2): ("train", 3.0), (1, 3): ("test", 9.0)}}]
    assert cpu_by_kind(fake) == {"train": 1.0, "event loop": 0.25, "test": 0.0}


def test_a_lowered_client_lowers_its_sessions_group_and_puts_it_back():
    """``--client-nice``: the server runs in a session of its own, so where the kernel groups each
    session's processes (autogroup) the client's thread niceness alone left it level with the server.
    In a child with a session of its own, so the suite's own group is never touched."""
    import subprocess
    import sys
    code = ("from benchmarks.load_test import autogroup_nice, lowered_client\n"
            "before = autogroup_nice()\n"
            "with lowered_client(19):\n"
            "    inside = autogroup_nice()\n"
            "print(before, inside, autogroup_nice())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True, start_new_session=True)
    before, inside, after = out.stdout.split()
    if before == "None":
        pytest.skip("this kernel does not group sessions (no /proc/self/autogroup)")
    assert (before, inside, after) == ("0", "19", "0")
