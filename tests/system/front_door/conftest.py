"""Helpers for the front-door tests: deploy/serve.sh on a free port, raw HTTP and websocket clients."""
import asyncio
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.system.conftest import end_process_group, wait_until_open

ROOT = Path(__file__).resolve().parents[3]
SERVE = ROOT / "deploy" / "serve.sh"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout: float, what: str, interval: float = 0.2):
    """Poll ``fn`` until it returns something true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def request(base: str, path: str, headers: dict | None = None, timeout: float = 60.0):
    """One GET without following redirects: (status, headers, body text)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def page_token(html: str) -> str:
    """The session token a page embeds for its websocket."""
    m = re.search(r'"token":\s*"([^"]+)"', html)
    assert m, "no session token in the page"
    return m.group(1)


def token_payload(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def encode_payload(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def websocket_answer(base: str, token: str, timeout: float = 60.0) -> str:
    """'ACK' if the server accepts ``token`` on the app's websocket, else how it refused."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    async def attempt():
        req = HTTPRequest(base.replace("http://", "ws://") + "/app/ws", headers={"Origin": base},
                          request_timeout=timeout, connect_timeout=timeout)
        try:
            conn = await websocket_connect(req, subprotocols=["bokeh", token])
        except Exception as exc:
            return f"handshake refused: {exc!r}"
        try:
            msg = await asyncio.wait_for(conn.read_message(), timeout)
        finally:
            conn.close()
        if msg is None:
            return "closed"
        return "ACK" if isinstance(msg, str) and '"msgtype": "ACK"' in msg else f"other: {str(msg)[:80]}"

    return asyncio.run(attempt())


@contextmanager
def serve_sh(tmp_path: Path, env: dict | None = None, startup_timeout: float = 240.0):
    """deploy/serve.sh (the production command) on a free port of 127.0.0.1, no warm-up.

    Yields ``(base_url, log_path, proc)``; the whole process group is ended on exit.
    """
    port = free_port()
    full_env = {**os.environ, "DENDRITE_PORT": str(port), "DENDRITE_ADDRESS": "127.0.0.1",
                "DENDRITE_ORIGIN": f"127.0.0.1:{port}", "DENDRITE_NO_WARMUP": "1", **(env or {})}
    full_env.pop("BOKEH_SECRET_KEY", None)
    log_path = tmp_path / f"serve-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(SERVE)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=full_env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def live():
            assert proc.poll() is None, f"serve.sh exited with {proc.returncode}:\n{log_path.read_text()}"
            try:
                return request(base, "/liveness", timeout=5)[0] == 200
            except OSError:
                return False
        wait_until(live, startup_timeout, f"serve.sh to be live (log: {log_path})", interval=0.3)
        yield base, log_path, proc
    finally:
        end_process_group(proc, 20)


def open_page(browser, url: str, **context_options):
    """A new browser context and page at ``url``, once the page's network is built."""
    context = browser.new_context(viewport={"width": 1900, "height": 3000}, accept_downloads=True, **context_options)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url, timeout=120_000)
    wait_until_open(page, 180_000)
    return page


@pytest.fixture(scope="session")
def fd():
    """The helpers above, for test modules (which must not import this file)."""
    return SimpleNamespace(ROOT=ROOT, SERVE=SERVE, CHROMIUM=CHROMIUM, CHROMIUM_ARGS=CHROMIUM_ARGS,
                           free_port=free_port, wait_until=wait_until, request=request, page_token=page_token,
                           token_payload=token_payload, encode_payload=encode_payload,
                           websocket_answer=websocket_answer, serve_sh=serve_sh, flood=flood,
                           open_page=open_page)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One serve.sh server for a test module."""
    with serve_sh(tmp_path_factory.mktemp("front-door")) as srv:
        yield srv


def flood(base: str, seconds: float = 20.0, workers: int = 4, max_requests: int = 400,
          probe_every: float = 0.25, headers: dict | None = None) -> dict:
    """GET ``base``/app from one client in ``workers`` loops while /liveness is timed.

    Bounded in time and count; only ever aimed at 127.0.0.1.  Returns the status counts of the
    flood and the liveness latencies (s), including probes that timed out (counted as 10 s).
    """
    import threading
    from collections import Counter

    assert urlsplit(base).hostname == "127.0.0.1", "floods only go to this machine"
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    sent = [0]

    def flooder():
        while time.monotonic() < stop:
            with lock:
                if sent[0] >= max_requests:
                    return
                sent[0] += 1
            try:
                status = request(base, "/app", headers, timeout=30)[0]
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1

    def prober():
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                ok = request(base, "/liveness", timeout=10)[0] == 200
            except OSError:
                ok = False
            took = time.monotonic() - t0
            latencies.append(took if ok else 10.0)
            time.sleep(max(0.0, probe_every - took))    # probe pacing, not a wait for a condition

    threads = [threading.Thread(target=flooder, daemon=True) for _ in range(workers)]
    threads.append(threading.Thread(target=prober, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    lat = sorted(latencies)
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    return {"statuses": dict(statuses), "probes": len(lat), "median": pick(0.5), "p95": pick(0.95),
            "max": lat[-1] if lat else float("nan"), "under_1s": sum(x < 1.0 for x in lat) / max(1, len(lat))}
