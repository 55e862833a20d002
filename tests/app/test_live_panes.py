"""A live pane (app/live_panes.py) leaves its Bokeh model exactly as Panel's own pane does, only cheaper."""
import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402

from app.live_panes import LiveHTML, LiveStr  # noqa: E402


def _props(model) -> dict:
    """The model's set properties, with models (stylesheets) compared by their own settings, not ids."""
    def plain(v):
        if hasattr(v, "properties_with_values"):
            return (type(v).__name__, sorted((k, plain(x)) for k, x in v.properties_with_values(
                include_defaults=False).items() if k != "id"))
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return sorted((k, plain(x)) for k, x in v.items())
        return v
    return {k: plain(v) for k, v in model.properties_with_values(include_defaults=False).items()}


@pytest.mark.parametrize("own, live", [(pn.pane.HTML, LiveHTML), (pn.pane.Str, LiveStr)])
def test_a_live_pane_ends_with_the_model_panels_own_pane_gives(own, live):
    kw = dict(sizing_mode="stretch_width", margin=(0, 10), css_classes=["dl-status"],
              styles={"flex": "1 1 420px"}, stylesheets=[":host pre { white-space: pre-wrap; }"])
    doc = Document()
    with set_curdoc(doc):
        panes = [own("first", **kw), live("first", **kw)]
        models = [p.get_root(doc) for p in panes]
        for value in ("examples seen: 100 <b>&</b>", "", "examples seen: 200 · test error: 9.5 %"):
            for p in panes:
                p.object = value
            assert models[0].text == models[1].text
        assert "200" in models[1].text
        for p in panes:                          # a setting changed in between goes out through its watcher
            p.styles = {"flex": "1 1 300px", "color": "red"}
            p.object = "after the style"
        assert _props(models[0]) == _props(models[1])
        assert "after the style" in models[1].text and models[1].styles["color"] == "red"


def test_a_live_html_pane_sanitises_as_panels_own():
    doc = Document()
    with set_curdoc(doc):
        panes = [pn.pane.HTML("x", sanitize_html=True), LiveHTML("x", sanitize_html=True)]
        models = [p.get_root(doc) for p in panes]
        for p in panes:
            p.object = '<svg><script>alert(1)</script><circle r="3"/></svg>'
        assert models[0].text == models[1].text and "script" not in models[1].text
