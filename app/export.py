"""Downloads: the run as JSON or CSV, the plots as standalone HTML or PNG.

* JSON -- one object: the spec in force, seed, dataset, preset, progress and
  every kept snapshot (``Snapshot.to_dict()`` without voltage traces), so a run
  can be compared with ``dendcore`` runs; with the spec it started from and its
  live changes at their example counts, ``python -m dendcore train --replay`` runs it again.
* CSV -- one row per kept snapshot, the columns of ``Snapshot.scalars()``.
* HTML -- the plots as they are now, as one file that works offline (Bokeh's
  JavaScript is inlined).
* PNG -- drawn by the student's own browser (:data:`PNG_IN_BROWSER_JS`): the server
  never starts a browser of its own, which under deploy/serve.sh crashed (it inherited the
  jemalloc preload), leaked its driver processes and showed its launch log on the page.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from dendcore import SCHEMA_VERSION, Snapshot

EXPORT_FORMAT = "dendrite-lab-dashboard-run"


def run_record(run, history: list[dict], start_spec=None, changes: list[dict] | None = None) -> dict:
    """The run as one JSON-able dict (``run`` is the controller's RunInfo).

    ``spec`` is the spec in force now; ``spec_at_start`` and ``changes`` (the live changes with
    the example count each took effect at) let ``python -m dendcore train --replay`` run it again.
    """
    last = history[-1] if history else {}
    return {
        "format": EXPORT_FORMAT,
        "format_version": 2,
        "snapshot_schema": SCHEMA_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preset": run.preset,
        "dataset": run.dataset,
        "seed": run.seed,
        "spec": run.spec.to_dict(),
        "spec_at_start": (start_spec or run.spec).to_dict(),
        "changes": list(changes or []),
        "examples_seen": last.get("examples_seen", 0),
        "epoch": last.get("epoch", 0.0),
        "snapshots": history,
    }


def run_json(run, history: list[dict], start_spec=None, changes: list[dict] | None = None) -> str:
    return json.dumps(run_record(run, history, start_spec, changes), indent=1, allow_nan=False)


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
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.io.doc import patch_curdoc
    from bokeh.resources import INLINE

    # file_html copies the browser-side callbacks of the *current* document into its own; in a
    # download callback that can be a document the server has already destroyed, whose callback
    # table is gone ("'DocumentCallbackManager' object has no attribute '_js_event_callbacks'").
    # The figures are fresh and need nothing from any session, so an empty document stands in.
    scratch = Document()
    with patch_curdoc(scratch):
        return file_html(layout, INLINE, title)


# Runs in the browser when "Plots as PNG" is pressed: every plot on screen, drawn by Bokeh's own
# export (the same drawing the toolbar's save button makes), packed in reading order into rows
# of one white canvas (the page's explanations between the plots are left out), then saved as a
# file.  ``html`` is the HTML download button, whose file name (kept up to date by the page)
# gives the PNG its name.
PNG_IN_BROWSER_JS = """
const shown = [];
for (const view of Bokeh.index.all_views()) {
  if (view.model.type !== "Figure" || !view.el || !view.el.isConnected) continue;
  const r = view.el.getBoundingClientRect();
  if (r.width > 0 && r.height > 0) shown.push({view, w: r.width, h: r.height, top: r.top, left: r.left});
}
if (shown.length === 0) { window.alert("There are no plots on the page yet."); return; }
shown.sort((a, b) => (Math.abs(a.top - b.top) > 20 ? a.top - b.top : a.left - b.left));
const gap = 10, rowWidth = Math.max(1200, ...shown.map((p) => p.w));
let x = 0, y = 0, rowHeight = 0, width = 0;
for (const p of shown) {
  if (x > 0 && x + p.w > rowWidth) { x = 0; y += rowHeight + gap; rowHeight = 0; }
  p.x = x; p.y = y;
  x += p.w + gap; rowHeight = Math.max(rowHeight, p.h); width = Math.max(width, x - gap);
}
const height = y + rowHeight;
// browsers refuse canvases much beyond 16k pixels a side or ~250 M pixels
const scale = Math.min(window.devicePixelRatio || 1, 16000 / width, 16000 / height, Math.sqrt(2.0e8 / (width * height)));
const out = document.createElement("canvas");
out.width = Math.ceil(width * scale);
out.height = Math.ceil(height * scale);
const ctx = out.getContext("2d");
ctx.fillStyle = "white";
ctx.fillRect(0, 0, out.width, out.height);
for (const p of shown) {
  ctx.drawImage(p.view.export("png").canvas, p.x * scale, p.y * scale, p.w * scale, p.h * scale);
}
const name = (html.filename || "dendrite-lab-plots.html").replace(/\\.html$/, "") + ".png";
out.toBlob((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}, "image/png");
"""
