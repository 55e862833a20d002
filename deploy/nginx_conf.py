"""The nginx config in front of several Dendrite Lab servers, for any number of them.

Two uses, one routing:

    python deploy/nginx_conf.py site                 # deploy/nginx/dendrite-lab.conf (4 servers, port 80)
    python deploy/nginx_conf.py site --servers 3 --first-port 6000 --listen 8080 [--relay]
    python deploy/nginx_conf.py container --servers 2 --first-port 5007 --listen 0.0.0.0:5006 --prefix DIR
    python deploy/nginx_conf.py letters --servers 2 --index 0   # the code letters of server 0 of 2

``site`` writes the ``http {}``-context file for /etc/nginx/conf.d/. ``container`` writes a whole
nginx.conf for an unprivileged nginx whose files all live under DIR; deploy/serve.sh runs it in
front of its own servers when DENDRITE_SERVERS is above 1 (the Docker image's default). Why page
loads are balanced while websockets and class codes are pinned: deploy/README.md.

No imports beyond the standard library: serve.sh runs this before any server starts.
"""
from __future__ import annotations

import argparse
import os
import sys

# app/presenting.py's alphabet (tests/system/test_deploy.py keeps the two equal)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_SERVERS = 8


def letter_groups(n: int) -> list[str]:
    """The class codes' first characters, split into ``n`` runs as even as the alphabet allows."""
    if not 1 <= n <= MAX_SERVERS:
        raise ValueError(f"between 1 and {MAX_SERVERS} servers, not {n}")
    size, extra = divmod(len(CODE_ALPHABET), n)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        groups.append(CODE_ALPHABET[start:end])
        start = end
    return groups


# A code a teacher types may start with a character the server never makes (I, O, 0, 1): it is
# routed with a neighbour's, so that the teacher and the class still meet on one server.
NEIGHBOUR = {"I": "H", "O": "N", "0": "2", "1": "2"}


def routed_characters(n: int) -> list[str]:
    """Per server, every first character of a code that reaches it (its letter group, and more)."""
    groups = letter_groups(n)
    return [g + "".join(c for c, near in NEIGHBOUR.items() if near in g) for g in groups]


def backends(n: int, first_port: int) -> list[str]:
    return [f"127.0.0.1:{first_port + i}" for i in range(n)]


def _listen_lines(listen: str) -> str:
    if listen.isdigit():   # every address, IPv6 as well
        return f"    listen {listen};\n    listen [::]:{listen};"
    return f"    listen {listen};"


# Separate hosts fail separately: after two failed tries nginx leaves a server alone for 10 s
SITE_HEALTH = "max_fails=2 fail_timeout=10s"


def site(n: int = 4, first_port: int = 5006, listen: str = "80", host_header: str = "$host",
         health: str = SITE_HEALTH, relay: bool = False) -> str:
    """The ``http {}``-context config: upstream, routing maps, page limit and the server block.

    ``relay``: the servers share a DENDRITE_RELAY_DIR (app/relay.py), so a follow link may go to any
    of them and only a link that presents a code is pinned to the code's server."""
    addrs = backends(n, first_port)
    pool = "\n".join(f"    server {a} {health};" for a in addrs)
    known = "\n".join(f'    "{a}" {a};' for a in addrs)
    patterns = [f'"~*^[{g}]"' for g in routed_characters(n)]
    width = max(len(p) for p in patterns)
    by_code = "\n".join(f"    {p:<{width}} {a};" for p, a in zip(patterns, addrs))
    if relay:
        code_args = "$arg_present"
        code_comment = """\
# A presented run lives in the memory of the server that trains it, so a link that presents a code
# (?present=CODE) goes to the server the code's first character names; each server makes its own
# codes from its characters (DENDRITE_CODE_LETTERS, deploy/README.md). A follow link goes to any
# server: the servers share the presented runs through DENDRITE_RELAY_DIR (app/relay.py), so 30
# followers' pages are built on every server's event loop, not on the presenter's alone."""
    else:
        code_args = "$arg_present$arg_follow"
        code_comment = """\
# A presented run lives in the memory of the server that trains it, so a link with a class code
# (?present=CODE, ?follow=CODE) goes to the server the code's first character names; each
# server makes its own codes from its characters (DENDRITE_CODE_LETTERS, deploy/README.md)."""
    return f"""\
# Dendrite Lab behind nginx: {n} `panel serve` processes (deploy/serve.sh, one process each,
# DENDRITE_PORT={first_port}..{first_port + n - 1}, each with its DENDRITE_CODE_LETTERS) on this host.
# Goes in the http {{}} context, e.g. as /etc/nginx/conf.d/dendrite-lab.conf.
# Made by deploy/nginx_conf.py: for another number of servers or ports, run it again rather
# than editing the upstream and the maps by hand (they must agree with each other and with
# the servers' code letters).
# Why page loads balance by least_conn while each websocket is pinned: deploy/README.md.

upstream dendrite_pool {{
    least_conn;
{pool}
}}

# The backend a browser's websocket must reach: the one that rendered its page (named in a
# cookie). Only known backends are accepted, so the cookie cannot send nginx elsewhere; an
# unknown or missing cookie falls back to the pool.
map $cookie_dendrite_backend $dendrite_ws_backend {{
    default          dendrite_pool;
{known}
}}

{code_comment}
map "{code_args}" $dendrite_page_backend {{
    default     dendrite_pool;
{by_code}
}}

# The backend that answered this request (the last one tried, if nginx had to retry).
map $upstream_addr $dendrite_served_by {{
    default           "";
    "~(?<last>[^ ,]+)$" $last;
}}

# Page loads per client address and browser: building a page holds a backend's event loop for 1-2 s.
# One address may open 40 pages at once (a class behind one NAT address) and then 6 a minute; a
# browser that has its id cookie (app/browsers.py) counts apart, so one student's tabs cannot use up
# the page loads of the class, and the address as a whole has a larger limit, so made-up ids do not
# lift it. nginx cannot check an id nor tell a page a browser opens from one a script throws away;
# the backends can (app/front_door.py): each gives a client a few seconds of page building, charges
# a request without a valid id to its address, and gives back the time of every page that opens, so
# a flood that gets through here still gets only a few pages built per backend. 10 MB of zone holds
# about 60,000 keys.
limit_req_zone $binary_remote_addr$cookie_dendrite_browser zone=dendrite_pages:10m rate=6r/m;
limit_req_zone $binary_remote_addr zone=dendrite_pages_address:10m rate=12r/m;

map $http_upgrade $dendrite_connection {{
    default upgrade;
    ""      close;
}}

server {{
{_listen_lines(listen)}
    server_name _;                      # your host name; it must also be in DENDRITE_ORIGIN

    proxy_http_version 1.1;
    proxy_set_header Host              {host_header};
    proxy_set_header X-Real-IP         $remote_addr;
    proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_buffering off;

    # The page: a new Bokeh session is created on whichever backend least_conn picks.
    location = /app {{
        limit_req zone=dendrite_pages burst=40 nodelay;
        limit_req zone=dendrite_pages_address burst=120 nodelay;
        limit_req_status 429;
        error_page 429 = @dendrite_busy;
        proxy_pass http://$dendrite_page_backend;
        add_header Set-Cookie "dendrite_backend=$dendrite_served_by; Path=/app; HttpOnly; SameSite=Lax" always;
    }}

    # A refused page load: a browser reloads by itself after the 10 s it names (as the backends' own
    # refusals do); the answer stays 429 for scripts.
    location @dendrite_busy {{
        default_type "text/html; charset=utf-8";
        add_header Retry-After 10 always;
        add_header Cache-Control no-store always;
        return 429 "<!DOCTYPE html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='10'><title>Dendrite Lab: please wait</title></head><body style='font-family: sans-serif; margin: 3em'><h1>Too many page loads</h1><p>This address opened many pages in a short time. The page loads by itself in 10 s.</p></body></html>";
    }}

    # The session's websocket: same backend as the page. Long timeouts: a tab may stay open
    # for a whole lecture; the server's keep-alive pings (15 s) keep the connection busy.
    location = /app/ws {{
        proxy_pass http://$dendrite_ws_backend;
        proxy_set_header Upgrade    $http_upgrade;
        proxy_set_header Connection $dendrite_connection;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }}

    # Liveness for an outside load balancer or monitor: healthy if any backend is.
    location = /liveness {{
        proxy_pass http://dendrite_pool;
        proxy_connect_timeout 2s;
        proxy_read_timeout 10s;
    }}

    # Everything else (static JS/CSS, the / redirect) is stateless.
    location / {{
        proxy_pass http://dendrite_pool;
    }}
}}
"""


TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def container(n: int, first_port: int, listen: str, prefix: str, relay: bool = True) -> str:
    """A whole nginx.conf for an unprivileged nginx in front of ``n`` local servers: its pid and
    temporary files under ``prefix``, errors to stderr, no access log (the servers log pages)."""
    temps = "\n".join(f"    {t}_temp_path {prefix}/{t};" for t in TEMPS)
    # the browser's host and port reach the servers unchanged: the container's port is mapped
    # to any port outside, and the servers check the websocket's origin against it
    # No failure accounting: nginx starts beside servers that are not listening yet, and a server
    # it had marked down then got one page per 10 s until a page came back from it, so a class
    # opening at once went 29 to 1 to the other server (benchmarks/load_test.py --opening --servers 2).
    # The servers cannot fail on their own here either: serve.sh stops the container when one ends.
    body = site(n, first_port, listen, host_header="$http_host", health="max_fails=0", relay=relay)
    inner = "\n".join(("    " + line) if line else "" for line in body.splitlines())
    return f"""\
# nginx in front of {n} Dendrite Lab servers in one container (deploy/serve.sh, DENDRITE_SERVERS={n}).
# Made by deploy/nginx_conf.py at each start; run with -p {prefix} -g 'daemon off;'.
pid {prefix}/nginx.pid;
error_log stderr warn;
worker_processes 1;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
{temps}
{inner}
}}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("site", "container", "letters"))
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--first-port", type=int, default=5006)
    ap.add_argument("--listen", default="80", help="port, or address:port")
    ap.add_argument("--prefix", help="container: the directory of nginx's pid and temporary files")
    ap.add_argument("--index", type=int, help="letters: which server (from 0)")
    ap.add_argument("--relay", action="store_true",
                    help="site: the servers share one DENDRITE_RELAY_DIR, so follow links go to any of them "
                         "(container: always, serve.sh makes the directory)")
    a = ap.parse_args(argv)
    try:
        groups = letter_groups(a.servers)
    except ValueError as exc:
        ap.error(str(exc))
    if not 1 <= a.first_port <= 65535 - a.servers:
        ap.error(f"--first-port {a.first_port} leaves no room for {a.servers} servers")
    if a.what == "letters":
        if a.index is None or not 0 <= a.index < a.servers:
            ap.error(f"letters needs --index between 0 and {a.servers - 1}")
        print(groups[a.index])
    elif a.what == "site":
        sys.stdout.write(site(a.servers, a.first_port, a.listen, relay=a.relay))
    else:
        if not a.prefix:
            ap.error("container needs --prefix")
        for temp in TEMPS:          # nginx does not make them itself
            os.makedirs(os.path.join(a.prefix, temp), exist_ok=True)
        sys.stdout.write(container(a.servers, a.first_port, a.listen, a.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
