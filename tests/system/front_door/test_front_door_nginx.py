"""deploy/nginx/dendrite-lab.conf, checked with Debian's nginx: it limits page loads per client (issue 15,
finding 2) and sends a class code's links to the server that presents it (issue 13)."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

NGINX_TEMPS = ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx


def main_conf(tmp_path, site) -> str:
    for d in NGINX_TEMPS:
        (tmp_path / d).mkdir(exist_ok=True)
    temps = "\n".join(f"    {d}_temp_path {tmp_path / d};" for d in ("proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
                    f"http {{\n    access_log off;\n    client_body_temp_path {tmp_path}/body;\n{temps}\n"
                    f"    include {site};\n}}\n")
    return str(conf)


@contextlib.contextmanager
def running(cmd, log_path):
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)


@contextlib.contextmanager
def nginx_in_front_of_stubs(tmp_path, fd):
    """The site config on free ports, in front of stub backends that answer with the port they serve
    (one process serving all four); yields (base URL, site text, {config port: stub port})."""
    nginx = nginx_binary()
    site_text = (fd.ROOT / "deploy" / "nginx" / "dendrite-lab.conf").read_text()
    site = tmp_path / "site.conf"
    site.write_text(site_text)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", main_conf(tmp_path, site)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    backends = {old: str(fd.free_port()) for old in sorted(set(re.findall(r"127\.0\.0\.1:(\d+)", site_text)))}
    front = fd.free_port()
    moved = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{backends[m.group(1)]}", site_text)
    moved = re.sub(r"listen\s+\[::\]:80;", "", moved)
    moved = re.sub(r"listen\s+80;", f"listen 127.0.0.1:{front};", moved)
    site.write_text(moved)
    base = f"http://127.0.0.1:{front}"
    with running([sys.executable, str(fd.ROOT / "tests" / "system" / "stub_backend.py"), *backends.values()],
                 tmp_path / "stub.log"), \
            running([nginx, "-p", str(tmp_path), "-c", main_conf(tmp_path, site), "-g", "daemon off;"],
                    tmp_path / "nginx.log"):
        def up():
            try:
                return fd.request(base, "/liveness", timeout=2)[0] == 200
            except OSError:
                return False
        fd.wait_until(up, 30, "nginx and the stub to answer")
        yield base, site_text, backends


def test_the_config_limits_page_loads_per_client(tmp_path, fd):
    with nginx_in_front_of_stubs(tmp_path, fd) as (base, site_text, _):
        assert re.search(r"limit_req_zone \$binary_remote_addr\$cookie_dendrite_browser zone=dendrite_pages:\S+ "
                         r"rate=\d+r/m;", site_text)
        assert re.search(r"limit_req_zone \$binary_remote_addr zone=dendrite_pages_address:\S+ rate=\d+r/m;", site_text)
        burst = int(re.search(r"limit_req zone=dendrite_pages burst=(\d+) nodelay;", site_text).group(1))
        address_burst = int(re.search(r"limit_req zone=dendrite_pages_address burst=(\d+) nodelay;", site_text).group(1))
        assert address_burst >= 2 * burst
        assert burst >= 30, "a class behind one NAT address opens its pages at once"
        answers = [fd.request(base, "/app", timeout=10) for _ in range(burst + 20)]
        pages = [a[0] for a in answers]
        assert pages[:burst + 1] == [200] * (burst + 1), pages     # one at the rate plus the burst
        assert pages[burst + 1:].count(429) >= 18, pages           # the rest refused (a refill of one at most)
        status, headers, body = answers[-1]
        # a refused browser is told when to come back and reloads by itself
        assert headers["Retry-After"] == "10" and "http-equiv='refresh' content='10'" in body
        # other routes are not limited
        assert all(fd.request(base, "/liveness", timeout=10)[0] == 200 for _ in range(20))
        # a browser with its id cookie counts apart: one student's tabs do not use up the class's loads ...
        tabs = [fd.request(base, "/app", {"Cookie": "dendrite_browser=" + "ab" * 20}, timeout=10)[0]
                for _ in range(burst + 8)]
        assert tabs[:burst] == [200] * burst and tabs.count(429) >= 5, tabs     # a refill of one at most
        # ... and made-up ids do not lift the address's own limit (the servers check the ids)
        made_up = [fd.request(base, "/app", {"Cookie": f"dendrite_browser={i:040x}"}, timeout=10)[0]
                   for i in range(address_burst)]
        assert made_up.count(429) >= burst, made_up


def test_a_class_code_reaches_the_server_that_presents_it(tmp_path, fd):
    """Presenter mode keeps a run in its server's memory: the presenter's and the followers' links
    must reach the same server, whichever is least busy, for codes typed in any case."""
    with nginx_in_front_of_stubs(tmp_path, fd) as (base, _, backends):
        by_first = {"A": "5006", "h": "5006", "I": "5006", "J": "5007", "o": "5007", "R": "5007",
                    "S": "5008", "z": "5008", "2": "5009", "9": "5009"}
        for first, port in by_first.items():
            code = first + "BC23"
            served = {fd.request(base, f"/app?{arg}={code}", timeout=10)[2].split()[0] for arg in ("present", "follow")}
            assert served == {backends[port]}, (code, served)
        # a page without a code is balanced over all servers
        plain = {fd.request(base, "/app", timeout=10)[2].split()[0] for _ in range(8)}
        assert plain <= set(backends.values()) and len(plain) >= 2, plain
