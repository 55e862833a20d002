#!/bin/sh
# The one command that serves Dendrite Lab: the Docker image's CMD runs it, and
# tests/test_deploy.py starts it too. Run it from the project directory (the one
# that holds app/). Every setting can be changed through the environment.
#
#   DENDRITE_PORT              port to listen on                (5006)
#   DENDRITE_ADDRESS           address to bind                  (0.0.0.0)
#   DENDRITE_ORIGIN            host[:port] the browser uses to reach the page; several may be
#                              given, separated by commas       (localhost:5006)
#   DENDRITE_SERVERS           server processes side by side behind an nginx of their own (1; the
#                              Docker image: 2). Above 1, nginx listens on DENDRITE_PORT and the
#                              servers on the loopback ports after it (deploy/README.md)
#   DENDRITE_BACKEND_PORT      with several servers, the first of their loopback ports (DENDRITE_PORT + 1)
#   DENDRITE_NUM_PROCS         panel worker processes per server (1, see deploy/README.md)
#   DENDRITE_SESSION_LIFETIME  ms an unused session is kept after its tab closed (60000)
#   DENDRITE_TOKEN_LIFETIME    s a page's token lets it join its session: a page whose connection
#                              dropped joins it again within this time of its load (7200, a lesson)
#   DENDRITE_EXTRA_ARGS        anything else for `panel serve`, word-split
#   DENDRITE_ALLOCATOR         jemalloc (the default when Debian's libjemalloc2 is installed) or
#                              system (glibc's malloc behind Python's own small-object allocator)
#   DENDRITE_SECRET_KEY        key that signs session ids and tokens, at least 32 characters
#                              (a new random one per start when unset)
#   DENDRITE_PAGE_BURST_S, DENDRITE_PAGE_SHARE, DENDRITE_OPEN_PAGES, DENDRITE_TRUSTED_PROXIES
#                              the per-client page limit (app/front_door.py, deploy/README.md)
#   DENDRITE_CODE_LETTERS      first characters of the class codes this server makes, so that
#                              nginx can send a code's links to it (deploy/README.md)
#   DENDRITE_RELAY_DIR         a private directory the servers of one host share, where each writes
#                              the runs it presents for the others' followers (app/relay.py; set
#                              by this script when DENDRITE_SERVERS is above 1)
set -eu

# Signed sessions: the server refuses session ids and tokens it did not issue (a made-up id in
# a link, a hand-made token with a far expiry). The key comes from the environment so that
# several servers behind one proxy can share it; unset, each start makes its own, which the
# --num-procs workers inherit (they are forked after this point).
if [ -z "${DENDRITE_SECRET_KEY:-}" ]; then
    DENDRITE_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n+/=')
fi
if [ "${#DENDRITE_SECRET_KEY}" -lt 32 ]; then
    echo "serve.sh: DENDRITE_SECRET_KEY must be at least 32 characters" >&2
    exit 2
fi
export BOKEH_SECRET_KEY="$DENDRITE_SECRET_KEY"
unset DENDRITE_SECRET_KEY

# glibc raises its mmap threshold after each large free, so a closed session's weights and plot
# buffers stayed in the heap: after 30 sessions the server kept about 1 GB (benchmarks/load_test.py).
# A fixed threshold gives blocks of 256 KiB and more back to the system as soon as they are freed.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-262144}"

# Bokeh's development checks, off in service: the signature of every callback Panel registers
# (inspect.signature, about 11 % of a page's build) and the layout checks of each new document
# (8 %); a class opening the link at once waits on page builds. tests/app/test_page_document.py
# runs the layout checks on the page instead.
export BOKEH_PERFORM_ERROR_DIAGNOSTICS="${BOKEH_PERFORM_ERROR_DIAGNOSTICS:-false}"
export BOKEH_VALIDATE_DOC="${BOKEH_VALIDATE_DOC:-false}"

# Python's small-object allocator gives memory back in 1 MiB arenas only when an arena is
# entirely empty. After a class of 30 closed, the objects that outlive it (caches, interned
# names) were spread over hundreds of arenas: the server kept +70 % of its baseline even after
# collecting every closed session. jemalloc returns memory by the 4 KiB page, a second after it
# is freed: +15 % (benchmarks/load_test.py, benchmarks/README.md). Pages cost ~5 % more to build.
if [ "${DENDRITE_ALLOCATOR:-jemalloc}" = jemalloc ] && [ -z "${LD_PRELOAD:-}" ]; then
    for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
               /usr/lib/libjemalloc.so.2; do
        if [ -r "$lib" ]; then
            export LD_PRELOAD="$lib" PYTHONMALLOC=malloc
            export MALLOC_CONF="${MALLOC_CONF:-background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0}"
            break
        fi
    done
fi

servers="${DENDRITE_SERVERS:-1}"
case "$servers" in
    [1-8]) ;;
    *) echo "serve.sh: DENDRITE_SERVERS must be a whole number from 1 to 8, not '$servers'" >&2
       exit 2 ;;
esac
port="${DENDRITE_PORT:-5006}"
backend_port="${DENDRITE_BACKEND_PORT:-$((port + 1))}"

set --
for origin in $(printf '%s' "${DENDRITE_ORIGIN:-localhost:5006}" | tr ',' ' '); do
    set -- "$@" --allow-websocket-origin "$origin"
done

# serve ADDRESS PORT [ORIGIN ARGS...]: one server, replacing the (sub)shell that runs it
serve() {
    address=$1
    serve_port=$2
    shift 2
    # shellcheck disable=SC2086  # DENDRITE_EXTRA_ARGS is meant to be split into words
    exec panel serve app \
        --address "$address" \
        --port "$serve_port" \
        "$@" \
        --num-procs "${DENDRITE_NUM_PROCS:-1}" \
        --liveness \
        --use-xheaders \
        --keep-alive 15000 \
        --check-unused-sessions 10000 \
        --unused-session-lifetime "${DENDRITE_SESSION_LIFETIME:-60000}" \
        --session-token-expiration "${DENDRITE_TOKEN_LIFETIME:-7200}" \
        --session-ids signed \
        --plugins app.front_door \
        ${DENDRITE_EXTRA_ARGS:-}
}

if [ "$servers" = 1 ]; then
    serve "${DENDRITE_ADDRESS:-0.0.0.0}" "$port" "$@"
fi

# Several servers: one event loop builds every page of its process, so 30 pages asked for at once
# queued ~1.2 s of loop each behind one another; two processes on two cores halved the time to the
# last page (benchmarks/README.md). nginx in front balances the pages and pins each websocket and
# class code to its server, with the same config as a multi-host setup (deploy/nginx_conf.py).
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || [ ! -x /usr/sbin/nginx ] || nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ]; then
    echo "serve.sh: DENDRITE_SERVERS=$servers needs nginx in front (apt-get install nginx); or set DENDRITE_SERVERS=1" >&2
    exit 2
fi
# nginx listens where the one server would have (0.0.0.0: IPv4 only, as panel serve does; an
# IPv6 address goes in brackets)
address="${DENDRITE_ADDRESS:-0.0.0.0}"
case "$address" in
    *:*) listen="[$address]:$port" ;;
    *) listen="$address:$port" ;;
esac
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/dendrite-nginx.XXXXXX")
python deploy/nginx_conf.py container --servers "$servers" --first-port "$backend_port" --listen "$listen" \
    --prefix "$run_dir" > "$run_dir/nginx.conf"

# The servers share their presented runs through this private directory (app/relay.py), so that
# nginx can send a follow link to any of them: 30 followers' pages are then built on both event
# loops instead of queuing on the presenter's.
export DENDRITE_RELAY_DIR="$run_dir/relay"
mkdir -m 700 "$DENDRITE_RELAY_DIR"

pids=
i=0
while [ "$i" -lt "$servers" ]; do
    # each server makes class codes from its own letters, the ones nginx routes to it
    DENDRITE_CODE_LETTERS=$(python deploy/nginx_conf.py letters --servers "$servers" --index "$i")
    export DENDRITE_CODE_LETTERS DENDRITE_SERVERS="$servers"
    serve 127.0.0.1 $((backend_port + i)) "$@" &
    pids="$pids $!"
    i=$((i + 1))
done
"$nginx_bin" -e stderr -p "$run_dir" -c "$run_dir/nginx.conf" -g 'daemon off;' &
pids="$pids $!"

stop() {
    trap - INT TERM HUP
    # shellcheck disable=SC2086  # the list of process ids
    kill $pids 2>/dev/null || true
    wait
    rm -rf "$run_dir"
    exit "$1"
}
trap 'stop 0' INT TERM HUP
# One of them ending ends all: the container stops (a restart policy brings it back whole) rather
# than run on with a server that nginx would keep sending students to.
while :; do
    for pid in $pids; do
        kill -0 "$pid" 2>/dev/null || { echo "serve.sh: process $pid ended; stopping the others" >&2; stop 1; }
    done
    sleep 1 &
    wait $! || true
done
