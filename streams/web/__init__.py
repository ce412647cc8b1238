"""The worker's HTTP endpoints: health, readiness and Prometheus metrics."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from streams.runtime import Runtime

# aiohttp takes the charset separately; the exposition format is ASCII.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"


def register(app: faust.App, runtime: Runtime) -> None:
    """Add ``/health``, ``/ready`` and ``/metrics`` to the worker's web server."""

    @app.page("/health")
    async def health(self: View, request: Request) -> Response:
        """200 while the worker process runs its event loop."""
        return self.json({"status": "ok"})

    @app.page("/ready")
    async def ready(self: View, request: Request) -> Response:
        """200 once the worker has its partitions and restored tables, else 503."""
        if runtime.is_ready():
            return self.json({"status": "ready"})
        return self.json({"status": "starting"}, status=503)

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        """Prometheus text exposition."""
        return self.bytes(runtime.metrics.exposition(), content_type=PROMETHEUS_CONTENT_TYPE)
