"""A flood of page requests from one client against deploy/serve.sh (issue 15, finding 2).

Before the page budget, four loops of GETs took /liveness to a median of 7.7 s (here: every
probe timed out after 10 s) because each page holds the event loop for 1–2 s.  With it, all but
a few are refused at once, so liveness stays fast.
"""
import time

import pytest

pytest.importorskip("panel")
pytestmark = pytest.mark.timeout(600)

SECONDS = 20
BURST_S, SHARE = 3.0, 0.1       # serve.sh's defaults (app/ratelimit.py)
PAGE_S = 0.05                   # the least a page costs to build, with room below the 0.08 s CI's machine took


def loop_cpu_s(pid: int) -> float:
    """CPU seconds of a server's main thread, which runs its event loop and builds every page."""
    from benchmarks.load_test import thread_cpu
    return thread_cpu(pid)[(pid, pid)][1]


def test_a_flood_of_page_requests_keeps_liveness_fast(served, fd):
    base, log, server = served
    # a server that has served a page already (the first page of a process also loads modules)
    assert fd.request(base, "/app", {"X-Real-IP": "10.15.1.1"})[0] == 200
    cpu0, t0 = loop_cpu_s(server.pid), time.monotonic()
    result = fd.flood(base, seconds=SECONDS, workers=4, max_requests=400)
    loop_s, took = loop_cpu_s(server.pid) - cpu0, time.monotonic() - t0
    print(f"flood: {result}; the event loop used {loop_s:.2f} s of CPU in {took:.1f} s")
    statuses = result["statuses"]
    built = statuses.get(200, 0)
    # the budget is loop time, whatever a page costs on this machine (about 0.08 s on CI's and on 12-04's):
    # the loop spent at most the burst and the share on pages, give or take the page that overdraws
    # it and the refusals and probes (~1 ms each).  Unlimited, four loops keep it busy all along.
    assert built >= 1 and loop_s <= BURST_S + took * SHARE + 1.0 + 0.002 * (result["probes"] + sum(statuses.values())), (statuses, loop_s)
    assert built <= (BURST_S + took * SHARE) / PAGE_S + 1, statuses
    # every other request was refused, each after about a second (app/front_door.py): four loops
    # got a few answers a second between them, where they got ~440 a second before
    assert statuses.get(429, 0) + built == sum(statuses.values()), statuses
    assert sum(statuses.values()) <= built + 4 * (SECONDS + 5) / 0.9, statuses
    # liveness kept answering through the flood.  The pages the budget lets through still hold the
    # loop while they are built (1-2 s each, 5 s and more on an overloaded machine), so the probes
    # that arrive meanwhile wait: p95 stays under 1 s on a 2-core machine with ordinary load
    # (measured 0.02 s) but not when it is 4x oversubscribed; the median and most probes are fast
    # either way, where before every probe timed out.
    assert result["median"] < 1.0 and result["under_1s"] >= 0.75, result
    # a refused browser is told when to come back, and comes back by itself (the budget refills
    # while the flood stops, so a few more requests may be needed to be refused again)
    for _ in range(30):
        status, headers, body = fd.request(base, "/app")
        if status == 429:
            break
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert f"http-equiv='refresh' content='{headers['Retry-After']}'" in body
    # the log says so, briefly: repeated refusals are rate-limited (app/logs.py)
    text = log.read_text()
    assert 0 < text.count("page rate limit: refused") <= 10, text[-2000:]


def test_a_class_behind_one_address_opens_every_page(tmp_path, fd):
    """Pages that open in a browser give their time back, so a class sharing one NAT address gets in,
    while a flood from that address is still refused.

    The budget here is 0.5 s, refilled at 0.4 % of the loop: without the time given back, twelve
    pages of 0.08 s (CI's machine) or more would need at least (12 x 0.08 - 0.5) / 0.004 = 115 s.
    """
    import asyncio
    import time

    from benchmarks.load_test import Session

    n, within = 12, 90.0
    where = {"X-Real-IP": "10.15.7.7"}
    with fd.serve_sh(tmp_path, env={"DENDRITE_PAGE_BURST_S": "0.5", "DENDRITE_PAGE_SHARE": "0.004"}) as (base, log, _):
        assert fd.request(base, "/app", {"X-Real-IP": "10.15.7.8"})[0] == 200   # modules loaded

        async def a_class():
            sessions = [Session(i, base, presses_play=False, client="stream", headers=where) for i in range(n)]
            play, stop = asyncio.Event(), asyncio.Event()
            tasks = [asyncio.create_task(s.run(play, stop, within)) for s in sessions]
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < within and any(s.ready_s is None and s.error is None for s in sessions):
                await asyncio.sleep(0.2)
            took = time.perf_counter() - t0
            flood = [fd.request(base, "/app", where)[0] for _ in range(12)]    # the tabs are still open
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            return sessions, took, flood

        sessions, took, flood = asyncio.run(a_class())
        print(f"{n} pages from one address open after {took:.1f} s; "
              f"{sum(s.refusals for s in sessions)} refusals on the way; then plain requests: {flood}")
        assert [s.error for s in sessions if s.error] == []
        assert all(s.ready_s is not None for s in sessions), "every page of the class opened"
        # plain page requests that never open still spend the budget: at most 0.5 s of pages, then refusals
        assert flood.count(429) >= 12 - 0.5 / PAGE_S, flood
