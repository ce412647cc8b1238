"""The worker's HTTP endpoints: health, readiness, Prometheus metrics and the control room.

- ``/health``: 200 while the worker runs its event loop.
- ``/ready``: 200 once the worker has its partitions and restored tables.
- ``/metrics``: Prometheus text format.
- ``/control-room/``: the live alert page for border-gate officers, fed by
  ``/control-room/api/alerts?since=N`` (JSON, newest first).
"""

from __future__ import annotations

from importlib import resources

import faust
from faust.web import Request, Response, View

from agents.rules.findings import SEVERITIES
from streams.kafka.alert_feed import AlertFilter
from streams.runtime.context import Runtime
from streams.runtime.topic_follower import follower_credentials
from streams.web.alert_board import AlertBoard, AlertTail

# aiohttp takes the charset separately; the exposition format is ASCII.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
# Alerts the control room keeps (newest versions).
BOARD_CAPACITY = 500


def register(app: faust.App, runtime: Runtime) -> AlertBoard:
    """Add every endpoint to the worker's web server; return the alert board."""
    board = AlertBoard(capacity=BOARD_CAPACITY)
    page = resources.files(__name__).joinpath("static/control_room.html").read_text(encoding="utf-8")

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

    @app.page("/control-room/")
    async def control_room(self: View, request: Request) -> Response:
        """The control-room page."""
        return self.html(page)

    @app.page("/control-room/api/alerts")
    async def alerts(self: View, request: Request) -> Response:
        """Alerts changed after ``since``, filtered by ``office`` and ``severity``."""
        query = request.query
        try:
            since = int(query.get("since", "0"))
        except ValueError:
            return self.json({"error": "since must be a whole number"}, status=400)
        severity = query.get("severity")
        # A severity the API does not know (lower case included) filters nothing, as it always has.
        alert_filter = AlertFilter(office=query.get("office") or None,
                                   min_severity=severity if severity in SEVERITIES else None)
        return self.json(board.view(since, alert_filter))

    tail = AlertTail(runtime.settings, runtime.codec, board, follower_credentials(app.conf),
                     runtime.refuse_followed("alerts"))

    @app.task
    async def follow_alerts() -> None:
        """Keep the board filled from the alerts topic."""
        await tail.run()

    return board
