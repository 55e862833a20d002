# Dendrite Lab dashboard:
#   docker build -t dendrite-lab . && docker run -p 5006:5006 dendrite-lab
# then open http://localhost:5006/app. Settings: see deploy/serve.sh and deploy/README.md.
# CI has no Docker engine, so tests/test_deploy.py replays this file in a fresh virtual
# environment: the ENV, COPY and RUN steps (all but the user creation; Debian packages are checked
# to be installed, not installed), then the CMD and the HEALTHCHECK command. Keep the steps plain
# shell that also works outside the image.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DENDRITE_ORIGIN=localhost:5006 \
    DENDRITE_PORT=5006 \
    DENDRITE_SERVERS=2

# jemalloc: the server gives the memory of a closed class back to the system (deploy/serve.sh).
# nginx: in front of the image's two servers, one per core (DENDRITE_SERVERS, deploy/README.md).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libjemalloc2 nginx \
    && rm -rf /var/lib/apt/lists/*

# The runtime user (numeric id, so that Kubernetes' runAsNonRoot can check it).
RUN groupadd --system --gid 10001 dendrite \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dendrite \
        --shell /usr/sbin/nologin dendrite

WORKDIR /srv/dendrite-lab

# The engine and its dependencies first, so that editing the dashboard keeps this layer.
COPY pyproject.toml README.md ./
COPY dendcore ./dendcore
# The project itself, not a pinned third-party package; its dependencies' bounds are in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[app]"

COPY app ./app
# the page's own assets (CSS, its script, the network picture), sent inline by app/assets.py
COPY static ./static
COPY deploy/serve.sh deploy/nginx_conf.py ./deploy/

# Compile and cache the Numba kernels (and load MNIST, Panel and openTSNE once) as the
# runtime user: the cache lands in ~/.cache/dendcore, which only that user can write and
# numba uses only a cache directory it can write.
USER 10001:10001
ENV HOME=/home/dendrite
RUN python -m app.warmup

EXPOSE 5006
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/liveness?endpoint=/app' % os.environ.get('DENDRITE_PORT', '5006'), timeout=4)"]

CMD ["./deploy/serve.sh"]
