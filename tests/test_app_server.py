"""``panel serve app`` as a subprocess: the liveness check and the page itself (no browser)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("panel")

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


@contextmanager
def served_app(*extra: str, startup_timeout: float = 180.0, env: dict | None = None):
    """Run ``panel serve app --liveness`` on a free port; always terminated on exit.

    Yields ``(base_url, log_path)``; the server's output goes to ``log_path``.
    """
    port = free_port()
    panel_cmd = [sys.executable, "-m", "panel"] if shutil.which("panel") is None else [shutil.which("panel")]
    cmd = [*panel_cmd, "serve", "app", "--port", str(port), "--address", "127.0.0.1",
           "--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness", *extra]
    log = tempfile.NamedTemporaryFile("w+", prefix="dendrite-lab-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"panel serve exited with {proc.returncode}:\n{Path(log.name).read_text()}")
            try:
                status, _ = http_get(f"{base}/liveness", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > startup_timeout:
                raise AssertionError(f"server not up after {startup_timeout} s:\n{Path(log.name).read_text()}")
            time.sleep(0.25)
        yield base, Path(log.name)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def test_liveness_and_page():
    with served_app() as (base, log):
        status, body = http_get(f"{base}/liveness?endpoint=/app", timeout=60)
        assert status == 200, body
        assert json.loads(body) == {"/app": True}

        status, body = http_get(f"{base}/liveness?endpoint=/nope")
        assert status == 400

        status, html = http_get(f"{base}/app?preset=glr17-1hl-rate&g_a=0.05", timeout=60)
        assert status == 200
        assert "Dendrite Lab" in html

        text = log.read_text()
        assert "warm-up done" in text
        assert "Traceback" not in text, text
