"""app/query.py: a link's values are screened (length, digits, repeats) before Panel converts them."""
import sys

import pytest

pytest.importorskip("panel")

from app import query as link_query  # noqa: E402
from app.controller import URL_PARAMS, Controller, TrainingSlots  # noqa: E402
from tests.app.conftest import NoTsne  # noqa: E402

LONG_DIGITS = "1" * (sys.get_int_max_str_digits() + 1)     # 4,301: one more than int() converts


def test_screen_refuses_long_values_long_numbers_and_repeats():
    s = link_query.screen(f"?seed={LONG_DIGITS}&g_a=0.05&hidden=20-20&x={'a' * 201}&g_a=0.6"
                          f"&lr_hidden=0.{'0' * 40}1&{'n' * 41}=1&seed=2")
    assert s.search == "?g_a=0.05&hidden=20-20"
    assert set(s.refused) == {"seed", "x", "g_a", "lr_hidden", "n" * 39 + "…"}
    assert "4,301 characters" in s.refused["seed"] and "first value is used" in s.refused["g_a"]
    message = s.message()
    assert message.startswith("The link contained values this page does not read") and len(message) < 600
    assert LONG_DIGITS[:100] not in message
    assert link_query.screen("?a=1&b=").search == "?a=1&b="
    assert link_query.screen("").search == "" and link_query.screen(None).message() == ""


def test_at_most_so_many_parameters_are_read():
    s = link_query.screen("?" + "&".join(f"p{i}={i}" for i in range(1000)))
    assert s.search.count("&") == link_query.MAX_PARAMS - 1 and "…" in s.refused


def test_panel_location_with_a_4301_digit_value_in_every_parameter():
    from panel.io.location import Location
    from panel.util import parse_query

    search = "?" + "&".join(f"{name}={LONG_DIGITS}" for name in (*URL_PARAMS, "unknown") if name != "g_a") + "&g_a=0.05"
    with pytest.raises(ValueError, match="4300"):      # what Panel does on its own
        parse_query(search)
    link_query.install()
    link_query.install()                                # idempotent
    loc = Location(search=search)
    assert loc.query_params == {"g_a": 0.05}
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne(), preset="glr17-1hl-rate", hidden="20")
    try:
        refused = c.apply_settings(dict(loc.query_params))
        loc.sync(c, {n: n for n in URL_PARAMS}, on_error=c.url_errors)
        assert refused == [] and c.g_a == 0.05 and c.seed == 0
        # the browser's own report of its address goes through the same screening
        loc.search = f"?seed={LONG_DIGITS}&hidden=30"
        assert c.hidden == "30" and c.seed == 0
        # a rewrite of the address keeps only what is read
        loc.update_query(seed=0)
        assert LONG_DIGITS not in loc.search and "seed=0" in loc.search
    finally:
        c.close()
