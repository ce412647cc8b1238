# The cargoguard worker image.
#   docker build -t cargoguard .
#   docker run --rm -e CARGOGUARD_BROKER=kafka:9092 -p 6066:6066 cargoguard          # a worker
#   docker run --rm -e CARGOGUARD_BROKER=kafka:9092 cargoguard topics create        # any other command

# Build stage: install into a virtualenv, so the runtime stage copies one
# directory and carries no pip cache, sources or build tools.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/cargoguard
WORKDIR /src
# pyproject.toml names README.md as the long description, so the build needs it.
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
RUN /opt/cargoguard/bin/pip install .

FROM python:3.11-slim
# A numeric, non-root uid: Kubernetes' runAsNonRoot can only verify a number,
# and deploy/kubernetes sets the same uid as fsGroup so the state volume is writable.
RUN groupadd --gid 10001 cargoguard \
    && useradd --uid 10001 --gid 10001 --create-home cargoguard \
    && mkdir -p /var/lib/cargoguard \
    && chown 10001:10001 /var/lib/cargoguard
COPY --from=build /opt/cargoguard /opt/cargoguard
# The web server must listen beyond loopback in a container, or nothing
# (Prometheus, probes, the control room) can reach /metrics, /health and /ready.
ENV PATH=/opt/cargoguard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CARGOGUARD_WEB_HOST=0.0.0.0 \
    CARGOGUARD_DATA_DIR=/var/lib/cargoguard
USER 10001:10001
WORKDIR /home/cargoguard
# RocksDB state: keeping it across restarts saves rebuilding the tables from their changelogs.
VOLUME /var/lib/cargoguard
EXPOSE 6066
# slim has no curl; the port follows CARGOGUARD_WEB_PORT when that is overridden.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CARGOGUARD_WEB_PORT', '6066'), timeout=2)"]
ENTRYPOINT ["cargoguard"]
CMD ["worker"]
