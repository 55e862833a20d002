"""app/export.py: the plots' HTML file is made whatever document is current (issue 15, finding 5)."""
import pytest

pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from bokeh.io.doc import patch_curdoc  # noqa: E402

from app import export  # noqa: E402
from app.plots import LivePlots  # noqa: E402


def test_plots_html_while_the_current_document_is_destroyed():
    plots = LivePlots(1, "rate", [str(i) for i in range(10)], title="export test")
    dead = Document()
    dead.callbacks.destroy()            # what a download callback met on the server
    with patch_curdoc(dead):
        html = export.plots_html(plots.static_layout(), title="Dendrite Lab plots")
    assert html.lstrip().lower().startswith("<!doctype html>") and "<title>Dendrite Lab plots</title>" in html
    assert "Bokeh.embed.embed_items" in html and "cdn.bokeh.org" not in html, "a file that works offline"


def test_no_server_side_browser_is_left():
    assert not hasattr(export, "html_to_png") and not hasattr(export, "CHROMIUM")
    js = export.PNG_IN_BROWSER_JS
    assert "view.export(\"png\")" in js and "toBlob" in js and "/\\.html$/" in js
