"""A page whose connection drops (a phone's screen that slept, a school network that dropped for a
moment) in Debian's headless Chromium: the page says so at once, joins its session again when the
network is back, shows the run where it stood, and trains on from there; after longer than the server
keeps a session, it loads its link again. A training page sends the server nothing of what the browser
computes for itself (ranges, plot sizes)."""
import time

import pytest

pytest.importorskip("panel")
sync_api = pytest.importorskip("playwright.sync_api")

from tests.system.conftest import (ARGS, CHROMIUM, examples_seen, served_app, status_text,  # noqa: E402
                                   wait_until, wait_until_open)
from tests.system.cut_proxy import CutProxy  # noqa: E402

pytestmark = pytest.mark.browser

BANNER = "#dl-connection"
SESSION_LIFETIME_MS = 15_000    # a session whose page is gone is kept this long (deploy/serve.sh: 60 s)
# the error plot's examples axis (shared by the curves): its end, which the browser computes, and the
# last example in the curves' sources
AXIS_AND_DATA = """() => {
  let end = null, last = 0;
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
    if (m.title && m.title.text && m.title.text.startsWith('Error (training') && m.x_range) end = m.x_range.end;
    const x = m.data ? (m.data.get ? m.data.get('examples_seen') : m.data.examples_seen) : null;
    if (x && x.length) last = Math.max(last, x[x.length - 1]);
  }
  return [end, last];
}"""


@pytest.fixture(scope="module")
def through_proxy():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    proxy = CutProxy()
    try:
        with served_app("--allow-websocket-origin", f"127.0.0.1:{proxy.port}", "--check-unused-sessions", "1000",
                        "--unused-session-lifetime", str(SESSION_LIFETIME_MS)) as (base, log):
            proxy.target_port = int(base.rsplit(":", 1)[1])
            yield f"http://127.0.0.1:{proxy.port}", log, proxy
    finally:
        proxy.close()


@pytest.fixture
def proxy_page(through_proxy):
    base, _log, proxy = through_proxy
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(30_000)
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f) if isinstance(f, str) else None))
        page.goto(f"{base}/app", timeout=90_000)
        wait_until_open(page)
        try:
            yield page, sent, proxy
        finally:
            browser.close()


def test_a_dropped_connection_is_said_rejoined_and_the_run_goes_on(proxy_page):
    page, _sent, cut = proxy_page
    page.get_by_role("button", name="▶ Play").click()
    wait_until(lambda: examples_seen(page) > 1500, 120, "training")
    cut.cut()
    banner = page.locator(BANNER)
    banner.wait_for(state="visible", timeout=15_000)
    assert "connection to the server was lost" in banner.inner_text() and banner.get_attribute("role") == "alert"
    time.sleep(3)                      # the server pauses a run whose tab is gone for a second
    cut.restore()
    banner.wait_for(state="hidden", timeout=60_000)
    # the page is drawn again from its session: the run paused where it stood, not a new one
    wait_until(lambda: "paused" in status_text(page), 30, "the run shown paused")
    paused = examples_seen(page)
    assert paused > 1500
    page.get_by_role("button", name="▶ Play").click()
    wait_until(lambda: examples_seen(page) > paused + 1000, 120, "the run to train on after the reconnection")
    # the examples axis still follows the curves (a range the server held came back fixed)
    wait_until(lambda: (lambda end, last: end is not None and last > paused and end >= last)(*page.evaluate(AXIS_AND_DATA)),
               30, "the examples axis to reach the newest point")


def test_a_training_page_keeps_its_computed_ranges_and_sizes_to_itself(proxy_page):
    page, sent, _proxy = proxy_page
    page.get_by_role("button", name="▶ Play").click()
    wait_until(lambda: examples_seen(page) > 500, 120, "training")
    time.sleep(2)
    before = len(sent)
    time.sleep(10)
    changes = [f for f in sent[before:] if f.startswith('{"events"')]
    assert changes == [], f"{len(changes)} changes sent in 10 s of training, e.g. {changes[:3]}"


def test_a_page_away_longer_than_its_session_loads_its_link_again(proxy_page, through_proxy):
    page, _sent, cut = proxy_page
    log = through_proxy[1]
    page.get_by_role("button", name="▶ Play").click()
    wait_until(lambda: examples_seen(page) > 500, 120, "training")
    cut.cut()
    page.locator(BANNER).wait_for(state="visible", timeout=15_000)
    time.sleep(SESSION_LIFETIME_MS / 1000 + 4)         # the server ends the session meanwhile
    cut.restore()
    # Bokeh's next attempt (16 s after the one before) joins a new session of one line, and the page
    # loads its link again: a new page, paused at the start, with no banner
    def loaded_again():
        try:        # (the page is between two documents for a moment)
            return page.locator(BANNER).count() == 0 and "paused" in status_text(page) and examples_seen(page) == 0
        except sync_api.Error:
            return False
    wait_until(loaded_again, 90, "the page loaded again from its link")
    assert "Traceback" not in log.read_text()
