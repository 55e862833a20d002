"""Entry point of ``panel serve app``: one dashboard page per browser session."""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:   # so that ``app`` imports as a package next to ``dendcore``
    sys.path.insert(0, _ROOT)

import panel as pn  # noqa: E402

from app.page import build_page  # noqa: E402

page = build_page()
doc = pn.state.curdoc
if doc is None:
    page.servable(title="Dendrite Lab")
else:
    # Bokeh walks every model of the document again after each of the template's ~20 roots; added
    # inside one freeze they are walked once (GET /app median 0.74 -> 0.51 s;
    # benchmarks/README.md, *Load test*, 30 pages opened in the same second)
    with doc.models.freeze():
        page.servable(title="Dendrite Lab")
