"""Entry point of ``panel serve app``: one dashboard page per browser session."""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:   # so that ``app`` imports as a package next to ``dendcore``
    sys.path.insert(0, _ROOT)

import panel as pn  # noqa: E402

from app import limits  # noqa: E402
from app.page import build_page  # noqa: E402

doc = pn.state.curdoc
request = getattr(getattr(doc, "session_context", None), "request", None)
if limits.made_by_websocket(request):
    # a page back after its session ended: one line, and static/page.js loads the link again
    pn.pane.HTML(limits.ENDED_TEXT, css_classes=[limits.ENDED_NAME]).servable(title="Dendrite Lab")
elif doc is None:
    build_page().servable(title="Dendrite Lab")
else:
    page = build_page()
    # Bokeh walks every model of the document again after each of the template's ~20 roots; added
    # inside one freeze they are walked once (GET /app median 0.74 -> 0.51 s;
    # benchmarks/README.md, *Load test*, 30 pages opened in the same second)
    with doc.models.freeze():
        page.servable(title="Dendrite Lab")
