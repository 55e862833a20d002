"""A page update's message built with the lazy serialiser (app/patch_messages.py) is Bokeh's own, byte for byte."""
import hashlib

import numpy as np
import pytest

pytest.importorskip("panel")

from bokeh.document.events import ModelChangedEvent  # noqa: E402
from bokeh.io import curdoc  # noqa: E402
from bokeh.models import ColumnDataSource, Div  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402

from app import page as page_mod  # noqa: E402
from app import patch_messages  # noqa: E402
from app.opening import Opening  # noqa: E402
from benchmarks.page_cost import STAGES, built_page  # noqa: E402


def _text(msg) -> str:
    """A message's content with each binary buffer named by its content (buffer ids are fresh each time)."""
    text = msg.content_json
    for buf in msg.buffers:
        text = text.replace(f'"id":"{buf.id}"', f'"id":"{hashlib.sha256(buf.to_bytes()).hexdigest()}"')
    return text


def _both_ways(doc, events) -> tuple[tuple[str, set], tuple[str, set]]:
    """The message for these events and the models left new after it: Bokeh's own, then the lazy one's,
    each from the same document state."""
    new_before = set(doc.models._new_models)
    made = []
    for lazy in (False, True):
        doc.models._new_models = set(new_before)
        if lazy:
            if not patch_messages.install():
                pytest.skip("this Bokeh's PATCH-DOC is not the one app/patch_messages.py was checked with")
        try:
            made.append((_text(Protocol().create("PATCH-DOC", events)), set(doc.models._new_models)))
        finally:
            patch_messages.uninstall()
    return made[0], made[1]


def test_a_pages_updates_are_sent_as_bokeh_sends_them(monkeypatch):
    monkeypatch.setattr(page_mod, "OPENING", Opening())     # this page counts in no other test's opening

    def after(stage):
        if stage == STAGES[1]:          # the first document went out: the browser has every model so far
            curdoc().models.flush_synced()
    with built_page("glr17-1hl", probe_images=50, on_stage=after) as doc:
        # the rest of the page and its figures, as the server sends them: each cell whose children
        # changed, its new models (figures and all they hold) in full, the others as references
        new = doc.models._new_models
        cells = [m for m in doc.models if m not in new and isinstance(getattr(m, "children", None), list)
                 and any(child in new for child in m.children)]
        assert cells and len(new) > 300
        opening = [ModelChangedEvent(doc, cell, "children", cell.children) for cell in cells]
        own, lazy = _both_ways(doc, opening)
        assert own == lazy
        assert own[0].count('"name":"Figure"') >= 5 and not own[1]
        doc.models.flush_synced()

        # then live updates of models the browser has: a text, a trace (binary buffers), a plot's new row
        events = []
        doc.on_change(events.append)
        div = next(m for m in doc.models if isinstance(m, Div))
        div.text = "example 1,234"
        sources = [m for m in doc.models if isinstance(m, ColumnDataSource)]
        trace = next(m for m in sources if "V_a" in m.data)
        trace.data = {k: np.linspace(-70.0, -50.0, 250) for k in trace.data}      # as show_traces does
        losses = next(m for m in sources if "loss_out" in m.data)
        losses.stream({k: [1.5] for k in losses.data})
        assert len(events) == 3
        own, lazy = _both_ways(doc, events)
        assert own == lazy
        assert f'"id":"{div.id}"' in own[0] and '"name":"Figure"' not in own[0]


def test_a_new_model_inside_an_update_goes_out_in_full_once():
    from bokeh.document import Document
    doc = Document()
    holder = ColumnDataSource(data={"x": [1.0]})
    doc.add_root(holder)
    doc.models.flush_synced()
    events = []
    doc.on_change(events.append)
    holder.tags = [Div(text="new"), holder]          # a model not yet sent, and one the browser has
    own, lazy = _both_ways(doc, events)
    assert own == lazy
    assert lazy[0].count('"name":"Div"') == 1 and not lazy[1]


def test_a_bokeh_with_other_patch_code_keeps_its_own(monkeypatch):
    monkeypatch.setattr(patch_messages._REPLACEMENT, "known", {"0" * 16})
    try:
        assert patch_messages.install() is False
        assert Protocol()._messages["PATCH-DOC"].create.__func__ is patch_messages._ORIGINAL.__func__
    finally:
        patch_messages.uninstall()
