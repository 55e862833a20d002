"""What real browsers send back to the server, and what it costs: ``python -m benchmarks.browser_changes
[--pages 4] [--seconds 30]``.

The load test's clients read the websockets without running BokehJS, so they never send what a real
page sends: each change the browser makes to a model goes to the server as a ``PATCH-DOC`` message,
which the server's one event loop decodes, applies and answers. Here ``--pages`` pages in headless
Chromium (Debian's chromium, on the server's machine) train on one server (deploy/serve.sh). Over a
window of ``--seconds`` it reports the messages the pages sent per page and second (counted from the
frames Playwright sees), the server's event-loop thread's CPU (cores), and the examples/s the pages
trained in all. Run it from two worktrees in turns to compare two versions of the page.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time

from benchmarks.load_test import Server, cpu_by_kind

CHROMIUM = "/usr/bin/chromium"
SEEN = re.compile(r"examples seen: (\d+)")


def seen(page) -> int:
    """The page's status line's example count (Playwright's text locators see inside shadow roots)."""
    m = SEEN.search(page.get_by_text(SEEN).first.inner_text(timeout=30_000))
    return int(m.group(1)) if m else 0


def run(pages: int = 4, seconds: float = 30.0, settle: float = 20.0) -> dict:
    from playwright.sync_api import sync_playwright

    with Server(None, servers=1) as server, sync_playwright() as p:
        server.wait_ready()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        sent = [0] * pages
        opened = []
        try:
            for i in range(pages):
                page = browser.new_page(viewport={"width": 1366, "height": 768})

                def count(frame, i=i):
                    if isinstance(frame, str) and frame.startswith("{") and '"msgtype":"PATCH-DOC"' in frame:
                        sent[i] += 1
                page.on("websocket", lambda ws: ws.on("framesent", count))
                page.goto(server.base + "/app", timeout=120_000)
                opened.append(page)
            for page in opened:
                page.get_by_role("button", name="▶ Play").first.click(timeout=120_000)
            time.sleep(settle)      # every page trains and has all its figures
            before = server.sample(), list(sent), [seen(q) for q in opened]
            time.sleep(seconds)
            after = server.sample(), list(sent), [seen(q) for q in opened]
        finally:
            browser.close()
        tracebacks = server.log_text().count("Traceback")
    window = after[0]["t"] - before[0]["t"]
    kinds = cpu_by_kind([before[0], after[0]])
    return {"pages": pages, "window_s": window,
            "patch_messages_per_page_s": (sum(after[1]) - sum(before[1])) / pages / window,
            "event_loop_cores": kinds.get("event loop", 0.0),
            "server_cores": (after[0]["cpu_s"] - before[0]["cpu_s"]) / window,
            "examples_per_s_all_pages": (sum(after[2]) - sum(before[2])) / window,
            "server_tracebacks": tracebacks}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.pages, a.seconds)
    if a.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:28s} {v:.3f}" if isinstance(v, float) else f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
