"""Signed sessions under deploy/serve.sh: a link cannot choose the session it joins, and the
websocket takes only tokens the server signed (issue 15, finding 1)."""
import re
import secrets
import subprocess
import time

import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id, get_session_id

pytest.importorskip("panel")
pytestmark = pytest.mark.timeout(600)

CHOSEN_ID = "F" * 44         # what the attacker of the issue put in the link


def fresh_client(n: int) -> dict:
    # serve.sh passes --use-xheaders and the test connects from loopback (a trusted proxy), so each
    # test poses as its own client and the page limit of one does not spill into another
    return {"X-Real-IP": f"10.15.{n // 250}.{n % 250 + 1}"}


def test_a_link_cannot_choose_the_session(served, fd):
    base, log, _ = served
    status, headers, _ = fd.request(base, f"/app?bokeh-session-id={CHOSEN_ID}&seed=3", fresh_client(1))
    assert status == 303 and headers["Location"] == "/app?seed=3", (status, headers)

    # even a properly signed id, taken from the attacker's own page, does not join that session
    status, _, html = fd.request(base, "/app", fresh_client(2))
    assert status == 200
    attacker_token = fd.page_token(html)
    attacker_id = get_session_id(attacker_token)
    assert "." in attacker_id, "session ids are not signed"
    for query in (f"bokeh-session-id={attacker_id}", f"bokeh-token={attacker_token}"):
        status, headers, _ = fd.request(base, f"/app?{query}", fresh_client(3))
        assert status == 303 and headers["Location"] == "/app", (query, status)

    # following the redirect gives a session of one's own
    status, _, html = fd.request(base, "/app?seed=3", fresh_client(4))
    assert status == 200
    victim_id = get_session_id(fd.page_token(html))
    assert victim_id not in (CHOSEN_ID, attacker_id)

    # scripts may name the session in a header instead: refused
    status, _, _ = fd.request(base, "/app", {**fresh_client(5), "Bokeh-Session-Id": attacker_id})
    assert status == 403
    assert "a link named a session" in log.read_text()


def test_each_browser_gets_an_id_in_a_cookie(served, fd):
    """One student's tabs share their browser's id (app/browsers.py): a page request without it sets a new
    one, HttpOnly; an id the server signed is kept; a made-up one is replaced."""
    base, _, _ = served
    status, headers, _ = fd.request(base, "/app", fresh_client(20))
    cookie = headers.get("Set-Cookie", "")
    m = re.match(r"dendrite_browser=([0-9a-f]{40});", cookie)
    assert status == 200 and m and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie, cookie
    status, headers, _ = fd.request(base, "/app", {**fresh_client(21), "Cookie": f"dendrite_browser={m.group(1)}"})
    assert status == 200 and "dendrite_browser" not in headers.get("Set-Cookie", ""), headers
    for made_up in ("a%3Cb", "0" * 40, m.group(1)[:24] + "0" * 16):
        status, headers, _ = fd.request(base, "/app", {**fresh_client(22), "Cookie": f"dendrite_browser={made_up}"})
        again = re.match(r"dendrite_browser=([0-9a-f]{40});", headers.get("Set-Cookie", ""))
        assert status == 200 and again and again.group(1) not in (made_up, m.group(1)), (made_up, headers)


def test_one_browsers_tabs_do_not_use_up_the_page_loads_of_its_address(served, fd):
    """A class shares one address: a browser with a signed id is charged to a page budget of its own, so a
    student opening tabs until refused leaves the class's budget alone, and made-up ids are charged to the
    address."""
    base, log, _ = served
    where = fresh_client(30)
    status, headers, _ = fd.request(base, "/app", where)
    mine = {**where, "Cookie": headers["Set-Cookie"].split(";", 1)[0]}
    statuses = []
    for _ in range(200):                      # the tabs of one browser, until that browser is refused (3 s of
                                              # building at >= 0.05 s a page, test_front_door_flood.py)
        statuses.append(fd.request(base, "/app", mine)[0])
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and statuses.count(200) >= 1, statuses
    assert "(one browser)" in log.read_text()
    assert fd.request(base, "/app", where)[0] == 200, "a classmate at the same address still gets a page"
    made_up = {**where, "Cookie": "dendrite_browser=" + "0" * 40}
    for _ in range(200):
        if fd.request(base, "/app", made_up)[0] == 429:
            break
    else:
        raise AssertionError("made-up ids were not charged to the address")


def test_forged_tokens_are_refused(served, fd):
    base, _, _ = served
    status, _, html = fd.request(base, "/app", fresh_client(10))
    assert status == 200
    token = fd.page_token(html)
    assert fd.websocket_answer(base, token) == "ACK"        # the control: a token the server made works

    now = int(time.time())
    three_years = 3 * 365 * 86400
    # the forgery: a hand-made token for a chosen session, valid for three years
    forged = fd.encode_payload({"session_id": CHOSEN_ID, "session_expiry": now + three_years})
    assert fd.websocket_answer(base, forged) != "ACK"
    # a real token with its expiry pushed three years ahead, keeping the server's signature
    payload = fd.token_payload(token)
    payload["session_expiry"] = now + three_years
    stretched = fd.encode_payload(payload) + "." + token.split(".", 1)[1]
    assert fd.websocket_answer(base, stretched) != "ACK"
    # a token signed with some other key
    other_key = secrets.token_urlsafe(48).encode()
    foreign = generate_jwt_token(generate_session_id(secret_key=other_key, signed=True), secret_key=other_key,
                                 signed=True, expiration=three_years)
    assert fd.websocket_answer(base, foreign) != "ACK"


def test_the_key_comes_from_the_environment(tmp_path, fd):
    key = secrets.token_urlsafe(40)
    with fd.serve_sh(tmp_path, env={"DENDRITE_SECRET_KEY": key}) as (base, _, _):
        # a token signed with the configured key is accepted: the server signs with that key
        own = generate_jwt_token(generate_session_id(secret_key=key.encode(), signed=True),
                                 secret_key=key.encode(), signed=True, expiration=300)
        assert fd.websocket_answer(base, own) == "ACK"
        # ... while even a token signed with it is refused once expired: the expiry holds
        expired = generate_jwt_token(generate_session_id(secret_key=key.encode(), signed=True),
                                     secret_key=key.encode(), signed=True, expiration=-10)
        assert fd.websocket_answer(base, expired) != "ACK"


def test_a_short_key_is_refused_at_start(fd):
    result = subprocess.run([str(fd.SERVE)], env={"PATH": "/usr/bin:/bin", "DENDRITE_SECRET_KEY": "short"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "at least 32 characters" in result.stderr


def test_the_generated_key_is_shared_by_the_workers(tmp_path, fd):
    """--num-procs workers are forked after serve.sh made the key: a token from one is good on all."""
    with fd.serve_sh(tmp_path, env={"DENDRITE_NUM_PROCS": "2"}) as (base, _, _):
        answers = []
        for i in range(8):
            status, _, html = fd.request(base, "/app", fresh_client(100 + i))
            assert status == 200
            answers.append(fd.websocket_answer(base, fd.page_token(html)))
        assert answers == ["ACK"] * 8, answers
