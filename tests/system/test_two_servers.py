"""deploy/serve.sh with two servers behind its own nginx (DENDRITE_SERVERS=2, the Docker image's
default), driven by Debian's headless Chromium: students land on both servers and train, followers
of a shared run land on both and one takes the run over from the server that does not train it, and
stopping serve.sh stops every process."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright.sync_api")

from tests.system.conftest import (CHROMIUM, ROOT, end_process_group, examples_seen, free_port,  # noqa: E402
                                   http_get, open_page, wait_until)
from benchmarks.load_test import free_ports_in_a_row  # noqa: E402


@pytest.fixture(scope="module")
def two_servers():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        pytest.skip("nginx is not installed (apt-get install nginx)")
    port, first = free_port(), free_ports_in_a_row(2)
    env = {**os.environ, "DENDRITE_SERVERS": "2", "DENDRITE_PORT": str(port), "DENDRITE_BACKEND_PORT": str(first),
           "DENDRITE_ADDRESS": "127.0.0.1",
           # the test also opens pages straight at a server's own port (see page_on)
           "DENDRITE_ORIGIN": ",".join(f"127.0.0.1:{p}" for p in (port, first, first + 1)),
           "DENDRITE_SESSION_LIFETIME": "10000", "DENDRITE_EXTRA_ARGS": "--check-unused-sessions 1000"}
    log = Path(tempfile.mkstemp(prefix="dendrite-two-servers-", suffix=".log")[1])
    with open(log, "w") as out:
        proc = subprocess.Popen(["sh", "deploy/serve.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up():
        assert proc.poll() is None, f"serve.sh exited with {proc.returncode}:\n{log.read_text()}"
        try:
            return http_get(f"{base}/liveness", timeout=2)[0] == 200 and log.read_text().count("warm-up done") == 2
        except OSError:
            return False
    try:
        wait_until(up, 240, "both servers to be live and warmed up", interval=0.5)
        yield base, proc, log, (first, first + 1)
    finally:
        end_process_group(proc, 30)


def backend_of(page) -> int:
    """The server that rendered the page, from the cookie nginx set with it."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "dendrite_backend")
    return int(cookie.rsplit(":", 1)[1])


def page_on(browser, backend: int, path: str):
    """A page built by one given server, opened at that server's own port. nginx's turn-taking between
    idle servers depends on how many requests came before (a page's assets included), and sent 9 pages
    in a row to one server on a CI machine: the test does not wait on it. How nginx balances page and
    follow links is test_deploy's; the load test reports how many pages each server built."""
    return open_page(browser, f"http://127.0.0.1:{backend}{path}")


def test_students_and_followers_on_both_servers(two_servers, browser):
    base, proc, log, backends = two_servers
    teacher = open_page(browser, f"{base}/app")                 # through nginx, to whichever server it picks
    here = backend_of(teacher)
    other = next(b for b in backends if b != here)
    student = page_on(browser, other, "/app")

    teacher.get_by_role("button", name="Share with the class").click()
    code = wait_until(lambda: re.search(r"code ([A-Z0-9]{5})", teacher.get_by_text(re.compile(r"^code ")).first
                                        .inner_text()), 60, "the class code").group(1)
    # one follower through nginx (a follow link is balanced like any page), one on each server: the one on
    # the server that does not present reads the run from the relay directory (app/relay.py)
    through_nginx = open_page(browser, f"{base}/app?follow={code}")
    followers = {backend_of(through_nginx): through_nginx}
    missing = next(b for b in backends if b not in followers)
    followers[missing] = page_on(browser, missing, f"/app?follow={code}")
    for follower in followers.values():
        follower.get_by_text(f"Following {code}").first.wait_for(timeout=30_000)

    teacher.get_by_role("button", name="▶ Play").click()
    student.get_by_role("button", name="▶ Play").click()
    wait_until(lambda: examples_seen(student) > 50, 120, "the student's own run to train")
    for follower in followers.values():
        wait_until(lambda: examples_seen(follower) > 50, 120, "the followers on both servers to see the presenter's run")

    # "Take it from here" on the server that does not train the run: the presenter's network comes by file
    remote = followers[other]
    # (no wait for navigations after it: on a loaded machine Playwright's wait once outlasted its 30 s, though the
    # click had landed; the text below is what the test waits on)
    remote.get_by_role("button", name="Take it from here").click(no_wait_after=True)
    remote.get_by_text(re.compile("Taken over at example")).first.wait_for(timeout=60_000)
    taken = examples_seen(remote)
    wait_until(lambda: examples_seen(remote) > taken + 50, 120, "the taken-over run to train on its own")
    assert not remote.get_by_role("button", name="Take it from here").is_visible()
    for page in (teacher, student, *followers.values()):
        page.close()


def test_stopping_serve_sh_stops_both_servers_and_nginx(two_servers):
    _base, proc, log, backends = two_servers
    def name(pid):
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except FileNotFoundError:      # serve.sh's watch loop: a `sleep 1` that just ended
            return "sleep"
    listed = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    children = [pid for pid in listed if name(pid) != "sleep"]
    names = sorted(name(pid) for pid in children)
    assert names == ["nginx", "panel", "panel"], names
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in children):
        assert time.monotonic() < deadline, "a server or nginx outlived serve.sh"
        time.sleep(0.2)
