"""The dashboard in Debian's headless Chromium (Playwright): Play, live slider, Reset, shared link.

Screenshots go to ``screenshots/`` (git-ignored) for a person to look at.
"""
import time
from pathlib import Path

import pytest

pytest.importorskip("panel")
sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
from tests.system.conftest import (SHOTS, examples_seen, in_force_text, open_page, plot_titles,  # noqa: E402
                                   served_app, settled, status_text, wait_until)

pytestmark = pytest.mark.browser


def test_play_slider_reset(short_lived_server, browser):
    base, log = short_lived_server
    page = open_page(browser, f"{base}/app")
    assert examples_seen(page) == 0
    error_plot = page.locator(".dl-plot-learning").first
    before = error_plot.screenshot()
    page.screenshot(path=str(SHOTS / "01-opened.png"))

    page.get_by_role("button", name="▶ Play").click()
    page.mouse.move(5, 2900)                        # no tooltip over the page
    n1 = wait_until(lambda: max(0, examples_seen(page)), 30, "examples seen > 0")
    n2 = wait_until(lambda: examples_seen(page) > n1 and examples_seen(page), 30, "examples seen to grow")
    assert n2 > n1 > 0
    wait_until(lambda: error_plot.screenshot() != before, 30, "the error plot to change")
    wait_until(lambda: "test error: not measured" not in status_text(page), 60,
               "a test-error measurement")
    page.screenshot(path=str(SHOTS / "02-training.png"))

    # move the g_a slider with the keyboard (5 steps of 0.01) while it trains
    handle = page.locator(".dl-g_a .noUi-handle").first
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    box = page.locator(".dl-g_a input").first
    wait_until(lambda: float(box.input_value() or 0) > 0, 10, "the g_a box to follow the slider")
    value = float(settled(box.input_value, "the g_a box to settle after the key presses", quiet=1.0))
    assert 0 < value <= 0.05
    wait_until(lambda: f"g_a = {value:g}" in in_force_text(page), 10, f"the running spec to show g_a = {value:g}")
    assert f"g_a={value:g}" in page.url.replace("%3D", "=") or f"g_a={value}" in page.url
    seen_at_change = examples_seen(page)
    wait_until(lambda: examples_seen(page) > seen_at_change, 20, "training to continue after the live change")
    page.screenshot(path=str(SHOTS / "03-live-g_a.png"))

    page.get_by_role("button", name="↺ Reset").click()
    wait_until(lambda: examples_seen(page) == 0, 20, "examples seen: 0 after Reset")
    page.get_by_text("Reset: a fresh network").first.wait_for(timeout=10_000)
    time.sleep(1.0)
    assert examples_seen(page) == 0, "Reset leaves the new network paused"
    page.screenshot(path=str(SHOTS / "04-reset.png"))
    page.close()

    # closing the tab ends the session and its engine thread
    wait_until(lambda: "engine thread stopped" in log.read_text(), 45, "the engine thread to stop")


def test_shared_link_reproduces_a_setup(short_lived_server, browser):
    base, log = short_lived_server
    page = open_page(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=100&g_a=0.05&seed=3")
    text = in_force_text(page)
    assert "784-100-10 · rate" in text and "g_a = 0.05" in text
    # a student looks at the page before pressing Play: once every figure is there, ten empty polls
    # and the page dozes (app/drain.py); Play must wake it (the rest of the test trains 20,000 examples)
    wait_until(lambda: plot_titles(page, "t-SNE map"), 60, "every plot group of the page")
    time.sleep(3.0)
    page.get_by_role("button", name="▶ Play").click()
    page.mouse.move(5, 2900)
    wait_until(lambda: examples_seen(page) > 20000, 60, "rate mode to get through 20,000 examples")
    wait_until(lambda: plot_titles(page, "t-SNE map of the top hidden layer, 1000 test images,"), 60, "a t-SNE map")
    time.sleep(1.0)
    page.screenshot(path=str(SHOTS / "05-rate-link.png"))
    page.get_by_role("button", name="‖ Pause").click()
    page.close()
    assert "Traceback" not in log.read_text()


def test_a_cold_start_shows_the_warm_up_and_enables_play_when_ready(browser, tmp_path):
    """A new machine (nothing compiled): the page says the engine is being prepared, holds Play back,
    and enables it when the background warm-up is done."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    with served_app(env=env, warm=False) as (base, log):
        page = browser.new_page(viewport={"width": 1900, "height": 1200})
        t0 = time.monotonic()
        page.goto(f"{base}/app", timeout=60_000)
        note = page.get_by_text("Preparing the engine").first
        note.wait_for(timeout=30_000)
        shown_after = time.monotonic() - t0
        play = page.get_by_role("button", name="▶ Play")
        if "warm-up done" not in log.read_text():
            assert play.is_disabled(), "Play waits for the warm-up"
        wait_until(lambda: "warm-up done" in log.read_text(), 400, "the warm-up on a cold cache")
        # compiled by a child process, so the pages served meanwhile did not wait for the compiler's GIL
        assert "kernels compiled in a child process" in log.read_text()
        wait_until(lambda: play.is_enabled(), 30, "Play to be enabled after the warm-up")
        play_after = time.monotonic() - t0
        wait_until(lambda: not note.is_visible(), 30, "the warm-up note to go")
        play.click()
        wait_until(lambda: examples_seen(page) > 0, 60, "training after the cold start")
        page.close()
        print(f"cold start: the page showed the warm-up after {shown_after:.1f} s, Play was enabled after "
              f"{play_after:.0f} s")
