"""Load test: a whole class on one server, over loopback only.

    python -m benchmarks.load_test                       # 30 sessions, every one allowed to train
    python -m benchmarks.load_test --cap default         # the server's own cap (from its measured speed, 2-16 per core)
    python -m benchmarks.load_test --sessions 6 --seconds 10 --json
    python -m benchmarks.load_test --followers           # one presenter, then 30 followers of its code
    python -m benchmarks.load_test --opening --servers 2 # 30 pages at once, two servers behind serve.sh's nginx
    python -m benchmarks.load_test --servers 2           # a class of 30 training on the Docker image's setup
    python -m benchmarks.load_test --servers 2 --experiment  # the same class training a class experiment
    python -m benchmarks.load_test --idle --sessions 40  # 40 open pages nobody uses: what they cost the loop
    python -m benchmarks.load_test --flood               # one client floods /app while a student trains

Starts ``deploy/serve.sh`` (the Docker image's command) on a free loopback port and
opens N sessions at once; with ``--servers 2`` serve.sh runs two server processes behind its own
nginx, as the image does, and the server's figures are those of all its processes together.
Each session does what a browser does: it GETs ``/app``
(which renders the page and creates the server session), opens the Bokeh websocket
with the token from the page, pulls the document, reports it rendered (Panel's
``onload``, which builds the network), clicks ▶ Play once the network is there,
and then reads every message the server sends: the example count from the status
line in them, and the messages that stream data into the plots.  In a class the
browsers are other machines; here they share the server's two cores, so by default
(``--client stream``) a session keeps no copy of the document (it takes
0.2-0.3 of a core for 30 sessions to keep them).  With ``--client document`` each
session applies every patch to its own copy, so its status line and learning-curve
data source advance exactly as in a tab.  Nothing is drawn either way (30 Chromium
tabs would take the cores from the server).  The server's CPU is also given by
thread: the event loop, training (``dl-train``), tests (``dl-test``) and the rest.

While all sessions train, a probe GETs ``/app`` and ``/liveness`` in turn, and
the server process is sampled (threads, RSS, CPU).  Printed: page latency
(p50/p95/max), each session's examples per second (min/median/max, min/max
ratio and Jain's fairness index), whether every training session's status and
plot data advanced, and threads and memory before, during and after all
sessions closed.  Targets (issue 5): p95 < 1 s, every session advancing,
threads back to the baseline and RSS within 20 % of it.  The last line with
``--json`` is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.class_efficiency import bare_engine
from app.compute import THREAD_PREFIX

ROOT = Path(__file__).resolve().parent.parent

SEEN = re.compile(r"examples seen: (\d+)")
P95_TARGET_S = 1.0
PAGE_PROBE_S = 2.0          # a new page every 2 s while the class trains
LIVENESS_PROBE_S = 0.5
STEADY_MIN_S = 20.0      # seconds of window needed to report the followers' cost after their pages are complete
MEMORY_TARGET = 0.20
SETTLE_S = 30.0             # longest wait for the memory to settle after the class left
GC_PAUSE = re.compile(r"full garbage collection paused the server ([0-9.]+) s")


AUTOGROUP = Path("/proc/self/autogroup")


def autogroup_nice() -> int | None:
    """The niceness of this process's session group, where the kernel groups sessions (autogroup); else None."""
    try:
        return int(AUTOGROUP.read_text().split("nice")[1])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def lowered_client(nice: int):
    """This client at ``nice`` for the block, as the browsers of other machines would be.

    The thread's own niceness ranks it only among the threads of its session's group where the kernel
    groups each session's processes (autogroup), and the server runs in a session of its own.  So the
    session's group is lowered as well, and put back afterwards, since it is the terminal's too.  (Only
    the thread's niceness was set until 2026-12-07, which left the client level with the server.)
    """
    before = autogroup_nice() if nice else None
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)    # on Linux: this thread, not the server
        if before is not None:
            try:
                AUTOGROUP.write_text(str(nice))
            except OSError:
                before = None
    try:
        yield
    finally:
        if before is not None:
            try:
                AUTOGROUP.write_text(str(before))
            except OSError:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports_in_a_row(n: int) -> int:
    """The first of ``n`` free loopback ports in a row (serve.sh's servers sit on consecutive ports)."""
    for _ in range(100):
        first = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for k in range(1, n):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", first + k))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {n} free ports in a row")


# ------------------------------------------------------------------ the server
class Server:
    """``deploy/serve.sh`` on a loopback port, in its own process group (ended on exit).

    With ``servers`` above 1, serve.sh stays the parent of that many server processes and of the nginx
    in front of them; their CPU and memory are summed, nginx's included (it is part of the cost).
    """

    def __init__(self, cap: int | None, session_lifetime_ms: int = 60000, extra_env: dict | None = None,
                 servers: int = 1):
        self.servers = servers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DENDRITE_PORT": str(self.port), "DENDRITE_ADDRESS": "127.0.0.1",
               "DENDRITE_ORIGIN": f"127.0.0.1:{self.port}",
               "DENDRITE_SESSION_LIFETIME": str(session_lifetime_ms),
               # a closed tab's session is checked for every second instead of every 10 s (serve.sh's
               # value), so the "after" figures do not wait on the sweep interval
               "DENDRITE_EXTRA_ARGS": "--check-unused-sessions 1000",
               # the whole class comes from one address here, like a school behind one NAT address: the
               # per-client page budget (app/ratelimit.py) is for floods, so it is opened wide for a class
               "DENDRITE_PAGE_BURST_S": "3600", **(extra_env or {})}
        env.pop("DENDRITE_MAX_TRAININGS", None)
        env["DENDRITE_SERVERS"] = str(servers)
        if servers > 1:
            env["DENDRITE_BACKEND_PORT"] = str(free_ports_in_a_row(servers))
        if cap is not None:
            env["DENDRITE_MAX_TRAININGS"] = str(cap)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="dendrite-load-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(["sh", "deploy/serve.sh"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._ps = None
        self._parts = None

    def wait_ready(self, timeout: float = 180.0) -> None:
        import urllib.request
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                # a class arrives at a server that has been up for a while: its warm-up (in the
                # background since pages are served at once) is done
                with urllib.request.urlopen(f"{self.base}/liveness?endpoint=/app", timeout=30) as r:
                    if r.status == 200 and self.log_text().count("warm-up done") >= self.servers:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the server was not up after {timeout} s:\n{self.log_text()}")

    @property
    def process(self):
        """The Python process serving the app (serve.sh execs into it, so it is the same pid)."""
        import psutil
        if self._ps is None:
            self._ps = psutil.Process(self.proc.pid)
        return self._ps

    @property
    def parts(self) -> list:
        """The processes that serve: serve.sh itself with one server (it execs into it), else its
        server processes and nginx (not the `sleep` of its watch loop)."""
        if self._parts is None:
            if self.servers == 1:
                self._parts = [self.process]
            else:
                import psutil
                kids = []
                for c in self.process.children():
                    try:
                        if c.name() in ("panel", "python", "nginx"):
                            kids.append(c)
                    except psutil.NoSuchProcess:
                        pass        # a short-lived child (the watch loop's sleep) ended meanwhile
                if sum(c.name() != "nginx" for c in kids) != self.servers:
                    raise RuntimeError(f"serve.sh runs {[c.name() for c in kids]}, not {self.servers} servers")
                self._parts = kids
        return self._parts

    @property
    def jemalloc(self) -> bool:
        try:
            return all("libjemalloc" in Path(f"/proc/{p.pid}/maps").read_text()
                       for p in self.parts if p.name() != "nginx")
        except OSError:
            return False

    def sample(self) -> dict:
        threads = rss = 0
        cpu = 0.0
        children = []
        for p in self.parts:
            with p.oneshot():
                threads += p.num_threads()
                rss += p.memory_info().rss
                t = p.cpu_times()
                cpu += t.user + t.system
            # nginx's workers are counted with it; a server's children are its t-SNE worker
            children += p.children(recursive=True)
        if self.servers > 1:
            nginx_workers = [c for c in children if c.name() == "nginx"]
            children = [c for c in children if c.name() != "nginx"]
            threads += len(nginx_workers)
            rss += sum(_safe_rss(c) for c in nginx_workers)
            cpu += sum(_safe_cpu(c) for c in nginx_workers)
        child_rss = sum(_safe_rss(c) for c in children)
        by_thread = {}
        for p in self.parts:
            if p.name() != "nginx":
                by_thread.update(thread_cpu(p.pid))
        return {"t": time.perf_counter(), "threads": threads, "rss": rss, "cpu_s": cpu,
                "children_rss": child_rss, "children_cpu_s": sum(_safe_cpu(c) for c in children),
                "by_thread": by_thread}

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def thread_cpu(pid: int) -> dict:
    """{(pid, tid): (kind, CPU seconds)} of a server process's threads.  The kind comes from the name
    the app gives its threads (app/compute.py, ``name_os_thread``): ``train``, ``test``, ``ghost`` ...;
    the main thread is the event loop; any other thread (Bokeh's, Tornado's, the tab watch) is ``other``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:         # the thread ended meanwhile
            continue
        tid = int(task.name)
        if tid == pid:
            kind = "event loop"
        elif comm.startswith(THREAD_PREFIX):
            kind = comm[len(THREAD_PREFIX):]
        else:
            kind = "other"
        # utime and stime are fields 14 and 15 of stat, 12 and 13 after the name
        out[(pid, tid)] = (kind, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def cpu_by_kind(samples: list[dict]) -> dict:
    """Cores taken by each kind of server thread over the samples: for each thread, its CPU at the last
    sample it was seen in minus the first (a thread that began and ended between two samples is missed;
    the sum against the processes' own CPU shows how much that was)."""
    if len(samples) < 2:
        return {}
    span = samples[-1]["t"] - samples[0]["t"]
    first, last = {}, {}
    for x in samples:
        for key, (kind, cpu) in x.get("by_thread", {}).items():
            first.setdefault(key, (kind, cpu))
            last[key] = (kind, cpu)
    cores: dict[str, float] = {}
    for key, (kind, cpu) in last.items():
        cores[kind] = cores.get(kind, 0.0) + (cpu - first[key][1]) / span
    return dict(sorted(cores.items(), key=lambda kv: -kv[1]))


def _safe_cpu(proc) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except Exception:
        return 0.0


def _safe_rss(proc) -> int:
    try:
        return proc.memory_info().rss
    except Exception:
        return 0


# ------------------------------------------------------------- one "browser"
@dataclass
class Sample:
    t: float
    seen: int
    plot_x: float       # the learning curve's last x (document client), or messages streaming plot data so far


@dataclass
class Session:
    """One student: a page load, a websocket and a client-side copy of the document."""
    index: int
    base: str
    query: str = ""                       # e.g. "?present=CODE" or "?follow=CODE"
    presses_play: bool = True             # a follower has no run of its own to start
    # "document" keeps a client-side copy of the document, patch by patch, as BokehJS does; "stream"
    # reads the websocket and only the status line in it: a browser on another machine costs the
    # server the same, this process far less (for followers, whose 30 copies would take a core here)
    client: str = "document"
    headers: dict = field(default_factory=dict)     # e.g. {"X-Real-IP": ...}: the client a proxy would name
    refusals: int = 0                     # 429s (page budget) before the page was served
    served_by: str = ""                   # behind nginx: the server that built the page (its cookie)
    requested_at: float | None = None     # perf_counter() of the page request
    page_s: float | None = None
    ready_s: float | None = None          # from the page request to the network being built
    settings_s: float | None = None       # ... to the settings sidebar and the plot grid arriving (stream client)
    figures_s: float | None = None        # ... to the first figure arriving, and to the last group of them
    all_figures_s: float | None = None    # (stream client; app/page.py attaches the groups in ATTACH_ORDER)
    played: bool = False
    status: str = ""
    class_note: str = ""
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    patches: int = 0
    streamed: int = 0                     # stream client: messages that streamed data into plots
    map_times: list[float] = field(default_factory=list)    # stream client: when a t-SNE map arrived

    async def run(self, play: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
        from bokeh.client.websocket import WebSocketClientConnectionWrapper
        from bokeh.document import Document
        from bokeh.document.events import MessageSentEvent
        from bokeh.events import ButtonClick, DocumentReady
        from bokeh.protocol import Protocol
        from bokeh.protocol.receiver import Receiver
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest
        from tornado.websocket import websocket_connect
        import panel  # noqa: F401  (registers Panel's Bokeh models, so the client can read the document)

        t0 = self.requested_at = time.perf_counter()
        try:
            # its own client: tornado's shared one queues all but 10 requests, unlike 30 browsers
            client = AsyncHTTPClient(force_instance=True)
            try:
                while True:
                    resp = await client.fetch(f"{self.base}/app{self.query}", headers=self.headers,
                                              request_timeout=timeout, raise_error=False)
                    if resp.code == 429 and time.perf_counter() - t0 < timeout:
                        # what a browser does with the refusal page: reload after the time it names
                        self.refusals += 1
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                        continue
                    resp.rethrow()
                    break
            finally:
                client.close()
        except Exception as exc:
            self.error = f"page request failed: {exc}"
            return
        self.page_s = time.perf_counter() - t0
        m = re.search(r'"token":\s*"([^"]+)"', resp.body.decode("utf-8", "replace"))
        if not m:
            self.error = "no session token in the page"
            return
        ws_url = self.base.replace("http://", "ws://") + "/app/ws"
        # behind nginx, the cookie of the page's answer names the server that holds the session
        cookies = "; ".join(c.split(";", 1)[0] for c in resp.headers.get_list("Set-Cookie"))
        self.served_by = next((c.split("=", 1)[1] for c in cookies.split("; ") if c.startswith("dendrite_backend=")), "")
        ws_headers = {**self.headers, **({"Cookie": cookies} if cookies else {})}
        try:
            ws = await websocket_connect(HTTPRequest(ws_url, request_timeout=timeout, headers=ws_headers),
                                         subprotocols=["bokeh", m.group(1)],
                                         max_message_size=256 * 1024 * 1024)
        except Exception as exc:
            self.error = f"websocket refused: {exc}"
            return
        sock = WebSocketClientConnectionWrapper(ws)
        protocol = Protocol()
        receiver = Receiver(protocol)

        async def receive():
            while True:
                fragment = await ws.read_message()
                if fragment is None:
                    return None
                msg = await receiver.consume(fragment)
                if msg is not None:
                    return msg

        async def send_event(doc, event):
            await protocol.create("PATCH-DOC", [MessageSentEvent(doc, "bokeh_event", event)]).send(sock)

        try:
            ack = await asyncio.wait_for(receive(), timeout)
            if ack is None or ack.msgtype != "ACK":
                self.error = f"no ACK from the server ({ack and ack.msgtype})"
                return
            await protocol.create("PULL-DOC-REQ").send(sock)
            doc = Document()
            while True:
                reply = await asyncio.wait_for(receive(), timeout)
                if reply is None:
                    self.error = "the server closed the websocket"
                    return
                if reply.msgtype == "PULL-DOC-REPLY":
                    if self.client == "document" or self.presses_play:
                        reply.push_to_document(doc)     # (a stream client only to find ▶ Play in it)
                    break
            await send_event(doc, DocumentReady())     # what BokehJS sends once the page is drawn

            async def click_play():
                await play.wait()
                if not self.presses_play:
                    return
                while not stop.is_set():
                    button = _button(doc, "▶ Play") if self.ready_s is not None else None
                    if button is not None:
                        await send_event(doc, ButtonClick(button))
                        self.played = True
                        return
                    if self.client == "stream" and self.ready_s is not None:
                        self.error = "no ▶ Play button in the page's first document"
                        return
                    await asyncio.sleep(0.1)

            if self.client == "stream":
                helpers = [asyncio.create_task(click_play()), asyncio.create_task(self._close_on(stop, ws))]
                try:
                    await self._read_stream(ws, stop, t0)
                finally:
                    for h in helpers:
                        h.cancel()
                return

            helpers = [asyncio.create_task(click_play()), asyncio.create_task(self._close_on(stop, ws))]
            train_src = None
            panes = {}
            try:
                # one reader, never cancelled: a cancelled read can drop a fragment of a message
                while True:
                    msg = await receive()
                    if msg is None:
                        if not stop.is_set():
                            self.error = "the server closed the websocket"
                        return
                    if msg.msgtype != "PATCH-DOC":
                        continue
                    msg.apply_to_document(doc, self)
                    self.patches += 1
                    if not panes:
                        panes = _panes(doc)
                    self.status = panes["dl-status"].text if "dl-status" in panes else ""
                    self.class_note = panes["dl-class-note"].text if "dl-class-note" in panes else ""
                    if train_src is None:
                        train_src = _training_source(doc)
                    if self.ready_s is None and "dl-inforce" in panes and "Running now:" in panes["dl-inforce"].text:
                        self.ready_s = time.perf_counter() - t0
                    if self.ready_s is None and not self.presses_play and SEEN.search(self.status):
                        self.ready_s = time.perf_counter() - t0
                    x = train_src.data.get("x") if train_src is not None else None
                    plot_x = float(x[-1]) if x is not None and len(x) else math.nan
                    seen = SEEN.search(self.status)
                    if seen:
                        now = time.perf_counter()
                        if not self.samples or now - self.samples[-1].t >= 0.2:
                            self.samples.append(Sample(now, int(seen.group(1)), plot_x))
            finally:
                for h in helpers:
                    h.cancel()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            ws.close(1000)   # a clean close, as a tab does

    @staticmethod
    async def _close_on(stop: asyncio.Event, ws) -> None:
        await stop.wait()
        ws.close(1000)      # a clean close, as a tab does; the reader then ends

    async def _read_stream(self, ws, stop: asyncio.Event, t0: float) -> None:
        """Every fragment read and dropped; the example count taken from the text of those that carry it."""
        while True:
            fragment = await ws.read_message()
            if fragment is None:
                if not stop.is_set():
                    self.error = "the server closed the websocket"
                return
            if not isinstance(fragment, str):
                continue
            self.patches += 1
            if '"ColumnsStreamed"' in fragment:
                self.streamed += 1      # data streamed into the plots (stands for the plot's x in a document)
            if "The class is full" in fragment:
                self.class_note = "The class is full"
            if "t-SNE map of the top hidden layer, " in fragment:     # a map's title (app/plots/tsne_map.py)
                self.map_times.append(time.perf_counter())
            seen = SEEN.search(fragment)
            if self.ready_s is None and (seen or "Running now:" in fragment):
                self.ready_s = time.perf_counter() - t0     # the network is built (or followed)
            if self.settings_s is None and "dl-speed" in fragment:
                self.settings_s = time.perf_counter() - t0  # the rest of the page (app/page.py, show_rest)
            if '"name":"Figure"' in fragment:
                self.all_figures_s = time.perf_counter() - t0
                if self.figures_s is None:
                    self.figures_s = self.all_figures_s
            if seen:
                now = time.perf_counter()
                if not self.samples or now - self.samples[-1].t >= 0.2:
                    self.samples.append(Sample(now, int(seen.group(1)), float(self.streamed)))

    def _window(self, t0: float, t1: float) -> tuple[Sample, Sample] | None:
        """The status lines that bracket the window: the last one by t0 (or the first after) and the last by t1."""
        before = [s for s in self.samples if s.t <= t0]
        inside = [s for s in self.samples if t0 < s.t <= t1]
        first = before[-1] if before else (inside[0] if inside else None)
        last = inside[-1] if inside else None
        if first is None or last is None or last.t <= first.t:
            return None
        return first, last

    def rate(self, t0: float, t1: float) -> float:
        """Examples per second over the window (from the status lines that arrived)."""
        w = self._window(t0, t1)
        return 0.0 if w is None else (w[1].seen - w[0].seen) / (w[1].t - w[0].t)

    def update_interval(self, t0: float, t1: float) -> float:
        """Median seconds between two status lines with a new example count in the window: how often the
        page moved (the drain's period, app/drain.py; samples are kept at least 0.2 s apart)."""
        times = [s.t for a, s in zip(self.samples, self.samples[1:]) if t0 < s.t <= t1 and s.seen != a.seen]
        return quantile([b - a for a, b in zip(times, times[1:])], 0.5)

    def advanced(self, t0: float, t1: float) -> tuple[bool, bool]:
        """(status advanced, plot data advanced) over the window."""
        w = self._window(t0, t1)
        if w is None:
            return False, False
        a, b = w
        plot = math.isfinite(b.plot_x) and (not math.isfinite(a.plot_x) or b.plot_x > a.plot_x)
        return b.seen > a.seen, plot


def _panes(doc) -> dict:
    """The page's status line, running-spec line and class-full note, by their CSS classes."""
    found = {}
    for model in doc.models:
        classes = getattr(model, "css_classes", None) or ()
        if "dl-ghost-status" in classes:       # the comparison run's own status line
            continue
        for cls in classes:
            if cls in ("dl-status", "dl-inforce", "dl-class-note") and hasattr(model, "text"):
                found[cls] = model
    return found if len(found) == 3 else {}


def _button(doc, label: str):
    from bokeh.models import Button
    for b in doc.select({"type": Button}):
        if getattr(b, "label", None) == label:
            return b
    return None


def _training_source(doc):
    """The data source of the learning-curve line (found by its legend entry)."""
    from bokeh.models import LegendItem
    for item in doc.select({"type": LegendItem}):
        label = item.label
        text = label.get("value") if isinstance(label, dict) else getattr(label, "value", label)
        if isinstance(text, str) and text.startswith("training") and item.renderers:
            return item.renderers[0].data_source
    return None


# --------------------------------------------------------------------- probes
async def probe_http(base: str, path: str, stop: asyncio.Event, out: dict[str, list[float]], period: float) -> None:
    """GET ``path`` every ``period`` s while the class trains (what a new student or a health check sees).

    The page is asked for every 2 s, not flat out: each GET renders a whole page (about 0.4 s of
    the server's one event-loop thread when idle), so a tight loop would measure the probe.
    """
    from tornado.httpclient import AsyncHTTPClient
    client = AsyncHTTPClient(force_instance=True)
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = await client.fetch(base + path, request_timeout=60, raise_error=False)
                ok = r.code == 200
            except Exception:
                ok = False
            dt = time.perf_counter() - t0
            out.setdefault(path, []).append(dt if ok else math.inf)
            await asyncio.sleep(max(0.0, period - dt))
    finally:
        client.close()


async def probe_server(server: Server, stop: asyncio.Event, out: list[dict], period: float = 1.0) -> None:
    while not stop.is_set():
        out.append(server.sample())
        await asyncio.sleep(period)


# ------------------------------------------------------------------ the test
def quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return math.nan
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    if not values or not any(values):
        return math.nan
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


async def _open_all(sessions: list[Session], play: asyncio.Event, stop: asyncio.Event, timeout: float):
    """Start every session at once; returns their tasks and the seconds until all were ready."""
    tasks = [asyncio.create_task(s.run(play, stop, timeout)) for s in sessions]
    t_open = time.perf_counter()
    deadline = t_open + timeout
    while time.perf_counter() < deadline and any(s.ready_s is None and s.error is None for s in sessions):
        await asyncio.sleep(0.2)
    return tasks, time.perf_counter() - t_open


async def _window(server: Server, seconds: float, pages: bool) -> dict:
    """Sample the server and ask for /liveness (and, with ``pages``, /app) for ``seconds``."""
    http: dict[str, list[float]] = {}
    samples: list[dict] = []
    probe_stop = asyncio.Event()
    probes = [asyncio.create_task(probe_http(server.base, "/liveness", probe_stop, http, LIVENESS_PROBE_S)),
              asyncio.create_task(probe_server(server, probe_stop, samples))]
    if pages:
        probes.append(asyncio.create_task(probe_http(server.base, "/app", probe_stop, http, PAGE_PROBE_S)))
    client_cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    t1 = time.perf_counter()
    client_cpu = time.process_time() - client_cpu0
    probe_stop.set()
    await asyncio.gather(*probes)
    return {"http": http, "samples": samples, "t0": t0, "t1": t1, "client_cpu_s": client_cpu}


async def _drive(server: Server, n: int, seconds: float, settle: float, timeout: float,
                 page_seconds: float, client: str = "stream", query: str = "") -> dict:
    """A class: n sessions open at once, build their networks and press Play together.

    The class's speed is measured in a window with no page requests (a class does not open a
    page every two seconds, and on two cores each page build takes CPU from training), the page
    latency while the class trains in a second window right after it.
    """
    play, stop = asyncio.Event(), asyncio.Event()
    sessions = [Session(i, server.base, query=query, client=client) for i in range(n)]
    tasks, open_s = await _open_all(sessions, play, stop, timeout)
    print(f"all pages open and networks built after {open_s:.1f} s; pressing Play", file=sys.stderr, flush=True)
    play.set()
    play_t = time.perf_counter()
    await asyncio.sleep(settle)          # the first chunks, the first tests and t-SNE maps start
    speed = await _window(server, seconds, pages=False)
    latency = await _window(server, page_seconds, pages=True) if page_seconds > 0 else {"http": {}}
    # the class is over: every tab closes
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    http = {"/liveness": speed["http"].get("/liveness", []) + latency["http"].get("/liveness", []),
            "/app": latency["http"].get("/app", [])}
    return {"sessions": sessions, "http": http, "samples": speed["samples"], "t0": speed["t0"], "t1": speed["t1"],
            "open_s": open_s, "client_cpu_s": speed["client_cpu_s"], "play_t": play_t}


async def _drive_followers(server: Server, n: int, seconds: float, settle: float, timeout: float,
                           client: str = "stream") -> dict:
    """Presenter mode: one session presents and trains alone, then n followers open its code at once."""
    code = "LOADTEST"
    play, stop = asyncio.Event(), asyncio.Event()
    presenter = Session(0, server.base, query=f"?present={code}")
    tasks, _ = await _open_all([presenter], play, stop, timeout)
    play.set()
    await asyncio.sleep(settle)
    solo = await _window(server, seconds, pages=False)
    followers = [Session(i + 1, server.base, query=f"?follow={code}", presses_play=False, client=client)
                 for i in range(n)]
    more, open_s = await _open_all(followers, play, stop, timeout)
    print(f"{n} followers open after {open_s:.1f} s", file=sys.stderr, flush=True)
    await asyncio.sleep(settle)
    crowd = await _window(server, seconds, pages=False)
    stop.set()
    await asyncio.gather(*tasks, *more, return_exceptions=True)
    return {"presenter": presenter, "followers": followers, "solo": solo, "crowd": crowd, "open_s": open_s}


def _class_experiment(sweeps_dir: str, n: int) -> str:
    """A class experiment for n students in ``sweeps_dir`` (app/class_experiment.py); returns its code."""
    from app import class_experiment as cx
    from app.class_view import parse_grid_text
    before = os.environ.get(cx.SWEEPS_ENV)
    os.environ[cx.SWEEPS_ENV] = sweeps_dir
    try:
        return cx.create("glr17-1hl", parse_grid_text("g_a=0,0.05,0.6; feedback_scale=0.5,1,2"),
                         examples=cx.MAX_BUDGET, seeds=max(1, math.ceil(n / 9)), test_images=500)
    finally:
        if before is None:
            os.environ.pop(cx.SWEEPS_ENV)
        else:
            os.environ[cx.SWEEPS_ENV] = before


def run(n: int = 30, seconds: float = 60.0, cap: int | None | str = "all", settle: float = 10.0,
        timeout: float = 180.0, after_timeout: float = 90.0, rounds: int = 1, log=print,
        page_seconds: float = 30.0, bare_seconds: float = 15.0, session_lifetime_s: float = 60.0,
        servers: int = 1, client: str = "stream", experiment: bool = False) -> dict:
    """Serve, load, measure; returns the figures (see the module docstring).

    With ``experiment`` the class is a class experiment: every session opens ``/app?experiment=CODE``
    of a 3 × 3 grid of the default preset with enough seeds for a point each and a budget no one
    reaches in the window, so each page trains and shows the class heat map as a class would.

    With ``rounds`` > 1 the same server takes one class after another; the figures are the
    last class's, and the memory after each class shows whether anything accumulates.
    """
    cap_value = n if cap == "all" else (None if cap in (None, "default") else int(cap))
    rss_after_rounds = []
    if servers > 1 and page_seconds > 0:
        # nginx lets one address open 40 pages at once and then 6 a minute: after the class's 30, the
        # probe's page every 2 s would be timed as refusals, not as pages
        log("with several servers behind nginx, page latency during the class is not measured")
        page_seconds = 0.0
    # serve.sh's session lifetime by default: with a shorter one, a page whose websocket waited in the
    # queue of a class opening at once was dropped as unused and built a second time when it connected
    extra_env, query = {}, ""
    if experiment:
        extra_env["DENDRITE_SWEEPS_DIR"] = tempfile.mkdtemp(prefix="dendrite-load-sweeps-")
        query = "?experiment=" + _class_experiment(extra_env["DENDRITE_SWEEPS_DIR"], n)
    with Server(cap_value, session_lifetime_ms=int(1000 * session_lifetime_s), servers=servers,
                extra_env=extra_env) as server:
        server.wait_ready()
        time.sleep(2.0)                       # warm-up threads and the t-SNE worker settle
        before = server.sample()
        allocator = "jemalloc" if server.jemalloc else "system"
        log(f"server up on port {server.port} (pid {server.proc.pid}): {before['threads']} threads, "
            f"{before['rss'] / 2**20:.0f} MiB")
        # the bare engine on the same cores, the server idle beside it: what the class is compared with
        bare = bare_engine(bare_seconds) if bare_seconds > 0 else math.nan
        log(f"bare engine: {bare:.0f} examples/s on {os.cpu_count()} cores")
        before = server.sample()
        for k in range(rounds):
            log(f"class {k + 1} of {rounds}: opening {n} sessions ...")
            res = asyncio.run(_drive(server, n, seconds, settle, timeout, page_seconds, client, query))
            log("all sessions closed; waiting for the server to end them ...")
            collections_before = server.log_text().count("collected the garbage")
            after = server.sample()
            t_closed = time.perf_counter()
            while time.perf_counter() - t_closed < after_timeout:
                after = server.sample()
                if after["threads"] <= before["threads"]:
                    break
                time.sleep(0.5)
            # the memory of the closed sessions is freed by a collection a few seconds after the last
            # close (app/memory.py) and handed back by the allocator a second later: wait until it settles
            after = server.sample()
            t_settle = time.perf_counter()
            # a closed tab's session (and its objects) is discarded once unused for the session lifetime
            while time.perf_counter() - t_settle < SETTLE_S + session_lifetime_s:
                time.sleep(2.0)
                now = server.sample()
                settled = (abs(now["rss"] - after["rss"]) < 0.01 * after["rss"]
                           and server.log_text().count("collected the garbage") > collections_before)
                after = now
                if settled:
                    break
            after_s = time.perf_counter() - t_closed
            rss_after_rounds.append(after["rss"] / 2**20)
        # and again once the class has left: these machines' speed drifts by 10-40 % within minutes (12-08:
        # 5,589, 3,781 and 4,598 examples/s in three runs an hour apart), so the class is set against the
        # mean of a measurement on each side of it
        bare_after = bare_engine(bare_seconds) if bare_seconds > 0 else math.nan
        log(f"bare engine after the class: {bare_after:.0f} examples/s")
        log_text = server.log_text()
    sessions: list[Session] = res["sessions"]
    t0, t1 = res["t0"], res["t1"]
    # a session that pressed Play and was not told the class is full is training (and must advance)
    training = [s for s in sessions if s.played and "The class is full" not in s.class_note]
    watching = [s for s in sessions if "The class is full" in s.class_note]
    rates = [s.rate(t0, t1) for s in training]
    bare_mean = (bare + bare_after) / 2
    adv = [s.advanced(t0, t1) for s in training]
    intervals = [x for x in (s.update_interval(t0, t1) for s in training) if math.isfinite(x)]
    # t-SNE maps by the window's end, seen by a stream client (a document client does not look)
    first_maps = [min(s.map_times) - res["play_t"] for s in training if s.map_times and min(s.map_times) <= t1]
    maps_in_window = sum(sum(t0 < m <= t1 for m in s.map_times) for s in training)
    samples = res["samples"]
    during_threads = max((x["threads"] for x in samples), default=math.nan)
    during_rss = max((x["rss"] for x in samples), default=math.nan)
    span = samples[-1]["t"] - samples[0]["t"] if len(samples) >= 2 else math.nan
    cpu_share = (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / span if len(samples) >= 2 else math.nan
    tsne_share = (samples[-1]["children_cpu_s"] - samples[0]["children_cpu_s"]) / span if len(samples) >= 2 else math.nan
    page = [x for x in res["http"].get("/app", [])]
    live = [x for x in res["http"].get("/liveness", [])]
    result = {
        "sessions": n, "servers": servers, "cap": cap_value if cap_value is not None else "default",
        "client": client, "experiment": query,
        "measured_s": round(t1 - t0, 1), "open_all_s": round(res["open_s"], 1),
        "errors": [f"session {s.index}: {s.error}" for s in sessions if s.error],
        "training": len(training), "watching": len(watching),
        "http_page": {"n": len(page), "p50": quantile(page, 0.5), "p95": quantile(page, 0.95), "max": max(page, default=math.nan)},
        "http_liveness": {"n": len(live), "p50": quantile(live, 0.5), "p95": quantile(live, 0.95),
                          "max": max(live, default=math.nan)},
        "rate": {"min": min(rates, default=math.nan), "median": quantile(rates, 0.5),
                 "max": max(rates, default=math.nan), "total": sum(rates)},
        "bare_engine_rate": bare_mean, "bare_engine_rates": [bare, bare_after],
        "class_efficiency": sum(rates) / bare_mean if bare_mean else math.nan,
        "opening": {"served_p50": quantile([s.page_s for s in sessions if s.page_s], 0.5),
                    "served_max": max((s.page_s for s in sessions if s.page_s), default=math.nan),
                    "interactive_p50": quantile([s.ready_s for s in sessions if s.ready_s], 0.5),
                    "interactive_max": max((s.ready_s for s in sessions if s.ready_s), default=math.nan)},
        "page_update_s": {"median": quantile(intervals, 0.5), "max": max(intervals, default=math.nan)},
        "tsne_maps": {"sessions_with_a_map": len(first_maps), "first_map_s_median": quantile(first_maps, 0.5),
                      "first_map_s_max": max(first_maps, default=math.nan), "maps_in_window": maps_in_window,
                      "after_play_s": t1 - res["play_t"]},
        "fairness_min_max": (min(rates) / max(rates)) if rates and max(rates) > 0 else math.nan,
        "fairness_jain": jain(rates),
        "status_advancing": sum(a for a, _ in adv), "plots_advancing": sum(p for _, p in adv),
        "server_cpu_cores": cpu_share, "tsne_worker_cpu_cores": tsne_share,
        "server_cpu_by_thread": cpu_by_kind(samples),
        "client_cpu_cores": res["client_cpu_s"] / (t1 - t0),
        "threads": {"before": before["threads"], "during": during_threads, "after": after["threads"]},
        "rss_mib": {"before": before["rss"] / 2**20, "during": during_rss / 2**20, "after": after["rss"] / 2**20},
        "rss_mib_after_each_class": rss_after_rounds,
        "tsne_worker_rss_mib": {"before": before["children_rss"] / 2**20, "after": after["children_rss"] / 2**20},
        "after_s": round(after_s, 1),
        "server_tracebacks": log_text.count("Traceback"),
        "allocator": allocator,
        "gc_pauses_s": [float(x) for x in GC_PAUSE.findall(log_text)],
        "gc_cycles": log_text.count("collected the garbage"),
        "load_average": os.getloadavg(),
        "per_session": [{"index": s.index, "page_s": s.page_s, "ready_s": s.ready_s, "played": s.played,
                         "patches": s.patches, "rate": s.rate(t0, t1), "status": s.status[-120:],
                         "class_full": "The class is full" in s.class_note, "error": s.error} for s in sessions],
    }
    r = result
    r["memory_growth"] = (r["rss_mib"]["after"] - r["rss_mib"]["before"]) / r["rss_mib"]["before"]
    r["targets"] = {
        # pages are not timed behind nginx (see above): only what was measured is judged
        "http_p95_below_1s": (r["http_page"]["n"] == 0 or r["http_page"]["p95"] < P95_TARGET_S)
        and r["http_liveness"]["p95"] < P95_TARGET_S,
        "every_training_session_advancing": bool(training) and r["status_advancing"] == len(training)
        and r["plots_advancing"] == len(training),
        "every_session_trains_or_watches": len(training) + len(watching) == n and not r["errors"],
        "threads_back_to_baseline": r["threads"]["after"] <= r["threads"]["before"],
        "memory_within_20pct": r["memory_growth"] <= MEMORY_TARGET,
    }
    return r


def _seen_at(s: Session, t: float) -> float:
    """The session's example count at time ``t``, interpolated between its status lines."""
    pts = s.samples
    if t <= pts[0].t:
        return pts[0].seen
    for a, b in zip(pts, pts[1:]):
        if a.t <= t <= b.t:
            return a.seen + (b.seen - a.seen) * (t - a.t) / max(1e-9, b.t - a.t)
    return pts[-1].seen


def run_followers(n: int = 30, seconds: float = 30.0, settle: float = 10.0, timeout: float = 180.0,
                  log=print, client_nice: int = 0, client: str = "stream", servers: int = 1) -> dict:
    """Presenter mode under load: the presenter's speed alone, then with ``n`` followers.

    In a class the followers' browsers are other machines.  Here they share the server's two
    cores: with ``client="document"`` this process applies every patch to 30 copies of the
    document (most of a core), with ``"stream"`` it only reads the websockets.  ``client_nice``
    lowers this client (its thread only, after the server started).
    """
    with Server(None, servers=servers) as server:
        server.wait_ready()
        time.sleep(2.0)
        log(f"server up on port {server.port} (pid {server.proc.pid}); presenter alone, then {n} followers")
        with lowered_client(client_nice):
            group_nice = autogroup_nice()
            res = asyncio.run(_drive_followers(server, n, seconds, settle, timeout, client))
        log_text = server.log_text()
    p, followers = res["presenter"], res["followers"]
    solo = p.rate(res["solo"]["t0"], res["solo"]["t1"])
    crowd = p.rate(res["crowd"]["t0"], res["crowd"]["t1"])
    t0, t1 = res["crowd"]["t0"], res["crowd"]["t1"]
    advancing = sum(f.advanced(t0, t1)[0] for f in followers)
    # how far behind the presenter's own page each follower's status line is, over the window
    lag = [quantile([_seen_at(p, x.t) - x.seen for x in f.samples if t0 <= x.t <= t1], 0.5)
           for f in followers if p.samples and any(t0 <= x.t <= t1 for x in f.samples)]
    # the part of the window after every follower's page is complete: what the lesson pays from then on
    built = [f.requested_at + f.all_figures_s for f in followers if f.all_figures_s is not None]
    steady_t0 = max(t0, max(built) + 2.0) if len(built) == n else math.inf
    steady = p.rate(steady_t0, t1) if t1 - steady_t0 >= STEADY_MIN_S else math.nan
    r = {"followers": n, "servers": servers, "presenter_alone": solo, "presenter_followed": crowd,
         "window_s": seconds, "settle_s": settle,
         "server_cpu_cores": {"alone": _cores(res["solo"]), "followed": _cores(res["crowd"])},
         "server_cpu_by_thread": {"alone": cpu_by_kind(res["solo"]["samples"]),
                                  "followed": cpu_by_kind(res["crowd"]["samples"])},
         "client_cpu_cores": {k: res[w]["client_cpu_s"] / (res[w]["t1"] - res[w]["t0"])
                              for k, w in (("alone", "solo"), ("followed", "crowd"))},
         "client_nice": os.getpriority(os.PRIO_PROCESS, 0), "client_group_nice": group_nice, "follower_client": client,
         "cost": 1 - crowd / solo if solo else math.nan,
         "steady_s": 0.0 if math.isnan(steady) else t1 - steady_t0, "presenter_steady": steady,
         "cost_steady": 1 - steady / solo if solo else math.nan,
         "followers_advancing": advancing, "followers_open_s": res["open_s"],
         "follower_lag_examples": {"median": quantile(lag, 0.5), "max": max(lag, default=math.nan)},
         "follower_pages": page_stages(followers),
         # behind serve.sh's nginx: how many followers each server built (the presenter's first)
         "followers_per_server": sorted(Counter(f.served_by for f in followers).items(),
                                        key=lambda kv: kv[0] != p.served_by),
         # how often their pages moved in the window (median seconds between two new example counts)
         "follower_update_s_per_server": [
             (server, quantile([f.update_interval(t0, t1) for f in followers if f.served_by == server], 0.5))
             for server in sorted({f.served_by for f in followers}, key=lambda b: b != p.served_by)],
         "errors": [f"session {s.index}: {s.error}" for s in [p, *followers] if s.error],
         "server_tracebacks": log_text.count("Traceback"), "load_average": os.getloadavg(),
         # a full collection holds the GIL throughout, so the presenter's thread stops with the loop
         "gc_pauses_s": [float(x) for x in GC_PAUSE.findall(log_text)]}
    r["targets"] = {"cost_at_most_20pct": r["cost"] <= 0.20, "every_follower_advancing": advancing == n,
                    "no_errors": not r["errors"]}
    return r


async def _drive_opening(server: Server, n: int, timeout: float, client: str) -> tuple[list[Session], float, float]:
    """The sessions, the server processes' CPU seconds from the first request until they are quiet
    (every page built, connected and its figures attached; the t-SNE worker's maps not counted), and
    how long that took."""
    sessions = [Session(i, server.base, presses_play=False, client=client) for i in range(n)]
    play, stop = asyncio.Event(), asyncio.Event()
    before = server.sample()
    tasks, _ = await _open_all(sessions, play, stop, timeout)
    after = await _until_quiet(server, timeout, with_children=False)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    # _until_quiet's last sample closes 2 s of quiet
    return sessions, after["cpu_s"] - before["cpu_s"], after["t"] - before["t"] - 2.0


def page_stages(sessions: list[Session]) -> dict:
    """When the pages' settings, first figure and last figure group arrived, from each page's request
    (p50, max, and how many arrived; stream client)."""
    out = {}
    for key, attr in (("settings", "settings_s"), ("first_figure", "figures_s"), ("all_figures", "all_figures_s")):
        got = [getattr(s, attr) for s in sessions if getattr(s, attr)]
        out[key] = {"p50": quantile(got, 0.5), "max": max(got, default=math.nan), "n": len(got)}
    return out


def run_opening(n: int = 30, servers: int = 1, timeout: float = 300.0, log=print, client: str = "stream") -> dict:
    """``n`` pages asked for in the same second of serve.sh with ``servers`` server processes.

    With more than one, serve.sh's nginx spreads the pages (``least_conn``) and each process builds
    its share on its own event loop, as in the Docker image.  Nobody presses Play: this is the
    opening alone, timed from the request to the page served and to the network built.
    """
    with Server(None, servers=servers) as server:
        server.wait_ready()
        time.sleep(2.0)
        log(f"serve.sh up on port {server.port} with {servers} server(s); opening {n} pages at once")
        sessions, cpu_s, busy_s = asyncio.run(_drive_opening(server, n, timeout, client))
        tracebacks = server.log_text().count("Traceback")
    served = [s.page_s for s in sessions if s.page_s]
    ready = [s.ready_s for s in sessions if s.ready_s]
    return {"sessions": n, "servers": servers, "client": client,
            "served": {"p50": quantile(served, 0.5), "max": max(served, default=math.nan)},
            "interactive": {"p50": quantile(ready, 0.5), "max": max(ready, default=math.nan), "n": len(ready)},
            **page_stages(sessions),
            "server_cpu_s_per_page": cpu_s / n, "server_busy_s": busy_s,
            "errors": [f"session {s.index}: {s.error}" for s in sessions if s.error],
            "server_tracebacks": tracebacks, "load_average": os.getloadavg(),
            "targets": {"all_interactive_within_3s": len(ready) == n and max(ready) <= 3.0}}


async def _until_quiet(server: Server, timeout: float, with_children: bool) -> dict:
    """Wait until the server (and, ``with_children``, its t-SNE worker) used under a tenth of a core
    over 2 s; the last sample."""
    t0 = time.perf_counter()
    b = server.sample()
    while time.perf_counter() - t0 < timeout:
        a = b
        await asyncio.sleep(2.0)
        b = server.sample()
        used = b["cpu_s"] - a["cpu_s"]
        if with_children:
            used += b["children_cpu_s"] - a["children_cpu_s"]
        if used / (b["t"] - a["t"]) < 0.1:
            break
    return b


async def _drive_idle(server: Server, n: int, seconds: float, settle: float, timeout: float) -> dict:
    empty = await _window(server, seconds, pages=False)
    sessions = [Session(i, server.base, presses_play=False, client="stream") for i in range(n)]
    play, stop = asyncio.Event(), asyncio.Event()
    opening: dict[str, list[float]] = {}        # /liveness while the pages open (not idle yet)
    probe_stop = asyncio.Event()
    probe = asyncio.create_task(probe_http(server.base, "/liveness", probe_stop, opening, LIVENESS_PROBE_S))
    tasks, open_s = await _open_all(sessions, play, stop, timeout)
    # after the network, each page's figures attach group by group, and the t-SNE worker maps each
    # untrained network once: wait until the server and its worker are quiet (under a tenth of a
    # core over 2 s) before the idle window
    t0 = time.perf_counter()
    await asyncio.sleep(settle)
    await _until_quiet(server, timeout, with_children=True)
    quiet_s = time.perf_counter() - t0
    probe_stop.set()
    await probe
    idle = await _window(server, seconds, pages=False)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"sessions": sessions, "empty": empty, "idle": idle, "open_s": open_s, "quiet_s": quiet_s,
            "opening": {"http": opening}}


def _cores(w: dict, key: str = "cpu_s") -> float:
    x = w["samples"]
    return (x[-1][key] - x[0][key]) / (x[-1]["t"] - x[0]["t"]) if len(x) >= 2 else math.nan


async def _flood(base: str, stop: asyncio.Event, statuses: dict, workers: int, client_ip: str) -> None:
    """``workers`` loops of plain page requests from one client (no websocket: nothing is opened)."""
    from tornado.httpclient import AsyncHTTPClient

    async def worker():
        client = AsyncHTTPClient(force_instance=True)
        try:
            while not stop.is_set():
                try:
                    r = await client.fetch(base + "/app", headers={"X-Real-IP": client_ip}, request_timeout=60,
                                           raise_error=False)
                    code = r.code
                except Exception as exc:
                    code = type(exc).__name__
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            client.close()
    await asyncio.gather(*(worker() for _ in range(workers)))


async def _drive_flood(server: Server, seconds: float, settle: float, timeout: float, workers: int) -> dict:
    play, stop = asyncio.Event(), asyncio.Event()
    student = Session(0, server.base)
    tasks, _ = await _open_all([student], play, stop, timeout)
    play.set()
    await asyncio.sleep(settle)
    calm = await _window(server, seconds, pages=False)
    statuses: dict = {}
    flood_stop = asyncio.Event()
    flood = asyncio.create_task(_flood(server.base, flood_stop, statuses, workers, "10.66.0.1"))
    flooded = await _window(server, seconds, pages=False)
    flood_stop.set()
    await flood
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"student": student, "calm": calm, "flooded": flooded, "statuses": statuses}


FLOOD_COST_TARGET = 0.20


def run_flood(seconds: float = 30.0, settle: float = 10.0, workers: int = 4, timeout: float = 180.0,
              log=print, client_nice: int = 0) -> dict:
    """A student trains spiking 784-500-10; then one other client floods ``/app`` for ``seconds``.

    The server keeps serve.sh's own page budget (not the wide one of a class from one address):
    what is measured is what the budget leaves of the loop and the cores.  The flooding client runs
    here, on the server's two cores; ``client_nice`` lowers it (and the student's client), closer
    to a flood from another machine.
    """
    from app.ratelimit import DEFAULT_BURST_S
    with Server(None, extra_env={"DENDRITE_PAGE_BURST_S": str(DEFAULT_BURST_S)}) as server:
        server.wait_ready()
        time.sleep(2.0)
        log(f"server up on port {server.port}; a student trains {seconds:.0f} s, then {workers} loops of page "
            f"requests from one client for {seconds:.0f} s")
        with lowered_client(client_nice):
            group_nice = autogroup_nice()
            res = asyncio.run(_drive_flood(server, seconds, settle, timeout, workers))
        log_text = server.log_text()
    s = res["student"]
    calm = s.rate(res["calm"]["t0"], res["calm"]["t1"])
    flooded = s.rate(res["flooded"]["t0"], res["flooded"]["t1"])
    live = {k: res[k]["http"].get("/liveness", []) for k in ("calm", "flooded")}
    r = {"workers": workers, "statuses": {str(k): v for k, v in res["statuses"].items()},
         "student_alone": calm, "student_flooded": flooded, "cost": 1 - flooded / calm if calm else math.nan,
         "liveness": {k: {"p50": quantile(v, 0.5), "p95": quantile(v, 0.95), "max": max(v, default=math.nan)}
                      for k, v in live.items()},
         "server_cpu_cores": {k: _cores(res[k]) for k in ("calm", "flooded")},
         "client_nice": os.getpriority(os.PRIO_PROCESS, 0), "client_group_nice": group_nice,
         "errors": [f"session 0: {s.error}"] if s.error else [],
         "server_tracebacks": log_text.count("Traceback"), "load_average": os.getloadavg()}
    r["targets"] = {"liveness_p95_under_1s": r["liveness"]["flooded"]["p95"] < 1.0,
                    "training_within_20pct": r["cost"] <= FLOOD_COST_TARGET, "no_errors": not r["errors"]}
    return r


def _client_nice(r: dict) -> str:
    group = r.get("client_group_nice")
    return f"at nice {r['client_nice']}" + ("" if group is None else f", its session's group at nice {group}")

def report_flood(r: dict) -> str:
    lv = r["liveness"]
    lines = [
        f"Flood: {r['workers']} loops of page requests from one client while a student trains (client "
        f"{_client_nice(r)}; {_load_average(r)})",
        f"{'answers to the flood':<44} " + ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())),
        f"{'student examples/s alone / flooded':<44} {r['student_alone']:>8.0f} / {r['student_flooded']:<8.0f}",
        f"{'cost of the flood to the student':<44} {100 * r['cost']:>7.0f} %   target <= 20 %: "
        f"{OK[r['targets']['training_within_20pct']]}",
        f"{'/liveness p50 / p95 / max (s), calm':<44} {lv['calm']['p50']:>8.3f} / {lv['calm']['p95']:.3f} / "
        f"{lv['calm']['max']:.3f}",
        f"{'/liveness p50 / p95 / max (s), flooded':<44} {lv['flooded']['p50']:>8.3f} / {lv['flooded']['p95']:.3f} / "
        f"{lv['flooded']['max']:.3f}   p95 < 1 s: {OK[r['targets']['liveness_p95_under_1s']]}",
        f"{'server CPU (cores) calm / flooded':<44} {r['server_cpu_cores']['calm']:>8.2f} / "
        f"{r['server_cpu_cores']['flooded']:.2f}",
        f"{'tracebacks in the server log':<44} {r['server_tracebacks']:>8}",
    ]
    return _with_errors(lines, r)


IDLE_LIVENESS_TARGET_S = 1.0
IDLE_CPU_TARGET = 0.02      # cores: "idle sessions cost the loop nothing measurable" (issue 15)


def run_idle(n: int = 40, seconds: float = 30.0, settle: float = 10.0, timeout: float = 300.0, log=print) -> dict:
    """Open pages nobody uses: the server's CPU and ``/liveness`` with none open, then with ``n``.

    Every open tab keeps its session (and its drain) for as long as it is open, used or not: a
    class leaves tabs open in the background all lesson.
    """
    with Server(None) as server:
        server.wait_ready()
        time.sleep(2.0)
        log(f"server up on port {server.port}; {seconds:.0f} s with no page open, then {n} idle pages")
        res = asyncio.run(_drive_idle(server, n, seconds, settle, timeout))
        log_text = server.log_text()
    live = {k: res[k]["http"].get("/liveness", []) for k in ("empty", "opening", "idle")}
    cpu = {k: _cores(res[k]) for k in ("empty", "idle")}
    sessions = res["sessions"]
    r = {"sessions": n, "server_cpu_cores": cpu, "idle_cost_cores": cpu["idle"] - cpu["empty"],
         "liveness": {k: {"p50": quantile(v, 0.5), "p95": quantile(v, 0.95), "max": max(v, default=math.nan)}
                      for k, v in live.items()},
         "pages_open": sum(s.ready_s is not None for s in sessions), "open_s": res["open_s"],
         "quiet_after_s": res["quiet_s"],
         "errors": [f"session {s.index}: {s.error}" for s in sessions if s.error],
         "server_tracebacks": log_text.count("Traceback"), "load_average": os.getloadavg()}
    r["targets"] = {"liveness_p95_under_1s": r["liveness"]["idle"]["p95"] < IDLE_LIVENESS_TARGET_S,
                    "idle_cost_under_0.02_cores": r["idle_cost_cores"] < IDLE_CPU_TARGET,
                    "all_open": r["pages_open"] == n, "no_errors": not r["errors"]}
    return r


OK = {True: "ok", False: "MISSED", None: "not measured"}


def _load_average(r: dict) -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in r["load_average"])


def _with_errors(lines: list[str], r: dict) -> str:
    if r["errors"]:
        lines += ["", "errors:"] + [f"  {e}" for e in r["errors"][:10]]
    return "\n".join(lines)


def report_opening(r: dict) -> str:
    lines = [
        f"Opening: {r['sessions']} pages asked for at once, over {r['servers']} server process(es), read as a "
        f"{r['client']} ({_load_average(r)})",
        f"{'page served after (s) p50 / max':<44} {r['served']['p50']:>8.1f} / {r['served']['max']:<8.1f}",
        f"{'interactive (network built) after (s) p50 / max':<44} {r['interactive']['p50']:>8.1f} / "
        f"{r['interactive']['max']:<8.1f}   all within 3 s: {OK[r['targets']['all_interactive_within_3s']]}",
        f"{'pages interactive':<44} {r['interactive']['n']:>8} / {r['sessions']:<8}",
        f"{'settings and plot grid after (s) p50 / max':<44} {r['settings']['p50']:>8.1f} / "
        f"{r['settings']['max']:<8.1f}   ({r['settings']['n']} pages; the header with Play comes first)",
        f"{'first figure / all figures after (s) p50 / max':<44} {r['first_figure']['p50']:>8.1f} / "
        f"{r['first_figure']['max']:<8.1f} {r['all_figures']['p50']:.1f} / {r['all_figures']['max']:.1f}"
        f"   ({r['first_figure']['n']} pages)",
        f"{'server CPU per page, until quiet (s)':<44} {r['server_cpu_s_per_page']:>8.2f}   (figures attached too; "
        f"the servers were busy for {r['server_busy_s']:.0f} s)",
        f"{'tracebacks in the server logs':<44} {r['server_tracebacks']:>8}",
    ]
    return _with_errors(lines, r)


def report_idle(r: dict) -> str:
    lv, cpu = r["liveness"], r["server_cpu_cores"]
    lines = [
        f"Idle: {r['sessions']} pages open and unused ({_load_average(r)})",
        f"{'server CPU (cores) no page / idle pages':<44} {cpu['empty']:>8.3f} / {cpu['idle']:<8.3f}"
        f"   idle cost < {IDLE_CPU_TARGET} cores: {OK[r['targets']['idle_cost_under_0.02_cores']]}",
        f"{'/liveness p50 / p95 (s), no page':<44} {lv['empty']['p50']:>8.3f} / {lv['empty']['p95']:<8.3f}",
        f"{'/liveness p50 / p95 (s), idle pages':<44} {lv['idle']['p50']:>8.3f} / {lv['idle']['p95']:<8.3f}"
        f"   p95 < 1 s: {OK[r['targets']['liveness_p95_under_1s']]}",
        f"{'/liveness p50 / p95 / max (s), while opening':<44} {lv['opening']['p50']:>8.3f} / "
        f"{lv['opening']['p95']:.3f} / {lv['opening']['max']:.3f}   (not a target here: issue 13's opening)",
        f"{'pages open (network built)':<44} {r['pages_open']:>8} / {r['sessions']:<8}",
        f"{'... all networks built after (s)':<44} {r['open_s']:>8.1f}",
        f"{'... server and t-SNE worker quiet after (s)':<44} {r['quiet_after_s']:>8.1f}",
        f"{'tracebacks in the server log':<44} {r['server_tracebacks']:>8}",
    ]
    return _with_errors(lines, r)


def report_followers(r: dict) -> str:
    lines = [
        f"Presenter mode: one presenting session training spiking 784-500-10, then {r['followers']} followers "
        f"({r.get('servers', 1)} server process(es); {_load_average(r)})",
        f"{'presenter examples/s alone / with followers':<44} {r['presenter_alone']:>8.0f} / {r['presenter_followed']:<8.0f}"
        f"   ({r['window_s']:.0f} s from {r['settle_s']:.0f} s after Play / after the followers opened)",
        f"{'cost of the followers to the presenter':<44} {100 * r['cost']:>7.0f} %   target <= 20 %: "
        f"{OK[r['targets']['cost_at_most_20pct']]}",
        f"{'... once every follower’s page is complete':<44} {100 * r['cost_steady']:>7.0f} %   "
        f"({r['steady_s']:.0f} s at the window’s end, {r['presenter_steady']:.0f} examples/s)",
        f"{'CPU cores, server alone / followed':<44} {r['server_cpu_cores']['alone']:>8.2f} / "
        f"{r['server_cpu_cores']['followed']:<8.2f}",
        f"{'CPU cores, load-test client alone / followed':<44} {r['client_cpu_cores']['alone']:>8.2f} / "
        f"{r['client_cpu_cores']['followed']:<8.2f}   (client {_client_nice(r)}, "
        f"followers read as a {r['follower_client']})",
        f"{'followers whose status advanced':<44} {r['followers_advancing']:>8} / {r['followers']:<8}   "
        f"{OK[r['targets']['every_follower_advancing']]}",
        f"{'followers all open after (s)':<44} {r['followers_open_s']:>8.1f}",
        *([f"{'followers per server, the presenter’s first':<44} "
           + " / ".join(str(n) for _, n in r["followers_per_server"]),
           f"{'... their pages moved every (s, p50)':<44} "
           + " / ".join(f"{s:.2f}" for _, s in r["follower_update_s_per_server"])] if r["servers"] > 1 else []),
        f"{'follower behind the presenter (examples) p50 / max':<44} "
        f"{r['follower_lag_examples']['median']:>8.0f} / {r['follower_lag_examples']['max']:<8.0f}",
        *(f"{'followers: ' + what + ', p50 / max (s)':<44} {st['p50']:>8.1f} / {st['max']:<8.1f}   "
          f"({st['n']} of {r['followers']}, from the page's request)"
          for what, st in (("settings", r["follower_pages"]["settings"]),
                           ("first figure", r["follower_pages"]["first_figure"]),
                           ("all figures", r["follower_pages"]["all_figures"]))),
        *(f"{'server cores by thread, ' + k:<44} " + ", ".join(f"{kind} {v:.2f}" for kind, v in by.items())
          for k, by in r["server_cpu_by_thread"].items()),
        f"{'full GC pauses >= 0.25 s: count, longest, total (s)':<44} {len(r['gc_pauses_s']):>8} / "
        f"{max(r['gc_pauses_s'], default=0.0):.2f} / {sum(r['gc_pauses_s']):.2f}",
        f"{'tracebacks in the server log':<44} {r['server_tracebacks']:>8}",
    ]
    return _with_errors(lines, r)


def report(r: dict) -> str:
    def f(x, spec=".2f"):
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)
    t = r["targets"]
    lines = [
        f"Load test: {r['sessions']} sessions on {r.get('servers', 1)} server process(es), training cap {r['cap']}, "
        + (f"each training a point of the class experiment {r['experiment'].split('=')[-1]}, " if r.get("experiment") else "") +
        f"measured for {r['measured_s']} s "
        f"(all pages open and networks built after {r['open_all_s']} s; {_load_average(r)})",
        "",
        f"{'figure':<44} {'value':>28}   target",
        f"{'sessions training / watching (class full)':<44} {r['training']:>13} / {r['watching']:<12}   "
        f"{OK[t['every_session_trains_or_watches']]}",
        f"{'GET /app  p50 / p95 / max (s)':<44} {f(r['http_page']['p50']):>8} / {f(r['http_page']['p95']):>6} / "
        f"{f(r['http_page']['max']):<8}   p95 < 1 s: {OK[r['http_page']['p95'] < P95_TARGET_S if r['http_page']['n'] else None]}",
        f"{'GET /liveness  p50 / p95 / max (s)':<44} {f(r['http_liveness']['p50'], '.3f'):>8} / "
        f"{f(r['http_liveness']['p95'], '.3f'):>6} / {f(r['http_liveness']['max'], '.3f'):<8}   "
        f"p95 < 1 s: {OK[r['http_liveness']['p95'] < P95_TARGET_S]}",
        f"{'examples/s per session  min / median / max':<44} {f(r['rate']['min'], '.0f'):>8} / "
        f"{f(r['rate']['median'], '.0f'):>6} / {f(r['rate']['max'], '.0f'):<8}",
        f"{'examples/s, all sessions together':<44} {f(r['rate']['total'], '.0f'):>28}",
        f"{'bare engine on the same cores (examples/s)':<44} {f(r['bare_engine_rate'], '.0f'):>28}   "
        f"(before / after the class: {f(r['bare_engine_rates'][0], '.0f')} / {f(r['bare_engine_rates'][1], '.0f')})",
        f"{'class efficiency (class total / bare engine)':<44} {f(100 * r['class_efficiency'], '.0f'):>27}%   "
        f"target >= 75 %",
        f"{'opening at once: page served p50 / max (s)':<44} {f(r['opening']['served_p50'], '.1f'):>13} / "
        f"{f(r['opening']['served_max'], '.1f'):<12}",
        f"{'opening at once: interactive p50 / max (s)':<44} {f(r['opening']['interactive_p50'], '.1f'):>13} / "
        f"{f(r['opening']['interactive_max'], '.1f'):<12}   target <= 3 s",
        f"{'page moved every (s): median, slowest page':<44} {f(r['page_update_s']['median']):>13} / "
        f"{f(r['page_update_s']['max']):<12}",
        f"{'t-SNE: sessions with a map, by s after Play':<44} {r['tsne_maps']['sessions_with_a_map']:>13} / "
        f"{f(r['tsne_maps']['after_play_s'], '.0f'):<12}",
        f"{'t-SNE: first map after Play, median / last (s)':<44} "
        f"{f(r['tsne_maps']['first_map_s_median'], '.0f'):>13} / {f(r['tsne_maps']['first_map_s_max'], '.0f'):<12}",
        f"{'t-SNE: maps in the window, all sessions':<44} {r['tsne_maps']['maps_in_window']:>28}",
        f"{'fairness: min/max rate, Jain index':<44} {f(r['fairness_min_max']):>13} / {f(r['fairness_jain'], '.3f'):<12}",
        f"{'status / plot data advancing (sessions)':<44} {r['status_advancing']:>13} / {r['plots_advancing']:<12}   "
        f"{OK[t['every_training_session_advancing']]}",
        f"{'CPU cores: server / t-SNE worker / client':<44} {f(r['server_cpu_cores']):>8} / "
        f"{f(r['tsne_worker_cpu_cores']):>6} / {f(r['client_cpu_cores']):<8}",
        f"{'server cores by thread':<44} "
        + ", ".join(f"{k} {v:.2f}" for k, v in r.get("server_cpu_by_thread", {}).items()),
        f"{'server threads  before / during / after':<44} {r['threads']['before']:>8} / {r['threads']['during']:>6} / "
        f"{r['threads']['after']:<8}   {OK[t['threads_back_to_baseline']]}",
        f"{'server RSS MiB  before / during / after':<44} {f(r['rss_mib']['before'], '.0f'):>8} / "
        f"{f(r['rss_mib']['during'], '.0f'):>6} / {f(r['rss_mib']['after'], '.0f'):<8}   "
        f"+{100 * r['memory_growth']:.1f} %: {OK[t['memory_within_20pct']]}",
        f"{'server RSS MiB after each class':<44} {' / '.join(f'{x:.0f}' for x in r['rss_mib_after_each_class']):>28}",
        f"{'t-SNE worker RSS MiB  before / after':<44} {f(r['tsne_worker_rss_mib']['before'], '.0f'):>13} / "
        f"{f(r['tsne_worker_rss_mib']['after'], '.0f'):<12}",
        f"{'seconds until the server ended the sessions':<44} {r['after_s']:>28}",
        f"{'tracebacks in the server log':<44} {r['server_tracebacks']:>28}",
        f"{'allocator':<44} {r['allocator']:>28}",
        f"{'full GC pauses >= 0.25 s: count, longest (s)':<44} {len(r['gc_pauses_s']):>13} / "
        f"{f(max(r['gc_pauses_s'], default=math.nan)):<12}",
    ]
    return _with_errors(lines, r)


def _jsonable(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement window once all train")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds between Play and the measurement")
    ap.add_argument("--cap", default="all",
                    help="DENDRITE_MAX_TRAININGS: 'all' (= --sessions), 'default' (the server's), or a number")
    ap.add_argument("--rounds", type=int, default=1, help="classes in a row on the same server (memory)")
    ap.add_argument("--page-seconds", type=float, default=30.0,
                    help="a second window, after the speed window, in which a new page is asked for every 2 s")
    ap.add_argument("--bare-seconds", type=float, default=15.0,
                    help="how long the bare engine is measured before and after the class (0: not at all)")
    ap.add_argument("--followers", action="store_true",
                    help="presenter mode instead: one presenting session, then --sessions followers")
    ap.add_argument("--client-nice", type=int, default=0,
                    help="with --followers or --flood: niceness of this client's thread and of its session's "
                         "group where the kernel groups sessions (the other machines' browsers)")
    ap.add_argument("--client", choices=("stream", "document"), default="stream",
                    help="'stream' reads each websocket and only the status in it (the server's cost, as with "
                         "browsers on other machines; a training session keeps the first document only to click "
                         "Play, and counts the messages streaming plot data); 'document' also keeps a copy of each "
                         "document here, patch by patch, as a browser does, on the server's cores")
    ap.add_argument("--opening", action="store_true",
                    help="only open --sessions pages at once (nobody trains) and time them")
    ap.add_argument("--idle", action="store_true",
                    help="only open --sessions pages and leave them unused; the server's CPU and /liveness "
                         "with and without them, --seconds each")
    ap.add_argument("--flood", action="store_true",
                    help="one student trains; then 4 loops of page requests from another client, --seconds each")
    ap.add_argument("--servers", type=int, default=1,
                    help="DENDRITE_SERVERS: server processes behind serve.sh's nginx (1..4; the Docker image runs 2); "
                         "with --opening, --followers and a training class")
    ap.add_argument("--experiment", action="store_true",
                    help="the training class is a class experiment: each session trains a grid point and shows "
                         "the class heat map")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    a = ap.parse_args(argv)
    if not 1 <= a.sessions <= 60 or not 1 <= a.seconds <= 600 or not 1 <= a.rounds <= 5:
        ap.error("--sessions must be 1..60, --seconds 1..600 and --rounds 1..5 (the test is bounded on purpose)")
    log = (lambda *x: print(*x, file=sys.stderr)) if a.json else print
    if not 1 <= a.servers <= 4:
        ap.error("--servers must be 1..4")
    if a.servers > 1 and (a.idle or a.flood):
        ap.error("--idle and --flood measure one server process (--servers 1)")
    if a.client_nice and not (a.followers or a.flood):
        ap.error("--client-nice applies to --followers and --flood only")
    if a.opening:
        r, text = run_opening(a.sessions, a.servers, log=log, client=a.client), report_opening
    elif a.flood:
        r, text = run_flood(a.seconds, a.settle, log=log, client_nice=a.client_nice), report_flood
    elif a.idle:
        r, text = run_idle(a.sessions, a.seconds, a.settle, log=log), report_idle
    elif a.followers:
        r = run_followers(a.sessions, a.seconds, a.settle, log=log, client_nice=a.client_nice, client=a.client,
                          servers=a.servers)
        text = report_followers
    else:
        r = run(a.sessions, a.seconds, a.cap, a.settle, rounds=a.rounds, log=log, page_seconds=a.page_seconds,
                bare_seconds=a.bare_seconds, servers=a.servers, client=a.client, experiment=a.experiment)
        text = report
    print(text(r))
    if a.json:
        print(json.dumps(_jsonable(r)))
    return 0 if all(r["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
