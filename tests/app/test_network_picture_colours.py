"""The network picture's colours: the ramp's ends and middle, clipping, and grey for what is unknown."""
import math

import numpy as np
import pytest

pytest.importorskip("panel")

from app.network_picture import RAMP, _fmt, shade  # noqa: E402


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % rgb


def test_the_ramp_runs_from_low_through_middle_to_high():
    assert shade(0.0) == _hex(RAMP[0])
    assert shade(0.5) == _hex(RAMP[1])
    assert shade(1.0) == _hex(RAMP[2])
    assert shade(-1.0, -1, 1) == _hex(RAMP[0]) and shade(1.0, -1, 1) == _hex(RAMP[2])
    # a quarter of the way: halfway between the first two colours, each channel rounded
    quarter = tuple(int(round(a + (b - a) * 0.5)) for a, b in zip(RAMP[0], RAMP[1]))
    assert shade(0.1, 0.0, 0.4) == _hex(quarter)


@pytest.mark.parametrize("v", [-5.0, 7.0, np.float64(3.0), np.float32(-2.0), 1e308])
def test_values_outside_the_range_take_its_end_colour(v):
    assert shade(v) == _hex(RAMP[0] if v < 0 else RAMP[2])


@pytest.mark.parametrize("v", [None, math.nan, math.inf, -math.inf, np.float64("nan")])
def test_unknown_values_are_grey_and_printed_as_a_dash(v):
    assert shade(v) == "#dddddd"
    assert _fmt(v) == "–"


def test_an_empty_range_gives_the_low_colour():
    assert shade(3.0, 1.0, 1.0) == _hex(RAMP[0])
    assert _fmt(np.float64(0.12345), 3) == "0.123"
