"""Prometheus metrics of a worker, served at ``/metrics`` on its web port.

Names follow the Prometheus guide; labels are low-cardinality (feed, rule,
severity, subject kind), never declaration or importer ids.
"""

from __future__ import annotations

import contextlib
import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCRAPE_TIMEOUT_S = 2.0


class Metrics:
    """Every metric a worker exports, in its own registry (tests may build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "cargoguard_events_total", "Input events decoded and routed.", ["feed"], registry=r)
        # Per feed, so one feed falling silent (a gate OCR stopping) shows while the others flow.
        self.feed_last_event = Gauge(
            "cargoguard_feed_last_event_seconds",
            "Wall clock (epoch seconds) of the last routing step that routed events of each input feed.",
            ["feed"], registry=r)
        self.feed_newest_event_time = Gauge(
            "cargoguard_feed_newest_event_time_seconds",
            "Newest event time (epoch seconds) this worker has routed, per input feed.", ["feed"], registry=r)
        self.dead_letters = Counter(
            "cargoguard_dead_letters_total",
            "Input events sent to the dead-letter topic.", ["feed", "kind"], registry=r)
        self.alerts = Counter(
            "cargoguard_alerts_total",
            "Alerts raised: alert ids sent for the first time, whatever their version.", ["rule_id", "severity"],
            registry=r)
        self.alert_updates = Counter(
            "cargoguard_alert_updates_total",
            "Alerts re-sent because their finding grew.", ["rule_id"], registry=r)
        self.subject_events = Counter(
            "cargoguard_subject_events_total",
            "Routed events applied to subject state, per subject kind.", ["subject_kind"], registry=r)
        self.late_events = Counter(
            "cargoguard_late_events_total",
            "Events later than the allowed lateness: kept in state, left out of windows.", ["subject_kind"],
            registry=r)
        self.routing_batch = Histogram(
            "cargoguard_routing_batch_events", "Input events per routing step.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=r)
        self.step_seconds = Histogram(
            "cargoguard_step_seconds", "Time to process one batch, by stage.", ["stage"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.step_batches = Histogram(
            "cargoguard_step_batches",
            "Routed batches a subject agent took as one step (more than one: it was behind), per subject kind.",
            ["subject_kind"], buckets=(1, 2, 4, 8, 16, 32), registry=r)
        self.stream_time_lag = Gauge(
            "cargoguard_stream_time_lag_seconds",
            "Wall clock minus stream time, per subject partition this worker owns.",
            ["subject_kind", "partition"], registry=r)
        self.stream_time = Gauge(
            "cargoguard_stream_time_seconds",
            "Stream time (event time, epoch seconds) each subject partition this worker owns has reached.",
            ["subject_kind", "partition"], registry=r)
        self.consumer_lag = Gauge(
            "cargoguard_consumer_lag",
            "Events fetched-known but not yet committed, per input and routed-batch partition this worker owns.",
            ["topic", "partition"], registry=r)
        self.partition_stuck = Gauge(
            "cargoguard_partition_stuck",
            "1 while an assigned partition has events waiting and its committed offset does not move.",
            ["topic", "partition"], registry=r)
        self.pending_timers = Gauge(
            "cargoguard_pending_timers", "Subjects waiting for stream time.",
            ["subject_kind"], registry=r)
        self.rule_version = Gauge(
            "cargoguard_rule_version", "Version of each rule's configuration in force (0 = defaults).",
            ["rule_id"], registry=r)
        self.watchlist_entries = Gauge(
            "cargoguard_watchlist_entries", "Entries on the watchlist.", registry=r)
        self.rule_inspected = Gauge(
            "cargoguard_rule_inspected_30d",
            "Declarations a rule alerted on that were inspected, in the 30 days to the newest inspection.",
            ["rule_id"], registry=r)
        self.rule_confirmed = Gauge(
            "cargoguard_rule_confirmed_30d",
            "Of those, the declarations where the inspection found an infraction.", ["rule_id"], registry=r)
        self.rule_precision = Gauge(
            "cargoguard_rule_precision_30d", "Confirmed over inspected, per rule (absent before any outcome).",
            ["rule_id"], registry=r)
        self.rule_precision_floor = Gauge(
            "cargoguard_rule_precision_floor",
            "The precision under which a rule is reported as drifting (settings).", ["rule_id"], registry=r)
        self.risk_model = Gauge(
            "cargoguard_risk_model_loaded", "1 for the version of the risk model in force (absent: none).",
            ["version"], registry=r)
        self.live_outcomes = Gauge(
            "cargoguard_live_outcomes",
            "Inspection outcomes reported since the model learned: counted in scores (joined to their "
            "declaration), declarations sent for inspection waiting for a result, results waiting for "
            "their declaration.", ["state"], registry=r)
        self.lanes = Counter(
            "cargoguard_lanes_total", "Selectivity lanes decided, per office, lane and control-sample flag.",
            ["office_code", "lane", "control_sample"], registry=r)
        self.lane_capacity = Gauge(
            "cargoguard_lane_capacity", "Checks an office can make per window, by lane (office '*': the default).",
            ["office_code", "lane"], registry=r)
        self.lanes_forced = Counter(
            "cargoguard_lanes_forced_red_total",
            "Selectivity records forced RED by CRITICAL rule alerts, beyond the capacity, per office: "
            "one at the decision, or one per alert that restates a decided lane.",
            ["office_code"], registry=r)
        self.processing_errors = Counter(
            "cargoguard_processing_errors_total",
            "Batches or events that failed unexpectedly (logged; input kept).", ["stage"],
            registry=r)

    def feeds_routed(self, counts: Mapping[str, int], partition_newest_ms: Iterable[tuple[str, int]],
                     now_ms: int) -> None:
        """Count one routing step's events per feed and note when, and up to which event time, each flowed.

        Called once per step, never per event. ``counts`` holds the step's events
        per feed; ``partition_newest_ms`` a (feed, newest event time in epoch ms)
        pair for every input partition the worker has read, so a feed's newest
        event time never goes back when a step reads only its laggard partitions.
        """
        now_s = now_ms / 1000
        for feed, count in counts.items():
            self.events.labels(feed).inc(count)
            self.feed_last_event.labels(feed).set(now_s)
        newest: dict[str, int] = {}
        for feed, event_ms in partition_newest_ms:
            if feed in counts:
                newest[feed] = max(event_ms, newest.get(feed, event_ms))
        for feed, event_ms in newest.items():
            self.feed_newest_event_time.labels(feed).set(event_ms / 1000)

    @staticmethod
    def forget(gauge: Gauge, *labels: str) -> None:
        """Remove a gauge's series (a partition this worker no longer owns), if it has one."""
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


def scrape_totals(url: str, names: Sequence[str], timeout_s: float = SCRAPE_TIMEOUT_S,
                  labels: Mapping[str, str] | None = None) -> dict[str, float]:
    """Each named metric's samples summed over their label sets, read from a worker's ``/metrics``.

    With ``labels``, only the samples whose labels include those. A metric the
    worker has not used yet counts 0. Raises ``OSError`` when the worker does not answer.
    """
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode()
    wanted = (labels or {}).items()

    def total(name: str) -> float:
        samples = re.findall(rf"^{name}(?:{{([^}}]*)}})? (\S+)$", text, re.M)
        return sum(float(value) for label_text, value in samples
                   if wanted <= dict(re.findall(r'(\w+)="([^"]*)"', label_text)).items())

    return {name: total(name) for name in names}
