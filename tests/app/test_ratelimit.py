"""The per-client page budget (app/ratelimit.py): burst, refill, separation of clients, bounded memory."""
import pytest

from app.ratelimit import ClientBuckets, page_buckets_from_env


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_burst_then_one_page_per_refill_period():
    clock = Clock()
    b = ClientBuckets(burst=3, refill_s=5.0, clock=clock)
    assert [b.take("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = b.take("a")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(5.0)
    clock.t += 2.5
    assert b.take("a").retry_after_s == pytest.approx(2.5)
    clock.t += 2.5
    assert b.take("a").allowed and not b.take("a").allowed
    clock.t += 1000                      # a long pause refills to the burst, not beyond
    assert [b.take("a").allowed for _ in range(4)] == [True, True, True, False]
    assert b.refused == 5


def test_clients_have_separate_budgets():
    b = ClientBuckets(burst=1, refill_s=60, clock=Clock())
    assert b.take("10.0.0.1").allowed and not b.take("10.0.0.1").allowed
    assert b.take("10.0.0.2").allowed


def test_the_number_of_remembered_clients_is_bounded():
    clock = Clock()
    b = ClientBuckets(burst=1, refill_s=60, max_clients=100, clock=clock)
    for i in range(1000):
        b.take(f"c{i}")
    assert len(b) == 100
    assert not b.take("c999").allowed    # the recent ones are still remembered


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("DENDRITE_PAGE_BURST", "2")
    monkeypatch.setenv("DENDRITE_PAGE_REFILL_S", "0.5")
    b = page_buckets_from_env()
    assert (b.burst, b.refill_s) == (2.0, 0.5)
    for bad in ("0", "abc", "nan", "1" * 4301):
        monkeypatch.setenv("DENDRITE_PAGE_BURST", bad)
        with pytest.raises(ValueError, match="DENDRITE_PAGE_BURST"):
            page_buckets_from_env()
