"""What sending one page update costs the event loop, frame by frame or in one write: ``python -m benchmarks.socket_writes``.

A follower's update in a class is one ``PATCH-DOC`` message of about 10-11 KB of JSON and 12-19
arrays (the status line, the network picture, a few streamed points per plot; read off a follower's
websocket, twenty-fourth session).  This builds a message of that shape, opens ``--pages``
websocket connections over loopback (Tornado, as the server), and times the CPU of this thread
while the message goes to every page, Panel's own ``dispatch_tornado`` and app/socket_writes.py
alternated round by round; the clients read only between two timed sends.  Medians over the rounds.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time

import numpy as np


def _message():
    from bokeh.document import Document
    from bokeh.document.events import ColumnsStreamedEvent, ModelChangedEvent
    from bokeh.models import ColumnDataSource, Div
    from bokeh.protocol import Protocol

    doc = Document()
    status, picture = Div(text=""), Div(text="")
    doc.add_root(status)
    doc.add_root(picture)
    events = [ModelChangedEvent(doc, status, "text", "<pre>following ROOM5 · examples seen: 450,100 · epoch 7.50 · "
                                                      "test error: 7.8 % · training, 1,539 examples/s</pre>"),
              ModelChangedEvent(doc, picture, "text", "<svg>" + "<circle cx='1' cy='2' r='3' fill='#a1b2c3'/>" * 180
                                + "</svg>")]
    rng = np.random.default_rng(0)
    for i in range(8):          # 8 plots, two streamed columns each: 16 arrays
        src = ColumnDataSource({"x": np.zeros(0), "y": np.zeros(0)})
        doc.add_root(src)
        n = 3 + i
        events.append(ColumnsStreamedEvent(doc, src, "data", {"x": np.arange(n, dtype=float), "y": rng.random(n)},
                                           None, None))
    return Protocol().create("PATCH-DOC", events)


class Conn:
    """What ``dispatch_tornado`` reads of Bokeh's ServerConnection: the socket and the protocol."""
    def __init__(self, socket):
        from bokeh.protocol import Protocol
        self._socket = socket
        self.protocol = Protocol()


@contextlib.asynccontextmanager
async def loopback_websockets(n: int):
    """``n`` websocket connections over loopback to a Tornado server (as the app's): yields the server's
    handlers and the clients (tests/app/test_socket_writes.py uses it too)."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application
    from tornado.websocket import WebSocketHandler, websocket_connect

    handlers: list = []
    all_open = asyncio.Event()

    class Handler(WebSocketHandler):
        def open(self):
            handlers.append(self)
            if len(handlers) == n:
                all_open.set()

    [sock] = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/ws", Handler)]))
    server.add_sockets([sock])
    clients = []
    try:
        for _ in range(n):
            clients.append(await websocket_connect(f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"))
        await asyncio.wait_for(all_open.wait(), 10)
        yield handlers, clients
    finally:
        for c in clients:
            c.close()
        server.stop()


async def _measure(pages: int, rounds: int, sends: int) -> dict:
    async with loopback_websockets(pages) as (handlers, clients):
        return await _timed(handlers, clients, rounds, sends)


async def _timed(handlers: list, clients: list, rounds: int, sends: int) -> dict:
    from app import socket_writes

    pages = len(handlers)
    msg = _message()
    frames = 3 + 2 * len(msg.buffers)
    conns = [Conn(h) for h in handlers]
    ways = {"frame by frame (Panel)": socket_writes._ORIGINAL, "one write (app/socket_writes.py)":
            socket_writes.dispatch_tornado}
    ms: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for name, dispatch in ways.items():
            total = 0.0
            for _ in range(sends):
                t0 = time.thread_time()
                futures = [f for c in conns for f in dispatch(c, msg=msg)]
                await asyncio.gather(*futures)
                total += time.thread_time() - t0
                for c in clients:       # outside the timing: the browsers are other machines
                    for _ in range(frames):
                        await c.read_message()
            ms[name].append(1000 * total / (sends * pages))
    med = {k: statistics.median(v) for k, v in ms.items()}
    a, b = med.values()
    return {"pages": pages, "rounds": rounds, "frames_per_message": frames,
            "json_kb": len(msg.content_json) / 1024, "arrays": len(msg.buffers),
            "cpu_ms_per_page_update": med, "ratio": b / a}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=15, help="websocket connections (a server's followers)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sends", type=int, default=20, help="updates per page and round")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = asyncio.run(_measure(args.pages, args.rounds, args.sends))
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"one update ({r['json_kb']:.1f} KB of JSON, {r['arrays']} arrays: {r['frames_per_message']} frames) "
          f"to each of {r['pages']} pages; CPU ms of the event loop per page, median of {r['rounds']} rounds")
    for k, v in r["cpu_ms_per_page_update"].items():
        print(f"  {k:<36} {v:7.3f}")
    print(f"  {'one write / frame by frame':<36} {r['ratio']:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
