"""Every spec field is declared once, and validation follows the declaration exactly."""
import math
from dataclasses import fields

import pytest

from dendcore import LIVE_FIELDS, ModelSpec, SpecError
from dendcore.spec import DECLARED

BASE = ModelSpec()


def _probe(name: str, v):
    """A spec with this field set to ``v`` (tuples: every element), other fields made to fit where needed."""
    default = getattr(BASE, name)
    value = tuple(type(default[0])(v) for _ in default) if isinstance(default, tuple) else v
    changes = {name: value}
    # fields bounded by others as well: make room, so the declaration alone decides
    if name in ("window_steps", "settle_steps", "jitter_max_steps"):
        changes["phase_base_steps"] = 1000
    if name in ("window_steps", "phase_base_steps"):
        changes["jitter_max_steps"] = 0
    if name == "phase_base_steps":
        changes.update(window_steps=1, settle_steps=0)
    return ModelSpec().replace(**changes)


def test_every_field_is_declared_with_a_doc():
    assert set(DECLARED) == {f.name for f in fields(ModelSpec)}
    for name, d in DECLARED.items():
        assert d.doc.strip(), f"{name} needs a doc"
        assert (d.choices is None) or (d.interval is None), f"{name}: choices or an interval, not both"


def test_live_fields_come_from_the_declarations():
    assert LIVE_FIELDS == ("lr", "g_a", "feedback_scale")


@pytest.mark.parametrize("name", [n for n, d in DECLARED.items() if d.interval is not None])
def test_interval_ends_are_admitted_or_refused_as_written(name):
    d = DECLARED[name]
    lo, hi = d.bounds
    lo_open, hi_open = d.open_ends
    integer = isinstance(getattr(BASE, name)[0] if isinstance(getattr(BASE, name), tuple) else getattr(BASE, name),
                         int)
    eps = 1 if integer else max(1e-9, 1e-9 * abs(hi))
    for v, ok in ((lo, not lo_open), (hi, not hi_open), (lo - eps, False), (hi + eps, False)):
        if integer and (v != int(v)):
            continue
        v = int(v) if integer else v
        if ok and name == "g_a" and v + BASE.g_l + BASE.g_b >= 2:
            continue      # a relation between fields refuses this one (stable Euler step)
        if ok and name == "tau_s_ms" and v >= BASE.tau_l_ms:
            continue
        if ok and name == "tau_l_ms" and v <= BASE.tau_s_ms:
            continue
        if ok:
            _probe(name, v)
        else:
            with pytest.raises(SpecError, match=f"^{name}:"):
                _probe(name, v)


@pytest.mark.parametrize("name", [n for n, d in DECLARED.items() if d.choices is not None])
def test_choices_are_the_only_values(name):
    for c in DECLARED[name].choices:
        ModelSpec().replace(**{name: c})
    with pytest.raises(SpecError, match=f"^{name}:"):
        ModelSpec().replace(**{name: "not-a-choice"})


def _is_float(name):
    v = getattr(BASE, name)
    return isinstance(v[0] if isinstance(v, tuple) else v, float)


@pytest.mark.parametrize("name", [n for n in DECLARED if _is_float(n)])
def test_numbers_must_be_finite(name):
    with pytest.raises(SpecError, match=f"^{name}:"):
        _probe(name, math.inf)
