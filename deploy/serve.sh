#!/bin/sh
# The one command that serves Dendrite Lab: the Docker image's CMD runs it, and
# tests/test_deploy.py starts it too. Run it from the project directory (the one
# that holds app/). Every setting can be changed through the environment.
#
#   DENDRITE_PORT              port to listen on                (5006)
#   DENDRITE_ADDRESS           address to bind                  (0.0.0.0)
#   DENDRITE_ORIGIN            host[:port] the browser uses to reach the page; several may be
#                              given, separated by commas       (localhost:5006)
#   DENDRITE_NUM_PROCS         panel worker processes           (1, see deploy/README.md)
#   DENDRITE_SESSION_LIFETIME  ms an unused session is kept after its tab closed (60000)
#   DENDRITE_EXTRA_ARGS        anything else for `panel serve`, word-split
#   DENDRITE_ALLOCATOR         jemalloc (the default when Debian's libjemalloc2 is installed) or
#                              system (glibc's malloc behind Python's own small-object allocator)
#   DENDRITE_SECRET_KEY        key that signs session ids and tokens, at least 32 characters
#                              (a new random one per start when unset)
#   DENDRITE_PAGE_BURST_S, DENDRITE_PAGE_SHARE, DENDRITE_OPEN_PAGES, DENDRITE_TRUSTED_PROXIES
#                              the per-client page limit (app/front_door.py, deploy/README.md)
#   DENDRITE_CODE_LETTERS      first characters of the class codes this server makes, so that
#                              nginx can send a code's links to it (deploy/README.md)
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

set --
for origin in $(printf '%s' "${DENDRITE_ORIGIN:-localhost:5006}" | tr ',' ' '); do
    set -- "$@" --allow-websocket-origin "$origin"
done

# shellcheck disable=SC2086  # DENDRITE_EXTRA_ARGS is meant to be split into words
exec panel serve app \
    --address "${DENDRITE_ADDRESS:-0.0.0.0}" \
    --port "${DENDRITE_PORT:-5006}" \
    "$@" \
    --num-procs "${DENDRITE_NUM_PROCS:-1}" \
    --liveness \
    --use-xheaders \
    --keep-alive 15000 \
    --check-unused-sessions 10000 \
    --unused-session-lifetime "${DENDRITE_SESSION_LIFETIME:-60000}" \
    --session-token-expiration 300 \
    --session-ids signed \
    --plugins app.front_door \
    ${DENDRITE_EXTRA_ARGS:-}
