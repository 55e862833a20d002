"""Bokeh's property defaults computed once (app/bokeh_defaults.py) send exactly what Bokeh's own reads send."""
import hashlib
import re

import pytest

pytest.importorskip("panel")

from bokeh.models import ColumnDataSource, Plot, Range1d  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402

from app import bokeh_defaults  # noqa: E402
from app import page as page_mod  # noqa: E402
from app.opening import Opening  # noqa: E402
from benchmarks.page_cost import built_page  # noqa: E402


def _install_or_skip() -> None:
    if not bokeh_defaults.install():
        pytest.skip("this Bokeh's code is not the one app/bokeh_defaults.py was checked with")


@pytest.fixture
def cached():
    _install_or_skip()
    yield
    bokeh_defaults.uninstall()


def _sent(doc) -> str:
    """The document as its first websocket message carries it, each binary buffer named by its content."""
    msg = Protocol().create("PULL-DOC-REPLY", "test", doc)
    text = msg.content_json
    for buf in msg.buffers:     # buffer ids are fresh at every serialisation
        text = text.replace(f'"id":"{buf.id}"', f'"id":"{hashlib.sha256(buf.to_bytes()).hexdigest()}"')
    return text


def _same_shape(text: str) -> str:
    """A page's message with what differs between two builds of it renamed by order of appearance:
    Bokeh's model ids, Panel's numbered names and the Python object ids in Panel's tags."""
    seen: dict[str, str] = {}

    def rename(text, pattern, new):
        return re.sub(pattern, lambda m: seen.setdefault(m.group(0), new(m, len(seen))), text)
    text = rename(text, r"\bp\d+\b", lambda m, n: f"m{n}")
    text = rename(text, r"(?<![\d.])-?\d{12,}\b", lambda m, n: f"#{n}")
    return rename(text, r"([A-Za-z]+)\d{5}\b", lambda m, n: f"{m.group(1)}#{n}")


def _first_difference(a: str, b: str) -> str:
    # (not ``a == b`` in the assert: pytest's diff of two 300 kB strings takes a minute)
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return "" if at == len(a) == len(b) else f"differs at {at}: {a[at - 80:at + 80]!r} | {b[at - 80:at + 80]!r}"


def test_a_page_is_built_the_same_with_models_made_the_cheaper_way(monkeypatch):
    monkeypatch.setattr(page_mod, "OPENING", Opening())
    made = []
    for cheaper in (False, True):
        if cheaper:
            _install_or_skip()
        try:
            with built_page("glr17-1hl", probe_images=50) as doc:
                made.append(_same_shape(_sent(doc)))
        finally:
            bokeh_defaults.uninstall()
    own, cheaper = made
    assert '"name":"Figure"' in own and len(own) > 100_000
    assert not _first_difference(cheaper, own)


def test_a_whole_page_is_sent_the_same_with_defaults_computed_once(cached, monkeypatch):
    monkeypatch.setattr(page_mod, "OPENING", Opening())     # this page counts in no other test's opening
    with built_page("glr17-1hl", probe_images=50) as doc:
        # sent first with the cached reads (the models are fresh: nothing read their defaults yet)
        with_cache = _sent(doc)
        bokeh_defaults.uninstall()
        own = _sent(doc)
    assert len(doc.roots) > 5 and '"name":"Figure"' in own
    assert not _first_difference(with_cache, own)


def test_a_themed_value_still_wins_over_the_cached_default(cached):
    plain, themed = Range1d(), Range1d()
    assert plain.start == 0                                 # read once: cached for Range1d.start
    themed.apply_theme({"start": 5})
    assert themed.start == 5 and plain.start == 0 and Range1d().start == 0
    themed.start = 7
    assert themed.start == 7


def test_per_instance_defaults_stay_per_instance(cached):
    a, b = Plot(), Plot()
    assert a.x_range is not b.x_range                       # an Instance default is made for each plot
    s, t = ColumnDataSource(), ColumnDataSource()
    s.data["x"] = [1]
    assert t.data == {} and "data" in s.properties_with_values(include_defaults=False)


def test_a_dict_that_fails_its_check_gets_bokehs_own_message():
    from bokeh.core.property.container import Dict
    from bokeh.core.property.primitive import Int, String
    prop = Dict(String, Int)
    bad = [{"a": 1, 2: 3}, {"a": "x"}, {1: "x", "b": 2}, ["a"], None]
    messages = []
    for cheaper in (False, True):
        if cheaper:
            _install_or_skip()
        try:
            prop.validate({"a": 1, "b": 2})
            for value in bad:
                for detail in (True, False):
                    with pytest.raises(ValueError) as e:
                        prop.validate(value, detail)
                    messages.append(str(e.value))
        finally:
            bokeh_defaults.uninstall()
    own, cheaper = messages[:len(messages) // 2], messages[len(messages) // 2:]
    assert cheaper == own and "invalid keys: 2" in own[0] and own[1] == ""


def test_a_bokeh_with_other_code_keeps_its_own_reads(monkeypatch):
    bokeh_defaults.uninstall()
    monkeypatch.setitem(bokeh_defaults._KNOWN, "query", set())
    from bokeh.core.has_props import HasProps
    before = HasProps.query_properties_with_values
    assert bokeh_defaults.install() is False
    assert HasProps.query_properties_with_values is before and not bokeh_defaults.installed()


def test_a_bokeh_without_its_sources_keeps_its_own_reads(monkeypatch):
    bokeh_defaults.uninstall()

    def no_source(fn):
        raise OSError("could not get source code")
    monkeypatch.setattr(bokeh_defaults.inspect, "getsource", no_source)
    assert bokeh_defaults.install() is False and not bokeh_defaults.installed()
