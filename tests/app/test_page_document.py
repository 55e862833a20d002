"""The page's Bokeh document passes Bokeh's layout checks.

deploy/serve.sh turns Bokeh's document validation and callback-signature checks off (they were a
fifth of every page's build), so they run here on the page a session gets, and on the explanations
drawer once opened (its texts are made on first opening).
"""
import pytest

pytest.importorskip("panel")

from bokeh.core.validation.check import check_integrity  # noqa: E402
from bokeh.document import Document  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402

from app.page import build_page  # noqa: E402


def _issues(doc):
    models = set()
    for root in doc.roots:
        models |= root.references()
    return check_integrity(models)


def test_the_page_document_has_no_layout_errors():
    doc = Document()
    with set_curdoc(doc):
        tpl = build_page()
        try:
            with doc.models.freeze():
                tpl.server_doc(doc, title="checks")
            issues = _issues(doc)
            assert issues.error == []
            # the plot cells and the drawer are empty until a run's figures (or a click) fill them
            assert {w.name for w in issues.warning} <= {"EMPTY_LAYOUT"}
            dash = tpl.dashboard
            assert dash.explain.tabs is None              # not built for a page that never opens it
            dash.explain.show_glossary()
            assert dash.explain.toggle.value and dash.explain.tabs.active == len(dash.explain.pages) - 1
            assert "Theorem 1" in dash.explain.texts[-1].object
            assert _issues(doc).error == []
        finally:
            tpl.dashboard.close()
