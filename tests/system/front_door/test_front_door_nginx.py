"""deploy/nginx/dendrite-lab.conf limits page loads per client (issue 15, finding 2), checked with Debian's nginx."""
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


def test_the_config_limits_page_loads_per_client(tmp_path, fd):
    nginx = nginx_binary()
    site_text = (fd.ROOT / "deploy" / "nginx" / "dendrite-lab.conf").read_text()
    assert re.search(r"limit_req_zone \$binary_remote_addr zone=dendrite_pages:\S+ rate=\d+r/m;", site_text)
    site = tmp_path / "site.conf"
    site.write_text(site_text)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", main_conf(tmp_path, site)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr

    # the config on free ports, in front of stub backends (one process serving all four ports)
    backends = {old: str(fd.free_port()) for old in sorted(set(re.findall(r"127\.0\.0\.1:(\d+)", site_text)))}
    front = fd.free_port()
    moved = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{backends[m.group(1)]}", site_text)
    moved = re.sub(r"listen\s+\[::\]:80;", "", moved)
    moved = re.sub(r"listen\s+80;", f"listen 127.0.0.1:{front};", moved)
    site.write_text(moved)
    stub = tmp_path / "stub.py"
    stub.write_text(
        "import sys, threading, http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()\n"
        "        self.wfile.write(b'ok')\n"
        "    def log_message(self, *a): pass\n"
        "servers = [http.server.ThreadingHTTPServer(('127.0.0.1', int(p)), H) for p in sys.argv[1:]]\n"
        "for s in servers[1:]: threading.Thread(target=s.serve_forever, daemon=True).start()\n"
        "servers[0].serve_forever()\n")
    base = f"http://127.0.0.1:{front}"
    with running([sys.executable, str(stub), *backends.values()], tmp_path / "stub.log"), \
            running([nginx, "-p", str(tmp_path), "-c", main_conf(tmp_path, site), "-g", "daemon off;"],
                    tmp_path / "nginx.log"):
        def up():
            try:
                return fd.request(base, "/liveness", timeout=2)[0] == 200
            except OSError:
                return False
        fd.wait_until(up, 30, "nginx and the stub to answer")
        pages = [fd.request(base, "/app", timeout=10)[0] for _ in range(30)]
        assert pages[:4] == [200] * 4, pages          # one at the rate plus a burst of three
        assert pages[4:].count(429) >= 25, pages      # the rest refused (a refill of one at most)
        # other routes are not limited
        assert all(fd.request(base, "/liveness", timeout=10)[0] == 200 for _ in range(20))
