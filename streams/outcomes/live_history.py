"""The worker's live outcome history: follows the inspected declarations, hears the results, joins them for scoring.

Every worker reads both topics from their start, so each scores with the
same outcomes once it has caught up; a result that reaches one worker
before another can score a declaration lodged meanwhile differently (the
one place a score depends on arrival, like a rule change).
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.risk.live_outcomes import LiveOutcomes
from streams.outcomes.record_feed import RecordFeed
from streams.runtime.metrics import Metrics

# How often the gauges are refreshed.
REFRESH_S = 5.0


class LiveHistoryFeed:
    """Feeds ``LiveOutcomes`` from the feeds of ``cargo.inspected-declarations`` and ``cargo.inspection-results``."""

    def __init__(self, metrics: Metrics, live: LiveOutcomes, sent: RecordFeed, results: RecordFeed) -> None:
        self.metrics = metrics
        self.live = live
        self.sent = sent
        sent.listeners.append(self._on_sent)
        results.listeners.append(self._on_result)

    async def run(self) -> None:
        """Follow the inspected declarations from their start, and refresh the gauges, until cancelled."""
        await asyncio.gather(self.sent.run(), self._refresh())

    def _on_sent(self, sent: dict[str, Any]) -> None:
        self.live.add_sent(sent["declaration_id"], sent["event_time"], sent["categories"])

    def _on_result(self, result: dict[str, Any]) -> None:
        self.live.add_result(result["declaration_id"], result["inspected_at"], result["result"] == "INFRACTION")

    async def _refresh(self) -> None:
        gauge = self.metrics.live_outcomes
        while True:
            gauge.labels("counted").set(self.live.outcomes)
            gauge.labels("declaration_waiting").set(len(self.live.sent))
            gauge.labels("result_waiting").set(len(self.live.waiting))
            await asyncio.sleep(REFRESH_S)
