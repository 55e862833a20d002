"""The per-client budget of page-building time (app/ratelimit.py)."""
import pytest

from app.ratelimit import LoopBudgets, page_budgets_from_env


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def open_pages(b: LoopBudgets, key: str, n: int, cost: float) -> list[bool]:
    out = []
    for _ in range(n):
        v = b.admit(key)
        out.append(v.allowed)
        if v.allowed:
            b.settle(key, v.reserved_s, cost)
    return out


def test_cheap_pages_burst_then_follow_the_share():
    clock = Clock()
    b = LoopBudgets(burst_s=4.0, share=0.1, clock=clock, open_pages=0)     # pages never opened count
    assert open_pages(b, "a", 8, cost=1.0) == [True] * 4 + [False] * 4
    refused = b.admit("a")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(10.0)   # 1 s at 0.1 s/s
    clock.t += 10
    assert open_pages(b, "a", 2, cost=1.0) == [True, False]
    clock.t += 10_000                    # a long pause refills to the burst, not beyond
    assert open_pages(b, "a", 5, cost=1.0) == [True] * 4 + [False]


def test_expensive_pages_use_the_budget_up_faster():
    """On a loaded server (4 s pages) a flood gets one page, then one per 40 s."""
    clock = Clock()
    b = LoopBudgets(burst_s=4.0, share=0.1, clock=clock, open_pages=0)
    for _ in range(10):                  # the server has learnt that pages cost 4 s now
        v = b.admit("other")
        b.settle("other", v.reserved_s, 4.0)
        clock.t += 100
    assert b.estimate_s == pytest.approx(4.0, abs=0.2)
    assert open_pages(b, "flood", 10, cost=4.0) == [True] + [False] * 9
    clock.t += 39
    assert not b.admit("flood").allowed
    clock.t += 2
    assert b.admit("flood").allowed


def test_a_reservation_is_corrected_to_the_real_cost():
    b = LoopBudgets(burst_s=4.0, share=0.1, clock=Clock())
    v = b.admit("a")
    assert v.reserved_s == pytest.approx(1.0)         # the first estimate
    b.settle("a", v.reserved_s, 3.5)
    assert not b.admit("a").allowed                   # 4 - 3.5 = 0.5 s left, the next page costs more


def test_clients_have_separate_budgets_and_are_bounded_in_number():
    clock = Clock()
    b = LoopBudgets(burst_s=1.0, share=0.01, max_clients=100, clock=clock)
    assert open_pages(b, "10.0.0.1", 2, 1.0) == [True, False]
    assert b.admit("10.0.0.2").allowed
    for i in range(1000):
        b.admit(f"c{i}")
    assert len(b) == 100


def test_pages_that_open_give_their_time_back_and_a_flood_gets_nothing():
    """A class behind one NAT address shares a budget: the pages its browsers open cost nothing."""
    clock = Clock()
    b = LoopBudgets(burst_s=2.0, share=0.01, clock=clock, open_pages=3)
    # a flood: pages requested, none opened -- two, then refusals for 100 s
    assert open_pages(b, "flood", 5, cost=1.0) == [True, True, False, False, False]
    # a class: two pages let through and still opening; the next browser is told to come back soon
    assert open_pages(b, "class", 2, cost=1.0) == [True, True]
    refused = b.admit("class")
    assert not refused.allowed and 2.0 <= refused.retry_after_s <= 5.0
    assert b.opened("class", 1.0) and b.opened("class", 1.0)      # both opened: 2 s back
    assert open_pages(b, "class", 3, cost=1.0) == [True, True, False]
    assert b.opened("class", 1.0)                                  # a third page open ...
    assert not b.opened("class", 1.0)                              # ... the fourth is beyond open_pages
    assert open_pages(b, "class", 2, cost=1.0) == [True, False]    # 1 s came back, one page's worth
    b.closed("class")                                              # a tab closed: room for one more
    assert b.opened("class", 1.0)
    assert not b.opened("class", float("nan"))
    # nothing opening for this client: a refusal names the time the share needs, not "soon"
    clock.t += 60
    flood = b.admit("flood")
    assert not flood.allowed and flood.retry_after_s == pytest.approx((1.0 - 0.6) / 0.01)


def test_a_page_opened_never_lifts_the_budget_above_its_burst():
    b = LoopBudgets(burst_s=2.0, share=0.01, clock=Clock())
    for _ in range(5):
        assert b.opened("a", 1.0)
    assert open_pages(b, "a", 3, cost=1.0) == [True, True, False]


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("DENDRITE_PAGE_BURST_S", "30")
    monkeypatch.setenv("DENDRITE_PAGE_SHARE", "0.5")
    monkeypatch.setenv("DENDRITE_OPEN_PAGES", "0")
    b = page_budgets_from_env()
    assert (b.burst_s, b.share, b.open_pages) == (30.0, 0.5, 0)
    for name, bad in (("DENDRITE_PAGE_BURST_S", "0"), ("DENDRITE_PAGE_BURST_S", "nan"),
                      ("DENDRITE_PAGE_SHARE", "2"), ("DENDRITE_PAGE_SHARE", "1" * 4301),
                      ("DENDRITE_OPEN_PAGES", "-5")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            page_budgets_from_env()
        monkeypatch.delenv(name)
