"""The worker's live rule precision: hears every result (``RecordFeed``) and alert, exports gauges."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.rules.config import RuleBook
from streams.outcomes.precision import RulePrecision
from streams.outcomes.record_feed import RecordFeed
from streams.runtime.metrics import Metrics
from streams.settings import Settings

# How often the gauges are recomputed (over every result in the window).
REFRESH_S = 5.0


class LivePrecision:
    """Keeps a ``RulePrecision`` current and its figures on /metrics."""

    def __init__(self, settings: Settings, metrics: Metrics, results: RecordFeed) -> None:
        self.settings = settings
        self.metrics = metrics
        self.precision = RulePrecision()
        results.listeners.append(self.precision.add_result)

    def floor_of(self, rule_id: str) -> float:
        """The precision under which ``rule_id`` is reported as drifting."""
        return self.settings.rule_precision_floors.get(rule_id, self.settings.rule_precision_floor)

    def floors(self, rules: RuleBook) -> None:
        """Export each rule's precision floor."""
        for rule_id in rules.rules:
            self.metrics.rule_precision_floor.labels(rule_id).set(self.floor_of(rule_id))

    def statistics(self) -> list[dict[str, Any]]:
        """Each rule with outcomes: inspected, confirmed, precision and floor (for analysts' page)."""
        return [{"rule_id": rule_id, "inspected": figures.inspected, "confirmed": figures.confirmed,
                 "precision": figures.precision, "floor": self.floor_of(rule_id)}
                for rule_id, figures in self.precision.figures().items()]

    async def run(self) -> None:
        """Refresh the gauges until cancelled."""
        shown: set[str] = set()
        gauges = (self.metrics.rule_inspected, self.metrics.rule_confirmed, self.metrics.rule_precision)
        while True:
            figures = self.precision.figures()
            for rule_id, rule_figures in figures.items():
                self.metrics.rule_inspected.labels(rule_id).set(rule_figures.inspected)
                self.metrics.rule_confirmed.labels(rule_id).set(rule_figures.confirmed)
                self.metrics.rule_precision.labels(rule_id).set(rule_figures.precision)
            for rule_id in shown - figures.keys():  # no outcome left in the window
                for gauge in gauges:
                    Metrics.forget(gauge, rule_id)
            shown = set(figures)
            await asyncio.sleep(REFRESH_S)
