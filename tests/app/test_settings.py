"""The controls are generated from the spec's declarations: bounds, choices and live-ness agree."""
import pytest

pytest.importorskip("panel")

from dendcore import LIVE_FIELDS, ModelSpec, SpecError  # noqa: E402
from dendcore.spec import DECLARED  # noqa: E402
from app import settings as st  # noqa: E402
from app.settings import CLASSROOM_LIMITS, SPEC_FIELD, Settings  # noqa: E402


def test_live_controls_are_exactly_those_of_live_fields():
    assert set(st.LIVE) == {c for c, f in SPEC_FIELD.items() if f in LIVE_FIELDS}
    assert not set(st.LIVE) & set(st.STRUCTURAL)
    assert set(SPEC_FIELD) <= set(st.LIVE) | set(st.STRUCTURAL)


@pytest.mark.parametrize("control", [c for c, f in SPEC_FIELD.items() if DECLARED[f].interval and c != "hidden"])
def test_number_controls_take_the_declared_bounds_or_a_stated_classroom_limit(control):
    field = SPEC_FIELD[control]
    p = Settings.param[control]
    if field in CLASSROOM_LIMITS:
        bounds, reason = CLASSROOM_LIMITS[field]
        assert reason
        lo, hi = DECLARED[field].bounds
        assert lo <= bounds[0] and bounds[1] <= hi, "a classroom limit only narrows the engine's bounds"
    else:
        bounds = DECLARED[field].bounds
    assert tuple(p.bounds) == tuple(bounds)
    # every value the control allows is one the engine takes
    s = Settings()
    for v in (p.bounds[0], p.bounds[1]):
        setattr(s, control, v)
        s.build_spec()


@pytest.mark.parametrize("control", [c for c, f in SPEC_FIELD.items() if DECLARED[f].choices])
def test_choice_controls_offer_exactly_the_declared_choices(control):
    objects = Settings.param[control].objects
    values = objects.values() if isinstance(objects, dict) else objects
    assert set(values) == set(DECLARED[SPEC_FIELD[control]].choices)


def test_control_docs_come_from_the_declarations():
    for control, field in SPEC_FIELD.items():
        doc = Settings.param[control].doc
        assert DECLARED[field].doc in doc
        assert ("Acts on the running network" in doc) == DECLARED[field].live
        assert ("(live)" in Settings.param[control].label) == DECLARED[field].live


def test_hidden_layers_follow_the_classroom_limit():
    (lo, hi), _ = CLASSROOM_LIMITS["hidden"]
    assert st.parse_hidden(str(hi)) == (hi,)
    with pytest.raises(SpecError):
        st.parse_hidden(str(hi + 1))
    assert hi <= DECLARED["hidden"].bounds[1]
    ModelSpec(hidden=(hi,), lr=(0.2, 0.2))


def test_settings_build_a_spec_and_round_trip_a_link():
    s = Settings(preset="glr17-2hl-rate")
    assert s.build_spec().hidden == (500, 100)
    link = s.settings()
    t = Settings()
    assert t.apply_settings(link) == []
    assert t.build_spec() == s.build_spec()
    assert t.apply_settings({"g_a": "7"}) == ["g_a='7'"] and t.message_kind == "warning"


@pytest.mark.parametrize("text", ["-5", "5-", "--5", "5--3", "500-x", "1" * 5000])
def test_hidden_layers_that_do_not_say_what_they_build_are_refused(text):
    """"-5" once built 5 units while the box showed "-5"; a 5,000-digit size once raised Python's own error."""
    with pytest.raises(SpecError, match="hidden:"):
        st.parse_hidden(text)
    s = Settings()
    assert s.apply_settings({"hidden": text}) and s.hidden == "500" and s.message_kind == "warning"


@pytest.mark.parametrize("text, sizes", [("500-100", (500, 100)), ("500, 100", (500, 100)), ("500 x 100", (500, 100)),
                                          (" 20 ", (20,)), ("none", ())])
def test_hidden_layers_written_as_people_write_them(text, sizes):
    assert st.parse_hidden(text) == sizes
