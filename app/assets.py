"""The page's own assets and what keeps the page offline and light.

A school network may have no way out: every file the page needs comes from this server.  The
page's CSS, its script and the network picture live in the top-level ``static/`` folder; they
are read here and sent inline (as the template's CSS, a document script and an SVG pane), so
``panel serve app`` needs no extra flag and publishes no folder of ours (tests/system/test_safety.py
checks that ``app/static/`` never exists).  Panel's own files come from its server resources.

What the page does not use is not shipped: no web font (the system's sans-serif reads as well on
a projector), no MathJax (formulas are written in Unicode, see app/glossary.py), no Tabulator.
Responses are gzip-compressed (:func:`compress_responses`).
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import panel as pn
from panel.io import resources as _pn_resources
from panel.theme import Fast as PanelFast
from panel.theme.base import Inherit
from panel.viewable import Viewable

log = logging.getLogger("dendrite_lab.assets")

STATIC = Path(__file__).resolve().parent.parent / "static"
FONT = ('system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Helvetica Neue", Arial, '
        'sans-serif')


@lru_cache(maxsize=None)
def text(name: str) -> str:
    """One file of ``static/`` (read once per process: every session sends the same text)."""
    return (STATIC / name).read_text(encoding="utf-8")


def component_css() -> str:
    """The stylesheet every component's shadow root gets: focus rings, readable sizes, contrast."""
    return text("components.css")


class Fast(PanelFast):
    """Panel's Fast design without its web font (Google Fonts) and with our component stylesheet.

    Named like Panel's: Panel finds a design's bundled files under its lower-cased class name.
    """

    _resources = {**PanelFast._resources, "font": {}}
    modifiers = {**PanelFast.modifiers,
                 Viewable: {"stylesheets": [Inherit, *PanelFast.modifiers[Viewable]["stylesheets"][1:],
                                            "components.css"]}}


OfflineFast = Fast


def _component_modifiers() -> None:
    # the design's stylesheet list names files; ours is inline text (a string not ending in .css)
    sheets = Fast.modifiers[Viewable]["stylesheets"]
    sheets[-1] = component_css().strip()


def _no_mathjax(_roots) -> bool:
    """Panel ships bokeh-mathjax (1.8 MB) to any page with a Markdown or HTML pane, in case it
    holds LaTeX.  Ours never does (every pane that could shows user text sets disable_math, and
    formulas are Unicode), so the page goes without."""
    return False


def trim_resources() -> None:
    """Drop MathJax from the page's bundle (tests/system/test_classroom.py checks it stays off)."""
    if hasattr(_pn_resources, "_panel_use_mathjax") and hasattr(_pn_resources, "_use_mathjax"):
        _pn_resources._panel_use_mathjax = _no_mathjax
        _pn_resources._use_mathjax = _no_mathjax
    else:       # a Panel release that bundles differently: the test names what comes back
        log.warning("Panel's resource bundling changed: MathJax may be shipped again")


def compress_responses(server_context=None) -> bool:
    """Turn on tornado's gzip transform for the Bokeh server of this process.

    Neither ``panel serve`` nor Bokeh has a switch for compressed HTTP responses (tornado's
    ``compress_response``), and the page's scripts shrink about four-fold with it (6 MB to about
    1 MB).  Tornado applies the transforms listed on its Application to every request, so the
    server hook (app/server_lifecycle.py) adds gzip to the one Bokeh application of this process.
    """
    import gc

    from bokeh.server.tornado import BokehTornado
    from tornado.web import GZipContentEncoding
    apps = [o for o in gc.get_objects() if isinstance(o, BokehTornado)]
    for app in apps:
        if GZipContentEncoding not in app.transforms:
            app.transforms.append(GZipContentEncoding)
    return bool(apps)


def page_script() -> str:
    """The document's script (static/page.js): accessible names, narrow screens, the picture's clicks."""
    return text("page.js")


def install_page_script(doc) -> None:
    """Run static/page.js in the browser once this document is ready."""
    from bokeh.models import CustomJS
    doc.js_on_event("document_ready", CustomJS(code=page_script()))


def configure_session() -> None:
    """Per session: load Panel's extension inside this document, so that the page's bundle holds
    only the extensions it uses (loaded outside a document, Panel ships every model's files,
    Tabulator's 550 kB among them)."""
    pn.extension(notifications=False, design=OfflineFast)


# Each pn.extension() call rewrites the signatures of every Panel class for an editor's help: 7 %
# of every page's GET, for nobody on a server
pn.config.apply_signatures = False
# A phone that slept or a school network that dropped for a moment closes the page's websocket: Bokeh then
# tries to join the same session again (at once, then after 2, 4, 8 and 16 s) and redraws the page from it.
# Panel turns that off by default, which left the page frozen with nothing said
pn.config.reconnect = True


_component_modifiers()
trim_resources()
