"""deploy/serve.sh in Debian's Chromium: a hostile link still gets a page, and every export downloads
and opens (issue 15, findings 4–6)."""
import csv
import io
import json
import re
import struct
import sys

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

LONG_DIGITS = "1" * (sys.get_int_max_str_digits() + 1)     # 4,301 digits
INTERNALS = re.compile(r"Traceback|/tmp/|/work/|/home/|/srv/|\bpid\b|--headless|site-packages", re.I)


@pytest.fixture(scope="module")
def server(tmp_path_factory, fd):
    if not fd.CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    # the browser's page loads all come from 127.0.0.1: give that client room for the module's pages
    with fd.serve_sh(tmp_path_factory.mktemp("front-door-browser"), env={"DENDRITE_PAGE_BURST_S": "600"}) as srv:
        yield srv


def figure_count(page) -> int:
    return page.evaluate("""() => {
        let n = 0;
        for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
            for (const m of doc._all_models.values()) if (m.type === "Figure") n++;
        }
        return n;
    }""")


def page_text(page) -> str:
    # Panel draws into shadow roots; innerText of the body misses them, so walk them
    return page.evaluate("""() => {
        const out = [];
        const walk = (root) => {
            for (const el of root.querySelectorAll("*")) {
                if (el.shadowRoot) walk(el.shadowRoot);
            }
            if (root.textContent) out.push(root.textContent);
        };
        walk(document);
        return out.join("\\n");
    }""")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_4301_digit_value_in_the_link_still_gets_a_page(server, browser, fd):
    base, log, _ = server
    query = f"seed={LONG_DIGITS}&hidden={LONG_DIGITS}&nonsense={LONG_DIGITS}&g_a=0.05"
    page = fd.open_page(browser, f"{base}/app?{query}")
    try:
        page.get_by_text("values this page does not read", exact=False).first.wait_for(timeout=60_000)
        in_force = page.locator("p", has_text="Running now:").first.inner_text()
        assert "784-500-10" in in_force and "g_a = 0.05" in in_force, in_force
        fd.wait_until(lambda: figure_count(page) > 0, 60, "the plots (they follow the header)")
        # the address bar is rewritten to what is in force (Panel applies it once the page is idle)
        fd.wait_until(lambda: LONG_DIGITS[:50] not in page.url and "seed=0" in page.url, 60,
                      f"the address bar rewritten (it shows {page.url[:200]})")
        assert not INTERNALS.search(page_text(page))
    finally:
        page.context.close()
    text = log.read_text()
    assert "Traceback" not in text and "4300" not in text, text[-3000:]


def test_each_export_downloads_and_opens(server, browser, fd, tmp_path):
    base, log, _ = server
    page = fd.open_page(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=30")
    try:
        fd.wait_until(lambda: figure_count(page) >= 6, 120, "the plots to be on the page")
        page.get_by_role("button", name="▶ Play").click()    # some snapshots, so the files hold data
        fd.wait_until(lambda: re.search(r"examples seen: [1-9]", page_text(page)), 180, "training")
        page.get_by_role("button", name="‖ Pause").click()
        files = {}
        for label in ("Run as JSON", "Run as CSV", "Plots as HTML", "Plots as PNG"):
            with page.expect_download(timeout=120_000) as info:
                page.get_by_text(label, exact=True).first.click()
            target = tmp_path / info.value.suggested_filename
            info.value.save_as(target)
            files[label] = target
        assert not INTERNALS.search(page_text(page)), "an export put internal detail on the page"
    finally:
        page.context.close()

    record = json.loads(files["Run as JSON"].read_text())
    assert record["format"] == "dendrite-lab-dashboard-run" and record["spec"]["hidden"] == [30]
    rows = list(csv.DictReader(io.StringIO(files["Run as CSV"].read_text())))
    assert rows and "examples_seen" in rows[0]
    assert files["Plots as HTML"].name.endswith("-plots.html")
    assert files["Plots as PNG"].name == files["Plots as HTML"].name[:-5] + ".png"

    # the HTML file opens offline and Bokeh draws its plots
    viewer = browser.new_context(offline=True).new_page()
    try:
        viewer.goto(files["Plots as HTML"].as_uri(), timeout=60_000)
        fd.wait_until(lambda: viewer.evaluate("() => document.querySelectorAll('.bk-Figure, .bk-Canvas').length")
                      or figure_count(viewer), 60, "the exported plots to be drawn")
        assert figure_count(viewer) >= 6
        # the PNG opens as an image of the plots' size, with something drawn on it
        data = files["Plots as PNG"].read_bytes()
        width, height = png_size(data)
        assert width >= 800 and height >= 400, (width, height)
        viewer.goto(files["Plots as PNG"].as_uri(), timeout=60_000)
        drawn = viewer.evaluate("""() => {
            const img = document.querySelector("img");
            const c = document.createElement("canvas");
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, c.width, c.height).data;
            let dark = 0;
            for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] < 300) dark++;
            return [img.naturalWidth, dark];
        }""")
        assert drawn[0] == width and drawn[1] > 1000, drawn
    finally:
        viewer.context.close()
    text = log.read_text()
    assert "Traceback" not in text and "export failed" not in text.lower(), text[-3000:]


def test_huge_values_add_little_to_the_log(server, browser, fd):
    """A refused 15 MB value sent over the websocket, and a 30 kB link value, each add at most a few kB."""
    base, log, _ = server
    page = fd.open_page(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=30")
    try:
        before = log.stat().st_size
        # what a hand-made client can send: the Hidden layers box set to 15 MB of digits
        sent = page.evaluate("""() => {
            for (const doc of window.Bokeh.documents) {
                for (const m of doc._all_models.values()) {
                    if (m.type === "panel.models.widgets.TextInput") { m.value = "9".repeat(15000000); return true; }
                }
            }
            return false;
        }""")
        assert sent
        page.get_by_text("Hidden layers:", exact=False).first.wait_for(timeout=120_000)   # the page explains
        fd.wait_until(lambda: "refused a change from the browser" in log.read_text()[before:], 60,
                      "the refusal to be logged")
        grown = log.stat().st_size - before
        assert grown < 5_000, f"the log grew by {grown} bytes"
    finally:
        page.context.close()

    before = log.stat().st_size
    status, _, _ = fd.request(base, "/app?seed=1&note=" + "x" * 30_000, {"X-Real-IP": "10.15.9.9"})
    assert status == 200        # the server logs while it builds the page, before it answers
    grown = log.stat().st_size - before
    assert grown < 3_000, f"the log grew by {grown} bytes"
