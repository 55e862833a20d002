"""A reconnected page's document (app/pull_messages.py) carries its arrays inline and decodes to the same
document without the binary buffers, which Bokeh 3.9.2's client does not pass on when it redraws a page."""
import numpy as np
import pytest

pytest.importorskip("panel")

from bokeh.core.serialization import Deserializer  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.models import ColumnDataSource, DataRange1d  # noqa: E402
from bokeh.plotting import figure  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402

from app import pull_messages  # noqa: E402


def test_a_pulled_document_has_its_arrays_inline_and_the_same_content():
    doc = Document()
    xs = np.arange(100, 5100, 100, dtype=np.int64)
    source = ColumnDataSource({"examples_seen": xs, "error": np.linspace(90.0, 20.0, xs.size)})
    fig = figure(x_range=DataRange1d(only_visible=True))
    fig.line("examples_seen", "error", source=source)
    doc.add_root(fig)
    own = Protocol().create("PULL-DOC-REPLY", "req1", doc)
    assert len(own.buffers) >= 2, "Bokeh sends the arrays as buffers (what its client drops on a redraw)"
    if not pull_messages.install():
        pytest.skip("this Bokeh's PULL-DOC-REPLY is not the one app/pull_messages.py was checked with")
    try:
        inline = Protocol().create("PULL-DOC-REPLY", "req1", doc)
    finally:
        pull_messages.uninstall()
    assert inline.buffers == [] and inline.header["reqid"] == "req1"
    # decoded without any buffer, the arrays are the document's own
    roots = Deserializer().decode(inline.content["doc"]["roots"])
    [copy] = [r for r in roots if r.id == fig.id]
    assert copy is not fig
    got = next(m for m in copy.references() if isinstance(m, ColumnDataSource)).data
    np.testing.assert_array_equal(got["examples_seen"], xs)
    np.testing.assert_array_equal(got["error"], source.data["error"])
