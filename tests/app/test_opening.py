"""Pages opening (app/opening.py): what waits for them, and for how long."""
import pytest

from app.opening import GRACE_S, MAX_WAIT_S, REST_STALE_S, STALE_S, Opening


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_page_counts_from_its_request_until_its_network_shows():
    clock = Clock()
    o = Opening(clock)
    assert not o.busy()
    a, b = o.requested(), o.requested()
    clock.t += 5 * GRACE_S
    assert o.busy()
    o.shown(a)
    assert o.busy()                     # b is still on its way
    o.shown(b)
    o.shown(b)                          # shown twice (its network, then its tab closing): no harm
    o.shown(None)
    assert not o.busy()


def test_a_request_keeps_the_process_busy_for_a_moment_after_it():
    """A class's requests arrive spread over a moment: a page shown at once does not end the opening."""
    clock = Clock()
    o = Opening(clock)
    o.shown(o.requested())
    assert o.busy()
    clock.t += GRACE_S + 0.01
    assert not o.busy()


def test_a_page_nobody_opens_stops_counting():
    clock = Clock()
    o = Opening(clock)
    o.requested()                       # a flood's page, or a tab closed before it connected
    clock.t += STALE_S - 0.1
    assert o.busy()
    clock.t += 0.2
    assert not o.busy()


@pytest.mark.parametrize("waited, defers", [(0.0, True), (MAX_WAIT_S - 0.1, True), (MAX_WAIT_S + 0.1, False)])
def test_work_waits_for_opening_pages_at_most_max_wait(waited, defers):
    """A steady trickle of new pages cannot hold a page's figures back for long."""
    clock = Clock()
    o = Opening(clock)
    since = clock.t
    clock.t += waited
    o.requested()                       # the latest of the trickle
    assert o.defers(since) is defers
    o2 = Opening(clock)
    assert not o2.defers(since)         # nothing opening: nothing waits


def test_pages_requested_without_end_hold_nothing_back_for_ever():
    """A flood (or a long trickle) keeps the process busy; the t-SNE maps wait only MAX_WAIT_S for it."""
    clock = Clock()
    o = Opening(clock)
    o.requested()
    assert o.holds_back()
    for _ in range(int(MAX_WAIT_S)):
        clock.t += 1.0
        o.requested()
    assert o.busy() and not o.holds_back()
    clock.t += STALE_S + GRACE_S                 # the flood stopped: the next class is waited for again
    assert not o.busy()
    o.requested()
    assert o.holds_back()


def test_a_later_class_is_waited_for_even_if_nobody_asked_in_between():
    """The start of an opening is taken when a request finds the process idle, not when someone
    happens to ask: an hour without questions does not leave an old start behind."""
    clock = Clock()
    o = Opening(clock)
    o.shown(o.requested())
    assert o.holds_back()
    clock.t += 3600.0
    o.requested()
    assert o.holds_back()


def test_a_page_opens_in_stages_and_each_waits_for_the_one_before_on_every_page():
    """Headers (Play, status, network) first; settings and plot grid once no header is due; figures
    and t-SNE maps once no page is incomplete."""
    clock = Clock()
    o = Opening(clock)
    a, b = o.requested(), o.requested()
    clock.t += 2 * GRACE_S
    since = clock.t
    assert o.defers(since, headers_only=True) and o.defers(since)
    o.header_shown(a)
    assert o.busy(headers_only=True)            # b's header is still due: no page's rest yet
    o.header_shown(b)
    assert not o.defers(since, headers_only=True) and o.defers(since)   # rests now, figures wait
    o.shown(a)
    assert o.defers(since)                      # b's rest is not out yet
    o.shown(b)
    assert not o.busy() and not o.defers(since)
    c = o.requested()
    clock.t += STALE_S + 0.1                    # never connected: counts at neither stage any more
    assert not o.busy(headers_only=True) and not o.busy()
    o.header_shown(c)                           # late news of a forgotten page: no harm
    assert not o.busy()


def test_pages_take_turns_one_stage_per_pass_of_the_loop():
    """Fifteen pages completing in one pass of the loop held it for seconds; now the loop reads its
    sockets between two pages' stages."""
    o = Opening(Clock())
    next_pass = []
    assert o.my_turn()
    o.took(next_pass.append)
    assert not o.my_turn() and not o.my_turn(settings=True)   # the other drains of this pass wait
    for callback in next_pass:                  # the loop's next pass
        callback()
    assert o.my_turn()
    o.took()                                    # no running loop (a test, a notebook): nothing waits
    assert o.my_turn()


def test_the_settings_of_connected_pages_come_before_anyones_figures():
    clock = Clock()
    o = Opening(clock)
    a = o.requested()
    o.requested()                               # b: never connects
    o.header_shown(a)
    assert o.my_turn(settings=True) and not o.my_turn()     # a's settings are due: no figures yet
    clock.t += STALE_S + 1.0                    # b stopped counting; a still waits for its settings
    assert o.my_turn(settings=True) and not o.my_turn()
    o.shown(a)
    assert o.my_turn()
    c = o.requested()
    o.header_shown(c)
    clock.t += REST_STALE_S + 1.0               # a page whose drain stopped holds no one for good
    assert o.my_turn()
