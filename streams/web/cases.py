"""The control room's case endpoints: the list, one case, actions, and the live stream of changes.

- ``GET /control-room/api/cases``: every case the user may see, with the cursor it is current to.
- ``GET /control-room/api/cases/stream``: server-sent events, one ``case`` event per changed
  case; each batch's last event carries the cursor as its id, so a reconnecting page
  (``Last-Event-ID``, on any worker, after a restart) gets what changed after it.
- ``GET /control-room/api/cases/{case_id}``: a case with its alerts (evidence) and audit trail.
- ``GET /control-room/api/cases/{case_id}/events``: the shipment's own events (declaration
  versions, manifest, gate passages), from the worker holding its state (``streams.web.shipment_events``).
- ``POST /control-room/api/cases/{case_id}/actions``: take, assign, note, request inspection,
  dispose, snooze, reopen; checked, then recorded on ``cargo.case-actions`` (a disposal also
  records what the inspection found on ``cargo.inspection-results``, per declaration).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import faust
from aiohttp import web

from streams.access.users import User
from streams.cases.actions import ActionRefused, action_record
from streams.cases.board import CaseBoard, format_cursor, parse_cursor
from streams.kafka.events_json import to_json_document
from streams.outcomes.results import results_of_disposal
from streams.runtime.context import Runtime
from streams.runtime.stream_time import wall_ms
from streams.web.guard import session_of
from streams.web.shipment_events import ShipmentEvents, ShipmentNotHeld

# A comment line this often keeps proxies from closing a quiet stream.
HEARTBEAT_S = 15.0
NO_STORE = {"Cache-Control": "no-store"}


def _visible(user: User, case: dict[str, Any]) -> bool:
    return user.sees_office(case["office_code"])


class CaseEndpoints:
    """The handlers, over one worker's case board."""

    def __init__(self, runtime: Runtime, board: CaseBoard, shipment_events: ShipmentEvents,
                 actions_topic: faust.types.TopicT, results_topic: faust.types.TopicT) -> None:
        self.runtime = runtime
        self.board = board
        self.shipment_events = shipment_events
        self.actions_topic = actions_topic
        self.results_topic = results_topic
        self.actions_topic_name = runtime.names.public("case_actions")
        self.results_topic_name = runtime.names.public("inspection_results")

    def install(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_get("/control-room/api/cases", self.list_cases)
        app.router.add_get("/control-room/api/cases/stream", self.stream)
        app.router.add_get("/control-room/api/cases/{case_id}", self.one_case)
        app.router.add_get("/control-room/api/cases/{case_id}/events", self.events)
        app.router.add_post("/control-room/api/cases/{case_id}/actions", self.act)
        app.on_cleanup.append(self.shipment_events.close)

    async def list_cases(self, request: web.Request) -> web.Response:
        """Every case the user may see, newest change last, and the cursor it is current to."""
        user = session_of(request).user
        cases = [case for case in self.board.changed_after(None) if _visible(user, case)]
        return web.json_response({"cursor": format_cursor(self.board.positions), "cases": cases}, headers=NO_STORE)

    def _case_for(self, request: web.Request) -> dict[str, Any]:
        case = self.board.get(request.match_info["case_id"])
        if case is None or not _visible(session_of(request).user, case):
            raise web.HTTPNotFound(text=json.dumps({"error": "no such case"}), content_type="application/json")
        return case

    async def one_case(self, request: web.Request) -> web.Response:
        """A case with its alerts, oldest first, and its audit trail."""
        case = self._case_for(request)
        alerts = [to_json_document("alert", alert) for alert in self.board.alerts_of(case["case_id"])]
        actions = [to_json_document("case_action", action) for action in self.board.actions_of(case["case_id"])]
        return web.json_response({"case": case, "alerts": alerts, "actions": actions}, headers=NO_STORE)

    async def events(self, request: web.Request) -> web.Response:
        """The case's shipment events, oldest first (none for a case without a transport document)."""
        case = self._case_for(request)
        doc = case.get("transport_doc_no")
        if not doc:
            return web.json_response({"events": []}, headers=NO_STORE)
        try:
            events = await self.shipment_events.events_of(doc, request)
        except ShipmentNotHeld as exc:
            return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "1", **NO_STORE})
        return web.json_response({"events": events}, headers=NO_STORE)

    async def act(self, request: web.Request) -> web.Response:
        """Check an action and record it; the case changes when the record comes back (every worker alike)."""
        case = self._case_for(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            record = action_record(case, body, session_of(request).user, self.runtime.users, wall_ms())
        except ActionRefused as exc:
            return web.json_response({"error": str(exc)}, status=409)
        codec = self.runtime.codec
        value = codec.encode("case_action", record, topic=self.actions_topic_name)
        deliveries = [await self.actions_topic.send(key=record["case_id"].encode(), value=value)]
        if record["action"] == "DISPOSE":  # what the inspection found, for rule precision and learning
            for result in results_of_disposal(case, record):
                deliveries.append(await self.results_topic.send(
                    key=result["declaration_id"].encode(),
                    value=codec.encode("inspection_result", result, topic=self.results_topic_name)))
        for delivery in deliveries:
            await delivery
        return web.json_response({"action_id": record["action_id"]}, status=202)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the cases changed after the page's cursor, then each change as it comes."""
        user = session_of(request).user
        cursor = parse_cursor(request.headers.get("Last-Event-ID") or request.query.get("cursor"))
        queue = self.board.subscribe()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **NO_STORE,
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        try:
            await self._send(response, user, self.board.changed_after(cursor))
            while True:
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    await response.write(b": still here\n\n")
                    continue
                changed = [first]
                while not queue.empty():
                    changed.append(queue.get_nowait())
                cases = [case for case_id in dict.fromkeys(changed) if (case := self.board.get(case_id))]
                await self._send(response, user, cases)
        except ConnectionResetError:  # the page went away
            pass
        finally:
            self.board.unsubscribe(queue)
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await response.write_eof()
        return response

    async def _send(self, response: web.StreamResponse, user: User, cases: list[dict[str, Any]]) -> None:
        # The cursor after this batch: everything up to it is in the batch or was sent before.
        cursor = format_cursor(self.board.positions)
        lines = [f"event: case\ndata: {json.dumps(case)}\n\n" for case in cases if _visible(user, case)]
        lines.append(f"event: cursor\nid: {cursor}\ndata: {json.dumps(cursor)}\n\n")
        await response.write("".join(lines).encode())
