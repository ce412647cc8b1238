# The cargoguard worker image: `docker build -t cargoguard .`
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cargoguard \
    && mkdir -p /var/lib/cargoguard && chown cargoguard /var/lib/cargoguard
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER cargoguard
# In a container the web server must listen beyond loopback to be scraped and probed.
ENV CARGOGUARD_WEB_HOST=0.0.0.0 \
    CARGOGUARD_DATA_DIR=/var/lib/cargoguard \
    PYTHONUNBUFFERED=1
VOLUME /var/lib/cargoguard
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/health', timeout=2)"
ENTRYPOINT ["cargoguard"]
CMD ["worker"]
