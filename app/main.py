"""Entry point of ``panel serve app``: one dashboard page per browser session."""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:   # so that ``app`` imports as a package next to ``dendcore``
    sys.path.insert(0, _ROOT)

from app.page import build_page  # noqa: E402

build_page().servable(title="Dendrite Lab")
