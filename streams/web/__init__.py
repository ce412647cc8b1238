"""The worker's HTTP endpoints: health, readiness, Prometheus metrics and the control room.

- ``/health``: 200 while the worker runs its event loop.
- ``/ready``: 200 once the worker has its partitions and restored tables.
- ``/metrics``: Prometheus text format.
- ``/sign-in``, ``/sign-out``: sessions (``streams.web.guard``); everything
  below needs a signed-in user.
- ``/control-room/``: the live alert page for border-gate officers, fed by
  ``/control-room/api/alerts?since=N`` (JSON, newest first, only the offices
  the user may see) and ``/control-room/api/me`` (the user and their CSRF token).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import faust
from aiohttp import web
from faust.web import Request, Response, View

from agents.rules.findings import SEVERITIES
from streams.kafka.alert_feed import AlertFilter
from streams.runtime.context import Runtime
from streams.runtime.topic_follower import follower_credentials
from streams.web.alert_board import AlertBoard, AlertTail
from streams.web.guard import Guard, session_of

# aiohttp takes the charset separately; the exposition format is ASCII.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
# Alerts the control room keeps (newest versions).
BOARD_CAPACITY = 500
STATIC = Path(str(resources.files(__name__).joinpath("static")))


def register(app: faust.App, runtime: Runtime) -> AlertBoard:
    """Add every endpoint to the worker's web server; return the alert board."""
    board = AlertBoard(capacity=BOARD_CAPACITY)
    page = (STATIC / "control_room.html").read_text(encoding="utf-8")

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

    async def control_room(request: web.Request) -> web.Response:
        """The control-room page."""
        return web.Response(text=page, content_type="text/html")

    async def me(request: web.Request) -> web.Response:
        """The signed-in user, and the CSRF token their page sends with every action."""
        session = session_of(request)
        return web.json_response({"user": session.user.public(), "csrf_token": session.csrf_token},
                                 headers={"Cache-Control": "no-store"})

    async def alerts(request: web.Request) -> web.Response:
        """Alerts changed after ``since`` at the offices the user sees, filtered by ``office`` and ``severity``."""
        query = request.query
        try:
            since = int(query.get("since", "0"))
        except ValueError:
            return web.json_response({"error": "since must be a whole number"}, status=400)
        severity = query.get("severity")
        # A severity the API does not know (lower case included) filters nothing, as it always has.
        alert_filter = AlertFilter(office=query.get("office") or None,
                                   min_severity=severity if severity in SEVERITIES else None)
        user = session_of(request).user
        return web.json_response(board.view(since, alert_filter, visible=user.sees_office),
                                 headers={"Cache-Control": "no-store"})

    # Faust's aiohttp driver; the control room uses aiohttp directly for cookies and middleware.
    web_app: web.Application = app.web.web_app  # type: ignore[attr-defined]
    Guard(runtime.settings, runtime.users).install(web_app)
    web_app.router.add_get("/control-room/", control_room)
    web_app.router.add_get("/control-room/api/me", me)
    web_app.router.add_get("/control-room/api/alerts", alerts)
    web_app.router.add_static("/control-room/static/", STATIC)

    tail = AlertTail(runtime.settings, runtime.codec, board, follower_credentials(app.conf),
                     runtime.refuse_followed("alerts"))

    @app.task
    async def follow_alerts() -> None:
        """Keep the board filled from the alerts topic."""
        await tail.run()

    return board
