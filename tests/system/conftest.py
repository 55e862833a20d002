"""Helpers shared by the tests that start servers and browsers."""
import os
import re
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

try:
    from playwright import sync_api
except ImportError:      # the browser tests skip themselves
    sync_api = None

ROOT = Path(__file__).resolve().parents[2]


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


def end_process_group(proc, grace_s: float = 15.0) -> None:
    """SIGTERM to a server's process group, SIGKILL after ``grace_s``, and to children (the t-SNE
    worker) that outlived it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def served_app(*extra: str, startup_timeout: float = 240.0, env: dict | None = None, warm: bool = True):
    """Run ``panel serve app --liveness`` on a free port; always terminated on exit.

    Yields ``(base_url, log_path)``; the server's output goes to ``log_path``.  With ``warm`` it
    waits for the background warm-up too, as a class meets a server that has been up a while.
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
                if status == 200 and (not warm or "warm-up done" in Path(log.name).read_text()):
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > startup_timeout:
                raise AssertionError(f"server not up after {startup_timeout} s:\n{Path(log.name).read_text()}")
            time.sleep(0.25)
        yield base, Path(log.name)
    finally:
        end_process_group(proc, 10)
        log.close()


def pytest_collection_finish(session):
    """The Dockerfile replay builds from the session's start, in the background (test_deploy.py says why)."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        if item.name == "test_image_steps_in_fresh_venv":
            item.module.start_image_build()
            return


CHROMIUM = Path("/usr/bin/chromium")


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


SHOTS = ROOT / "screenshots"
SHOTS.mkdir(exist_ok=True)     # here, so that any one browser test can be run on its own


def from_every_model(test: str, value: str) -> str:
    """A page function: ``value`` of every Bokeh model ``m`` of the page's documents that passes ``test``
    (JavaScript expressions of ``m``; a value written ``...xs`` adds each of xs)."""
    return ("() => { const out = []; for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) "
            "for (const m of doc._all_models.values()) if (%s) out.push(%s); return out; }" % (test, value))


SEEN = re.compile(r"examples seen: (\d+)")


def wait_until(fn, timeout: float, what: str, interval: float = 0.2):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def settled(fn, what: str, quiet: float = 2.0, timeout: float = 30.0):
    """The value of ``fn()`` once it has stayed the same for ``quiet`` seconds (news still in flight
    on a busy machine may change it for a while after the action that should stop it)."""
    t0 = time.monotonic()
    last, since = fn(), time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.2)
        now = fn()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return last
    raise AssertionError(f"{what}: still changing after {timeout} s (last: {last!r})")


def plot_titles(page, prefix: str) -> list[str]:
    """Titles of the Bokeh plots on the page that start with ``prefix`` (they are drawn on a canvas)."""
    return page.evaluate("""prefix => {
        const out = [];
        for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
            for (const m of doc._all_models.values()) {
                if (typeof m.text === "string" && m.text.startsWith(prefix)) out.push(m.text);
            }
        }
        return out;
    }""", prefix)


def status_text(page) -> str:
    # Panel renders components in shadow roots: text locators see inside them, CSS classes do not
    return page.get_by_text(SEEN).first.inner_text(timeout=10_000)


def in_force_text(page) -> str:
    return page.locator("p", has_text="Running now:").first.inner_text(timeout=10_000)


def examples_seen(page) -> int:
    m = SEEN.search(status_text(page))
    return int(m.group(1)) if m else -1


@pytest.fixture(scope="module")
def short_lived_server():
    """``panel serve app`` whose sessions end soon after their tab closes (skips without Chromium).

    Not shorter than a page's load time, or a session dies before its websocket connects.
    """
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with served_app("--check-unused-sessions", "1000", "--unused-session-lifetime", "10000") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def wait_until_open(page, timeout_ms: int = 60_000) -> None:
    """The page's network is built ("Running now"), then its settings, which follow the header."""
    page.get_by_text("Running now:").first.wait_for(timeout=timeout_ms)
    page.locator(".dl-speed").first.wait_for(timeout=60_000)


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1900, "height": 3000})
    page.set_default_timeout(30_000)
    page.goto(url, timeout=60_000)
    wait_until_open(page)
    return page

