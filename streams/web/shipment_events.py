"""A case's shipment events, from whichever worker holds the shipment's state.

Each worker holds the states of its own partitions only. A page on any
worker asks its own; that worker answers from its state if it holds the
shipment, else passes the request on once to the worker the group
assigned the partition to (its web address travels in the group's
assignment), with the user's session cookie: the workers share the
session secret, and the holder checks the user's access to the case again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from agents.subjects.shipment import ShipmentState
from streams.runtime.agents.subject_agent import SubjectAgent

log = logging.getLogger(__name__)

# Marks a request passed on by another worker: it is never passed on again.
PASSED_ON_HEADER = "X-Cargoguard-Passed-On"
ASK_TIMEOUT_S = 5.0


class ShipmentNotHeld(Exception):
    """No worker could answer for the shipment now (a rebalance, a worker away)."""


class ShipmentEvents:
    """Reads a shipment's timeline here or from the worker that holds it."""

    def __init__(self, shipments: SubjectAgent[ShipmentState], is_ready: Callable[[], bool]) -> None:
        self.shipments = shipments
        self.is_ready = is_ready
        self.session: aiohttp.ClientSession | None = None

    async def events_of(self, transport_doc_no: str, request: web.Request) -> list[dict[str, Any]]:
        """The shipment's events, oldest first; raises ShipmentNotHeld when nobody can answer now."""
        if self.shipments.owns(transport_doc_no) and self.is_ready():
            state = self.shipments.current(transport_doc_no)
            return [] if state is None else [dict(entry) for entry in state.timeline]
        if PASSED_ON_HEADER in request.headers:
            raise ShipmentNotHeld("this worker does not hold the shipment (the group is rebalancing)")
        owner = self.shipments.owner_url(transport_doc_no)
        if owner is None:
            raise ShipmentNotHeld("no worker holds the shipment's partition now")
        return await self._ask(owner, request)

    async def _ask(self, owner: str, request: web.Request) -> list[dict[str, Any]]:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ASK_TIMEOUT_S))
        headers = {PASSED_ON_HEADER: "1", "Cookie": request.headers.get("Cookie", "")}
        url = owner.rstrip("/") + request.rel_url.path
        try:
            async with self.session.get(url, headers=headers, allow_redirects=False) as response:
                body = await response.text()
                if response.status != 200:
                    raise ShipmentNotHeld(f"the worker at {owner} answered {response.status}: {body[:200]}")
                events: list[dict[str, Any]] = json.loads(body)["events"]
                return events
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            log.warning("asking %s for a shipment's events failed: %r", owner, exc)
            raise ShipmentNotHeld(f"the worker at {owner} did not answer") from exc

    async def close(self, _app: web.Application) -> None:
        """Close the connections to the other workers (on the web server's clean-up)."""
        if self.session is not None:
            await self.session.close()
