"""How long a page waits for its first t-SNE map: ``python -m benchmarks.first_map [--runs 3]``.

One page of the served app (deploy/serve.sh, one server) in headless Chromium at 1920×1080, on the
server's own machine as on a teacher's laptop that projects it: Play, then the map's data source is
read every second until it holds points.  Each run starts a fresh server.  Needs Playwright and
Debian's chromium (the browser tests' setup).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from benchmarks.load_test import Server

CHROMIUM = "/usr/bin/chromium"
# the map's source is the one with the columns x, y, cls and img (app/plots/tsne_map.py)
MAP_POINTS_JS = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  if (!doc) return -1;
  for (const m of doc.all_models) {
    const data = m.data;
    if (!data) continue;
    const get = k => (data instanceof Map ? data.get(k) : data[k]);
    const x = get('x');
    if (x && get('cls') && get('img')) {
      let n = 0;
      for (const v of x) if (Number.isFinite(v)) n++;
      return n;
    }
  }
  return -2;
}"""


def first_map_s(timeout: float = 120.0) -> float | None:
    """Seconds from pressing Play to the first map's points on the page; None when none came in time."""
    from playwright.sync_api import sync_playwright

    with Server(None, servers=1) as server, sync_playwright() as p:
        server.wait_ready()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(server.base + "/app", timeout=120_000)
            page.get_by_role("button", name="Play").first.click(timeout=120_000)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < timeout:
                if page.evaluate(MAP_POINTS_JS) > 0:
                    return time.perf_counter() - t0
                time.sleep(1.0)
            return None
        finally:
            browser.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="longest wait for a map, seconds")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    times = []
    for k in range(a.runs):
        t = first_map_s(a.timeout)
        times.append(t)
        print(f"run {k + 1}: " + (f"first map after {t:.1f} s" if t is not None else f"no map within {a.timeout:.0f} s"),
              file=sys.stderr if a.json else sys.stdout, flush=True)
    got = [t for t in times if t is not None]
    summary = {"runs": times, "median_s": statistics.median(got) if got else None}
    median = "none" if summary["median_s"] is None else f"{summary['median_s']:.1f} s"
    print(json.dumps(summary) if a.json else f"median {median} over {len(got)} of {a.runs} runs")
    return 0 if len(got) == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
