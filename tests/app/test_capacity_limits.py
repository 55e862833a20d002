"""app/capacity.py (memory budget) and app/limits.py (closed tabs)."""
import gc
import tracemalloc

import pytest

from app.capacity import MB, MemoryBudget, budget_from_env, network_bytes, session_bytes
from app.limits import TabWatch


@pytest.mark.parametrize("hidden,mode", [((500,), "rate"), ((2000, 2000), "rate"), ((300, 100), "spiking")])
def test_the_estimate_covers_what_a_trainer_really_holds(hidden, mode):
    from dendcore import ModelSpec, Trainer, load_mnist

    data = load_mnist()
    Trainer(ModelSpec().replace(hidden=(20,), mode=mode), data, seed=0)     # one-time caches first
    gc.collect()
    tracemalloc.start()
    try:
        trainer = Trainer(ModelSpec().replace(hidden=hidden, mode=mode), data, seed=0)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = network_bytes(hidden)
    assert held <= estimate <= 1.5 * held + 2 * MB, (held, estimate)
    del trainer


def test_the_largest_network_costs_what_the_issue_measured():
    # ten tabs of 2000-2000-2000 took about 1 GB: about 100 MB a page
    assert 80 * MB < session_bytes((2000, 2000, 2000)) < 130 * MB
    assert session_bytes((500,), ghost=True) - session_bytes((500,)) == network_bytes((500,))


def test_budget_per_server_and_per_session():
    big = session_bytes((2000, 2000, 2000))
    budget = MemoryBudget(total_bytes=int(3.5 * big), per_session_bytes=2 * big)
    assert all(budget.reserve(i, big) is None for i in range(3))
    refusal = budget.reserve(3, big, what="A 784-2000-2000-2000-10 network")
    assert refusal.startswith("The server is short of memory: A 784-2000-2000-2000-10 network would need about")
    assert budget.reserve(0, big // 4) is None          # a session replaces its own reservation
    assert budget.reserve(3, big) is None
    budget.release(1)
    budget.release(1)                                   # idempotent
    assert budget.in_use == big // 4 + 2 * big
    assert "more than one page may use" in budget.reserve(4, 3 * big)


def test_one_browsers_tabs_hold_at_most_their_share_of_the_memory():
    """Ten tabs of the largest network took the memory of a class: one browser's tabs share a cap."""
    big = session_bytes((2000, 2000, 2000))
    budget = MemoryBudget(total_bytes=10 * big, per_session_bytes=big, per_browser_bytes=2 * big)
    a, b = "a" * 32, "b" * 32
    assert budget.reserve(1, big, browser=a) is None and budget.reserve(2, big, browser=a) is None
    refusal = budget.reserve(3, big, what="a 784-2000-2000-2000-10 network", browser=a)
    assert refusal.startswith("This browser's other tabs hold") and "Close a tab" in refusal
    assert budget.reserve(3, big // 4, browser=b) is None, "another browser still builds"
    assert budget.reserve(4, big) is None, "a page without a known browser (no front door) is not capped"
    assert budget.reserve(2, big // 2, browser=a) is None, "a tab replaces its own reservation"
    assert budget.reserve(5, big // 2, browser=a) is None
    budget.release(1)
    assert budget.reserve(6, big, browser=a) is None, "a closed tab gives its share back"
    assert budget.in_use == big // 2 + big // 4 + big + big // 2 + big


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("DENDRITE_MEMORY_BUDGET_MB", "2048")
    monkeypatch.setenv("DENDRITE_SESSION_MEMORY_MB", "300")
    b = budget_from_env()
    assert (b.total_bytes, b.per_session_bytes, b.per_browser_bytes) == (2048 * MB, 300 * MB, 600 * MB)
    monkeypatch.setenv("DENDRITE_BROWSER_MEMORY_MB", "900")
    assert budget_from_env().per_browser_bytes == 900 * MB
    monkeypatch.delenv("DENDRITE_BROWSER_MEMORY_MB")
    monkeypatch.delenv("DENDRITE_SESSION_MEMORY_MB")
    assert budget_from_env().reserve(1, session_bytes((2000, 2000, 2000), ghost=True)) is None
    for bad in ("0", "-1", "1e9", "9" * 4301):
        monkeypatch.setenv("DENDRITE_MEMORY_BUDGET_MB", bad)
        with pytest.raises(ValueError, match="DENDRITE_MEMORY_BUDGET_MB"):
            budget_from_env()


def test_servers_side_by_side_share_the_default_memory_budget(monkeypatch):
    from app import capacity
    monkeypatch.delenv("DENDRITE_MEMORY_BUDGET_MB", raising=False)
    machine = capacity.machine_bytes()
    alone = budget_from_env().total_bytes
    monkeypatch.setattr(capacity, "SERVERS", 2)
    assert budget_from_env().total_bytes == max(1024 * MB, machine // 2 // 2) <= alone


def test_tab_watch_reports_a_closed_tab_once_after_the_grace():
    w = TabWatch(grace_s=2.0)
    assert not w.gone(1, 0.0)
    assert not w.gone(0, 10.0) and not w.gone(0, 11.9)
    assert w.gone(0, 12.0) and not w.gone(0, 13.0)
    assert not w.gone(1, 14.0)                          # it came back: a new disconnection counts again
    assert not w.gone(0, 15.0) and w.gone(0, 17.5)


def test_a_network_beyond_the_memory_budget_is_refused_and_the_running_one_kept(monkeypatch):
    from app import capacity, controller
    from app.controller import Controller
    from app.seats import TrainingSlots
    from tests.app.conftest import NoTsne, pump
    small = capacity.session_bytes((40,)) + (1 << 20)
    monkeypatch.setattr(controller, "MEMORY", capacity.MemoryBudget(10 * small, small))
    c = Controller(slots=TrainingSlots(2), tsne=NoTsne(), preset="glr17-1hl-rate", hidden="40")
    try:
        c.activate()
        pump(c, lambda c: c.run is not None)
        c.hidden = "2000-2000"
        assert c.message_kind == "warning" and "more than one page may use" in c.message
        assert c.run.spec.hidden == (40,), "the running network was kept"
    finally:
        c.close()
    assert controller.MEMORY.in_use == 0, "a closed page gives its memory back"
    # a second tab of the same browser, over that browser's share: refused, with the reason
    monkeypatch.setattr(controller, "MEMORY", capacity.MemoryBudget(10 * small, small, per_browser_bytes=small))
    tabs = [Controller(slots=TrainingSlots(2), tsne=NoTsne(), preset="glr17-1hl-rate", hidden="40") for _ in range(2)]
    try:
        for c in tabs:
            c.browser = "d" * 32
            c.activate()
        assert tabs[0]._pending_run is not None and tabs[1]._pending_run is None
        assert "This browser's other tabs hold" in tabs[1].message
    finally:
        for c in tabs:
            c.close()
    assert controller.MEMORY.in_use == 0
