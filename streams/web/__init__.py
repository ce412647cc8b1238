"""The worker's HTTP endpoints: health, readiness, Prometheus metrics and the control room.

- ``/health``: 200 while the worker runs its event loop.
- ``/ready``: 200 once the worker has its partitions and restored tables.
- ``/metrics``: Prometheus text format.
- ``/sign-in``, ``/sign-out``: sessions (``streams.web.guard``); everything
  below needs a signed-in user.
- ``/control-room/``: the live alert page for border-gate officers, fed by
  ``/control-room/api/alerts?since=N`` (JSON, newest first, only the offices
  the user may see), ``/control-room/api/me`` (the user and their CSRF token), the case
  endpoints (``streams.web.cases``) and ``/control-room/api/outcomes`` (each rule's precision,
  for analysts and supervisors).
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import faust
from aiohttp import web
from faust.types import TP
from faust.web import Request, Response, View

from agents.rules.findings import SEVERITIES
from agents.subjects.shipment import ShipmentState
from streams.cases.board import CaseBoard
from streams.cases.publisher import CasePublisher
from streams.kafka.alert_feed import AlertFilter
from streams.outcomes.live import LivePrecision
from streams.outcomes.record_feed import RecordFeed
from streams.runtime.agents.subject_agent import SubjectAgent
from streams.runtime.context import Runtime
from streams.runtime.topic_follower import follower_credentials
from streams.web.alert_board import AlertBoard, AlertTail, CaseActionTail
from streams.web.cases import CaseEndpoints
from streams.web.guard import Guard, session_of
from streams.web.shipment_events import ShipmentEvents

# aiohttp takes the charset separately; the exposition format is ASCII.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
# Alerts the control room keeps (newest versions).
BOARD_CAPACITY = 500
STATIC = Path(str(resources.files(__name__).joinpath("static")))


def register(app: faust.App, runtime: Runtime, shipments: SubjectAgent[ShipmentState],
             results: RecordFeed) -> AlertBoard:
    """Add every endpoint to the worker's web server; return the alert board.

    ``shipments`` is the worker's shipment agent, whose states give a case its shipment's events;
    ``results`` the worker's reader of inspection results, which rule precision listens to.
    """
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

    cases = CaseBoard()
    names = runtime.names

    def raw_topic(key: str) -> faust.types.TopicT:
        return app.topic(names.public(key), key_serializer="raw", value_serializer="raw")

    publisher = CasePublisher(app, runtime.codec, raw_topic("cases"), names.public("cases"),
                              TP(names.public("declarations"), 0))
    cases.listeners.append(publisher.changed)
    CaseEndpoints(runtime, cases, ShipmentEvents(shipments, runtime.is_ready),
                  raw_topic("case_actions"), raw_topic("inspection_results")).install(web_app)

    credentials = follower_credentials(app.conf)
    precision = LivePrecision(runtime.settings, runtime.metrics, results)
    precision.floors(runtime.rules.current)

    def on_alert(alert: dict[str, Any], partition: int, offset: int) -> None:
        board.offer(alert)
        cases.offer_alert(alert, partition, offset)
        precision.precision.add_alert(alert)

    tail = AlertTail(runtime.settings, runtime.codec, on_alert, credentials, runtime.refuse_followed("alerts"))
    actions = CaseActionTail(runtime.settings, runtime.codec, cases, credentials,
                             runtime.refuse_followed("case_actions"))

    async def outcomes(request: web.Request) -> web.Response:
        """Each rule's inspected and confirmed declarations and precision over 30 days (analysts, supervisors)."""
        if not session_of(request).user.reads_outcomes:
            return web.json_response({"error": "outcome statistics are for analysts and supervisors"}, status=403)
        return web.json_response({"rules": precision.statistics()}, headers={"Cache-Control": "no-store"})

    web_app.router.add_get("/control-room/api/outcomes", outcomes)

    @app.task
    async def follow_alerts_and_actions() -> None:
        """Keep the boards and rule precision current from their topics; publish this worker's case changes."""
        await asyncio.gather(tail.run(), actions.run(), publisher.run(), precision.run())

    return board
