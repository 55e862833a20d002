"""A closed session must leave nothing behind that keeps its page alive.

Panel keeps the settings made through ``pn.config`` inside a session per document, in a
dictionary weak on the document only, and never clears it when the session ends.  Anything there
that leads back to the page keeps the page and its document alive for good.  The load test found
every closed session retained that way, through the exception handler (about 21,000 objects and
5 MB each; benchmarks/README.md, *Load test*).
"""
import gc
import types
import weakref

import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from bokeh.io.doc import patch_curdoc  # noqa: E402

from app import page as page_mod  # noqa: E402
from tests.app.conftest import BrowserSession  # noqa: E402


def _reaches(start, target, depth: int) -> bool:
    """Whether ``target`` is reachable from ``start`` by strong references within ``depth`` steps
    (modules and classes not followed: they are shared by every session)."""
    seen, frontier = {id(start)}, [start]
    for _ in range(depth):
        nxt = []
        for obj in frontier:
            for ref in gc.get_referents(obj):
                if ref is target:
                    return True
                if id(ref) in seen or isinstance(ref, (types.ModuleType, type)):
                    continue
                seen.add(id(ref))
                nxt.append(ref)
        frontier = nxt
    return False


def test_panels_per_document_settings_do_not_hold_the_page():
    ctx = BrowserSession()
    doc = Document()
    doc._session_context = weakref.ref(ctx)
    with patch_curdoc(doc):
        root = page_mod.build_page()
        dash = next(d for d in page_mod.SESSIONS if d.root is root)
        handler = pn.config.exception_handler
    settings = type(pn.config)._session_config.get(doc)
    assert settings is not None and settings.get("exception_handler") is handler, \
        "the handler is this session's own (Panel's per-document settings)"
    assert not _reaches(settings, dash, depth=6), "a per-document setting leads back to the page"
    got = []
    dash.on_exception = got.append
    handler(ValueError("a refused value"))       # the live page still gets it (and tells the student)
    assert [str(e) for e in got] == ["a refused value"]
    dash.close()
