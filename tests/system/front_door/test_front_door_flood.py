"""A flood of page requests from one client against deploy/serve.sh (issue 15, finding 2).

Before the page budget, four loops of GETs took /liveness to a median of 7.7 s (here: every
probe timed out after 10 s) because each page holds the event loop for 1–2 s.  With it, all but
a few are refused at once, so liveness stays fast.
"""
import pytest

pytest.importorskip("panel")
pytestmark = pytest.mark.timeout(600)

SECONDS = 20
BURST_S, SHARE = 6.0, 0.1       # serve.sh's defaults (app/ratelimit.py)


def test_a_flood_of_page_requests_keeps_liveness_fast(served, fd):
    base, log, _ = served
    # a server that has served a page already (the first page of a process also loads modules)
    assert fd.request(base, "/app", {"X-Real-IP": "10.15.1.1"})[0] == 200
    result = fd.flood(base, seconds=SECONDS, workers=4, max_requests=400)
    print("flood:", result)
    statuses = result["statuses"]
    built = statuses.get(200, 0)
    # pages cost at least ~0.3 s even on an idle machine: the budget holds at most this many
    assert built <= (BURST_S + SECONDS * SHARE) / 0.3, statuses
    assert statuses.get(429, 0) >= 0.9 * sum(statuses.values()), statuses
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
