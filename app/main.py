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
    # Bokeh re-walks every model of the document after each root the template adds (about 20):
    # adding them all at once and walking once takes 0.17 s of the server's loop instead of 0.30 s
    with doc.models.freeze():
        page.servable(title="Dendrite Lab")
