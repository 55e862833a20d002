"""Downloads: the run as JSON or CSV, the plots as standalone HTML or PNG.

* JSON -- one object: the spec in force, seed, dataset, preset, progress and
  every kept snapshot (``Snapshot.to_dict()`` without voltage traces), so a run
  can be compared with ``dendcore`` runs or re-created from its spec and seed.
* CSV -- one row per kept snapshot, the columns of ``Snapshot.scalars()``.
* HTML -- the plots as they are now, as one file that works offline (Bokeh's
  JavaScript is inlined).
* PNG -- that HTML rendered by a headless Chromium (Playwright); each plot's
  toolbar also has a save button that writes a PNG in the browser itself.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from dendcore import SCHEMA_VERSION, Snapshot

EXPORT_FORMAT = "dendrite-lab-dashboard-run"
CHROMIUM = os.environ.get("DENDRITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class ExportUnavailable(RuntimeError):
    """The requested export needs something this machine does not have."""


def run_record(run, history: list[dict]) -> dict:
    """The run as one JSON-able dict (``run`` is the controller's RunInfo)."""
    last = history[-1] if history else {}
    return {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "snapshot_schema": SCHEMA_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preset": run.preset,
        "dataset": run.dataset,
        "seed": run.seed,
        "spec": run.spec.to_dict(),
        "examples_seen": last.get("examples_seen", 0),
        "epoch": last.get("epoch", 0.0),
        "snapshots": history,
    }


def run_json(run, history: list[dict]) -> str:
    return json.dumps(run_record(run, history), indent=1, allow_nan=False)


def run_csv(history: list[dict]) -> str:
    rows = [Snapshot.from_dict(h).scalars() for h in history]
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns or ["examples_seen"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def plots_html(layout, title: str = "Dendrite Lab") -> str:
    """A standalone HTML page (inline resources, no network needed) of a Bokeh layout of fresh figures."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(layout, INLINE, title)


def png_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def html_to_png(html: str, width: int = 1200, timeout_s: float = 30.0) -> bytes:
    """Render an HTML page to PNG in headless Chromium (call from a worker thread, not the event loop)."""
    if not png_available():
        raise ExportUnavailable("PNG export needs Playwright and Chromium; use the save button in each "
                                "plot's toolbar instead")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plots.html"
        path.write_text(html, encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                        timeout=timeout_s * 1000)
            try:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto(path.as_uri(), timeout=timeout_s * 1000)
                page.wait_for_selector("canvas", state="attached", timeout=timeout_s * 1000)
                time.sleep(0.5)   # let Bokeh finish drawing
                return page.screenshot(full_page=True, type="png")
            finally:
                browser.close()
